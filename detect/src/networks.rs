//! The cluster's own networks, learned from its traffic: the addresses its kubelets and
//! control plane call the API server from. Nodes with public addresses (bare metal,
//! OpenShift on cloud VMs, managed clusters behind NAT) make "private ranges" a poor test of
//! "inside the cluster"; the `source_ip_network` field answers from what each cluster showed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use event::{ActorKind, Event, Source};
use serde::{Deserialize, Serialize};

/// How long after a cluster's first event its networks count as still being learned
/// (microseconds): kubelets report every 10 seconds, so two minutes see every live node.
pub(crate) const LEARNING_MICROS: i64 = 2 * 60 * 1_000_000;

/// Networks remembered per cluster; beyond it new ones are not learned (and counted).
const MAX_NETWORKS_PER_CLUSTER: usize = 16_384;

/// Control-plane identities that only ever run on control-plane nodes.
const CONTROL_PLANE_USERS: &[&str] = &["system:kube-controller-manager", "system:kube-scheduler"];

/// Learned networks by cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ClusterNetworks {
    clusters: HashMap<String, Learned>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Learned {
    /// Event time of the cluster's first event.
    first_seen: i64,
    /// `/24` (IPv4) and `/64` (IPv6) networks, as their first address.
    networks: HashSet<IpAddr>,
}

/// Where an event's `source_ip_last` lies for its cluster (`source_ip_network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// In a network the cluster's kubelets or control plane called from.
    Cluster,
    /// Not (yet) in one, but the cluster's networks are still being learned.
    Learning,
    /// Outside every network the cluster showed.
    Outside,
}

impl Placement {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Placement::Cluster => "cluster",
            Placement::Learning => "learning",
            Placement::Outside => "outside",
        }
    }
}

impl ClusterNetworks {
    /// Learns from `event` when its identity can only call from inside the cluster: a node
    /// speaking as its kubelet, or a control-plane component. Returns networks not learned
    /// because the cluster had too many.
    pub(crate) fn observe(&mut self, event: &Event) -> u64 {
        if event.source != Source::K8sAudit {
            return 0;
        }
        let learned = match self.clusters.get_mut(event.cluster.as_str()) {
            Some(learned) => learned,
            None => self
                .clusters
                .entry(event.cluster.clone())
                .or_insert(Learned {
                    first_seen: event.time,
                    networks: HashSet::new(),
                }),
        };
        learned.first_seen = learned.first_seen.min(event.time);
        if !is_learning_source(event) {
            return 0;
        }
        let Some(network) = source_network(event) else {
            return 0;
        };
        if learned.networks.contains(&network) {
            return 0;
        }
        if learned.networks.len() >= MAX_NETWORKS_PER_CLUSTER {
            return 1;
        }
        learned.networks.insert(network);
        0
    }

    /// Where the event's `source_ip_last` lies; `None` without a valid address.
    pub(crate) fn place(&self, event: &Event) -> Option<Placement> {
        let network = source_network(event)?;
        let Some(learned) = self.clusters.get(event.cluster.as_str()) else {
            return Some(Placement::Learning);
        };
        Some(if learned.networks.contains(&network) {
            Placement::Cluster
        } else if event.time < learned.first_seen.saturating_add(LEARNING_MICROS) {
            Placement::Learning
        } else {
            Placement::Outside
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.clusters
            .values()
            .map(|learned| learned.networks.len())
            .sum()
    }
}

/// A kubelet (a node identity with a kubelet user agent: a stolen node certificate driven
/// by kubectl does not teach) or a control-plane component, allowed.
fn is_learning_source(event: &Event) -> bool {
    if event.decision == Some(event::Decision::Forbid) {
        return false;
    }
    let user = event.user.as_deref().unwrap_or("");
    match event.actor_kind {
        Some(ActorKind::Node) => event
            .user_agent
            .as_deref()
            .is_some_and(|agent| agent.starts_with("kubelet/")),
        Some(ActorKind::System) => CONTROL_PLANE_USERS.contains(&user),
        _ => false,
    }
}

/// The `/24` or `/64` network of the event's last source address.
fn source_network(event: &Event) -> Option<IpAddr> {
    let address: IpAddr = event.source_ips.last()?.parse().ok()?;
    Some(match address {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, kind: ActorKind, agent: &str, ip: &str, second: i64) -> Event {
        Event {
            cluster: "prod".to_owned(),
            time: second * 1_000_000,
            user: Some(user.to_owned()),
            actor_kind: Some(kind),
            user_agent: Some(agent.to_owned()),
            source_ips: vec![ip.to_owned()],
            ..Event::default()
        }
    }

    #[test]
    fn kubelets_and_the_control_plane_teach_the_cluster_networks() {
        let mut networks = ClusterNetworks::default();
        let operator = |ip: &str, second| {
            event(
                "system:serviceaccount:openshift-monitoring:prometheus-k8s",
                ActorKind::Serviceaccount,
                "Prometheus/2.48",
                ip,
                second,
            )
        };
        // Before anything is learned, within the first two minutes: learning.
        assert_eq!(
            networks.place(&operator("34.120.7.9", 0)),
            Some(Placement::Learning)
        );
        networks.observe(&operator("34.120.7.9", 0));
        networks.observe(&event(
            "system:node:worker-1",
            ActorKind::Node,
            "kubelet/v1.29.3 (linux/amd64) kubernetes/6813625",
            "34.120.7.21",
            1,
        ));
        networks.observe(&event(
            "system:kube-scheduler",
            ActorKind::System,
            "kube-scheduler/v1.29.3",
            "2001:db8:1:2::5",
            2,
        ));
        // A stolen node certificate driven by kubectl teaches nothing.
        networks.observe(&event(
            "system:node:worker-1",
            ActorKind::Node,
            "kubectl/v1.29.3",
            "198.51.100.7",
            3,
        ));
        assert_eq!(networks.len(), 2);
        assert_eq!(
            networks.place(&operator("34.120.7.9", 600)),
            Some(Placement::Cluster)
        );
        assert_eq!(
            networks.place(&operator("2001:db8:1:2::77", 600)),
            Some(Placement::Cluster)
        );
        assert_eq!(
            networks.place(&operator("198.51.100.7", 600)),
            Some(Placement::Outside)
        );
        assert_eq!(networks.place(&operator("not an address", 600)), None);
        // Another cluster learns on its own.
        let mut other = operator("34.120.7.9", 600);
        other.cluster = "staging".to_owned();
        assert_eq!(networks.place(&other), Some(Placement::Learning));
    }
}
