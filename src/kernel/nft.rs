//! nftables through the `nftables` crate: JSON batches handed to `nft -j`,
//! each applied as one transaction inside a namespace.
//!
//! `nft` runs as a child of a thread that entered the namespace with
//! `setns`: a child takes its network namespace from the thread that
//! spawned it, so the rules land where the thread is, and `nft` itself
//! never needs to know about namespaces.

use super::netns::NetNs;
use super::{Error, Result};
use nftables::helper::{self, NftablesError, DEFAULT_ARGS, DEFAULT_NFT};
use nftables::schema::Nftables;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

/// Runs `f` inside `ns` (or where the thread is, for `None`) on a thread of
/// its own, so the caller's thread never changes namespace.
fn in_ns<R: Send>(ns: Option<&NetNs>, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
    std::thread::scope(|s| {
        s.spawn(|| match ns {
            Some(ns) => ns.run(f)?,
            None => f(),
        })
        .join()
        .unwrap_or_else(|_| Err(Error::protocol("running nft", "the nft thread panicked")))
    })
}

fn nft_error(what: &str, e: NftablesError) -> Error {
    let msg = match e {
        NftablesError::NftExecution { inner, .. } => {
            format!(
                "could not run nft ({inner}); install nftables (Debian: apt-get install nftables)"
            )
        }
        // The crate leaves nft's standard error to ours when it applies a
        // batch: the reason is printed there, not captured here.
        NftablesError::NftFailed { stderr, .. } if stderr.trim().is_empty() => {
            "nft refused the batch (nft printed why on standard error)".to_string()
        }
        NftablesError::NftFailed { stderr, .. } => stderr.trim().to_string(),
        other => other.to_string(),
    };
    Error::protocol(what, msg)
}

/// Applies `batch` (an `{"nftables": [...]}` document) in `ns` as one
/// transaction: it all applies or none of it does. The JSON is checked
/// against the crate's schema first, so a malformed batch never reaches
/// the kernel.
pub fn apply(ns: Option<&NetNs>, batch: &Value, what: &str) -> Result<()> {
    let doc: Nftables = serde_json::from_value(batch.clone())
        .map_err(|e| Error::protocol(what, format!("nlab built an invalid nftables batch: {e}")))?;
    in_ns(ns, || {
        helper::apply_ruleset_with_args(&doc, DEFAULT_NFT, DEFAULT_ARGS)
            .map_err(|e| nft_error(what, e))
    })
}

/// Whether the `nft` program is on the `PATH` (nothing nft-made can be
/// in any namespace of nlab's without it).
pub fn available() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join("nft"))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The whole ruleset of `ns` as nft's JSON (`nft -j list ruleset`).
pub fn ruleset(ns: Option<&NetNs>, what: &str) -> Result<Value> {
    in_ns(ns, || {
        let raw = helper::get_current_ruleset_raw(DEFAULT_NFT, DEFAULT_ARGS)
            .map_err(|e| nft_error(what, e))?;
        serde_json::from_str(&raw)
            .map_err(|e| Error::protocol(what, format!("nft printed no JSON: {e}")))
    })
}

/// The objects of one kind (`table`, `chain`, …) in a ruleset.
pub fn objects<'a>(ruleset: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    ruleset
        .get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |o| o.get(kind))
}

/// `(family, name)` of every table in `ns`.
pub fn tables(ns: Option<&NetNs>, what: &str) -> Result<Vec<(String, String)>> {
    let rs = ruleset(ns, what)?;
    Ok(objects(&rs, "table")
        .filter_map(|t| {
            let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
            Some((s("family")?, s("name")?))
        })
        .collect())
}

/// Base chains on the forward hook whose policy is drop (as Docker's
/// iptables sets): `family table chain` each.
pub fn forward_drop_chains(ruleset: &Value) -> Vec<String> {
    objects(ruleset, "chain")
        .filter(|c| {
            c.get("hook").and_then(Value::as_str) == Some("forward")
                && c.get("policy").and_then(Value::as_str) == Some("drop")
        })
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?");
            format!("{} {} {}", s("family"), s("table"), s("name"))
        })
        .collect()
}

/// Deletes table `family name` in `ns` if it is there.
pub fn delete_table(ns: Option<&NetNs>, family: &str, name: &str, what: &str) -> Result<bool> {
    if !tables(ns, what)?
        .iter()
        .any(|(f, n)| f == family && n == name)
    {
        return Ok(false);
    }
    let batch = serde_json::json!({"nftables": [
        {"delete": {"table": {"family": family, "name": name}}}
    ]});
    apply(ns, &batch, what)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_forward_chains_that_drop() {
        let rs = serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 1,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "inet", "table": "x", "name": "fw", "handle": 2,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
            {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 3,
                       "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}
        ]});
        assert_eq!(
            forward_drop_chains(&rs),
            vec!["ip filter FORWARD".to_string()]
        );
    }
}
