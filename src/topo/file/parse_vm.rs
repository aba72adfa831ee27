//! Reading `kind: vm` nodes (see [`crate::topo::vm`]) and interfaces on
//! a host NIC (`macvlan:`/`macvtap:` under `interfaces:`, see
//! [`crate::topo::macvlan`]). Types and ranges are checked here; what the
//! settings mean for the topology is checked in `validate::vm`. Image
//! paths are resolved against the topology file's directory and must
//! exist when the file is read ([`resolve_paths`]).

use super::reader::{Fields, Reader};
use super::yaml::{YNode, YVal};
use crate::topo::macvlan::{Macvlan, MacvlanMode};
use crate::topo::model::{Endpoint, Loc, Topology};
use crate::topo::validate::TopoError;
use crate::topo::vm::{Accel, Boot, Vm, DEFAULT_MEMORY_MIB, MAX_QUEUES};
use std::path::{Path, PathBuf};

/// The node keys of a VM, beside the common ones.
pub(super) const VM_KEYS: &[&str] = &[
    "kernel", "initrd", "disk", "append", "memory", "cpus", "accel", "queues",
];
/// The keys of an interface on a host NIC.
pub(super) const NIC_IFACE_KEYS: &[&str] = &["ip", "mac", "mtu", "macvlan", "macvtap"];
const NIC_KEYS: &[&str] = &["parent", "mode"];
/// Keys that make nlab start the guest itself.
const BOOT_KEYS: &[&str] = &[
    "kernel", "initrd", "disk", "append", "memory", "cpus", "accel",
];

/// Whether an `interfaces:` entry describes an interface on a host NIC.
pub(super) fn on_nic(v: &YNode, src: &str) -> bool {
    let YVal::Map(m) = &v.val else { return false };
    m.iter()
        .any(|(k, _)| matches!(k.text(src).as_deref(), Some("macvlan") | Some("macvtap")))
}

impl Reader<'_> {
    /// The VM settings of node `name`; `is_vm`: its kind is `vm`. VM keys
    /// on another kind of node are errors, but for `memory`, which is the
    /// memory limit of any other node (see `node_run`).
    pub fn vm(&mut self, f: &Fields, name: &str, is_vm: bool, loc: Loc) -> Option<Vm> {
        if !is_vm {
            for key in VM_KEYS.iter().filter(|k| **k != "memory") {
                if let Some(v) = f.get(key) {
                    let msg = format!("`{key}` is for virtual machines, and `{name}` is not one");
                    self.err(v.loc, msg, Some("add `kind: vm` to the node".into()));
                }
            }
            return None;
        }
        let queues = match f.value("queues") {
            Some(v) => self.number(v, "`queues`", 1, u64::from(MAX_QUEUES))? as u16,
            None => 1,
        };
        let boot = BOOT_KEYS
            .iter()
            .any(|k| f.get(k).is_some())
            .then(|| self.boot(f))
            .flatten();
        Some(Vm { boot, queues, loc })
    }

    fn boot(&mut self, f: &Fields) -> Option<Boot> {
        let mut locs = [Loc::default(); 3];
        let mut path = |r: &mut Self, i: usize, key: &str| {
            let v = f.value(key)?;
            locs[i] = v.loc;
            r.string(v, &format!("`{key}`")).map(PathBuf::from)
        };
        let kernel = path(self, 0, "kernel");
        let initrd = path(self, 1, "initrd");
        let disk = path(self, 2, "disk");
        let append = f.value("append").and_then(|v| self.string(v, "`append`"));
        let memory_mib = match f.value("memory") {
            Some(v) => self.memory(v)?,
            None => DEFAULT_MEMORY_MIB,
        };
        let cpus = match f.value("cpus") {
            Some(v) => self.number(v, "`cpus`", 1, 64)? as u32,
            None => 1,
        };
        let accel = match f.value("accel") {
            Some(v) => {
                let text = self.string(v, "`accel`")?;
                match text.parse::<Accel>() {
                    Ok(a) => a,
                    Err(msg) => {
                        self.err(v.loc, msg, None);
                        return None;
                    }
                }
            }
            None => Accel::Auto,
        };
        Some(Boot {
            kernel,
            initrd,
            disk,
            append,
            memory_mib,
            cpus,
            accel,
            locs,
        })
    }

    /// A whole number in `lo..=hi`.
    fn number(&mut self, n: &YNode, what: &str, lo: u64, hi: u64) -> Option<u64> {
        let text = self.string(n, what)?;
        match text.trim().parse::<u64>() {
            Ok(v) if (lo..=hi).contains(&v) => Some(v),
            _ => {
                let msg =
                    format!("{what} should be a whole number from {lo} to {hi}, found `{text}`");
                self.err(n.loc, msg, None);
                None
            }
        }
    }

    /// `memory:` in MiB: `256`, `256M`, `1G`.
    fn memory(&mut self, n: &YNode) -> Option<u32> {
        let text = self.string(n, "`memory`")?;
        let t = text.trim();
        let (num, mul) = match t.char_indices().last() {
            Some((i, 'G' | 'g')) => (&t[..i], 1024),
            Some((i, 'M' | 'm')) => (&t[..i], 1),
            _ => (t, 1),
        };
        match num
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(|v| v.checked_mul(mul))
        {
            Some(m) if (32..=1 << 20).contains(&m) => Some(m),
            _ => {
                let msg = format!(
                    "`memory` should be MiB from 32 to 1048576 (`256`, `512M`, `2G`), found `{text}`"
                );
                self.err(n.loc, msg, None);
                None
            }
        }
    }

    /// The `macvlan:`/`macvtap:` of an interface whose other settings
    /// are already in `end`.
    pub fn nic(&mut self, f: &Fields, end: Endpoint) -> Option<Macvlan> {
        let (tap, v) = match (f.get("macvlan"), f.get("macvtap")) {
            (Some(a), Some(_)) => {
                let msg = format!("`{}` has both `macvlan` and `macvtap`", end.id());
                self.err(a.loc, msg, Some("keep one of them".into()));
                return None;
            }
            (Some(v), None) => (false, v),
            (None, Some(v)) => (true, v),
            (None, None) => return None,
        };
        let kind = if tap { "macvtap" } else { "macvlan" };
        let what = format!("`{kind}` of `{}`", end.id());
        let g = self.fields(v, &what, NIC_KEYS);
        let Some(p) = g.value("parent") else {
            if !g.misspelled("parent") {
                let hint = format!("e.g. `{kind}: {{parent: eth1, mode: bridge}}`");
                self.err(v.loc, format!("{what} needs `parent`"), Some(hint));
            }
            return None;
        };
        let parent = self.string(p, "`parent`")?;
        let mode = match g.value("mode") {
            Some(m) => {
                let text = self.string(m, "`mode`")?;
                match text.parse::<MacvlanMode>() {
                    Ok(x) => x,
                    Err(msg) => {
                        self.err(m.loc, msg, None);
                        return None;
                    }
                }
            }
            None => MacvlanMode::Bridge,
        };
        Some(Macvlan {
            end,
            parent,
            mode,
            tap,
        })
    }
}

/// Makes every VM image path absolute (relative ones are read from the
/// topology file's directory, or the working directory without a file)
/// and reports each one that is not a regular file, at its line.
pub(super) fn resolve_paths(t: &mut Topology, source: Option<&str>) -> Vec<TopoError> {
    let base: PathBuf = source
        .map(Path::new)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let mut errs = Vec::new();
    for node in t.nodes.values_mut() {
        let Some(boot) = node.vm.as_mut().and_then(|v| v.boot.as_mut()) else {
            continue;
        };
        let locs = boot.locs;
        for (i, p) in [&mut boot.kernel, &mut boot.initrd, &mut boot.disk]
            .into_iter()
            .enumerate()
        {
            let Some(p) = p.as_mut() else { continue };
            if p.is_relative() {
                *p = base.join(&*p);
            }
            if let Some(problem) = image_problem(p) {
                let what = ["kernel", "initrd", "disk"][i];
                errs.push(
                    TopoError::at(
                        locs[i],
                        format!("the {what} of `{}`, {}, {problem}", node.name, p.display()),
                    )
                    .with_hint(format!("give the path of an existing {what} image")),
                );
            }
        }
    }
    errs
}

/// Why `p` cannot be a VM image, if it cannot.
pub fn image_problem(p: &Path) -> Option<String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => None,
        Ok(_) => Some("is not a regular file".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".into()),
        Err(e) => Some(format!("cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use crate::topo::file::parse;
    use crate::topo::macvlan::MacvlanMode;
    use crate::topo::vm::Accel;

    fn lab(nodes: &str, links: &str) -> String {
        format!("name: v\ntopology:\n  nodes:\n{nodes}  links:\n{links}")
    }

    #[test]
    fn a_vm_reads_with_paths_beside_the_file() {
        let dir = std::env::temp_dir().join(format!("nlab-vmparse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k"), b"x").unwrap();
        let src = dir.join("lab.yaml");
        let yaml = lab(
            "    vm1: {kind: vm, kernel: k, memory: 1G, cpus: 2, accel: tcg, queues: 4, append: quiet}\n    s1: {kind: switch}\n",
            "    - endpoints: [{node: vm1, iface: eth0, ip: 10.0.0.2/24}, s1:p1]\n",
        );
        let t = parse(&yaml, src.to_str()).unwrap();
        let vm = t.nodes["vm1"].vm.as_ref().unwrap();
        let b = vm.boot.as_ref().unwrap();
        assert_eq!(b.kernel.as_deref(), Some(dir.join("k").as_path()));
        assert_eq!(
            (b.memory_mib, b.cpus, b.accel, vm.queues),
            (1024, 2, Accel::Tcg, 4)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `to_yaml` writes back every VM key and every interface on a host
    /// NIC: parse → write → parse gives the same topology.
    #[test]
    fn vms_and_host_nic_interfaces_round_trip() {
        use crate::topo::file::to_yaml;
        let dir = std::env::temp_dir().join(format!("nlab-vmemit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["vmlinuz", "initrd.cpio", "disk one.qcow2"] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let src = dir.join("lab.yaml");
        let yaml = lab(
            "    vm1:\n      kind: vm\n      kernel: vmlinuz\n      initrd: initrd.cpio\n      disk: \"disk one.qcow2\"\n      append: \"quiet nlabtest.peer=10.0.0.1\"\n      memory: 1G\n      cpus: 2\n      accel: tcg\n      queues: 4\n      gateway: 10.0.0.1\n      interfaces:\n        eth1: {macvtap: {parent: enp9s0, mode: private}, ip: 192.168.77.20/24, mac: \"52:54:00:12:34:56\", mtu: 1400}\n    vm2: {kind: vm, queues: 2}\n    vm3: {kind: vm, disk: \"disk one.qcow2\"}\n    lan1:\n      interfaces:\n        eth0: {macvlan: {parent: enp9s0}, ip: [192.168.77.10/24, \"fd00::10/64\"]}\n        eth1: {macvlan: {parent: enp8s0, mode: passthru}}\n    s1: {kind: switch}\n",
            "    - endpoints: [{node: vm1, iface: eth0, ip: 10.0.0.2/24}, s1:p1]\n    - endpoints: [vm2:eth0, s1:p2]\n    - endpoints: [vm3:eth0, s1:p3]\n",
        );
        let t = parse(&yaml, src.to_str()).unwrap_or_else(|e| panic!("{e}"));
        let text = to_yaml(&t);
        let back = parse(&text, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, t, "{text}");
        // Each key is there, not only equal by accident of defaults.
        let vm1 = back.nodes["vm1"].vm.as_ref().unwrap();
        let b = vm1.boot.as_ref().unwrap();
        assert_eq!(
            (b.memory_mib, b.cpus, b.accel, vm1.queues),
            (1024, 2, Accel::Tcg, 4)
        );
        assert_eq!(
            b.disk.as_deref(),
            Some(dir.join("disk one.qcow2").as_path())
        );
        assert_eq!(b.append.as_deref(), Some("quiet nlabtest.peer=10.0.0.1"));
        assert!(back.nodes["vm2"].vm.as_ref().unwrap().boot.is_none());
        let m = &back.nodes["vm1"].macvlans[0];
        assert_eq!(
            (m.tap, m.mode, m.end.mtu),
            (true, MacvlanMode::Private, Some(1400))
        );
        let lan = &back.nodes["lan1"].macvlans;
        assert_eq!(lan.len(), 2);
        assert_eq!(
            (lan[1].parent.as_str(), lan[1].mode),
            ("enp8s0", MacvlanMode::Passthru)
        );
        assert_eq!(lan[0].end.addrs.len(), 2);
        assert!(text.contains("kind: vm"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn vm_mistakes_are_reported_where_written() {
        let yaml = lab(
            "    h1: {queues: 2}\n    vm1: {kind: vm, disk: /nonexistent.img, cpus: 0}\n",
            "    - endpoints: [h1:eth0, vm1:vtap0]\n",
        );
        let e = parse(&yaml, Some("x.yaml")).unwrap_err().to_string();
        assert!(
            e.contains("x.yaml:4:18: `queues` is for virtual machines"),
            "{e}"
        );
        assert!(
            e.contains("`cpus` should be a whole number from 1 to 64"),
            "{e}"
        );
        let yaml = lab(
            "    h1: {}\n    vm1: {kind: vm, routes: [{dst: 10.9.0.0/16, via: 10.0.0.1}]}\n",
            "    - endpoints: [h1:eth0, vm1:vtap0]\n",
        );
        let e = parse(&yaml, Some("x.yaml")).unwrap_err().to_string();
        assert!(e.contains("`routes` is set on VM `vm1`"), "{e}");
        assert!(
            e.contains("`vm1:vtap0`: VM interfaces may not be named vtapN"),
            "{e}"
        );
    }

    #[test]
    fn interfaces_on_host_nics() {
        let yaml = lab(
            "    h1:\n      interfaces:\n        eth0: {macvlan: {parent: enp1s0, mode: vepa}, ip: 192.168.1.5/24}\n      gateway: 192.168.1.1\n",
            "    []\n",
        );
        let t = parse(&yaml, None).unwrap();
        let m = &t.nodes["h1"].macvlans[0];
        assert_eq!(
            (m.parent.as_str(), m.mode, m.tap),
            ("enp1s0", MacvlanMode::Vepa, false)
        );
        assert_eq!(
            t.primary_addr("h1", false),
            Some("192.168.1.5".parse().unwrap())
        );
        let bad = lab(
            "    h1:\n      interfaces:\n        eth0: {macvtap: {parent: enp1s0, mode: sideways}}\n        eth1: {macvtap: {parent: enp1s0}}\n",
            "    []\n",
        );
        let e = parse(&bad, Some("x.yaml")).unwrap_err().to_string();
        assert!(e.contains("unknown macvlan mode `sideways`"), "{e}");
        let bad = lab(
            "    h1:\n      interfaces:\n        eth1: {macvtap: {parent: enp1s0}}\n",
            "    []\n",
        );
        let e = parse(&bad, Some("x.yaml")).unwrap_err().to_string();
        assert!(
            e.contains("x.yaml:6:9: `macvtap` on `h1:eth1`: only a VM"),
            "{e}"
        );
    }
}
