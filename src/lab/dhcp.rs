//! DHCP from the lab's side: `up` has the supervisor start the servers,
//! relays and built-in clients, then waits until every `ip: dhcp`
//! interface has its address (or says which have none, and why).

use super::{Error, Result};
use crate::services::supervisor::api::{self as supervisor, Client, DhcpStatus};
use std::time::{Duration, Instant};

/// How long `up` waits for DHCP addresses; `NLAB_DHCP_TIMEOUT` (seconds)
/// overrides it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn timeout() -> Duration {
    std::env::var("NLAB_DHCP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64)
}

/// Syncs the DHCP service and waits for every client's first binding.
pub fn start_and_wait(client: &Client, limit: Duration) -> Result<DhcpStatus> {
    let lab = client.lab().to_string();
    let svc = |e| Error::service(&lab, e);
    let mut st = client.dhcp_sync().map_err(svc)?;
    if !st.errors.is_empty() {
        return Err(Error::Dhcp(format!("lab {lab}: {}", st.errors.join("; "))));
    }
    let start = Instant::now();
    loop {
        let waiting: Vec<String> = st
            .clients
            .iter()
            .filter(|c| c.binding.is_none())
            .map(|c| {
                let why = match (&c.error, c.phase) {
                    (Some(e), _) => e.clone(),
                    (None, Some(p)) => format!(
                        "still {}",
                        serde_json::to_value(p)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    ),
                    (None, None) => "not started".into(),
                };
                format!("{}:{} ({why})", c.node, c.iface)
            })
            .collect();
        if waiting.is_empty() {
            return Ok(st);
        }
        let hard = st.clients.iter().any(|c| c.error.is_some());
        if hard || start.elapsed() >= limit {
            let total = waiting.len();
            let shown: Vec<String> = waiting.into_iter().take(5).collect();
            return Err(Error::Dhcp(format!(
                "lab {lab}: {total} interface(s) with `ip: dhcp` got no address within {:.1} s: {}{}; \
                 check that a DHCP server serves their segment and has addresses left (`nlab leases {lab}`), \
                 the supervisor's log ({}), or wait longer with NLAB_DHCP_TIMEOUT=<seconds>",
                limit.as_secs_f64(),
                shown.join(", "),
                if total > 5 { format!(" and {} more", total - 5) } else { String::new() },
                crate::store::lab_dir(&lab).join("supervisor.log").display(),
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
        st = client.dhcp_status().map_err(svc)?;
    }
}

/// Every lease of `lab`, by server node.
pub fn leases(lab: &str) -> Result<Vec<(String, crate::services::supervisor::api::DhcpLeases)>> {
    supervisor::dhcp_leases(lab).map_err(|e| Error::service(lab, e))
}
