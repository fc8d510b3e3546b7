//! Object state: the last pod spec seen per object, so rules can test what a write changed
//! (`changes.*` fields: an image swapped in, a container injected, privileged turned on).

use std::collections::{BTreeSet, HashMap};

use event::{Decision, Event, Source};
use serde::{Deserialize, Serialize};

use crate::state::KEY_SEPARATOR;

/// The security-relevant parts of an object's pod specs, as sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpecSummary {
    /// When the object was last written (microseconds); eviction removes the oldest.
    pub(crate) time: i64,
    images: BTreeSet<String>,
    containers: BTreeSet<String>,
    privileged: BTreeSet<String>,
    host_namespaces: BTreeSet<String>,
    capabilities: BTreeSet<String>,
    host_paths: BTreeSet<String>,
}

impl SpecSummary {
    fn of(event: &Event) -> SpecSummary {
        let mut summary = SpecSummary {
            time: event.time,
            ..SpecSummary::default()
        };
        for pod in &event.pod_specs {
            for (on, name) in [
                (pod.host_network, "hostNetwork"),
                (pod.host_pid, "hostPID"),
                (pod.host_ipc, "hostIPC"),
            ] {
                if on {
                    summary.host_namespaces.insert(name.to_owned());
                }
            }
            for container in &pod.containers {
                summary.containers.insert(container.name.clone());
                if !container.image.is_empty() {
                    summary.images.insert(container.image.clone());
                }
                if container.privileged == Some(true) {
                    summary.privileged.insert(container.name.clone());
                }
                summary
                    .capabilities
                    .extend(container.capabilities_add.iter().cloned());
            }
            summary.host_paths.extend(
                pod.volumes
                    .iter()
                    .filter_map(|volume| volume.host_path.clone()),
            );
        }
        summary
    }

    /// What `self` has that `previous` did not.
    fn added_since(&self, previous: &SpecSummary) -> Changes {
        let added = |now: &BTreeSet<String>, before: &BTreeSet<String>| -> Vec<String> {
            now.difference(before).cloned().collect()
        };
        let images_added = added(&self.images, &previous.images);
        let image_registries_added = images_added
            .iter()
            .map(|image| event::parse_image(image).registry)
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        Changes {
            has_previous: true,
            images_added,
            image_registries_added,
            containers_added: added(&self.containers, &previous.containers),
            privileged_added: added(&self.privileged, &previous.privileged),
            host_namespaces_added: added(&self.host_namespaces, &previous.host_namespaces),
            capabilities_added: added(&self.capabilities, &previous.capabilities),
            host_paths_added: added(&self.host_paths, &previous.host_paths),
        }
    }

    /// A patch may carry part of a spec: what it names joins what was known.
    fn merge_from(&mut self, patch: SpecSummary) {
        self.time = self.time.max(patch.time);
        self.images.extend(patch.images);
        self.containers.extend(patch.containers);
        self.privileged.extend(patch.privileged);
        self.host_namespaces.extend(patch.host_namespaces);
        self.capabilities.extend(patch.capabilities);
        self.host_paths.extend(patch.host_paths);
    }
}

/// What a write changed in an object's pod spec, compared with the last write seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// False on the first write seen of the object (the lists are then empty).
    pub(crate) has_previous: bool,
    pub(crate) images_added: Vec<String>,
    /// The registries of `images_added` (each once, sorted).
    pub(crate) image_registries_added: Vec<String>,
    pub(crate) containers_added: Vec<String>,
    pub(crate) privileged_added: Vec<String>,
    pub(crate) host_namespaces_added: Vec<String>,
    pub(crate) capabilities_added: Vec<String>,
    pub(crate) host_paths_added: Vec<String>,
}

fn object_key(event: &Event) -> Option<String> {
    let resource = event.resource.as_deref()?;
    let name = event.name.as_deref()?;
    Some(format!(
        "{}{KEY_SEPARATOR}{resource}{KEY_SEPARATOR}{}{KEY_SEPARATOR}{name}",
        event.cluster,
        event.namespace.as_deref().unwrap_or("")
    ))
}

/// Compares an allowed write carrying pod specs with the object's last one, records it, and
/// returns the changes; forgets deleted objects. At most `max` objects are kept.
pub(crate) fn observe(
    objects: &mut HashMap<String, SpecSummary>,
    event: &Event,
    max: usize,
) -> (Option<Changes>, u64) {
    if event.source != Source::K8sAudit || event.decision == Some(Decision::Forbid) {
        return (None, 0);
    }
    if event.verb.as_deref() == Some("delete") && event.subresource.is_none() {
        if let Some(key) = object_key(event) {
            objects.remove(&key);
        }
        return (None, 0);
    }
    if event.pod_specs.is_empty() || event.stage.as_deref() == Some("ResponseStarted") {
        return (None, 0);
    }
    let Some(key) = object_key(event) else {
        return (None, 0);
    };
    let current = SpecSummary::of(event);
    let changes = match objects.get(&key) {
        Some(previous) => current.added_since(previous),
        None => Changes::default(),
    };
    let mut evicted = 0;
    if !objects.contains_key(&key)
        && objects.len() >= max.max(1)
        && let Some(oldest) = objects
            .iter()
            .min_by_key(|(_, summary)| summary.time)
            .map(|(key, _)| key.clone())
    {
        objects.remove(&oldest);
        evicted = 1;
    }
    match (event.verb.as_deref(), objects.get_mut(&key)) {
        (Some("patch"), Some(known)) => known.merge_from(current),
        _ => {
            objects.insert(key, current);
        }
    }
    (Some(changes), evicted)
}
