//! A port bound to a VM's TAP (`binding:profile {"nlab": "tap"}`) through
//! the API of a real `nlab serve`, as root: the TAP exists in the VM node's
//! namespace, owner-marked and bridged to the port's veth (witnessed with
//! `ip -n … link`), the port is `ACTIVE` with `binding:vif_type` `tap` and
//! `binding:vif_details` naming the TAP, its namespace and QEMU's
//! arguments. With the guest kernel cache (scripts/vm-kernel.sh) a real
//! guest boots on the TAP with exactly those arguments, gets the port's
//! fixed address from the network's DHCP server and pings an instance of
//! the network (and is pinged back); without it that part is skipped
//! with the reason printed. Unbinding and deleting the port remove the
//! TAP (and end the guest); nothing is left after the lab goes.

mod common;
#[path = "vm/guest.rs"]
mod guest;
mod vnet_common;

use common::LabGuard;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vnet_common::Server;

/// A TCG guest on a loaded 2-core machine: generous.
const BOOT_TIMEOUT: Duration = Duration::from_secs(150);
/// How long the reconciler may take to follow a write.
const CONVERGE: Duration = Duration::from_secs(30);

/// The guest: configures eth0 with busybox's DHCP client, reports the
/// lease on its serial console, then pings the peer the test names.
/// An address of the guest's subnet that no port holds.
const SPOOFED: &str = "10.61.0.99";
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in MODULES; do insmod /lib/modules/$m.ko; done
for w in $(cat /proc/cmdline); do
  case $w in nlabtest.peer=*) peer=${w#nlabtest.peer=} ;; esac
done
cat > /bin/lease <<'EOF'
#!/bin/busybox sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    echo "NLAB-LEASE $ip/$mask" ;;
esac
EOF
chmod 755 /bin/lease
ip link set lo up
ip link set eth0 up
echo "NLAB-READY $(cat /sys/class/net/eth0/address)"
udhcpc -i eth0 -s /bin/lease -f -q -n -t 30 -T 2 || echo NLAB-NO-LEASE
ok=FAIL
for i in $(seq 30); do
  if ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then ok=OK; break; fi
done
echo "NLAB-PINGBACK-$ok $peer"
# A source the port does not own, then its own, over and over: the test
# watches which reach the peer.
ip addr add SPOOFED/32 dev eth0
while true; do
  ping -c 1 -W 1 -I SPOOFED "$peer" >/dev/null 2>&1
  ping -c 1 -W 1 "$peer" >/dev/null 2>&1
done &
export PS1='guest# '
exec setsid cttyhack sh
"#;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn create(s: &Server, what: &str, body: Value) -> Value {
    let (st, v) = s.admin(
        "POST",
        &format!("/v2.0/{what}s"),
        Some(json!({ what: body })),
    );
    assert_eq!(st, 201, "creating a {what}: {v}");
    v[what].clone()
}

fn get_port(s: &Server, id: &str) -> Value {
    let (st, v) = s.admin("GET", &format!("/v2.0/ports/{id}"), None);
    assert_eq!(st, 200, "{v}");
    v["port"].clone()
}

/// Polls port `id` until `done` holds, or fails with how it stands.
fn wait_port(s: &Server, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let p = get_port(s, id);
        if done(&p) {
            return p;
        }
        assert!(t0.elapsed() < CONVERGE, "port {id} is not {what}: {p:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hex(id: &str) -> String {
    id.chars().filter(char::is_ascii_hexdigit).collect()
}

fn ip(args: &[&str]) -> (bool, String) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// The word after `key` in `ip link` output (`master vbr0` → `vbr0`).
fn after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut w = text.split_whitespace();
    w.find(|x| *x == key)?;
    w.next()
}

fn fixed_ip(p: &Value) -> String {
    p["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("a fixed IP")
        .to_string()
}

/// The TAP of the details, witnessed with `ip`: a persistent tap device
/// marked `nlab:<lab>`, up, on the same bridge as the veth `eth0` whose
/// other end is on the network's bridge.
fn witness_tap(lab: &str, net: &Value, port: &Value) {
    let d = &port["binding:vif_details"];
    let (ns, dev) = (
        d["netns"].as_str().expect("netns"),
        d["devname"].as_str().expect("dev"),
    );
    let (ok, tap) = ip(&["-n", ns, "-d", "link", "show", dev]);
    assert!(ok, "{dev} in {ns}: {tap}");
    assert!(tap.contains("tun type tap"), "{tap}");
    assert!(
        tap.contains(&format!("alias nlab:{lab}")),
        "owner mark: {tap}"
    );
    assert!(tap.contains(",UP"), "administratively up: {tap}");
    let bridge = after(&tap, "master").expect("the TAP is on a bridge");
    let (ok, veth) = ip(&["-n", ns, "-d", "link", "show", "eth0"]);
    assert!(ok, "{veth}");
    assert_eq!(after(&veth, "master"), Some(bridge), "{veth}");
    assert!(veth.contains("veth"), "{veth}");
    let net_ns = format!(
        "nlab-{lab}-net-{}",
        &hex(net["id"].as_str().expect("id"))[..8]
    );
    let bridge_end = format!("tap{}", &hex(port["id"].as_str().expect("id"))[..10]);
    let (ok, end) = ip(&["-n", &net_ns, "link", "show", &bridge_end]);
    assert!(
        ok && after(&end, "master").is_some(),
        "{bridge_end} in {net_ns}: {end}"
    );
}

#[test]
fn a_tap_port_carries_a_guest_on_its_network() {
    require_root!();
    let s = Server::start();
    let guard = LabGuard(s.lab());
    let lab = s.lab();
    let net = create(&s, "network", json!({"name": "blue"}));
    let net_id = net["id"].as_str().expect("id");
    create(
        &s,
        "subnet",
        json!({"network_id": net_id, "ip_version": 4, "cidr": "10.61.0.0/24", "enable_dhcp": true}),
    );
    let peer = create(
        &s,
        "port",
        json!({"network_id": net_id, "name": "peer", "binding:profile": {"nlab": "instance"}}),
    );
    let made = create(
        &s,
        "port",
        json!({"network_id": net_id, "name": "guest", "binding:profile": {"nlab": "tap"}}),
    );
    assert_eq!(made["binding:vif_type"], "tap", "{made:#}");
    let id = made["id"].as_str().expect("id").to_string();
    let port = wait_port(&s, &id, "ACTIVE with its TAP", |p| {
        p["status"] == "ACTIVE" && p["binding:vif_details"]["devname"].is_string()
    });
    let d = &port["binding:vif_details"];
    let (ns, dev) = (
        d["netns"].as_str().expect("netns"),
        d["devname"].as_str().expect("dev"),
    );
    assert_eq!(d["port_filter"], true, "{d}");
    witness_tables(ns, dev);
    let args: Vec<String> = serde_json::from_value(d["qemu_args"].clone()).expect("qemu_args");
    let mac = port["mac_address"].as_str().expect("mac");
    assert!(
        args.iter().any(|a| a.contains(&format!("ifname={dev},")))
            && args.iter().any(|a| a.contains(&format!("mac={mac}"))),
        "the arguments name the TAP and the port's MAC: {args:?}"
    );
    let cmd = d["qemu_command"].as_str().expect("qemu_command");
    assert!(
        cmd.starts_with(&format!("ip netns exec {ns} qemu-system-x86_64 ")),
        "{cmd}"
    );
    witness_tap(&lab, &net, &port);
    let (_, tap) = ip(&["-n", ns, "link", "show", dev]);
    assert!(tap.contains("NO-CARRIER"), "no guest yet: {tap}");
    // The client prints the command to start the guest with.
    let out = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(["port", "show", "guest", "--url", &s.base])
        .args(["--token", vnet_common::ADMIN_TOKEN])
        .output()
        .expect("nlab port show");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(cmd), "{text}");

    let qemu = match guest::unavailable() {
        Some(why) => {
            eprintln!("SKIP (booting a guest on the TAP): {why}");
            None
        }
        None => Some(guest_gets_its_address_and_pings(
            &s, &lab, &peer, &port, &args,
        )),
    };

    // Unbinding removes the TAP (and the node, and a guest in it).
    let (st, v) = s.admin(
        "PUT",
        &format!("/v2.0/ports/{id}"),
        Some(json!({"port": {"binding:profile": {}}})),
    );
    assert_eq!(st, 200, "{v}");
    let p = wait_port(&s, &id, "DOWN without details", |p| {
        p["status"] == "DOWN" && p["binding:vif_details"] == json!({})
    });
    assert_eq!(p["binding:vif_type"], "unbound");
    assert!(
        !Path::new(&format!("/run/netns/{ns}")).exists(),
        "{ns} left"
    );
    let (ok, out) = ip(&["-n", ns, "link", "show", dev]);
    assert!(!ok, "{dev} still there: {out}");
    if let Some(mut q) = qemu {
        let t0 = Instant::now();
        while q.0.try_wait().expect("qemu's state").is_none() {
            assert!(
                t0.elapsed() < CONVERGE,
                "the guest outlived its port's binding"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // Bound again, then deleted: the TAP comes and goes with the port.
    let (st, v) = s.admin(
        "PUT",
        &format!("/v2.0/ports/{id}"),
        Some(json!({"port": {"binding:profile": {"nlab": "tap"}}})),
    );
    assert_eq!(st, 200, "{v}");
    let port = wait_port(&s, &id, "ACTIVE again", |p| {
        p["status"] == "ACTIVE" && p["binding:vif_details"]["devname"].is_string()
    });
    witness_tap(&lab, &net, &port);
    let (st, v) = s.admin("DELETE", &format!("/v2.0/ports/{id}"), None);
    assert_eq!(st, 204, "{v}");
    let t0 = Instant::now();
    while Path::new(&format!("/run/netns/{ns}")).exists() {
        assert!(
            t0.elapsed() < CONVERGE,
            "{ns} left after its port was deleted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!ip(&["-n", ns, "link", "show", dev]).0, "{dev} left");
    let peer_ns = format!(
        "nlab-{lab}-i-{}",
        &hex(peer["id"].as_str().expect("id"))[..8]
    );
    assert!(
        Path::new(&format!("/run/netns/{peer_ns}")).exists(),
        "the peer stays"
    );
    // The server first (it would rebuild), then the lab: nothing left.
    drop(s);
    drop(guard);
    let (_, all) = ip(&["-d", "link", "show"]);
    assert!(!all.contains(&format!("nlab:{lab}")), "{all}");
}

/// Boots the test's guest on the TAP with the port's QEMU arguments; it
/// must get the port's fixed address by DHCP and ping the peer instance,
/// which pings it back. The guest keeps running.
fn guest_gets_its_address_and_pings(
    s: &Server,
    lab: &str,
    peer: &Value,
    port: &Value,
    args: &[String],
) -> Kill {
    let dir = tempfile::tempdir().expect("tmp");
    let (vmlinuz, _) = guest::kernel().expect("kernel");
    let initrd = dir.path().join("initrd.cpio");
    guest::initramfs_with(&initrd, &INIT.replace("SPOOFED", SPOOFED));
    let peer_id = peer["id"].as_str().expect("id");
    let peer_ip = fixed_ip(&wait_port(s, peer_id, "ACTIVE", |p| {
        p["status"] == "ACTIVE"
    }));
    let ns = port["binding:vif_details"]["netns"]
        .as_str()
        .expect("netns");
    let serial = dir.path().join("serial");
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "qemu-system-x86_64"])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-accel",
            "tcg",
        ])
        .args(["-m", "192", "-kernel"])
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            &format!("console=ttyS0 quiet nlabtest.peer={peer_ip}"),
        ])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qemu");
    let qemu = Kill(child);
    let want = fixed_ip(port);
    let lease = wait_for(&serial, "NLAB-LEASE");
    assert!(
        lease.contains(&format!("NLAB-LEASE {want}/24")),
        "the port's address by DHCP:\n{lease}"
    );
    let mac = port["mac_address"].as_str().expect("mac");
    assert!(
        lease.contains(&format!("NLAB-READY {mac}")),
        "the port's MAC:\n{lease}"
    );
    let text = wait_for(&serial, "NLAB-PINGBACK-");
    for l in text.lines().filter(|l| l.starts_with("NLAB-")) {
        eprintln!("guest on the TAP: {l}");
    }
    assert!(
        text.contains(&format!("NLAB-PINGBACK-OK {peer_ip}")),
        "{text}"
    );
    let peer_ns = format!("nlab-{lab}-i-{}", &hex(peer_id)[..8]);
    let pinged = (0..10).any(|_| {
        Command::new("ip")
            .args(["netns", "exec", &peer_ns, "ping", "-c1", "-W2", &want])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(pinged, "the peer cannot ping the guest at {want}");
    let (_, tap) = ip(&[
        "-n",
        ns,
        "link",
        "show",
        port["binding:vif_details"]["devname"]
            .as_str()
            .unwrap_or(""),
    ]);
    assert!(!tap.contains("NO-CARRIER"), "QEMU holds the TAP: {tap}");
    spoofed_source_is_dropped(&peer_ns, &want);
    only_what_the_group_allows_gets_in(s, port, &peer_ns, &want);
    qemu
}

/// The port's tables in the VM's node, and the node's bridged IP
/// packets handed to them (`br_netfilter`), witnessed with `nft`/`/proc`.
fn witness_tables(ns: &str, dev: &str) {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "ruleset"])
        .output()
        .expect("nft");
    let rules = String::from_utf8_lossy(&o.stdout);
    assert!(
        rules.contains("table inet nlab-sg") && rules.contains("hook forward"),
        "{rules}"
    );
    assert!(
        rules.contains("table netdev nlab-sg")
            && rules.contains(&format!("hook ingress device \"{dev}\"")),
        "{rules}"
    );
    for k in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "cat",
                &format!("/proc/sys/net/bridge/{k}"),
            ])
            .output()
            .expect("cat");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "1",
            "{k} in {ns}"
        );
    }
}

/// The guest sends echo requests to the peer from its own address and
/// from [`SPOOFED`] in turn: the peer's `tcpdump` sees three of its own
/// and none of the other.
fn spoofed_source_is_dropped(peer_ns: &str, guest_ip: &str) {
    let mut dump = Command::new("ip")
        .args([
            "netns", "exec", peer_ns, "tcpdump", "-n", "-l", "-i", "eth0",
        ])
        .args(["icmp[icmptype] == icmp-echo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    let out = dump.stdout.take().expect("stdout");
    let dump = Kill(dump);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let (mut own, mut spoofed) = (0, Vec::new());
    while own < 3 {
        let l = rx
            .recv_timeout(CONVERGE)
            .expect("the guest's own echo requests reach the peer");
        if l.contains(&format!("IP {guest_ip} >")) {
            own += 1;
        }
        if l.contains(&format!("IP {SPOOFED} >")) {
            spoofed.push(l);
        }
    }
    drop(dump);
    assert!(spoofed.is_empty(), "spoofed packets got out: {spoofed:?}");
}

/// With a group allowing only tcp/22 in, the peer's ping to the guest
/// fails, tcp/22 is answered (refused: nothing listens) and tcp/23 not.
fn only_what_the_group_allows_gets_in(s: &Server, port: &Value, peer_ns: &str, guest_ip: &str) {
    let (st, v) = s.admin(
        "POST",
        "/v2.0/security-groups",
        Some(json!({"security_group": {"name": "ssh-only"}})),
    );
    assert_eq!(st, 201, "{v}");
    let sg = v["security_group"]["id"].as_str().expect("id").to_string();
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress",
        "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}});
    let (st, v) = s.admin("POST", "/v2.0/security-group-rules", Some(rule));
    assert_eq!(st, 201, "{v}");
    let id = port["id"].as_str().expect("id");
    let (st, v) = s.admin(
        "PUT",
        &format!("/v2.0/ports/{id}"),
        Some(json!({"port": {"security_groups": [sg]}})),
    );
    assert_eq!(st, 200, "{v}");
    let ping = || {
        Command::new("ip")
            .args(["netns", "exec", peer_ns, "ping", "-c1", "-W1", guest_ip])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let t0 = Instant::now();
    while ping() {
        assert!(t0.elapsed() < CONVERGE, "the peer still pings the guest");
    }
    let connect = |port: u16| {
        Command::new("ip")
            .args(["netns", "exec", peer_ns, "timeout", "3", "bash", "-c"])
            .arg(format!("echo > /dev/tcp/{guest_ip}/{port}"))
            .output()
            .expect("bash")
    };
    let ssh = connect(22);
    let err = String::from_utf8_lossy(&ssh.stderr);
    assert!(err.contains("refused"), "tcp/22 reaches the guest: {err}");
    let telnet = connect(23);
    assert_eq!(
        telnet.status.code(),
        Some(124),
        "tcp/23 gets no answer: {telnet:?}"
    );
}

fn wait_for(file: &Path, what: &str) -> String {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        assert!(
            !text.contains("Kernel panic") && t0.elapsed() < BOOT_TIMEOUT,
            "no `{what}` on the guest's console after {:?}:\n{text}",
            t0.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
