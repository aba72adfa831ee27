//! The virtual networks end to end, as a user drives them: `nlab serve`,
//! the `nlab net|subnet|port|instance|router|sg` client, the kernel the
//! reconciler builds (instances get their fixed addresses by DHCP and
//! ping each other), `nlab trace` agreeing with the kernel, clear errors,
//! and nothing left after `nlab down`.
mod common;
use common::{lab_name, nlab, LabGuard};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nlab serve` on a free loopback port, killed on drop.
struct Server {
    child: Child,
    url: String,
    token: String,
    users: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(lab: &str) -> Server {
    let dir = tempfile::tempdir().expect("tmp");
    let users = dir.path().join("users.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(["serve", "--listen", "127.0.0.1:0", "--lab", lab])
        .arg("--db")
        .arg(dir.path().join("vnet.db"))
        .arg("--users")
        .arg(&users)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nlab serve");
    let line = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("http://"))
        .expect("serve printed its address");
    let start = line.find("http://").expect("url");
    let url: String = line[start..]
        .split("/v2.0")
        .next()
        .expect("base")
        .trim_end_matches('/')
        .to_string();
    let text = std::fs::read_to_string(&users).expect("users file");
    let token = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("admin_token:"))
        .expect("admin_token in the users file")
        .trim()
        .to_string();
    Server {
        child,
        url,
        token,
        users,
        _dir: dir,
    }
}

impl Server {
    /// Runs the client against this server; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = nlab()
            .args(args)
            .args(["--url", &self.url, "--token", &self.token])
            .output()
            .expect("nlab client");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let (code, out, err) = self.run(&a);
        assert_eq!(code, 0, "nlab {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }
}

fn ns_of(lab: &str, port: &serde_json::Value) -> String {
    let id = port["id"].as_str().expect("id").replace('-', "");
    format!("nlab-{lab}-i-{}", &id[..8])
}

fn ip_of(port: &serde_json::Value) -> String {
    port["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("ip")
        .to_string()
}

/// The IPv4 address `eth0` has in `ns`, once DHCP gave it one.
fn dhcp_address(ns: &str) -> Option<String> {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        let o = Command::new("ip")
            .args(["-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"])
            .output()
            .expect("ip");
        let s = String::from_utf8_lossy(&o.stdout);
        if let Some(a) = s.split_whitespace().skip_while(|w| *w != "inet").nth(1) {
            return a.split('/').next().map(str::to_string);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn a_user_builds_a_network_with_the_client_and_the_kernel_follows() {
    require_root!();
    let lab = lab_name("vc");
    let _g = LabGuard(lab.clone());
    let s = serve(&lab);
    s.json(&["net", "create", "blue"]);
    let sub = s.json(&[
        "subnet",
        "create",
        "blue-v4",
        "--network",
        "blue",
        "--cidr",
        "172.16.1.0/24",
    ]);
    assert_eq!(sub["gateway_ip"], "172.16.1.1");
    let vm1 = s.json(&[
        "port",
        "create",
        "vm1",
        "--network",
        "blue",
        "--bind",
        "instance",
    ]);
    let vm2 = s.json(&["port", "create", "vm2", "--network", "blue"]);
    assert_eq!(vm2["status"], "DOWN", "an unbound port is DOWN");
    // `instance create` binds it and waits until the kernel has it.
    let now = s.json(&["instance", "create", "--port", "vm2"]);
    assert_eq!(now["status"], "ACTIVE", "{now}");
    let listed = s.json(&["instance", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

    // Each instance got its fixed address by DHCP, and they reach each other.
    let (ns1, ns2) = (ns_of(&lab, &vm1), ns_of(&lab, &vm2));
    assert_eq!(dhcp_address(&ns1), Some(ip_of(&vm1)));
    assert_eq!(dhcp_address(&ns2), Some(ip_of(&vm2)));
    let ping = Command::new("ip")
        .args(["netns", "exec", &ns1, "ping", "-c1", "-W2", &ip_of(&vm2)])
        .output()
        .expect("ping");
    assert!(ping.status.success(), "vm1 cannot ping vm2");

    // trace, by port ID, agrees with the kernel.
    let id = vm1["id"].as_str().expect("id");
    let out = nlab()
        .args(["trace", "--lab", &lab, "--port", id, "--dst", &ip_of(&vm2)])
        .output()
        .expect("trace");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("agrees with the model"), "{text}");

    // Mistakes: a 4xx from the server is exit 2 with Neutron's words.
    let (code, _, err) = s.run(&[
        "subnet",
        "create",
        "x",
        "--network",
        "blue",
        "--cidr",
        "10.0.0.1/33",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("HTTP 400"), "{err}");
    let (code, _, err) = s.run(&["net", "show", "nosuchnet"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nlab net list"), "{err}");
    let out = nlab()
        .args(["net", "list", "--url", &s.url, "--token", "wrong"])
        .output()
        .expect("nlab");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
    // Root beside the server needs no token: the users file has one.
    let out = nlab()
        .args(["net", "list", "--json", "--url", &s.url])
        .arg("--users")
        .arg(&s.users)
        .env_remove("OS_TOKEN")
        .output()
        .expect("nlab");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("blue"));

    // Deleting a port removes its instance namespace.
    let (code, _, err) = s.run(&["port", "delete", "vm1"]);
    assert_eq!(code, 0, "{err}");
    let end = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/run/netns/{ns1}")).exists() {
        assert!(
            Instant::now() < end,
            "{ns1} still there after its port was deleted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::path::Path::new(&format!("/run/netns/{ns2}")).exists());
}
