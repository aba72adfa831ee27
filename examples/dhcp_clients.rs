//! Runs nlab's built-in DHCP client on interfaces of a running lab, waits
//! until each has an address (or a timeout), and prints one JSON line:
//! how many bound, the time until the last did, and leases per second.
//! bench/dhcp.sh uses it to put the same client against nlab's server and
//! against dnsmasq. Run as root:
//!
//!     cargo run --release --example dhcp_clients -- LAB h1:eth0 h2:eth0 …
//!     cargo run --release --example dhcp_clients -- LAB --hosts h 1000 eth0

use nlab::testing::dhcp::client_run::Clients;
use nlab::testing::dhcp::plan::ClientPlan;
use nlab::topo::dhcp::DhcpClient;
use std::time::{Duration, Instant};

fn plans(args: &[String]) -> Result<Vec<ClientPlan>, String> {
    let plan = |node: &str, iface: &str| ClientPlan {
        node: node.to_string(),
        iface: iface.to_string(),
        client: DhcpClient::Builtin,
    };
    if args.first().map(String::as_str) == Some("--hosts") {
        let [_, prefix, n, iface] = args else {
            return Err("--hosts PREFIX N IFACE".into());
        };
        let n: usize = n.parse().map_err(|_| format!("`{n}` is not a count"))?;
        return Ok((1..=n)
            .map(|k| {
                plan(
                    &format!("{prefix}{k}"),
                    &iface.replace("{}", &k.to_string()),
                )
            })
            .collect());
    }
    args.iter()
        .map(|a| {
            a.split_once(':')
                .map(|(n, i)| plan(n, i))
                .ok_or_else(|| format!("`{a}` is not NODE:IFACE"))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lab = args
        .first()
        .ok_or("usage: dhcp_clients LAB NODE:IFACE…")?
        .clone();
    let plans = plans(&args[1..])?;
    let start = Instant::now();
    let clients = Clients::start(&lab, plans.into_iter().map(|p| (p, None)).collect())?;
    let limit = Duration::from_secs(120);
    let st = loop {
        let st = clients.status();
        if st.iter().all(|c| c.binding.is_some() || c.error.is_some()) || start.elapsed() > limit {
            break st;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed().as_secs_f64();
    let bound: Vec<u64> = st.iter().filter_map(|c| c.bound_ms).collect();
    let first = bound.iter().min().copied().unwrap_or(0);
    let last = bound.iter().max().copied().unwrap_or(0);
    println!(
        "{{\"clients\":{},\"bound\":{},\"first_ms\":{first},\"last_ms\":{last},\"wall_s\":{wall:.3},\"leases_per_s\":{:.1}}}",
        st.len(),
        bound.len(),
        bound.len() as f64 / (last.max(1) as f64 / 1000.0)
    );
    for c in st.iter().filter(|c| c.error.is_some()).take(3) {
        eprintln!("{}:{}: {:?}", c.node, c.iface, c.error);
    }
    Ok(())
}
