//! DHCP with witnesses nlab did not write: ISC `dhclient` and busybox
//! `udhcpc` against nlab's server (a reservation, a renewal, a release, a
//! NAK for a foreign address), nlab's built-in client against `dnsmasq`,
//! a supervisor killed with -9 that keeps every lease, and `down` leaving
//! no lease file and no process. The clients run with scripts of this
//! test's own (they record what they got and set the address with `ip`),
//! so nothing writes the host's /etc/resolv.conf.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Server `d1` on 10.0.0.2, pool .100-.199, lease `lease` s, a
/// reservation of 10.0.0.21 for 02:00:00:00:00:21; hosts `hosts` (name,
/// `ip:` text or none, MAC or none) on switch s1.
fn topology(lab: &str, lease: u32, hosts: &[(&str, Option<&str>, Option<&str>)]) -> String {
    let mut nodes = String::new();
    let mut links = String::new();
    for (k, (h, ip, mac)) in hosts.iter().enumerate() {
        nodes.push_str(&format!("    {h}: {{}}\n"));
        let mut ep = format!("node: {h}, iface: eth0");
        if let Some(ip) = ip {
            ep.push_str(&format!(", ip: {ip}"));
        }
        if let Some(m) = mac {
            ep.push_str(&format!(", mac: \"{m}\""));
        }
        links.push_str(&format!("    - endpoints: [{{{ep}}}, \"s1:p{}\"]\n", k + 2));
    }
    format!(
        "name: {lab}
topology:
  nodes:
    d1:
      kind: dhcp
      dhcp:
        pool: 10.0.0.100-10.0.0.199
        lease: {lease}
        router: 10.0.0.1
        mtu: 1400
        routes: [{{dst: 10.9.0.0/16, via: 10.0.0.1}}]
        reservations:
          - {{mac: \"02:00:00:00:00:21\", ip: 10.0.0.21}}
    s1: {{kind: switch}}
{nodes}  links:
    - endpoints: [{{node: d1, iface: eth0, ip: 10.0.0.2/24}}, \"s1:p1\"]
{links}"
    )
}

fn write(dir: &Path, name: &str, text: &str, exec: bool) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing a test file");
    if exec {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    p
}

/// dhclient's script: records each call's environment, applies the address.
fn dhclient_script(dir: &Path) -> PathBuf {
    let body = format!(
        "#!/bin/sh\n\
         env | grep -E '^(reason|new_|old_)' | sort > {d}/dhclient.$reason.env\n\
         echo $reason >> {d}/dhclient.reasons\n\
         case $reason in\n\
           BOUND|RENEW|REBIND|REBOOT) ip addr replace $new_ip_address/$new_subnet_mask dev $interface ;;\n\
           RELEASE|EXPIRE|FAIL|STOP) ip addr flush dev $interface ;;\n\
         esac\n",
        d = dir.display()
    );
    write(dir, "dhclient.sh", &body, true)
}

/// udhcpc's script: the same, with busybox's names (`$1` is the event).
fn udhcpc_script(dir: &Path) -> PathBuf {
    let body = format!(
        "#!/bin/sh\n\
         env | grep -E '^(ip|mask|router|lease|serverid|mtu|staticroutes)=' | sort > {d}/udhcpc.$1.env\n\
         echo $1 >> {d}/udhcpc.events\n\
         case $1 in\n\
           bound|renew) ip addr replace $ip/$mask dev $interface ;;\n\
           deconfig) ip addr flush dev $interface ;;\n\
         esac\n",
        d = dir.display()
    );
    write(dir, "udhcpc.sh", &body, true)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn leases_json(lab: &str) -> Vec<serde_json::Value> {
    let o = nlab()
        .args(["leases", lab, "--json"])
        .output()
        .expect("nlab leases");
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("leases JSON")
}

fn lease_of(lab: &str, ip: &str) -> Option<serde_json::Value> {
    leases_json(lab).into_iter().find(|l| l["ip"] == ip)
}

fn ipv4_of(lab: &str, node: &str) -> Vec<String> {
    let v = ip_json(&ns(lab, node), &["-4", "addr", "show", "dev", "eth0"]);
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_string))
        .collect()
}

/// busybox's client once in `node` (it quits after its lease, `-q`),
/// with the test's `script`; the run must succeed.
fn udhcpc_once(lab: &str, node: &str, script: &Path) {
    let o = Command::new("ip")
        .args(["netns", "exec", &ns(lab, node), "udhcpc", "-n", "-q", "-f"])
        .args(["-i", "eth0", "-t", "5", "-T", "1", "-s"])
        .arg(script)
        .output()
        .expect("udhcpc");
    assert!(o.status.success(), "udhcpc in {node}: {}", text(&o));
}

fn up(file: &Path) {
    let o = nlab().arg("up").arg(file).output().expect("nlab up");
    assert!(o.status.success(), "up failed: {}", text(&o));
}

#[test]
fn dhclient_gets_a_reservation_renews_releases_and_is_refused_a_foreign_address() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("dc");
    let _g = LabGuard(lab.clone());
    let file = write(
        dir.path(),
        "t.yaml",
        &topology(
            &lab,
            10,
            &[("c1", None, Some("02:00:00:00:00:21")), ("c2", None, None)],
        ),
        false,
    );
    up(&file);
    let script = dhclient_script(dir.path());
    let dh = |node: &str, extra: &[&str]| {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &ns(&lab, node),
            "dhclient",
            "-v",
            "-1",
            "-sf",
        ])
        .arg(&script)
        .arg("-lf")
        .arg(dir.path().join(format!("{node}.leases")))
        .arg("-pf")
        .arg(dir.path().join(format!("{node}.pid")))
        .args(extra)
        .arg("eth0");
        c.output().expect("running dhclient")
    };
    // A reservation: c1's MAC gets 10.0.0.21, with the options.
    let o = dh("c1", &[]);
    assert!(o.status.success(), "dhclient: {}", text(&o));
    let env = read(&dir.path().join("dhclient.BOUND.env"));
    assert!(env.contains("new_ip_address=10.0.0.21"), "{env}");
    assert!(env.contains("new_routers=10.0.0.1"), "{env}");
    assert!(env.contains("new_interface_mtu=1400"), "{env}");
    assert!(
        env.contains("new_rfc3442_classless_static_routes=16 10 9 10 0 0 1 0 10 0 0 1"),
        "{env}"
    );
    assert!(env.contains("new_dhcp_lease_time=10"), "{env}");
    assert_eq!(ipv4_of(&lab, "c1"), ["10.0.0.21"]);
    let l = lease_of(&lab, "10.0.0.21").expect("lease of c1");
    assert_eq!(
        (l["mac"].as_str(), l["state"].as_str()),
        (Some("02:00:00:00:00:21"), Some("bound"))
    );
    let first = l["expires"].as_u64().expect("expires");
    // Renewal at T1 (5 s): dhclient's script says RENEW, the lease moves on.
    assert!(
        wait_until(Duration::from_secs(9), || read(
            &dir.path().join("dhclient.reasons")
        )
        .contains("RENEW")),
        "no renewal: {}",
        read(&dir.path().join("dhclient.reasons"))
    );
    let renewed = lease_of(&lab, "10.0.0.21").expect("lease after renewal");
    assert!(
        renewed["expires"].as_u64() > Some(first),
        "{renewed} vs {first}"
    );
    // Release: `dhclient -r` sends DHCPRELEASE, the server forgets the lease.
    let o = dh("c1", &["-r"]);
    assert!(o.status.success(), "dhclient -r: {}", text(&o));
    assert!(wait_until(Duration::from_secs(3), || lease_of(
        &lab,
        "10.0.0.21"
    )
    .is_none()));
    // A foreign address (another subnet, from a stale lease file): NAK,
    // then a fresh lease from the pool.
    let stale = "lease {\n  interface \"eth0\";\n  fixed-address 192.168.77.5;\n  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 10.0.0.2;\n  renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n  expire 4 2037/01/01 00:00:00;\n}\n";
    write(dir.path(), "c2.leases", stale, false);
    let o = dh("c2", &[]);
    let out = text(&o);
    assert!(out.contains("DHCPREQUEST for 192.168.77.5"), "{out}");
    assert!(out.contains("DHCPNAK from 10.0.0.2"), "{out}");
    assert!(o.status.success(), "{out}");
    assert_eq!(ipv4_of(&lab, "c2"), ["10.0.0.100"]);
    let _ = dh("c2", &["-x"]);
}

#[test]
fn udhcpc_gets_a_pool_address_renews_and_releases() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("uc");
    let _g = LabGuard(lab.clone());
    let file = write(
        dir.path(),
        "t.yaml",
        &topology(
            &lab,
            10,
            &[("c1", None, None), ("c2", None, Some("02:00:00:00:00:21"))],
        ),
        false,
    );
    up(&file);
    let script = udhcpc_script(dir.path());
    // In the foreground, so it renews; -R: release when it ends.
    let mut run = Command::new("ip");
    run.args([
        "netns",
        "exec",
        &ns(&lab, "c1"),
        "udhcpc",
        "-f",
        "-R",
        "-i",
        "eth0",
        "-t",
        "5",
        "-T",
        "1",
        "-s",
    ])
    .arg(&script)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let client = Group::spawn(&mut run);
    let events = dir.path().join("udhcpc.events");
    assert!(
        wait_until(Duration::from_secs(5), || read(&events).contains("bound")),
        "{}",
        read(&events)
    );
    let env = read(&dir.path().join("udhcpc.bound.env"));
    assert!(env.contains("ip=10.0.0.100"), "{env}");
    assert!(
        env.contains("mask=24") && env.contains("router=10.0.0.1") && env.contains("lease=10"),
        "{env}"
    );
    assert!(env.contains("serverid=10.0.0.2"), "{env}");
    assert!(
        env.contains("staticroutes=10.9.0.0/16 10.0.0.1 0.0.0.0/0 10.0.0.1"),
        "{env}"
    );
    assert_eq!(ipv4_of(&lab, "c1"), ["10.0.0.100"]);
    let first = lease_of(&lab, "10.0.0.100").expect("lease")["expires"].as_u64();
    // busybox renews at half a lease of at least 30 s; SIGUSR1 asks it
    // to renew now (a unicast REQUEST to the server, as at T1).
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("kill")
        .args(["-USR1", &client.id().to_string()])
        .status();
    assert!(
        wait_until(Duration::from_secs(5), || read(&events).contains("renew")),
        "{}",
        read(&events)
    );
    assert!(lease_of(&lab, "10.0.0.100").expect("lease")["expires"].as_u64() > first);
    // SIGTERM with -R: udhcpc releases its lease on the way out.
    let _ = Command::new("kill")
        .args(["-TERM", &client.id().to_string()])
        .status();
    assert!(
        wait_until(Duration::from_secs(3), || lease_of(&lab, "10.0.0.100")
            .is_none()),
        "no release: {:?}",
        leases_json(&lab)
    );
    drop(client);
    // A reservation, once more through busybox's client, which quits.
    udhcpc_once(&lab, "c2", &script);
    assert_eq!(ipv4_of(&lab, "c2"), ["10.0.0.21"]);
    let table = nlab().args(["leases", &lab]).output().expect("leases");
    let t = text(&table);
    assert!(
        t.contains("10.0.0.21") && t.contains("02:00:00:00:00:21") && t.contains("bound"),
        "{t}"
    );
}

#[test]
fn builtin_clients_then_a_supervisor_killed_with_9_keeps_every_lease() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("dk");
    let g = LabGuard(lab.clone());
    let hosts = [
        ("h1", Some("dhcp"), None),
        ("h2", Some("dhcp"), None),
        ("h3", Some("dhcp"), Some("02:00:00:00:00:21")),
        ("u1", None, None),
    ];
    let file = write(dir.path(), "t.yaml", &topology(&lab, 3600, &hosts), false);
    up(&file);
    // `up` returned once every `ip: dhcp` host had its address.
    assert_eq!(ipv4_of(&lab, "h1"), ["10.0.0.100"]);
    assert_eq!(ipv4_of(&lab, "h2"), ["10.0.0.101"]);
    assert_eq!(ipv4_of(&lab, "h3"), ["10.0.0.21"]);
    let routes = ip_json(&ns(&lab, "h1"), &["-4", "route"]);
    let dsts: Vec<String> = routes
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}",
                r["dst"].as_str().unwrap_or(""),
                r["gateway"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        dsts.contains(&"default 10.0.0.1".to_string())
            && dsts.contains(&"10.9.0.0/16 10.0.0.1".to_string()),
        "{dsts:?}"
    );
    let mtu = ip_json(&ns(&lab, "h1"), &["link", "show", "dev", "eth0"]);
    assert_eq!(mtu[0]["mtu"], 1400);
    let path = format!("/run/nlab/{lab}/dhcp/d1.leases.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&path).expect("lease file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read_to_string(&path).expect("lease file");
    // kill -9 the supervisor; a new one starts from the lease file.
    let pids = supervisors_of(&lab);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let _ = Command::new("kill")
        .args(["-9", &pids[0].to_string()])
        .status();
    assert!(wait_until(Duration::from_secs(3), || pids
        .iter()
        .all(|&p| gone(p))));
    assert_eq!(std::fs::read_to_string(&path).expect("lease file"), before);
    let o = nlab()
        .args(["supervisor", "start", &lab])
        .output()
        .expect("supervisor start");
    assert!(o.status.success(), "{}", text(&o));
    // A newcomer gets an address nobody holds; the built-in clients that
    // came back kept theirs.
    let script = udhcpc_script(dir.path());
    udhcpc_once(&lab, "u1", &script);
    assert_eq!(ipv4_of(&lab, "u1"), ["10.0.0.102"]);
    let all = leases_json(&lab);
    let mut ips: Vec<&str> = all.iter().filter_map(|l| l["ip"].as_str()).collect();
    ips.sort();
    assert_eq!(
        ips,
        ["10.0.0.100", "10.0.0.101", "10.0.0.102", "10.0.0.21"],
        "{all:?}"
    );
    // `down`: no lease file, no process (the guard checks the lab's
    // directory and its supervisor are gone).
    drop(g);
    assert!(!Path::new(&path).exists());
}

#[test]
fn the_builtin_client_gets_its_address_from_dnsmasq() {
    require_root!();
    let lab = lab_name("dq");
    let _g = LabGuard(lab.clone());
    let o = nlab()
        .args(["up", "--topo", "single,2", "--name", &lab])
        .output()
        .expect("up");
    assert!(o.status.success(), "{}", text(&o));
    // h1 serves with dnsmasq; h2's address goes, then comes back by DHCP.
    let h2 = ns(&lab, "h2");
    assert!(Command::new("ip")
        .args(["-n", &h2, "addr", "flush", "dev", "h2-eth0"])
        .status()
        .expect("ip")
        .success());
    let dnsmasq = Group::spawn(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns(&lab, "h1"),
                "dnsmasq",
                "--no-daemon",
                "--port=0",
                "--no-resolv",
                "--no-hosts",
            ])
            .args([
                "--interface=h1-eth0",
                "--bind-interfaces",
                "--dhcp-range=10.0.0.50,10.0.0.60,255.0.0.0,120",
            ])
            .arg("--dhcp-option=3,10.0.0.1")
            .arg(format!("--dhcp-leasefile=/run/nlab/{lab}/dnsmasq.leases"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(300));
    let plan = nlab::testing::dhcp::plan::ClientPlan {
        node: "h2".into(),
        iface: "h2-eth0".into(),
        client: nlab::topo::dhcp::DhcpClient::Builtin,
    };
    let clients = nlab::testing::dhcp::client_run::Clients::start(&lab, vec![(plan, None)])
        .expect("the clients' thread");
    assert!(
        wait_until(Duration::from_secs(10), || clients.status()[0]
            .binding
            .is_some()),
        "{:?}",
        clients.status()
    );
    let b = clients.status()[0].binding.clone().expect("binding");
    assert_eq!(b.router, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(b.lease_secs, 120);
    let got = ipv4_of_dev(&h2, "h2-eth0");
    assert_eq!(got.len(), 1, "{got:?}");
    let a: std::net::Ipv4Addr = got[0].parse().expect("address");
    assert!(
        (std::net::Ipv4Addr::new(10, 0, 0, 50)..=std::net::Ipv4Addr::new(10, 0, 0, 60))
            .contains(&a),
        "{a}"
    );
    // dnsmasq recorded the same lease.
    let leases =
        std::fs::read_to_string(format!("/run/nlab/{lab}/dnsmasq.leases")).unwrap_or_default();
    assert!(leases.contains(&got[0]), "{leases}");
    assert!(ping(&h2, "10.0.0.1"));
    drop(clients);
    drop(dnsmasq);
}

fn ipv4_of_dev(ns_name: &str, dev: &str) -> Vec<String> {
    let v = ip_json(ns_name, &["-4", "addr", "show", "dev", dev]);
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn up_fails_clearly_when_a_host_gets_no_address_and_bad_files_build_nothing() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("dn");
    let _g = LabGuard(lab.clone());
    // A pool of one for two hosts: one of them waits in vain.
    let text1 = topology(
        &lab,
        3600,
        &[("h1", Some("dhcp"), None), ("h2", Some("dhcp"), None)],
    )
    .replace("10.0.0.100-10.0.0.199", "10.0.0.100-10.0.0.100");
    let file = write(dir.path(), "t.yaml", &text1, false);
    let o = nlab()
        .arg("up")
        .arg(&file)
        .env("NLAB_DHCP_TIMEOUT", "2")
        .output()
        .expect("up");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("1 interface(s) with `ip: dhcp` got no address within 2.0 s: h"),
        "{out}"
    );
    assert!(out.contains(&format!("nlab leases {lab}")), "{out}");
    // Bad input: an error at file:line, and no namespace made.
    let bad = topology(&lab, 3600, &[("h1", Some("dhcp"), None)])
        .replace("10.0.0.100-10.0.0.199", "10.0.1.100-10.0.1.199");
    let file = write(dir.path(), "bad.yaml", &bad, false);
    let o = nlab().arg("up").arg(&file).output().expect("up");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("bad.yaml:7:") && out.contains("is outside its subnet 10.0.0.0/24"),
        "{out}"
    );
    assert_eq!(count_ns(&format!("nlab-{lab}-")), 0);
}

/// perfdhcp's counts for one exchange (`DISCOVER-OFFER` or `REQUEST-ACK`):
/// sent, received, drops, rejected leases, non-unique addresses.
fn perfdhcp_counts(out: &str, exchange: &str) -> [u64; 5] {
    let section = out
        .split("***Statistics for: ")
        .find(|s| s.starts_with(exchange))
        .unwrap_or_else(|| panic!("no {exchange} statistics in:\n{out}"));
    let field = |name: &str| {
        section
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no `{name}` in {exchange}:\n{section}"))
    };
    [
        field("sent packets:"),
        field("received packets:"),
        field("drops:"),
        field("rejected leases:"),
        field("non unique addresses:"),
    ]
}

/// Kea's `perfdhcp` as 50 clients (its own MACs) through DISCOVER, OFFER,
/// REQUEST and ACK: every exchange completes, no address twice, and the
/// lease table holds all 50.
#[test]
fn perfdhcp_completes_50_exchanges_with_unique_addresses() {
    require_root!();
    if Command::new("perfdhcp").arg("-v").output().is_err() {
        eprintln!("SKIP: perfdhcp_completes_50_exchanges_with_unique_addresses: no perfdhcp (Debian kea-admin)");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("dp");
    let _g = LabGuard(lab.clone());
    let hosts = [("p1", Some("10.0.0.50/24"), None)];
    let file = write(dir.path(), "t.yaml", &topology(&lab, 3600, &hosts), false);
    up(&file);
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns(&lab, "p1"),
            "timeout",
            "60",
            "perfdhcp",
        ])
        .args(["-4", "-l", "eth0", "-R", "50", "-n", "50", "-r", "50"])
        .args(["-p", "10", "-W", "2000000"])
        .output()
        .expect("perfdhcp");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "perfdhcp failed: {out}{}", text(&o));
    for exchange in ["DISCOVER-OFFER", "REQUEST-ACK"] {
        assert_eq!(
            perfdhcp_counts(&out, exchange),
            [50, 50, 0, 0, 0],
            "{exchange}:\n{out}"
        );
    }
    let pool: Vec<String> = leases_json(&lab)
        .iter()
        .filter(|l| l["state"] == "bound")
        .filter_map(|l| l["ip"].as_str().map(str::to_string))
        .collect();
    let unique: std::collections::BTreeSet<&String> = pool.iter().collect();
    assert_eq!((pool.len(), unique.len()), (50, 50), "{pool:?}");
}
