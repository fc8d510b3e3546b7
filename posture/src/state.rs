//! Rebuilding object state from write events: the latest write of each object wins, deletes
//! and namespace deletions remove, and each surviving object's content is the body its deciding
//! event showed, or unknown and why.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Meta, Options, Report};

/// (cluster, resource, namespace, name). A Namespace object's namespace is its own name.
type Key = (String, String, Option<String>, String);
/// (cluster, resource, namespace): where a `deletecollection` applies.
type Scope = (String, String, Option<String>);

/// A write that may decide an object's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Write {
    event_id: String,
    time_micros: i64,
    delete: bool,
    create: bool,
    user: Option<String>,
}

impl Write {
    fn order(&self) -> (i64, &str) {
        (self.time_micros, &self.event_id)
    }
}

/// Why an object's content is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Its deciding write was logged without a body (`Metadata` level).
    NoBody,
    /// Its deciding write was a patch logged without the stored object.
    Patch,
    /// A later `deletecollection` of its kind in its namespace may have removed it.
    Collection,
    /// Its raw event is not JSON.
    Unreadable,
}

/// What the checks know of an object.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Known(Value),
    Unknown(Unknown),
}

/// One object as the audit stream last showed it.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub(crate) resource: String,
    pub(crate) namespace: Option<String>,
    /// `None` for a create logged without a body (the name is in the body only).
    pub(crate) name: Option<String>,
    pub(crate) event_id: String,
    /// Who made the deciding write (`system:apiserver` for the bootstrap policy).
    pub(crate) user: Option<String>,
    pub(crate) content: Content,
}

/// The objects of one namespace, by resource (cluster-scoped and RBAC objects live in
/// [`ClusterObjects`]).
#[derive(Debug, Default)]
pub(crate) struct NamespaceObjects {
    pub(crate) namespace: Option<Object>,
    pub(crate) created_in_view: bool,
    pub(crate) by_resource: BTreeMap<String, Vec<Object>>,
}

#[derive(Debug, Default)]
pub(crate) struct ClusterObjects {
    pub(crate) namespaces: BTreeMap<String, NamespaceObjects>,
    /// Roles, ClusterRoles, RoleBindings, ClusterRoleBindings.
    pub(crate) rbac: BTreeMap<String, Vec<Object>>,
}

/// Step one: which writes decide the state. Feed every write event of [`crate::RESOURCES`]
/// (verbs [`crate::VERBS`], no subresource) in any order.
///
/// Serialises as lists (its maps have tuple keys), so a caller can keep it across restarts.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(into = "SelectionParts", from = "SelectionParts")]
pub struct Selection {
    latest: HashMap<Key, Write>,
    /// Writes whose object only the body names: (cluster, resource, namespace, write).
    unnamed: Vec<(String, String, Option<String>, Write)>,
    /// Latest successful `deletecollection` per (cluster, resource, namespace).
    collections: HashMap<Scope, i64>,
    /// (cluster, namespace or none, resource) with at least one successful write.
    pub(crate) seen: HashSet<(String, Option<String>, String)>,
}

/// [`Selection`] as it is stored: its maps as lists of entries.
#[derive(Serialize, Deserialize)]
struct SelectionParts {
    latest: Vec<(Key, Write)>,
    unnamed: Vec<(String, String, Option<String>, Write)>,
    collections: Vec<(Scope, i64)>,
    seen: Vec<(String, Option<String>, String)>,
}

impl From<Selection> for SelectionParts {
    fn from(selection: Selection) -> Self {
        SelectionParts {
            latest: selection.latest.into_iter().collect(),
            unnamed: selection.unnamed,
            collections: selection.collections.into_iter().collect(),
            seen: selection.seen.into_iter().collect(),
        }
    }
}

impl From<SelectionParts> for Selection {
    fn from(parts: SelectionParts) -> Self {
        Selection {
            latest: parts.latest.into_iter().collect(),
            unnamed: parts.unnamed,
            collections: parts.collections.into_iter().collect(),
            seen: parts.seen.into_iter().collect(),
        }
    }
}

/// Whether a write changed anything: allowed, answered below 400, not a dry run.
fn applied(meta: &Meta<'_>) -> bool {
    let dry_run = meta.request_uri.is_some_and(|uri| {
        uri.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.starts_with("dryRun=") && pair != "dryRun=")
        })
    });
    meta.response_code.is_some_and(|code| code < 400) && !dry_run
}

impl Selection {
    /// Takes one write event into account.
    pub fn observe(&mut self, meta: &Meta<'_>) {
        if !crate::RESOURCES.contains(&meta.resource) || !applied(meta) {
            return;
        }
        let is_namespace = meta.resource == "namespaces";
        let namespace = if is_namespace {
            meta.name.or(meta.namespace)
        } else {
            meta.namespace
        };
        self.seen.insert((
            meta.cluster.to_owned(),
            namespace.map(str::to_owned),
            meta.resource.to_owned(),
        ));
        let write = Write {
            event_id: meta.event_id.to_owned(),
            time_micros: meta.time_micros,
            delete: matches!(meta.verb, "delete" | "deletecollection"),
            create: meta.verb == "create",
            user: meta.user.map(str::to_owned),
        };
        match (meta.verb, meta.name) {
            ("deletecollection", _) => {
                let scope = (
                    meta.cluster.to_owned(),
                    meta.resource.to_owned(),
                    meta.namespace.map(str::to_owned),
                );
                let time = self.collections.entry(scope).or_insert(i64::MIN);
                *time = (*time).max(meta.time_micros);
            }
            ("create" | "update" | "patch" | "delete", Some(name)) => {
                let key = (
                    meta.cluster.to_owned(),
                    meta.resource.to_owned(),
                    namespace.map(str::to_owned),
                    name.to_owned(),
                );
                keep_latest(&mut self.latest, key, write);
            }
            ("create" | "update" | "patch", None) => self.unnamed.push((
                meta.cluster.to_owned(),
                meta.resource.to_owned(),
                meta.namespace.map(str::to_owned),
                write,
            )),
            _ => {}
        }
    }

    /// [`Selection::observe`] with the event's raw JSON at hand: a write that names its object
    /// only in the body (a create by `generateName`, logged with the body) counts as a write
    /// of that object at once, so its body is needed only while it is the object's latest
    /// write. Gives the same selection as observing and then [`Selection::name_from_bodies`].
    pub fn observe_with_raw(&mut self, meta: &Meta<'_>, raw: &str) {
        let unnamed = self.unnamed.len();
        self.observe(meta);
        if self.unnamed.len() > unnamed
            && let Some(write) = self.unnamed.pop()
        {
            let name = raw_body_name(raw);
            self.settle_unnamed(write, name);
        }
    }

    /// Names the unnamed writes whose raw JSON `raw_of` gives and whose body names their
    /// object (see [`Selection::observe_with_raw`]); the others stay unnamed. Returns how many
    /// it named.
    pub fn name_from_bodies<'r>(&mut self, raw_of: impl Fn(&str) -> Option<&'r str>) -> usize {
        let unnamed = std::mem::take(&mut self.unnamed);
        let before = unnamed.len();
        for write in unnamed {
            let name = raw_of(&write.3.event_id).and_then(raw_body_name);
            self.settle_unnamed(write, name);
        }
        before - self.unnamed.len()
    }

    /// An unnamed write becomes a write of the object its body names, or stays unnamed.
    fn settle_unnamed(
        &mut self,
        (cluster, resource, namespace, write): (String, String, Option<String>, Write),
        name: Option<String>,
    ) {
        let Some(name) = name else {
            self.unnamed.push((cluster, resource, namespace, write));
            return;
        };
        // As `rebuild` places a named unnamed write: a Namespace is its own namespace.
        let namespace = if resource == "namespaces" {
            Some(name.clone())
        } else {
            namespace
        };
        keep_latest(
            &mut self.latest,
            (cluster, resource, namespace, name),
            write,
        );
    }

    /// Takes in another selection's writes, as if its events had been observed here (in any
    /// order; an event observed by both counts once).
    pub fn merge(&mut self, other: Selection) {
        for (key, write) in other.latest {
            keep_latest(&mut self.latest, key, write);
        }
        let mut known: HashSet<String> = self
            .unnamed
            .iter()
            .map(|(_, _, _, write)| write.event_id.clone())
            .collect();
        for unnamed in other.unnamed {
            if known.insert(unnamed.3.event_id.clone()) {
                self.unnamed.push(unnamed);
            }
        }
        for (scope, time) in other.collections {
            let mine = self.collections.entry(scope).or_insert(i64::MIN);
            *mine = (*mine).max(time);
        }
        self.seen.extend(other.seen);
    }

    /// The writes of the clusters and namespaces `keep` admits (a Namespace object by its own
    /// name; cluster-scoped objects with no namespace), as their own selection.
    pub fn restricted(&self, keep: impl Fn(&str, Option<&str>) -> bool) -> Selection {
        Selection {
            latest: self
                .latest
                .iter()
                .filter(|((cluster, _, namespace, _), _)| keep(cluster, namespace.as_deref()))
                .map(|(key, write)| (key.clone(), write.clone()))
                .collect(),
            unnamed: self
                .unnamed
                .iter()
                .filter(|(cluster, _, namespace, _)| keep(cluster, namespace.as_deref()))
                .cloned()
                .collect(),
            collections: self
                .collections
                .iter()
                .filter(|((cluster, _, namespace), _)| keep(cluster, namespace.as_deref()))
                .map(|(scope, time)| (scope.clone(), *time))
                .collect(),
            seen: self
                .seen
                .iter()
                .filter(|(cluster, namespace, _)| keep(cluster, namespace.as_deref()))
                .cloned()
                .collect(),
        }
    }

    /// How many objects' latest writes it holds.
    pub fn len(&self) -> usize {
        self.latest.len() + self.unnamed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events whose raw JSON step two needs, with their times (to bound the read): the
    /// latest write of each object still there (not deleted, its namespace not deleted or
    /// re-created since).
    pub fn needed(&self) -> Vec<(String, i64)> {
        let resets = Resets::of(&self.latest);
        self.latest
            .iter()
            .filter(|((cluster, resource, namespace, _), write)| {
                !write.delete
                    && !resets.ends(cluster, resource, namespace.as_deref(), write.time_micros)
            })
            .map(|(_, write)| write)
            .chain(
                self.unnamed
                    .iter()
                    .filter(|(cluster, resource, namespace, write)| {
                        !resets.ends(cluster, resource, namespace.as_deref(), write.time_micros)
                    })
                    .map(|(_, _, _, write)| write),
            )
            .map(|write| (write.event_id.clone(), write.time_micros))
            .collect()
    }

    /// Forgets the writes a namespace's deletion or re-creation has ended (they decide
    /// nothing, whatever arrives later): keeps the state from growing with short-lived
    /// namespaces. Returns how many it forgot.
    pub fn compact(&mut self) -> usize {
        let resets = Resets::of(&self.latest);
        let before = self.len();
        self.latest
            .retain(|(cluster, resource, namespace, _), write| {
                !resets.ends(cluster, resource, namespace.as_deref(), write.time_micros)
            });
        self.unnamed
            .retain(|(cluster, resource, namespace, write)| {
                !resets.ends(cluster, resource, namespace.as_deref(), write.time_micros)
            });
        before - self.len()
    }

    /// Step two: the report from the raw JSON of (at least) the [`Selection::needed`] events.
    pub fn evaluate<'a>(
        self,
        raws: impl IntoIterator<Item = (&'a str, &'a str)>,
        options: &Options,
    ) -> Report {
        let (clusters, objects, unknown) = self.rebuild(raws);
        crate::checks::report(&clusters, objects, unknown, options)
    }

    /// The objects alive at the end, grouped by cluster and namespace.
    fn rebuild<'a>(
        self,
        raws: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (BTreeMap<String, Clusterish>, usize, usize) {
        let mut bodies: HashMap<&str, Result<Value, ()>> = HashMap::new();
        for (event_id, raw) in raws {
            bodies.insert(event_id, serde_json::from_str(raw).map_err(|_| ()));
        }
        let Selection {
            mut latest,
            unnamed,
            collections,
            seen,
        } = self;
        // Unnamed writes take their name from their body and compete with the named ones.
        let mut nameless = Vec::new();
        for (cluster, resource, namespace, write) in unnamed {
            let name = bodies
                .get(write.event_id.as_str())
                .and_then(|raw| raw.as_ref().ok())
                .and_then(body_name);
            match name {
                Some(name) => {
                    let namespace = if resource == "namespaces" {
                        Some(name.clone())
                    } else {
                        namespace
                    };
                    keep_latest(&mut latest, (cluster, resource, namespace, name), write);
                }
                None => nameless.push((cluster, resource, namespace, write)),
            }
        }
        let resets = Resets::of(&latest);
        let ended = |cluster: &str, resource: &str, namespace: Option<&String>, time: i64| {
            resets.ends(cluster, resource, namespace.map(String::as_str), time)
        };
        let mut clusters: BTreeMap<String, Clusterish> = BTreeMap::new();
        let (mut objects, mut unknown) = (0, 0);
        let mut place = |cluster: String, object: Object, write: &Write| {
            objects += 1;
            if matches!(object.content, Content::Unknown(_)) {
                unknown += 1;
            }
            let entry = clusters.entry(cluster).or_default();
            let rbac = matches!(
                object.resource.as_str(),
                "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings"
            );
            if rbac {
                entry
                    .objects
                    .rbac
                    .entry(object.resource.clone())
                    .or_default()
                    .push(object);
            } else if let Some(namespace) = object.namespace.clone() {
                let slot = entry.objects.namespaces.entry(namespace).or_default();
                if object.resource == "namespaces" {
                    slot.created_in_view = write.create;
                    slot.namespace = Some(object);
                } else {
                    slot.by_resource
                        .entry(object.resource.clone())
                        .or_default()
                        .push(object);
                }
            }
        };
        let mut keys: Vec<&Key> = latest.keys().collect();
        keys.sort();
        for key in keys {
            let write = &latest[key];
            let (cluster, resource, namespace, name) = key;
            if write.delete || ended(cluster, resource, namespace.as_ref(), write.time_micros) {
                continue;
            }
            let collected = collections
                .get(&(cluster.clone(), resource.clone(), namespace.clone()))
                .is_some_and(|time| write.time_micros < *time);
            let content = if collected {
                Content::Unknown(Unknown::Collection)
            } else {
                content_of(bodies.get(write.event_id.as_str()))
            };
            let object = Object {
                resource: resource.clone(),
                namespace: namespace.clone(),
                name: Some(name.clone()),
                event_id: write.event_id.clone(),
                user: write.user.clone(),
                content,
            };
            place(cluster.clone(), object, write);
        }
        for (cluster, resource, namespace, write) in nameless {
            if ended(&cluster, &resource, namespace.as_ref(), write.time_micros) {
                continue;
            }
            let content = match bodies.get(write.event_id.as_str()) {
                Some(Err(())) => Content::Unknown(Unknown::Unreadable),
                _ => Content::Unknown(Unknown::NoBody),
            };
            let object = Object {
                resource: resource.clone(),
                namespace,
                name: None,
                event_id: write.event_id.clone(),
                user: write.user.clone(),
                content,
            };
            place(cluster, object, &write);
        }
        // Namespaces written to but whose objects are all gone, or seen only through writes
        // of their contents, still get a row; deleted namespaces do not.
        for (cluster, namespace, _) in &seen {
            let Some(namespace) = namespace else { continue };
            let deleted = latest
                .get(&(
                    cluster.clone(),
                    "namespaces".to_owned(),
                    Some(namespace.clone()),
                    namespace.clone(),
                ))
                .is_some_and(|write| write.delete);
            if !deleted {
                clusters
                    .entry(cluster.clone())
                    .or_default()
                    .objects
                    .namespaces
                    .entry(namespace.clone())
                    .or_default();
            }
        }
        for (cluster, namespace, resource) in seen {
            clusters
                .entry(cluster)
                .or_default()
                .seen
                .insert((namespace, resource));
        }
        (clusters, objects, unknown)
    }
}

/// One cluster's objects, and which (namespace, resource) had any successful write.
#[derive(Debug, Default)]
pub(crate) struct Clusterish {
    pub(crate) objects: ClusterObjects,
    pub(crate) seen: BTreeSet<(Option<String>, String)>,
}

/// When each namespace was last deleted or (re-)created: that ends every write made in it
/// before.
struct Resets(HashMap<String, HashMap<String, i64>>);

impl Resets {
    fn of(latest: &HashMap<Key, Write>) -> Resets {
        let mut resets: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for ((cluster, resource, _, name), write) in latest {
            if resource == "namespaces" && (write.delete || write.create) {
                resets
                    .entry(cluster.clone())
                    .or_default()
                    .insert(name.clone(), write.time_micros);
            }
        }
        Resets(resets)
    }

    /// Whether a write at `time` to `resource` in `namespace` is ended (a Namespace is never
    /// ended by itself).
    fn ends(&self, cluster: &str, resource: &str, namespace: Option<&str>, time: i64) -> bool {
        resource != "namespaces"
            && namespace.is_some_and(|namespace| {
                self.0
                    .get(cluster)
                    .and_then(|namespaces| namespaces.get(namespace))
                    .is_some_and(|reset| time < *reset)
            })
    }
}

/// Keeps `write` as the latest write of `key` unless a later one is there.
fn keep_latest(latest: &mut HashMap<Key, Write>, key: Key, write: Write) {
    match latest.get_mut(&key) {
        Some(existing) if existing.order() >= write.order() => {}
        Some(existing) => *existing = write,
        None => {
            latest.insert(key, write);
        }
    }
}

/// The parts of a raw audit event [`raw_body_name`] reads; the rest is skipped unparsed.
#[derive(Deserialize)]
struct NamedBodies {
    #[serde(rename = "responseObject")]
    response: Option<NamedBody>,
    #[serde(rename = "requestObject")]
    request: Option<NamedBody>,
}

#[derive(Deserialize)]
struct NamedBody {
    metadata: Option<NamedMetadata>,
}

#[derive(Deserialize)]
struct NamedMetadata {
    name: Option<String>,
}

/// [`body_name`] straight from the raw JSON, without building the event's value tree.
fn raw_body_name(raw: &str) -> Option<String> {
    match serde_json::from_str::<NamedBodies>(raw) {
        Ok(bodies) => [bodies.response, bodies.request]
            .into_iter()
            .flatten()
            .find_map(|body| body.metadata?.name.filter(|name| !name.is_empty())),
        // An unusual shape (a body that is not an object): read it the general way.
        Err(_) => serde_json::from_str::<Value>(raw)
            .ok()
            .as_ref()
            .and_then(body_name),
    }
}

/// The name in a write's body: the stored object's, else the sent one's.
fn body_name(raw: &Value) -> Option<String> {
    ["responseObject", "requestObject"]
        .iter()
        .find_map(|field| {
            raw.get(field)?
                .get("metadata")?
                .get("name")?
                .as_str()
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
        })
}

/// The object after a write: the stored object when logged (not a `Status`), else what a create
/// or update sent; a patch without the stored object, or no body, is unknown.
fn content_of(raw: Option<&Result<Value, ()>>) -> Content {
    let raw = match raw {
        Some(Ok(raw)) => raw,
        Some(Err(())) => return Content::Unknown(Unknown::Unreadable),
        None => return Content::Unknown(Unknown::NoBody),
    };
    let verb = raw.get("verb").and_then(Value::as_str).unwrap_or_default();
    let response = raw.get("responseObject").filter(|body| {
        body.is_object() && body.get("kind").and_then(Value::as_str) != Some("Status")
    });
    let request = raw.get("requestObject").filter(|body| body.is_object());
    match (verb, response, request) {
        (_, Some(body), _) => Content::Known(body.clone()),
        ("patch", None, Some(_)) => Content::Unknown(Unknown::Patch),
        (_, None, Some(body)) => Content::Known(body.clone()),
        (_, None, None) => Content::Unknown(Unknown::NoBody),
    }
}
