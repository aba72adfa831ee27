//! Per-node nftables tables that a layer above the lab asks for (the
//! virtual networks' security groups): each node's batch applied in its
//! namespace as one transaction, skipped when it is the one applied last.
//!
//! What was applied is recorded in `/run/nlab/<lab>/tables.json` (one
//! digest per node), inside the lab's directory, so `down` removes the
//! record with the namespaces that held the tables, and a converge pass
//! with nothing to change starts no `nft` at all.

use super::{Error, Result};
use crate::kernel::netns::{self, NetNs};
use crate::kernel::nft;
use crate::store;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

/// The name of the set each table applied through [`apply_tables`]
/// holds as lab `lab`'s owner mark (an empty set: nft 1.0.6 keeps no
/// comment on sets or tables, so the name is the mark).
pub(crate) fn owner_set(lab: &str) -> String {
    format!("nlab-{lab}")
}

/// How many `nft` processes run at once.
const PARALLEL: usize = 8;

/// The namespace name of node `node` of lab `lab` (`nlab-<lab>-<node>`).
pub(crate) fn ns_name(lab: &str, node: &str) -> String {
    netns::ns_name(lab, node)
}

fn record_path(lab: &str) -> PathBuf {
    store::lab_dir(lab).join("tables.json")
}

fn digest(key: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn read_record(lab: &str) -> BTreeMap<String, String> {
    std::fs::read(record_path(lab))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Applies nft batches in the lab's namespaces: `wanted` maps each node
/// to a key that changes whenever its batch would (the batch's source
/// data, serialized), or to `None` when the node wants no tables. `build`
/// makes the batch of a node (for `None`, one that removes its tables),
/// and is called only for nodes whose key differs from the one applied
/// last or whose namespace was made anew since, and for `None` nodes only
/// when tables were applied there before. Nodes not in `wanted` lose
/// their record (their namespaces are gone). Returns the nodes it applied.
pub(crate) fn apply_tables(
    lab: &str,
    wanted: &BTreeMap<String, Option<String>>,
    build: impl Fn(&str) -> Value + Sync,
) -> Result<Vec<String>> {
    let old = read_record(lab);
    let mut new = BTreeMap::new();
    let mut todo: Vec<&String> = Vec::new();
    for (node, key) in wanted {
        let ns = ns_name(lab, node);
        let inode = netns::pinned_inode(&ns).ok_or_else(|| {
            Error::Internal(format!(
                "no namespace {ns} for node {node} of lab {lab}: bring the lab up first"
            ))
        })?;
        let Some(key) = key else {
            // Tables applied in this very namespace before: remove them.
            let prefix = format!("{inode}:");
            if old.get(node).is_some_and(|d| d.starts_with(&prefix)) {
                todo.push(node);
            }
            continue;
        };
        let d = format!("{inode}:{}", digest(key));
        if old.get(node) != Some(&d) {
            todo.push(node);
        }
        new.insert(node.clone(), d);
    }
    let failed: std::sync::Mutex<Vec<Error>> = Default::default();
    let applied: std::sync::Mutex<HashSet<String>> = Default::default();
    let chunk = todo.len().div_ceil(PARALLEL).max(1);
    std::thread::scope(|s| {
        for part in todo.chunks(chunk) {
            let (failed, applied) = (&failed, &applied);
            let build = &build;
            s.spawn(move || {
                for node in part {
                    let ns = ns_name(lab, node);
                    let batch = &build(node);
                    let r = NetNs::open(&ns).and_then(|n| {
                        nft::apply(
                            Some(&n),
                            batch,
                            &format!("applying the tables of {node} in {ns}"),
                        )
                    });
                    match r {
                        Ok(()) => {
                            applied.lock().map(|mut a| a.insert(node.to_string())).ok();
                        }
                        Err(e) => failed.lock().map(|mut f| f.push(e.into())).unwrap_or(()),
                    }
                }
            });
        }
    });
    let applied = applied.into_inner().unwrap_or_default();
    // A failed node keeps no record, so the next pass tries it again; a
    // node whose tables failed to go keeps its old one, for the same.
    new.retain(|n, d| old.get(n) == Some(d) || applied.contains(n));
    for (node, key) in wanted {
        if key.is_none() && !applied.contains(node) && todo.contains(&node) {
            if let Some(d) = old.get(node) {
                new.insert(node.clone(), d.clone());
            }
        }
    }
    if !todo.is_empty() || new.len() != old.len() {
        let path = record_path(lab);
        let bytes = serde_json::to_vec(&new)
            .map_err(|e| Error::Internal(format!("encoding {}: {e}", path.display())))?;
        store::write_atomic(&path, &bytes).map_err(|source| Error::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
    }
    if let Some(e) = failed.into_inner().unwrap_or_default().into_iter().next() {
        return Err(e);
    }
    let mut out: Vec<String> = applied.into_iter().collect();
    out.sort();
    Ok(out)
}

/// The names of the interfaces in node `node`'s namespace; `None` when
/// the namespace is not there.
pub(crate) fn ifaces(lab: &str, node: &str) -> Result<Option<Vec<String>>> {
    Ok(super::handles::read_view(&ns_name(lab, node))?
        .map(|v| v.links.into_iter().map(|l| l.name).collect()))
}

/// Deletes, in `ns` (a namespace the lab attached, not its own), every
/// table that carries lab `lab`'s owner mark ([`owner_set`]), in one
/// batch; the rest of the namespace's ruleset stays as it is. Returns the
/// tables removed. Without `nft` on the machine, nlab cannot have made
/// any: nothing to do.
pub(crate) fn remove_owned(lab: &str, ns: &NetNs) -> Result<Vec<String>> {
    if !nft::available() {
        return Ok(Vec::new());
    }
    let what = format!("reading the nftables ruleset of {}", ns.name);
    let rs = match nft::ruleset(Some(ns), &what) {
        Ok(rs) => rs,
        // A ruleset nft cannot print (someone else's) must not stop the
        // detach of a namespace the lab never gave tables; one it did
        // (recorded) must, or they would be left behind.
        Err(e) => {
            let node = netns::parse_ns_name(&ns.name).map(|(_, n)| n.to_string());
            if node.is_some_and(|n| read_record(lab).contains_key(&n)) {
                return Err(e.into());
            }
            return Ok(Vec::new());
        }
    };
    let mark = owner_set(lab);
    let mut tables: Vec<(String, String)> = nft::objects(&rs, "set")
        .filter(|s| s.get("name").and_then(Value::as_str) == Some(mark.as_str()))
        .filter_map(|s| {
            let f = s.get("family")?.as_str()?.to_string();
            Some((f, s.get("table")?.as_str()?.to_string()))
        })
        .collect();
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<Value> = tables
        .iter()
        .map(|(f, t)| serde_json::json!({"delete": {"table": {"family": f, "name": t}}}))
        .collect();
    let what = format!("removing lab {lab}'s tables from {}", ns.name);
    nft::apply(Some(ns), &serde_json::json!({"nftables": items}), &what)?;
    Ok(tables
        .into_iter()
        .map(|(f, t)| format!("{f} {t}"))
        .collect())
}
