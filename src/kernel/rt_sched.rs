//! Real-time group scheduling (Mininet's `--host rt`): a node cgroup's
//! `cpu.rt_runtime_us` of each `cpu.rt_period_us`, for programs that run
//! `SCHED_RR`.
//!
//! Only cgroup v1's cpu hierarchy has these files, and only on a kernel
//! built with `CONFIG_RT_GROUP_SCHED` (and, from Linux 6.16, not booted
//! with `rt_group_sched=0`). cgroup v2 has no real-time group scheduling:
//! its cpu controller shows no `cpu.rt_*` files (and on such kernels can
//! be enabled only while every real-time task is in the root cgroup).
//!
//! A group may hold no more real-time time than its parent gives its
//! children together (the kernel refuses the write otherwise), so the
//! shared `nlab` directory's budget is kept at the sum of its node
//! cgroups': raised before a node's is set, lowered when one goes.

use super::cgroup::{read, write, Hierarchy, Version};
use super::{Error, Result};
use std::fs;
use std::path::Path;

const RUNTIME: &str = "cpu.rt_runtime_us";
const PERIOD: &str = "cpu.rt_period_us";

/// Why cgroup v2 cannot give a node real-time time.
pub const NOT_ON_V2: &str = "the cpu controller is on cgroup v2 here, which has no real-time \
     group scheduling (cpu.rt_runtime_us exists only in cgroup v1's cpu hierarchy, on kernels \
     built with CONFIG_RT_GROUP_SCHED); use `--host cfs,cpu=F` (CFS bandwidth, the same CPU \
     fraction)";

/// Whether hierarchy `h` (the cpu controller's) can give real-time time;
/// else what the kernel lacks and what to use instead.
pub fn support(h: &Hierarchy) -> std::result::Result<(), String> {
    let dir = h.mount.join(h.parent.trim_start_matches('/'));
    support_of(h.version, &dir, dir.join(RUNTIME).exists())
}

/// [`support`]'s decision, given whether `dir` has `cpu.rt_runtime_us`.
pub fn support_of(v: Version, dir: &Path, has_runtime: bool) -> std::result::Result<(), String> {
    match (v, has_runtime) {
        (Version::V1, true) => Ok(()),
        (Version::V2, _) => Err(NOT_ON_V2.to_string()),
        (Version::V1, false) => Err(format!(
            "this kernel has no real-time group scheduling: {} has no {RUNTIME} (the kernel was \
             built without CONFIG_RT_GROUP_SCHED, or booted with rt_group_sched=0); use `--host \
             cfs,cpu=F` (CFS bandwidth, the same CPU fraction)",
            dir.display()
        )),
    }
}

fn value(dir: &Path, file: &str) -> u64 {
    read(dir, file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// The real-time share (runtime / period) the cgroups under `top` hold,
/// leaving out `except`.
fn children_share(top: &Path, except: Option<&Path>) -> f64 {
    let Ok(rd) = fs::read_dir(top) else {
        return 0.0;
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| Some(p.as_path()) != except)
        .map(|p| {
            let period = value(&p, PERIOD);
            if period == 0 {
                0.0
            } else {
                value(&p, RUNTIME) as f64 / period as f64
            }
        })
        .sum()
}

/// Sets `dir`'s real-time runtime of each period, after raising its
/// parent's budget (the shared `nlab` directory) to cover every node
/// cgroup there with this one.
pub fn set(dir: &Path, runtime: u64, period: u64) -> Result<()> {
    let Some(top) = dir.parent() else {
        return Err(Error::protocol(
            format!("setting real-time CPU time in {}", dir.display()),
            "it has no parent cgroup",
        ));
    };
    let share = children_share(top, Some(dir)) + runtime as f64 / period as f64;
    let top_period = value(top, PERIOD).max(1);
    // A microsecond more than the sum: the kernel compares fixed-point
    // ratios, which round down.
    let budget = (share * top_period as f64).ceil() as u64 + 1;
    if budget > value(top, RUNTIME) {
        write(top, RUNTIME, &budget.min(top_period).to_string()).map_err(|e| {
            let above = top.parent().unwrap_or(top);
            Error::protocol(
                format!(
                    "giving {} {budget} µs of real-time time per {top_period} µs",
                    top.display()
                ),
                format!(
                    "{e}; the cgroup above it, {}, has {} µs per {} µs for all its children \
                     (the whole machine: /proc/sys/kernel/sched_rt_runtime_us); set \
                     NLAB_CGROUP_PARENT to a cgroup with real-time time to give, lower `cpu=`, \
                     or use `--host cfs,cpu=F`",
                    above.display(),
                    value(above, RUNTIME),
                    value(above, PERIOD)
                ),
            )
        })?;
    }
    // The period first, while the runtime may still be 0: every write
    // must leave the group within its parent's budget.
    write(dir, RUNTIME, "0")?;
    write(dir, PERIOD, &period.to_string())?;
    write(dir, RUNTIME, &runtime.to_string())
}

/// Lowers `top`'s (the `nlab` directory's) real-time budget to what its
/// node cgroups still hold. Best effort: a concurrent `set` may need more,
/// and the kernel refuses a budget below the children's.
pub fn rebalance(top: &Path) {
    if value(top, RUNTIME) == 0 {
        return;
    }
    let share = children_share(top, None);
    let period = value(top, PERIOD).max(1);
    let budget = if share > 0.0 {
        (share * period as f64).ceil() as u64 + 1
    } else {
        0
    };
    let _ = write(top, RUNTIME, &budget.to_string());
}

/// Makes the calling process `SCHED_RR` at `priority` (in a forked child,
/// after it joined its node's cgroup: a group without real-time runtime
/// refuses it). A raw syscall only.
pub fn make_round_robin(priority: i32) -> std::io::Result<()> {
    let p = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler on the calling process with a valid
    // sched_param; async-signal-safe.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &p) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_names_the_missing_feature() {
        let d = Path::new("/sys/fs/cgroup/cpu");
        assert!(support_of(Version::V1, d, true).is_ok());
        let e = support_of(Version::V1, d, false).unwrap_err();
        assert!(
            e.contains("CONFIG_RT_GROUP_SCHED") && e.contains("cpu.rt_runtime_us"),
            "{e}"
        );
        assert!(e.contains("--host cfs"), "{e}");
        let e = support_of(Version::V2, d, false).unwrap_err();
        assert!(e.contains("cgroup v2") && e.contains("--host cfs"), "{e}");
    }
}
