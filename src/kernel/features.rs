//! What this kernel can do, found by trying: in a throwaway network
//! namespace, install each qdisc kind nlab uses on `lo` and see whether the
//! kernel accepts it. Modules cannot be loaded here and config files lie,
//! so asking the kernel itself is the only answer that holds. The answer is
//! cached for the life of the process.

use super::netlink::Socket;
use super::tc::{self, netem, tbf, Qdisc};
use super::{Error, Result};
use crate::topo::conditions::{Impairment, Rate};
use serde::Serialize;
use std::sync::OnceLock;

/// One probed feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub name: &'static str,
    pub present: bool,
    /// The kernel's answer when absent (`No such file or directory`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The kernel's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Features {
    pub netem: bool,
    pub tbf: bool,
    pub htb: bool,
    pub ingress: bool,
    pub probes: Vec<Probe>,
}

impl Features {
    /// Everything present: for planning without a kernel (tests, dry runs).
    pub fn all() -> Features {
        Features {
            netem: true,
            tbf: true,
            htb: true,
            ingress: true,
            probes: Vec::new(),
        }
    }
}

/// A minimal htb root (`struct tc_htb_glob` in TCA_HTB_INIT): version 3,
/// rate2quantum 10, no default class.
fn htb_root() -> Qdisc {
    const TCA_HTB_INIT: u16 = 2;
    let glob: Vec<u8> = [3u32, 10, 0, 0, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    Qdisc {
        kind: "htb",
        handle_major: 3,
        options: tc::nla(TCA_HTB_INIT, &glob),
    }
}

fn probe_in_scratch() -> Result<Features> {
    let mut sock = Socket::new_in_scratch_ns()?;
    // `lo` is always index 1 in a new namespace.
    const LO: u32 = 1;
    let rate = Impairment {
        rate: Some(Rate {
            bits_per_sec: 10_000_000,
            burst_bytes: None,
        }),
        ..Impairment::default()
    };
    let candidates: Vec<(&'static str, Option<Qdisc>)> = vec![
        ("netem", Some(netem::build(&Impairment::default()))),
        ("tbf", tbf::build(&rate)),
        ("htb", Some(htb_root())),
        ("ingress", None),
    ];
    let mut probes = Vec::new();
    for (name, q) in candidates {
        let what = format!("probing qdisc {name}");
        let res = match &q {
            Some(q) => sock.request(tc::set_root(LO, q, true, what)),
            None => sock.request(tc::add_ingress(LO, what)),
        };
        let present = res.is_ok();
        if present {
            // Leave `lo` bare for the next probe; the namespace dies anyway.
            let _ = sock.request(tc::delete_root(LO, "removing probe qdisc".into()));
        }
        probes.push(Probe {
            name,
            present,
            error: res.err().map(|e| match e {
                Error::Sys { errno, .. } => errno.to_string(),
                Error::Refused { errno, text, .. } => format!("{errno} ({text})"),
                other => {
                    let s = other.to_string();
                    let prefix = format!("probing qdisc {name}: ");
                    s.strip_prefix(&prefix).map(str::to_string).unwrap_or(s)
                }
            }),
        });
    }
    let has = |n: &str| probes.iter().any(|p| p.name == n && p.present);
    Ok(Features {
        netem: has("netem"),
        tbf: has("tbf"),
        htb: has("htb"),
        ingress: has("ingress"),
        probes,
    })
}

/// The probe's answer, computed once per process.
pub fn probe() -> Result<Features> {
    static CACHE: OnceLock<Features> = OnceLock::new();
    if let Some(f) = CACHE.get() {
        return Ok(f.clone());
    }
    let f = probe_in_scratch()?;
    Ok(CACHE.get_or_init(|| f).clone())
}

/// Of sysctl `keys` (`net.ipv4.ip_forward`), those a fresh network
/// namespace does not have: host-wide keys live only in the initial
/// namespace, and a kernel may lack a key altogether.
pub fn missing_sysctls(keys: &[String]) -> Result<Vec<String>> {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("creating a scratch namespace to look for sysctls", e))?;
            Ok(keys
                .iter()
                .filter(|k| {
                    !std::path::Path::new(&format!("/proc/sys/{}", k.replace('.', "/"))).exists()
                })
                .cloned()
                .collect())
        })
        .join()
        .unwrap_or_else(|_| Err(Error::protocol("scratch namespace", "thread panicked")))
    })
}
