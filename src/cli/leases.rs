//! `nlab leases LAB [--json]`: the lab's DHCP lease table.

use super::output::{print_json, table};
use serde::Serialize;

/// One row; `--json` prints a list of these.
#[derive(Serialize)]
struct Row {
    server: String,
    ip: std::net::Ipv4Addr,
    mac: Option<String>,
    hostname: Option<String>,
    state: String,
    /// Unix seconds.
    expires: u64,
    /// Seconds left (0 once expired).
    remaining: u64,
}

pub fn leases(lab: &str, json: bool) -> anyhow::Result<i32> {
    // An unknown lab is an error (exit 2), not an empty table.
    let _ = crate::lab::Lab::open(lab)?;
    let now = crate::store::now();
    let mut rows = Vec::new();
    for (server, t) in crate::lab::dhcp::leases(lab)? {
        for l in t.leases.values() {
            rows.push(Row {
                server: server.clone(),
                ip: l.ip,
                mac: l.mac.map(|m| m.to_string()),
                hostname: l.hostname.clone(),
                state: serde_json::to_value(l.state)?
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                expires: l.expires,
                remaining: l.expires.saturating_sub(now),
            });
        }
    }
    if json {
        print_json(&rows)?;
        return Ok(0);
    }
    if rows.is_empty() {
        println!("Lab {lab} has no DHCP leases.");
        return Ok(0);
    }
    let mut t = table(&["server", "address", "mac", "host", "state", "expires in"]);
    for r in &rows {
        t.add_row(vec![
            r.server.clone(),
            r.ip.to_string(),
            r.mac.clone().unwrap_or_else(|| "-".into()),
            r.hostname.clone().unwrap_or_else(|| "-".into()),
            r.state.clone(),
            if r.remaining == 0 {
                "expired".into()
            } else {
                format!("{} s", r.remaining)
            },
        ]);
    }
    println!("{t}");
    Ok(0)
}
