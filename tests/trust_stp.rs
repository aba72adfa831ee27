//! Issue 11, item 5: `up` of a looped topology returns once spanning tree
//! has converged, so the `pingall` it suggests next succeeds at once;
//! `--no-wait` skips the wait.
mod common;
use common::*;

#[test]
fn pingall_right_after_up_of_a_torus_loses_nothing() {
    require_root!();
    let name = lab_name("st");
    let _g = LabGuard(name.clone());
    let o = nlab()
        .args(["up", "--topo", "torus,3,3", "--name", &name, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let up = o;
    let o = nlab().args(["pingall", &name]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains(" 0% dropped"), "{out}");
    let r: serde_json::Value = serde_json::from_slice(&up.stdout).unwrap();
    assert_eq!(r["spanning_tree"]["converged"], true, "{r}");
    // The witness: every bridge port forwards or is blocked, as `ip` says.
    for s in ["s1x1", "s2x2", "s3x3"] {
        let ports = ip_json(
            &ns(&name, s),
            &["-d", "link", "show", "type", "bridge_slave"],
        );
        let ports = ports.as_array().unwrap();
        // iproute2 prints `{}` for the links the type filter leaves out.
        let ports: Vec<_> = ports.iter().filter(|p| p.get("ifname").is_some()).collect();
        assert!(!ports.is_empty(), "{s} has no ports");
        for p in ports {
            let st = p["linkinfo"]["info_slave_data"]["state"]
                .as_str()
                .unwrap_or("?");
            assert!(st == "forwarding" || st == "blocking", "{s}: {p}");
        }
    }
}

#[test]
fn no_wait_is_accepted_and_documented() {
    require_root!();
    let help = nlab().args(["up", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--no-wait") && help.contains("spanning tree"),
        "{help}"
    );
    let name = lab_name("sw");
    let _g = LabGuard(name.clone());
    let o = nlab()
        .args([
            "up",
            "--topo",
            "torus,3,3",
            "--name",
            &name,
            "--no-wait",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r.get("spanning_tree").is_none(), "{r}");
}

/// `up` returns with the lab's link states settled: a bridge's carrier
/// change is not urgent to the kernel, which used to leave it `unknown`
/// for up to a second, so an `inspect` right after `up` and one a moment
/// later disagreed about a lab nobody touched.
#[test]
fn inspect_right_after_up_reads_what_it_reads_a_moment_later() {
    require_root!();
    let name = lab_name("se");
    let _g = LabGuard(name.clone());
    let o = nlab()
        .args(["up", "--topo", "linear,3", "--name", &name])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let inspect = || {
        let o = nlab().args(["inspect", &name, "--json"]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let first = inspect();
    // The kernel's linkwatch handles non-urgent events within a second.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let later = inspect();
    assert_eq!(first, later, "the lab's state changed after up returned");
}
