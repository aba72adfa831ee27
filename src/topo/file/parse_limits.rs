//! Reading a node's limits and isolation keys (`cpu`, `cpu_shares`,
//! `memory`, `pids`, `isolation`, `dns`, `binds`, `sysctls`, `env`,
//! `exec`) into its [`NodeRun`]. Malformed values are reported at their
//! own line; rules across keys (the memory floor, which sysctls) are
//! `validate`'s.

use super::reader::{Fields, Reader};
use super::yaml::{YNode, YVal};
use crate::topo::limits::{parse_cores, parse_size, resolv_word, Bind, Cpu, Isolation, NodeRun};

/// The keys this module reads, added to the node's own keys.
pub(super) const RUN_KEYS: &[&str] = &[
    "cpu",
    "cpu_sched",
    "cpu_shares",
    "memory",
    "pids",
    "isolation",
    "dns",
    "dns_search",
    "dns_options",
    "binds",
    "sysctls",
    "env",
    "exec",
];
const ISOLATION_KEYS: &[&str] = &["uts", "tmp", "pid"];

impl Reader<'_> {
    /// The node's [`NodeRun`] from its mapping's fields. A VM's `memory`
    /// is its guest's (see `vm`), not a limit: a cgroup at the guest's
    /// size would OOM-kill QEMU, which needs more than its guest.
    pub fn node_run(&mut self, f: &Fields, node: &str, is_vm: bool) -> NodeRun {
        let mut run = NodeRun::default();
        if let Some(v) = f.value("cpu") {
            run.locs.cpu = v.loc;
            run.cpu = self.scalar(v, "`cpu`", parse_cores).map(Cpu::Cores);
        }
        if let Some(v) = f.value("cpu_sched") {
            run.cpu = self.cpu_sched(v, run.cpu);
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
        if let Some(v) = f.value("memory").filter(|_| !is_vm) {
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
        for (key, out) in [
            ("dns_search", &mut run.dns_search),
            ("dns_options", &mut run.dns_options),
        ] {
            if let Some(v) = f.value(key) {
                for item in self.list(v, &format!("`{key}`"), true) {
                    if let Some(w) = self.scalar(item, &format!("an entry of `{key}`"), resolv_word)
                    {
                        out.push(w);
                    }
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

impl Reader<'_> {
    /// `cpu_sched: cfs` (the default) or `rt`: with `rt`, `cpu: F` (at
    /// most 1) is real-time time, F of each 100 ms period on each CPU
    /// (Mininet's `CPULimitedHost(sched='rt')`).
    fn cpu_sched(&mut self, v: &YNode, cpu: Option<Cpu>) -> Option<Cpu> {
        let text = self.string(v, "`cpu_sched`")?;
        match (text.as_str(), cpu) {
            ("cfs", c) => c,
            ("rt", Some(Cpu::Cores(f))) if f <= 1.0 => Some(Cpu::RealTime {
                fraction: f,
                period_us: crate::topo::limits::DEFAULT_PERIOD_US,
            }),
            ("rt", c) => {
                self.err(
                    v.loc,
                    "`cpu_sched: rt` needs `cpu: F` with F at most 1 (the share of each period on \
                     each CPU)"
                        .to_string(),
                    Some("e.g. `cpu: 0.1` beside it".into()),
                );
                c
            }
            (other, c) => {
                self.err(
                    v.loc,
                    format!("`cpu_sched: {other}` is not cfs or rt"),
                    None,
                );
                c
            }
        }
    }
}

/// The node's settings as flow-style `key: value` items for the file
/// writer (`emit`), so `parse` of the result gives them back. Mininet's
/// CPU fraction of the whole machine (`--host cfs,cpu=F`) has no file
/// key (`cpu:` counts cores) and is left out.
pub(super) fn run_yaml(r: &NodeRun) -> Vec<String> {
    let j = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut v = Vec::new();
    match r.cpu {
        Some(Cpu::Cores(c)) => v.push(format!("cpu: {c}")),
        Some(Cpu::RealTime { fraction, .. }) => {
            v.push(format!("cpu: {fraction}"));
            v.push("cpu_sched: rt".into());
        }
        _ => {}
    }
    v.extend(r.cpu_shares.map(|s| format!("cpu_shares: {s}")));
    v.extend(r.memory.map(|m| format!("memory: {m}")));
    v.extend(r.pids.map(|p| format!("pids: {p}")));
    let i = r.isolation;
    if i.any() {
        v.push(format!(
            "isolation: {{uts: {}, tmp: {}, pid: {}}}",
            i.uts, i.tmp, i.pid
        ));
    }
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let map = |m: &std::collections::BTreeMap<String, String>| {
        let items: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{}: {}", j(k), j(v)))
            .collect();
        format!("{{{}}}", items.join(", "))
    };
    if !r.dns.is_empty() {
        v.push(format!(
            "dns: {}",
            list(r.dns.iter().map(|a| j(&a.to_string())).collect())
        ));
    }
    for (key, words) in [
        ("dns_search", &r.dns_search),
        ("dns_options", &r.dns_options),
    ] {
        if !words.is_empty() {
            v.push(format!(
                "{key}: {}",
                list(words.iter().map(|w| j(w)).collect())
            ));
        }
    }
    if !r.binds.is_empty() {
        v.push(format!(
            "binds: {}",
            list(r.binds.iter().map(|b| j(&b.to_string())).collect())
        ));
    }
    if !r.sysctls.is_empty() {
        v.push(format!("sysctls: {}", map(&r.sysctls)));
    }
    if !r.env.is_empty() {
        v.push(format!("env: {}", map(&r.env)));
    }
    if !r.exec.is_empty() {
        v.push(format!(
            "exec: {}",
            list(r.exec.iter().map(|c| j(c)).collect())
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use crate::topo::file::{parse, to_yaml};
    use crate::topo::limits::{Cpu, Isolation};

    const FILE: &str = r#"name: lim
topology:
  nodes:
    h1:
      cpu: 0.5
      cpu_sched: cfs
      cpu_shares: 512
      memory: 256m
      pids: 64
      isolation: {uts: true, tmp: true, pid: false}
      dns: [10.0.0.53, "fd00::53"]
      dns_search: [lab.example]
      dns_options: ["ndots:2"]
      binds: ["/srv/www:/var/www:ro", "/etc/hostname:/etc/motd"]
      sysctls: {net.ipv4.ip_forward: 1, net.ipv6.conf.all.forwarding: true}
      env: {GREETING: "hello world", EMPTY: ""}
      exec: ["ip -br addr", "echo $GREETING"]
    h2: {exec: "hostname"}
  links: []
"#;

    #[test]
    fn cpu_sched_rt_is_real_time_and_writes_back() {
        let rt = FILE.replace("cpu_sched: cfs", "cpu_sched: rt");
        let t = parse(&rt, Some("lim.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let r = &t.nodes["h1"].run;
        assert_eq!(r.cpu.and_then(|c| c.rt_runtime()), Some((50_000, 100_000)));
        let back = parse(&to_yaml(&t), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, t);
        let e = parse(&rt.replace("cpu: 0.5", "cpu: 1.5"), Some("lim.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lim.yaml:6") && e.contains("at most 1"), "{e}");
    }

    #[test]
    fn a_resolv_conf_word_with_a_blank_is_refused_at_its_line() {
        let bad = FILE.replace("[lab.example]", "[\"lab example\"]");
        let e = parse(&bad, Some("lim.yaml")).unwrap_err().to_string();
        assert!(
            e.contains("lim.yaml:12") && e.contains("has a blank"),
            "{e}"
        );
    }

    #[test]
    fn every_key_reads_and_writes_back() {
        let t = parse(FILE, Some("lim.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let r = &t.nodes["h1"].run;
        assert_eq!(r.cpu, Some(Cpu::Cores(0.5)));
        assert_eq!(r.cpu_shares, Some(512));
        assert_eq!(r.memory, Some(256 << 20));
        assert_eq!(r.pids, Some(64));
        let want = Isolation {
            uts: true,
            tmp: true,
            pid: false,
        };
        assert_eq!(r.isolation, want);
        assert_eq!(r.dns.len(), 2);
        assert!(r.binds[0].ro && !r.binds[1].ro);
        assert_eq!(r.sysctls["net.ipv4.ip_forward"], "1");
        assert_eq!(r.sysctls["net.ipv6.conf.all.forwarding"], "1");
        assert_eq!(r.env["GREETING"], "hello world");
        assert_eq!(r.exec, ["ip -br addr", "echo $GREETING"]);
        assert_eq!(r.dns_search, ["lab.example"]);
        assert_eq!(r.dns_options, ["ndots:2"]);
        assert_eq!(r.locs.memory.line, 8);
        assert_eq!(r.locs.exec[1].line, 17);
        assert_eq!(t.nodes["h2"].run.exec, ["hostname"]);
        let back = parse(&to_yaml(&t), None).unwrap_or_else(|e| panic!("{e}\n{}", to_yaml(&t)));
        assert_eq!(back, t, "{}", to_yaml(&t));
    }

    #[test]
    fn malformed_values_are_reported_at_their_line() {
        let bad = "name: b\ntopology:\n  nodes:\n    h1:\n      memory: 12q\n      cpu: fast\n      \
                   cpu_shares: 1\n      pids: 0\n      dns: [not-an-ip]\n      binds: [\"/a\"]\n      \
                   isolation: {uts: yes please}\n      sysctls: [a]\n";
        let e = parse(bad, Some("b.yaml")).unwrap_err().to_string();
        for (line, what) in [
            (5, "`memory`: `12q` is not a size"),
            (6, "`cpu`: `fast` is not a number of CPUs"),
            (7, "`cpu_shares`: `1` is not a whole number in 2..=262144"),
            (8, "`pids`: `0` is not a whole number of tasks"),
            (9, "`dns` `not-an-ip` is not an IPv4 or IPv6 address"),
            (10, "bind `/a` is not SRC:DST"),
            (11, "`isolation.uts` should be true or false"),
            (12, "`sysctls` of `h1` should be a mapping"),
        ] {
            assert!(
                e.contains(&format!("b.yaml:{line}:")) && e.contains(what),
                "{what}:\n{e}"
            );
        }
    }

    #[test]
    fn rules_across_values_are_validation_errors() {
        let t = "name: v\ntopology:\n  nodes:\n    h1:\n      memory: 2m\n      sysctls: {vm.swappiness: 1, net.ipv4.conf.eth9.rp_filter: 1}\n      \
                 env: {NLAB_LAB: x}\n      binds: [\"/a:/x\", \"/b:/x\"]\n      exec: [\"\"]\n";
        let e = parse(t, Some("v.yaml")).unwrap_err().to_string();
        for (line, what) in [
            (5, "`memory: 2 MiB` of `h1` is below 4 MiB"),
            (
                6,
                "sysctl `vm.swappiness` of `h1` is not a network namespace's",
            ),
            (6, "names interface `eth9`, which `h1` does not have"),
            (7, "NLAB_* variables are set by nlab"),
            (8, "two binds of `h1` cover `/x`"),
            (9, "an `exec` command of `h1` is empty"),
        ] {
            assert!(
                e.contains(&format!("v.yaml:{line}:")) && e.contains(what),
                "{what}:\n{e}"
            );
        }
    }
}
