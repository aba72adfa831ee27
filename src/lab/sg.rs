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

/// How many `nft` processes run at once.
const PARALLEL: usize = 8;

/// The namespace name of node `node` of lab `lab` (`nlab-<lab>-<node>`).
pub(crate) fn ns_name(lab: &str, node: &str) -> String {
    netns::ns_name(lab, node)
}

fn record_path(lab: &str) -> PathBuf {
    store::lab_dir(lab).join("tables.json")
}

fn digest(v: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:016x}", h.finish())
}

fn read_record(lab: &str) -> BTreeMap<String, String> {
    std::fs::read(record_path(lab))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Applies `batches` (node → an `{"nftables": [...]}` batch) in the
/// lab's namespaces: only those whose batch differs from the one applied
/// last, or whose namespace was made anew since. Nodes with no batch lose
/// their record (their namespaces are gone or their tables are removed by
/// the caller's batch). Returns the nodes it applied.
pub(crate) fn apply_tables(lab: &str, batches: &BTreeMap<String, Value>) -> Result<Vec<String>> {
    let old = read_record(lab);
    let mut new = BTreeMap::new();
    let mut todo: Vec<(&String, &Value, String)> = Vec::new();
    for (node, batch) in batches {
        let ns = ns_name(lab, node);
        let inode = netns::pinned_inode(&ns).ok_or_else(|| {
            Error::Internal(format!(
                "no namespace {ns} for node {node} of lab {lab}: bring the lab up first"
            ))
        })?;
        let d = format!("{inode}:{}", digest(batch));
        if old.get(node) != Some(&d) {
            todo.push((node, batch, d.clone()));
        }
        new.insert(node.clone(), d);
    }
    let failed: std::sync::Mutex<Vec<Error>> = Default::default();
    let applied: std::sync::Mutex<HashSet<String>> = Default::default();
    let chunk = todo.len().div_ceil(PARALLEL).max(1);
    std::thread::scope(|s| {
        for part in todo.chunks(chunk) {
            let (failed, applied) = (&failed, &applied);
            s.spawn(move || {
                for (node, batch, _) in part {
                    let ns = ns_name(lab, node);
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
    // A failed node keeps no record, so the next pass tries it again.
    new.retain(|n, d| old.get(n) == Some(d) || applied.contains(n));
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
