//! The clients OpenStack people already have, against `nlab serve`:
//! python-openstackclient (`openstack network create …`) and an
//! openstacksdk script, from the venv `scripts/tempest.sh --prepare`
//! makes (the test says SKIP without it). No root needed.

mod vnet_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vnet_common::Server;

fn venv() -> Option<PathBuf> {
    let v = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-openstack/bin");
    if v.join("openstack").exists() {
        Some(v)
    } else {
        println!("SKIP: no target/venv-openstack (scripts/tempest.sh --prepare makes it)");
        None
    }
}

fn os_env(cmd: &mut Command, s: &Server, user: &str, project: &str) {
    cmd.env("OS_AUTH_URL", format!("{}/v3", s.base))
        .env("OS_USERNAME", user)
        .env("OS_PASSWORD", format!("pw-{user}"))
        .env("OS_PROJECT_NAME", project)
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .env("OS_IDENTITY_API_VERSION", "3")
        .env_remove("OS_CLOUD");
}

fn openstack(bin: &Path, s: &Server, args: &[&str]) -> Value {
    let mut cmd = Command::new(bin.join("openstack"));
    os_env(&mut cmd, s, "alice", "one");
    let out = cmd
        .args(args)
        .args(["-f", "json"])
        .output()
        .expect("run openstack");
    assert!(
        out.status.success(),
        "openstack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("openstack -f json output")
}

#[test]
fn openstack_cli_creates_and_lists_networks_subnets_and_ports() {
    let Some(bin) = venv() else { return };
    let s = Server::start();
    let net = openstack(&bin, &s, &["network", "create", "osc-net"]);
    assert_eq!(net["name"], "osc-net");
    assert_eq!(net["mtu"], 1500);
    let sub = openstack(
        &bin,
        &s,
        &[
            "subnet",
            "create",
            "--network",
            "osc-net",
            "--subnet-range",
            "10.42.0.0/24",
            "osc-sub",
        ],
    );
    assert_eq!(sub["gateway_ip"], "10.42.0.1");
    let port = openstack(
        &bin,
        &s,
        &["port", "create", "--network", "osc-net", "osc-port"],
    );
    // .2 is the DHCP port's, as in Neutron.
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.42.0.3");
    let list = openstack(&bin, &s, &["network", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|n| n["Name"].as_str())
        .collect();
    assert_eq!(names, ["osc-net"]);
    // What the CLI made is what the API holds.
    let (_, v) = s.admin("GET", "/v2.0/ports?name=osc-port", None);
    assert_eq!(v["ports"][0]["mac_address"], port["mac_address"]);
}

#[test]
fn openstacksdk_script_builds_a_routed_network() {
    let Some(bin) = venv() else { return };
    let s = Server::start();
    let script = r#"
import json, openstack
conn = openstack.connect(auth_url=AUTH, username="alice", password="pw-alice",
    project_name="one", user_domain_name="Default", project_domain_name="Default",
    identity_api_version="3")
net = conn.network.create_network(name="sdk-net")
sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.43.0.0/24")
router = conn.network.create_router(name="sdk-router")
conn.network.add_interface_to_router(router, subnet_id=sub.id)
ports = list(conn.network.ports(device_id=router.id))
print(json.dumps({"net": net.id, "ips": [p.fixed_ips[0]["ip_address"] for p in ports],
    "nets": [n.name for n in conn.network.networks()]}))
"#
    .replace("AUTH", &format!("\"{}/v3\"", s.base));
    let out = Command::new(bin.join("python"))
        .args(["-c", &script])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("script output");
    assert_eq!(v["ips"], serde_json::json!(["10.43.0.1"]));
    assert_eq!(v["nets"], serde_json::json!(["sdk-net"]));
    let (st, _) = s.admin(
        "GET",
        &format!("/v2.0/networks/{}", v["net"].as_str().unwrap_or("")),
        None,
    );
    assert_eq!(st, 200);
}

#[test]
fn openapi_driven_fuzz_finds_no_server_error() {
    let Some(bin) = venv() else { return };
    if !bin.join("schemathesis").exists() {
        println!("SKIP: no schemathesis in target/venv-openstack (scripts/tempest.sh --prepare)");
        return;
    }
    let s = Server::start();
    let out = Command::new(bin.join("schemathesis"))
        .args(["run", &format!("{}/openapi.json", s.base)])
        .args(["-H", &format!("X-Auth-Token: {}", vnet_common::ADMIN_TOKEN)])
        .args([
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "30",
            "--seed",
            "1",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache (.schemathesis/) goes with the server's temp dir.
        .current_dir(s.dir.path())
        .output()
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    // Every operation of the document was selected and tested.
    let number = |label: &str| -> Option<String> {
        let at = text.find(label)? + label.len();
        Some(text[at..].split_whitespace().next()?.to_string())
    };
    let (selected, tested) = (number("Selected: "), number("Tested: "));
    let tested = tested.unwrap_or_default();
    assert_eq!(selected, Some(format!("{tested}/{tested}")), "{text}");
    assert!(!text.contains("Errored:"), "{text}");
}
