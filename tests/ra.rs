//! Issue 13, IPv6 router advertisements: a router with `ipv6_ra` makes
//! `ip6: auto` hosts configure themselves. Witnesses nobody here wrote:
//! `rdisc6` (ndisc6) reads the advert, `ip -j` shows the SLAAC address
//! and the default route the kernel learnt, `ping -6` crosses the router.
mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

/// r1 advertises fd00:1::/64 on a switched segment (h1, h2) and
/// fd00:2::/64 to h3, with a DNS server.
fn ra_lab(lab: &str, ra: &str) -> String {
    format!(
        "name: {lab}
topology:
  nodes:
    r1:
      kind: router
{ra}
    s1: {{kind: switch}}
    h1: {{ip6: auto}}
    h2: {{ip6: auto}}
    h3: {{ip6: auto}}
  links:
    - endpoints: [{{node: r1, iface: eth1, ip: 'fd00:1::1/64'}}, 's1:p1']
    - endpoints: ['h1:eth0', 's1:p2']
    - endpoints: ['h2:eth0', 's1:p3']
    - endpoints: [{{node: r1, iface: eth2, ip: 'fd00:2::1/64'}}, 'h3:eth0']
"
    )
}

const RA: &str = "      ipv6_ra: {rdnss: ['fd00:1::53'], router_lifetime: 1200, valid_lifetime: 7200, preferred_lifetime: 3600}";

fn up(dir: &tempfile::TempDir, lab: &str, ra: &str) -> std::process::Output {
    let f = dir.path().join("ra.yaml");
    std::fs::write(&f, ra_lab(lab, ra)).unwrap();
    nlab().arg("up").arg(&f).output().unwrap()
}

/// `rdisc6 -1 IFACE` in `node`: up to `tries` solicitations a second
/// apart, the first advert. (A router answers within 0.5 s.)
fn rdisc6_tries(lab: &str, node: &str, tries: u32) -> (bool, String) {
    let tries = tries.to_string();
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns(lab, node),
            "rdisc6",
            "-1",
            "-r",
            &tries,
            "-w",
            "1000",
            "eth0",
        ])
        .output()
        .expect("rdisc6 (Debian package ndisc6) runs");
    (o.status.success(), text(&o))
}

fn rdisc6(lab: &str, node: &str) -> (bool, String) {
    rdisc6_tries(lab, node, 3)
}

/// The link-local address of `node:iface`.
fn link_local(lab: &str, node: &str, iface: &str) -> String {
    let v = ip_json(
        &ns(lab, node),
        &["-6", "addr", "show", "dev", iface, "scope", "link"],
    );
    // `ip -j` may list an empty object among them.
    v[0]["addr_info"]
        .as_array()
        .and_then(|a| a.iter().find_map(|x| x["local"].as_str()))
        .unwrap_or_else(|| panic!("no link-local address on {node}:{iface}: {v}"))
        .to_string()
}

/// The global addresses of `node`'s eth0 as (address, prefix length,
/// tentative, dynamic).
fn globals(lab: &str, node: &str) -> Vec<(String, u64, bool, bool)> {
    let v = ip_json(
        &ns(lab, node),
        &["-6", "addr", "show", "dev", "eth0", "scope", "global"],
    );
    v[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["local"].is_string())
                .map(|x| {
                    (
                        x["local"].as_str().unwrap_or("").to_string(),
                        x["prefixlen"].as_u64().unwrap_or(0),
                        x["tentative"].as_bool().unwrap_or(false),
                        x["dynamic"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The SLAAC address of `node` in `prefix` (e.g. `fd00:1:`), checked
/// usable (not tentative) and learnt (dynamic).
fn slaac_addr(lab: &str, node: &str, prefix: &str) -> String {
    let g = globals(lab, node);
    let Some((a, len, tentative, dynamic)) = g.iter().find(|x| x.0.starts_with(prefix)).cloned()
    else {
        panic!("{node} has no address in {prefix}:/64: {g:?}");
    };
    assert_eq!(len, 64, "{node}: {a}/{len}");
    assert!(!tentative, "{node}: {a} is still tentative");
    assert!(dynamic, "{node}: {a} was not learnt from an advert");
    a
}

/// The default route of `node` as (gateway, protocol).
fn default_route(lab: &str, node: &str) -> Option<(String, String)> {
    let v = ip_json(&ns(lab, node), &["-6", "route", "show", "default"]);
    let r = v.as_array()?.first()?.clone();
    Some((
        r["gateway"].as_str()?.to_string(),
        r["protocol"].as_str().unwrap_or("").to_string(),
    ))
}

#[test]
fn hosts_autoconfigure_from_the_routers_adverts() {
    require_root!();
    let lab = lab_name("ra");
    let _g = LabGuard(lab.clone());
    let d = tempfile::tempdir().unwrap();
    let o = up(&d, &lab, RA);
    assert!(o.status.success(), "{}", text(&o));
    // `up` waited: every address is there at once, no polling here.
    let a1 = slaac_addr(&lab, "h1", "fd00:1:");
    let a2 = slaac_addr(&lab, "h2", "fd00:1:");
    let a3 = slaac_addr(&lab, "h3", "fd00:2:");
    assert_ne!(a1, a2);
    let r1_lan = link_local(&lab, "r1", "eth1");
    let r1_h3 = link_local(&lab, "r1", "eth2");
    assert_eq!(
        default_route(&lab, "h1"),
        Some((r1_lan.clone(), "ra".into()))
    );
    assert_eq!(
        default_route(&lab, "h2"),
        Some((r1_lan.clone(), "ra".into()))
    );
    assert_eq!(default_route(&lab, "h3"), Some((r1_h3, "ra".into())));

    let (ok, out) = rdisc6(&lab, "h1");
    assert!(ok, "rdisc6 got no advert:\n{out}");
    for want in [
        "Prefix                   : fd00:1::/64",
        "On-link                 :          Yes",
        "Autonomous address conf.:          Yes",
        "Valid time              :         7200",
        "Pref. time              :         3600",
        "Recursive DNS server     : fd00:1::53",
        "Router lifetime           :         1200",
        "Stateful address conf.    :           No",
        "Hop limit                 :           64",
    ] {
        assert!(out.contains(want), "rdisc6 shows no `{want}`:\n{out}");
    }
    assert!(
        out.contains(&format!("from {r1_lan}")),
        "advert not from r1's link-local {r1_lan}:\n{out}"
    );

    // Across the router: h1 on fd00:1::/64 reaches h3 on fd00:2::/64.
    assert!(ping(&ns(&lab, "h1"), &a3), "h1 cannot ping6 h3 at {a3}");
    assert!(ping(&ns(&lab, "h3"), &a2), "h3 cannot ping6 h2 at {a2}");

    // The supervisor answered rdisc6's solicitation and says so.
    let o = nlab()
        .args(["supervisor", "status", &lab, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let ra = v["status"]["ra"].as_array().cloned().unwrap_or_default();
    let eth1 = ra
        .iter()
        .find(|r| r["end"] == "r1:eth1")
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        eth1["sent"].as_u64() > Some(0) && eth1["solicitations"].as_u64() >= Some(1),
        "{v}"
    );
    assert_eq!(ra.len(), 2, "{v}");

    let o = nlab().args(["down", &lab]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // LabGuard's check: no namespace, file or supervisor process left.
    assert_no_trace(&lab);
}

#[test]
fn a_restarted_supervisor_advertises_again_and_removing_ipv6_ra_says_goodbye() {
    require_root!();
    let lab = lab_name("rb");
    let _g = LabGuard(lab.clone());
    let d = tempfile::tempdir().unwrap();
    let o = up(&d, &lab, RA);
    assert!(o.status.success(), "{}", text(&o));
    let before = slaac_addr(&lab, "h1", "fd00:1:");
    let pids = supervisors_of(&lab);
    assert_eq!(pids.len(), 1, "{pids:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || pids
        .iter()
        .all(|&p| gone(p))));
    // The kernel keeps what SLAAC gave; nobody answers solicitations now.
    assert_eq!(slaac_addr(&lab, "h1", "fd00:1:"), before);
    let (ok, out) = rdisc6_tries(&lab, "h1", 1);
    assert!(!ok, "an advert without a supervisor:\n{out}");
    // `up` again starts a supervisor, which resumes from supervisor.json.
    let o = up(&d, &lab, RA);
    assert!(o.status.success(), "{}", text(&o));
    let (ok, out) = rdisc6(&lab, "h1");
    assert!(
        ok && out.contains("fd00:1::/64"),
        "no advert after the restart:\n{out}"
    );

    // Without `ipv6_ra` the router sends a last advert with router
    // lifetime 0 and stops: hosts drop it as their default router.
    let o = up(&d, &lab, "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        wait_until(Duration::from_secs(3), || default_route(&lab, "h1")
            .is_none()),
        "h1 still routes via r1: {:?}",
        default_route(&lab, "h1")
    );
    let (ok, out) = rdisc6_tries(&lab, "h1", 1);
    assert!(!ok, "adverts after ipv6_ra was removed:\n{out}");
    assert!(supervisors_of(&lab).is_empty(), "nothing left to supervise");
}

#[test]
fn bad_advert_settings_are_refused_at_their_line_before_anything_is_made() {
    require_root!();
    let lab = lab_name("rc");
    let d = tempfile::tempdir().unwrap();
    let o = up(&d, &lab, "      ipv6_ra: {prefixes: ['fd00:1::/56']}");
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("ra.yaml:6:") && t.contains("SLAAC forms addresses only from a /64"),
        "{t}"
    );
    assert_eq!(count_ns(&format!("nlab-{lab}-")), 0, "nothing is built");
    assert_no_trace(&lab);
}
