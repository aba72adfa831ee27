//! Naming a namespace the way its owner would: `root` for the host's
//! own, the container's name where Docker or Podman runs one in it, the
//! lab and node of an nlab namespace, its `ip netns` name, a mount point,
//! else the process (or thread, or descriptor) that keeps it. No syscalls:
//! what holds each namespace and the commands of processes come in.

use crate::kernel::netns::parse_ns_name;
use crate::kernel::nsscan::Holders;
use serde::Serialize;

/// A running container and the process that is its init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// `podman` or `docker`.
    pub runtime: String,
    pub name: String,
    pub id: String,
    pub pid: i32,
}

/// What keeps a namespace, the strongest name first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NsKind {
    /// The initial namespace (that of PID 1).
    Root,
    Container,
    /// A node of an nlab lab.
    Lab,
    /// Pinned under `/run/netns` (`ip netns add`).
    Netns,
    /// Bind-mounted elsewhere.
    Mount,
    Process,
    /// Only a thread of a process in another namespace is in it.
    Thread,
    /// Only an open file descriptor keeps it.
    Fd,
    /// Reached through an interface only.
    Unknown,
}

/// How a namespace is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsName {
    /// One word or phrase for tables and peers: `root`, `podman:web`,
    /// `nlab-demo-h1`, `pid 812 (sleep)`.
    pub label: String,
    pub kind: NsKind,
    pub lab: Option<String>,
    pub node: Option<String>,
    /// What holds it, in words: `lab demo, node h1`, `pid 812 (sleep)`.
    pub holder: String,
}

/// What names a process: its command name (`comm`) and, for people, its
/// command line.
pub struct ProcNames<'a> {
    pub comm: &'a dyn Fn(i32) -> String,
    pub cmdline: &'a dyn Fn(i32) -> String,
}

/// Names the namespace `h`.
pub fn name(h: &Holders, container: Option<&Container>, procs: &ProcNames) -> NsName {
    let comm = procs.comm;
    let lab_pin = h
        .pins
        .iter()
        .find_map(|p| parse_ns_name(p).map(|ln| (p, ln)));
    let (lab, node) = match lab_pin {
        Some((_, (l, n))) => (Some(l.to_string()), Some(n.to_string())),
        None => (None, None),
    };
    let running = || match h.pids.as_slice() {
        [] => String::new(),
        [p] => format!("pid {p} ({})", comm(*p)),
        [p, rest @ ..] => format!("pid {p} ({}) and {} more", comm(*p), rest.len()),
    };
    let (label, kind, holder) = if h.initial {
        (
            "root".to_string(),
            NsKind::Root,
            "initial namespace".to_string(),
        )
    } else if let Some(c) = container {
        (
            format!("{}:{}", c.runtime, c.name),
            NsKind::Container,
            format!("{} container {}, pid {}", c.runtime, short_id(&c.id), c.pid),
        )
    } else if let Some((pin, (l, n))) = lab_pin {
        (pin.clone(), NsKind::Lab, format!("lab {l}, node {n}"))
    } else if let Some(pin) = h.pins.first() {
        let p = running();
        let holder = if p.is_empty() {
            "ip netns".to_string()
        } else {
            format!("ip netns; {p}")
        };
        (pin.clone(), NsKind::Netns, holder)
    } else if let Some(m) = h.mounts.first() {
        (m.clone(), NsKind::Mount, format!("mounted at {m}"))
    } else if let Some(p) = h.pids.first() {
        let label = format!("pid {p} ({})", comm(*p));
        let more = match h.pids.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        let holder = format!("process `{}`{more}", (procs.cmdline)(*p));
        (label, NsKind::Process, holder)
    } else if let Some((tid, pid)) = h.threads.first() {
        let c = comm(*pid);
        (
            format!("tid {tid} ({c})"),
            NsKind::Thread,
            format!("thread {tid} of pid {pid} ({c})"),
        )
    } else if let Some((pid, fd)) = h.fds.first() {
        let c = comm(*pid);
        (
            format!("pid {pid} fd {fd} ({c})"),
            NsKind::Fd,
            format!("descriptor {fd} of pid {pid} ({c})"),
        )
    } else {
        let label = format!("inode {}", h.inode);
        (label, NsKind::Unknown, "nothing found holds it".to_string())
    };
    NsName {
        label,
        kind,
        lab,
        node,
        holder,
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holders() -> Holders {
        Holders {
            inode: 4026532000,
            ..Holders::default()
        }
    }

    fn comm(pid: i32) -> String {
        format!("cmd{pid}")
    }

    fn cmdline(pid: i32) -> String {
        format!("cmd{pid} --flag")
    }

    const P: ProcNames = ProcNames {
        comm: &comm,
        cmdline: &cmdline,
    };

    #[test]
    fn the_strongest_name_wins() {
        let mut h = holders();
        h.pids = vec![40, 41];
        h.pins = vec!["netns-1234".into()];
        let c = Container {
            runtime: "podman".into(),
            name: "web".into(),
            id: "0123456789abcdef".into(),
            pid: 40,
        };
        let n = name(&h, Some(&c), &P);
        assert_eq!(
            (n.label.as_str(), n.kind),
            ("podman:web", NsKind::Container)
        );
        assert_eq!(n.holder, "podman container 0123456789ab, pid 40");

        let n = name(&h, None, &P);
        assert_eq!((n.label.as_str(), n.kind), ("netns-1234", NsKind::Netns));
        assert_eq!(n.holder, "ip netns; pid 40 (cmd40) and 1 more");

        h.pins = vec![];
        let n = name(&h, None, &P);
        assert_eq!(
            (n.label.as_str(), n.kind),
            ("pid 40 (cmd40)", NsKind::Process)
        );

        h.initial = true;
        assert_eq!(name(&h, Some(&c), &P).label, "root");
    }

    #[test]
    fn lab_namespaces_are_named_by_lab_and_node_both_spellings() {
        for (pin, lab, node) in [
            ("nlab-demo-h1", "demo", "h1"),
            ("nlab-my-lab:s1", "my-lab", "s1"),
        ] {
            let mut h = holders();
            h.pins = vec![pin.into()];
            let n = name(&h, None, &P);
            assert_eq!(n.kind, NsKind::Lab, "{pin}");
            assert_eq!(n.label, pin);
            assert_eq!(
                (n.lab.as_deref(), n.node.as_deref()),
                (Some(lab), Some(node))
            );
            assert_eq!(n.holder, format!("lab {lab}, node {node}"));
        }
        // Starts like nlab's but is not one of its names.
        let mut h = holders();
        h.pins = vec!["nlab-x".into()];
        assert_eq!(name(&h, None, &P).kind, NsKind::Netns);
    }

    #[test]
    fn threads_descriptors_and_nothing() {
        let mut h = holders();
        h.threads = vec![(77, 70)];
        let n = name(&h, None, &P);
        assert_eq!(n.label, "tid 77 (cmd70)");
        assert_eq!(n.holder, "thread 77 of pid 70 (cmd70)");
        let mut h = holders();
        h.fds = vec![(70, 5)];
        assert_eq!(name(&h, None, &P).label, "pid 70 fd 5 (cmd70)");
        let mut h = holders();
        h.mounts = vec!["/run/docker/netns/ab".into()];
        assert_eq!(name(&h, None, &P).kind, NsKind::Mount);
        assert_eq!(name(&holders(), None, &P).kind, NsKind::Unknown);
    }
}
