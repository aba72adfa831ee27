//! Reading a node's limits and isolation keys (`cpu`, `cpu_shares`,
//! `memory`, `pids`, `isolation`, `dns`, `binds`, `sysctls`, `env`,
//! `exec`) into its [`NodeRun`]. Malformed values are reported at their
//! own line; rules across keys (the memory floor, which sysctls) are
//! `validate`'s.

use super::reader::{Fields, Reader};
use super::yaml::{YNode, YVal};
use crate::topo::limits::{parse_cores, parse_size, Bind, Cpu, Isolation, NodeRun};

/// The keys this module reads, added to the node's own keys.
pub(super) const RUN_KEYS: &[&str] = &[
    "cpu",
    "cpu_shares",
    "memory",
    "pids",
    "isolation",
    "dns",
    "binds",
    "sysctls",
    "env",
    "exec",
];
const ISOLATION_KEYS: &[&str] = &["uts", "tmp", "pid"];

impl Reader<'_> {
    /// The node's [`NodeRun`] from its mapping's fields.
    pub fn node_run(&mut self, f: &Fields, node: &str) -> NodeRun {
        let mut run = NodeRun::default();
        if let Some(v) = f.value("cpu") {
            run.locs.cpu = v.loc;
            run.cpu = self.scalar(v, "`cpu`", parse_cores).map(Cpu::Cores);
        }
        if let Some(v) = f.value("cpu_shares") {
            run.cpu_shares = self.scalar(v, "`cpu_shares`", |s| {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (2..=262_144).contains(n))
                    .ok_or_else(|| format!("`{s}` is not a whole number in 2..=262144 (1024 is the default weight)"))
            });
        }
        if let Some(v) = f.value("memory") {
            run.locs.memory = v.loc;
            run.memory = self.scalar(v, "`memory`", parse_size);
        }
        if let Some(v) = f.value("pids") {
            run.locs.pids = v.loc;
            run.pids = self.scalar(v, "`pids`", |s| {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("`{s}` is not a whole number of tasks (1 or more)"))
            });
        }
        if let Some(v) = f.value("isolation") {
            run.locs.isolation = v.loc;
            run.isolation = self.isolation(v, node);
        }
        if let Some(v) = f.value("dns") {
            for item in self.list(v, "`dns`", true) {
                if let Some(ip) = self.ip(item, "`dns`") {
                    run.dns.push(ip);
                }
            }
        }
        if let Some(v) = f.value("binds") {
            for item in self.list(v, "`binds`", false) {
                if let Some(b) = self.scalar(item, "a bind", Bind::parse) {
                    run.binds.push(b);
                    run.locs.binds.push(item.loc);
                }
            }
        }
        self.run_maps(f, node, &mut run);
        if let Some(v) = f.value("exec") {
            for item in self.list(v, "`exec`", true) {
                if let Some(cmd) = self.string(item, "an `exec` command") {
                    run.exec.push(cmd);
                    run.locs.exec.push(item.loc);
                }
            }
        }
        run
    }

    /// `sysctls:` and `env:`, both `NAME: value` mappings.
    fn run_maps(&mut self, f: &Fields, node: &str, run: &mut NodeRun) {
        if let Some(v) = f.value("sysctls") {
            for (key, k, val) in self.entries(v, &format!("`sysctls` of `{node}`")) {
                if let Some(text) = self.string(val, &format!("sysctl `{key}`")) {
                    let text = match val.val {
                        YVal::Bool(b) => u8::from(b).to_string(),
                        _ => text,
                    };
                    run.locs.sysctls.insert(key.clone(), k.loc);
                    run.sysctls.insert(key, text);
                }
            }
        }
        if let Some(v) = f.value("env") {
            for (key, k, val) in self.entries(v, &format!("`env` of `{node}`")) {
                if let Some(text) = self.string(val, &format!("environment variable `{key}`")) {
                    run.locs.env.insert(key.clone(), k.loc);
                    run.env.insert(key, text);
                }
            }
        }
    }

    fn isolation(&mut self, v: &YNode, node: &str) -> Isolation {
        let f = self.fields(v, &format!("`isolation` of `{node}`"), ISOLATION_KEYS);
        let mut get = |k: &str| {
            f.value(k)
                .and_then(|b| self.bool(b, &format!("`isolation.{k}`")))
                .unwrap_or(false)
        };
        Isolation {
            uts: get("uts"),
            tmp: get("tmp"),
            pid: get("pid"),
        }
    }

    /// A scalar read by `parse`; its error is reported at the value's line.
    fn scalar<T>(
        &mut self,
        n: &YNode,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(n, what)?;
        match parse(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(n.loc, format!("{what}: {e}"), None);
                None
            }
        }
    }
}
