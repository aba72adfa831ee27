//! `vnet::realize::apply` at scale, for `bench/vnet.sh`: a world of one
//! network with N instance ports (10.0.0.0/16, optionally with DHCP and
//! a security group on every port), applied from scratch, then again with
//! nothing to change, then with one port more, that port gone again, 100
//! less and 100 more again. Prints one
//! JSON line per step with its time split (lab, tables, statuses). Run as
//! root, in a sandbox:
//! `cargo run --release --example vnet_apply -- 1000 [--dhcp] [--sg]`.

use nlab::testing::vnet::*;
use nlab::topo::MacAddr;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

fn id(prefix: &str, n: u32) -> String {
    format!("{prefix}{n:07x}-0000-4000-8000-000000000000")
}

fn port(n: u32, sg: bool) -> Port {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 1, 0)) + n);
    let b = n.to_be_bytes();
    Port {
        id: id("c", n),
        network_id: id("a", 0),
        mac: MacAddr([0xfa, 0x16, 0x3e, b[1], b[2], b[3]]),
        fixed_ips: vec![FixedIp {
            subnet_id: id("b", 0),
            ip_address: IpAddr::V4(ip),
        }],
        binding: Binding::Instance,
        port_security_enabled: sg,
        allowed_address_pairs: Vec::new(),
        security_rules: if sg {
            vec![SgRule {
                direction: Direction::Ingress,
                ethertype: "IPv4".into(),
                protocol: Some("tcp".into()),
                port_range_min: Some(22),
                port_range_max: Some(22),
                remote: None,
            }]
        } else {
            Vec::new()
        },
        admin_state_up: true,
    }
}

fn step(what: &str, n: usize, d: &Desired, lab: &str) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let r = apply(d, lab)?;
    let secs = t.elapsed().as_secs_f64();
    let active = r
        .ports
        .values()
        .filter(|s| **s == PortStatus::Active)
        .count();
    println!(
        "{}",
        serde_json::json!({
            "step": what, "ports": n, "secs": secs,
            "lab_secs": r.lab_time.as_secs_f64(), "tables_secs": r.tables_time.as_secs_f64(), "status_secs": r.status_time.as_secs_f64(),
            "changes": r.changes, "tables_applied": r.tables_applied.len(),
            "active": active, "phases": r.up.as_ref().map(|u| u.timings.clone()),
        })
    );
    Ok(())
}

/// `--world FILE [LAB]`: apply a world from JSON, keep it up.
fn world(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let file = args.get(1).ok_or("--world needs a file")?;
    let lab = args.get(2).map_or("vnet", String::as_str);
    let d: Desired = serde_json::from_slice(&std::fs::read(file)?)?;
    let r = apply(&d, lab)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "changes": r.changes, "created": r.created,
            "removed": r.removed, "tables_applied": r.tables_applied,
            "ports": r.ports, "warnings": r.warnings,
        }))?
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--world") {
        return world(&args);
    }
    let n: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dhcp = args.iter().any(|a| a == "--dhcp");
    let sg = args.iter().any(|a| a == "--sg");
    let lab = "vbench";
    let mut d = Desired {
        networks: vec![Network {
            id: id("a", 0),
            name: "bench".into(),
            mtu: None,
            external: false,
            admin_state_up: true,
        }],
        subnets: vec![Subnet {
            id: id("b", 0),
            network_id: id("a", 0),
            cidr: "10.0.0.0/16".parse()?,
            ip_version: 4,
            gateway_ip: None,
            allocation_pools: Vec::new(),
            dns_nameservers: Vec::new(),
            host_routes: Vec::new(),
            enable_dhcp: dhcp,
            ipv6_slaac: false,
            dhcp_ip: None,
        }],
        ports: (1..=n).map(|i| port(i, sg)).collect(),
        ..Default::default()
    };
    let result = (|| {
        step("from scratch", n as usize, &d, lab)?;
        step("nothing to change", n as usize, &d, lab)?;
        d.ports.push(port(n + 1, sg));
        step("one port more", n as usize + 1, &d, lab)?;
        // …and that port gone again (with DHCP: a reservation removed).
        let last = d.ports.pop();
        step("one port less", n as usize, &d, lab)?;
        d.ports.extend(last);
        // Passes that unbind and bind 100 ports at once (commits coalesce);
        // a bridge takes at most 1,024 ports, so the world stays its size.
        let back: Vec<Port> = d.ports.split_off(d.ports.len().saturating_sub(100));
        step("100 ports less", d.ports.len(), &d, lab)?;
        d.ports.extend(back);
        step("100 ports more", d.ports.len(), &d, lab)
    })();
    let t = Instant::now();
    nlab::lab::down(lab)?;
    println!(
        "{}",
        serde_json::json!({"step": "down", "secs": t.elapsed().as_secs_f64()})
    );
    result
}
