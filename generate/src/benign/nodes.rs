//! Nodes and storage: node reads and status, volumes, attachments and CSI drivers.

use crate::bodies::Body;
use crate::catalog::{self as cat, A, APPS};
use crate::generator::{Generator, Request, uid_of};
use crate::json;

impl Generator {
    /// A kubelet or the controller manager reading a Node.
    pub(super) fn node_get(&mut self, buf: &mut Vec<u8>) {
        let node_index = self.rng.index(4);
        let actor = if self.rng.chance(2, 3) {
            cat::NODES_ALL[node_index]
        } else {
            A::ControllerManager
        };
        let query = if actor == A::ControllerManager {
            ""
        } else {
            "resourceVersion=0&timeout=10s"
        };
        self.request(
            buf,
            Request::new(actor, "get", &cat::NODES)
                .name(cat::NODE_NAMES[node_index])
                .query(query),
        );
    }

    /// A kubelet patching `nodes/status`, now and then with its image list.
    pub(super) fn node_status(&mut self, buf: &mut Vec<u8>) {
        let node_index = self.rng.index(4);
        let with_images = self.rng.chance(1, 5);
        let body = Body::NodeStatusPatch {
            node: cat::NODE_NAMES[node_index],
            now: self.now,
            with_images,
        };
        self.request(
            buf,
            Request::new(cat::NODES_ALL[node_index], "patch", &cat::NODES)
                .name(cat::NODE_NAMES[node_index])
                .subresource("status")
                .query("timeout=10s")
                .request_body(&body),
        );
    }

    /// An operator or kube-proxy watching Nodes.
    pub(super) fn node_watch(&mut self, buf: &mut Vec<u8>) {
        let actor = *self.rng.pick(&[
            A::KubeStateMetrics,
            A::Prometheus,
            A::IngressNginx,
            A::KubeProxy,
        ]);
        self.watch(buf, actor, &cat::NODES, "", "");
    }

    /// The PV binder reading a PersistentVolume or a StatefulSet's claim.
    pub(super) fn persistent_volume_get(&mut self, buf: &mut Vec<u8>) {
        if self.rng.chance(7, 8) {
            let name = format!(
                "pvc-{}",
                json::uuid_string(uid_of(&["pv", &self.rng.below(12).to_string()]))
            );
            self.get(
                buf,
                A::PersistentVolumeBinder,
                &cat::PERSISTENTVOLUMES,
                "",
                &name,
            );
        } else {
            let index = self.pick_app(&["StatefulSet"]);
            let name = format!("data-{}-0", APPS[index].name);
            self.get(
                buf,
                A::PersistentVolumeBinder,
                &cat::PERSISTENTVOLUMECLAIMS,
                APPS[index].namespace,
                &name,
            );
        }
    }

    /// The attach/detach controller deleting a VolumeAttachment, mostly already gone.
    pub(super) fn volume_attachment_delete(&mut self, buf: &mut Vec<u8>) {
        let name = format!(
            "csi-{:032x}{:032x}",
            self.rng.next_u128(),
            self.rng.next_u128()
        );
        let code = self.sometimes((4, 5), 404, 200);
        self.request(
            buf,
            Request::new(A::AttachdetachController, "delete", &cat::VOLUMEATTACHMENTS)
                .name(&name)
                .code(code),
        );
    }

    /// The scheduler's CSIDriver informer.
    pub(super) fn csi_driver_informer(&mut self, buf: &mut Vec<u8>) {
        let list = self.rng.chance(1, 2);
        self.informer(buf, A::Scheduler, &cat::CSIDRIVERS, "", list);
    }
}
