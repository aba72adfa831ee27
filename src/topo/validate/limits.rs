//! Checks of a node's limits and isolation ([`NodeRun`]): values the
//! kernel would refuse or that no program could start under, caught
//! before anything is built. Whether a sysctl exists in this kernel and
//! whether a bind's paths exist are the lab layer's checks (they need
//! the machine).

use super::Checker;
use crate::topo::limits::{show_size, sysctl_allowed, NodeRun, MIN_MEMORY};
use crate::topo::model::{Loc, Node};

pub(super) fn check(c: &mut Checker) {
    let t = c.t;
    for n in t.nodes.values() {
        let r = &n.run;
        if r.is_empty() {
            continue;
        }
        memory(c, n, r);
        sysctls(c, n, r);
        env(c, n, r);
        for (i, cmd) in r.exec.iter().enumerate() {
            let at = pick(r.locs.exec.get(i).copied(), n.loc);
            if cmd.trim().is_empty() || cmd.contains('\0') {
                c.push(
                    at,
                    format!(
                        "an `exec` command of `{}` is empty or holds a NUL byte",
                        n.name
                    ),
                    Some("write the shell command to run, e.g. `ip -br addr`".into()),
                );
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, b) in r.binds.iter().enumerate() {
            let at = pick(r.locs.binds.get(i).copied(), n.loc);
            if seen.contains(&b.dst.as_str()) {
                c.push(
                    at,
                    format!("two binds of `{}` cover `{}`", n.name, b.dst),
                    Some("keep one of them".into()),
                );
            }
            seen.push(&b.dst);
            if ["/proc", "/sys", "/"].contains(&b.dst.trim_end_matches('/'))
                || b.dst == "/"
                || (r.isolation.pid && b.dst.starts_with("/proc"))
            {
                c.push(
                    at,
                    format!(
                        "bind `{b}` of `{}` would cover {}, which nlab mounts for the node",
                        n.name, b.dst
                    ),
                    None,
                );
            }
        }
    }
}

fn pick(loc: Option<Loc>, fallback: Loc) -> Loc {
    loc.filter(Loc::is_known).unwrap_or(fallback)
}

fn memory(c: &mut Checker, n: &Node, r: &NodeRun) {
    if let Some(m) = r.memory.filter(|m| *m < MIN_MEMORY) {
        c.push(
            pick(Some(r.locs.memory), n.loc),
            format!(
                "`memory: {}` of `{}` is below {}, too little for any program to start",
                show_size(m),
                n.name,
                show_size(MIN_MEMORY)
            ),
            Some("give at least `memory: 4m` (a shell needs ~8m, python3 ~16m)".into()),
        );
    }
}

fn sysctls(c: &mut Checker, n: &Node, r: &NodeRun) {
    for (k, v) in &r.sysctls {
        let at = pick(r.locs.sysctls.get(k).copied(), n.loc);
        if !sysctl_allowed(k) {
            c.push(
                at,
                format!(
                    "sysctl `{k}` of `{}` is not a network namespace's: only net.ipv4.*, net.ipv6.* and net.core.* keys can be set per node",
                    n.name
                ),
                Some("host-wide sysctls are the host's to set, not a lab's".into()),
            );
        }
        if let Some(iface) = conf_iface(k) {
            let known = t_ifaces(c, n);
            if !known.iter().any(|i| i == iface) {
                c.push(
                    at,
                    format!(
                        "sysctl `{k}` of `{}` names interface `{iface}`, which `{}` does not have",
                        n.name, n.name
                    ),
                    Some(format!(
                        "its interfaces: {}; or use `all`, `default` or `lo`",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    )),
                );
            }
        }
        if v.is_empty() || v.contains(['\n', '\0']) {
            c.push(
                at,
                format!(
                    "sysctl `{k}` of `{}` has no value or one with a line break",
                    n.name
                ),
                None,
            );
        }
    }
}

/// The interface of a `net.ipv4.conf.<iface>.*` / `net.ipv6.conf.<iface>.*`
/// key, unless it is `all`, `default` or `lo`.
fn conf_iface(k: &str) -> Option<&str> {
    let rest = k
        .strip_prefix("net.ipv4.conf.")
        .or_else(|| k.strip_prefix("net.ipv6.conf."))?;
    let (iface, _) = rest.split_once('.')?;
    (!["all", "default", "lo"].contains(&iface)).then_some(iface)
}

fn t_ifaces(c: &Checker, n: &Node) -> Vec<String> {
    c.t.endpoints_of(&n.name).map(|e| e.iface.clone()).collect()
}

fn env(c: &mut Checker, n: &Node, r: &NodeRun) {
    for (k, v) in &r.env {
        let at = pick(r.locs.env.get(k).copied(), n.loc);
        let name_ok = k
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
            && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !name_ok {
            c.push(
                at,
                format!("`{k}` in `env` of `{}` is not a variable name", n.name),
                Some("letters, digits and `_`, not starting with a digit".into()),
            );
        } else if k.starts_with("NLAB_") {
            c.push(
                at,
                format!(
                    "`{k}` in `env` of `{}`: NLAB_* variables are set by nlab",
                    n.name
                ),
                None,
            );
        }
        if v.contains('\0') {
            c.push(
                at,
                format!("`env.{k}` of `{}` holds a NUL byte", n.name),
                None,
            );
        }
    }
}
