//! Namespaces held only by file descriptors of this process: the
//! namespaces of ephemeral labs.
//!
//! A pinned namespace outlives every process (that is what the pin is
//! for). An ephemeral lab's namespaces are never pinned: this registry
//! keeps one descriptor per namespace, by the name it would have had, so
//! everything that opens a namespace by name ([`super::netns::NetNs::open`],
//! [`super::netns::exists`], …) finds it here first. When the process dies,
//! even by `kill -9`, the kernel closes the descriptors and frees the
//! namespaces (together with every interface, qdisc and socket in them)
//! once no process is left inside.
//!
//! A lab is registered before its first namespace is made; from then on
//! [`super::netns::create_pinned`] holds namespaces of that lab here
//! instead of pinning them.

use super::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Registry {
    labs: BTreeSet<String>,
    namespaces: BTreeMap<String, Arc<OwnedFd>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    labs: BTreeSet::new(),
    namespaces: BTreeMap::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves plain maps in a usable state.
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

fn lab_of(ns_name: &str) -> Option<&str> {
    super::netns::parse_ns_name(ns_name).map(|(lab, _)| lab)
}

/// Registers `lab` as held by this process; `false` when this process
/// already holds a lab of that name.
pub fn register_lab(lab: &str) -> bool {
    registry().labs.insert(lab.to_string())
}

/// Forgets `lab` and closes the descriptors of its namespaces; the kernel
/// frees each once no process is left in it. Returns their names.
pub fn release_lab(lab: &str) -> Vec<String> {
    let mut r = registry();
    r.labs.remove(lab);
    let names: Vec<String> = r
        .namespaces
        .keys()
        .filter(|n| lab_of(n) == Some(lab))
        .cloned()
        .collect();
    for n in &names {
        r.namespaces.remove(n);
    }
    names
}

/// Whether `lab` is held by this process (an ephemeral lab).
pub fn is_held_lab(lab: &str) -> bool {
    registry().labs.contains(lab)
}

/// Whether the namespace `ns_name` belongs to a lab held by this process,
/// so it must be held here rather than pinned.
pub fn holds_namespaces_of(ns_name: &str) -> bool {
    lab_of(ns_name).is_some_and(is_held_lab)
}

/// Keeps `fd` as namespace `ns_name`.
pub fn insert(ns_name: &str, fd: OwnedFd) {
    registry()
        .namespaces
        .insert(ns_name.to_string(), Arc::new(fd));
}

/// A new descriptor of the held namespace `ns_name`, if it is held.
pub fn open(ns_name: &str) -> Option<Result<OwnedFd>> {
    let fd = registry().namespaces.get(ns_name).cloned()?;
    Some(
        fd.as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::io(format!("duplicating the fd of namespace {ns_name}"), e)),
    )
}

/// Whether `ns_name` is held here.
pub fn contains(ns_name: &str) -> bool {
    registry().namespaces.contains_key(ns_name)
}

/// Stops holding `ns_name`; `false` when it was not held.
pub fn remove(ns_name: &str) -> bool {
    registry().namespaces.remove(ns_name).is_some()
}

/// The held namespaces of `lab`, sorted.
pub fn names_of(lab: &str) -> Vec<String> {
    registry()
        .namespaces
        .keys()
        .filter(|n| lab_of(n) == Some(lab))
        .cloned()
        .collect()
}
