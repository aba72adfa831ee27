//! The lab's DHCP service inside its supervisor: every server, relay and
//! built-in client the applied topology asks for, started when the
//! supervisor starts (so one restarted after `kill -9` resumes from the
//! lease files) and re-synced when `nlab up` changes the lab. A re-sync
//! changes only what changed: new reservations reach the running server
//! (no new socket, no lease lost), clients are added or removed one by
//! one; a server restarts only when its interface, address or namespace
//! changed.

use super::client_run::{ClientStatus, Clients, Wanted};
use super::plan::{self, ClientPlan, Plan, RelayPlan, ServerPlan};
use super::relay::Relay;
use super::run::Running;
use super::server::Counters;
use crate::kernel::netns;
use crate::store::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerStatus {
    pub node: String,
    pub iface: String,
    pub server_id: std::net::Ipv4Addr,
    /// Unix seconds when it opened its socket: a reload keeps it.
    #[serde(default)]
    pub started: u64,
    pub counters: Counters,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayStatus {
    pub node: String,
    pub forwarded: u64,
}

/// What `dhcp-status` answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub servers: Vec<ServerStatus>,
    pub relays: Vec<RelayStatus>,
    pub clients: Vec<ClientStatus>,
    /// What could not be started, each naming its node.
    pub errors: Vec<String>,
}

/// What a sync does with a server that runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing changed.
    Keep,
    /// Only its scopes changed (reservations, pool, options): the
    /// running server takes them, keeping its socket and leases.
    Reload,
    /// Its interface, address or namespace changed: new sockets.
    Restart,
}

/// What becomes of server `old` (in namespace inode `old_ns`) when the
/// plan asks for `new` (namespace inode `new_ns`).
pub fn change(
    old: &ServerPlan,
    old_ns: Option<u64>,
    new: &ServerPlan,
    new_ns: Option<u64>,
) -> Change {
    if old.iface != new.iface || old.server_id != new.server_id || old_ns != new_ns {
        Change::Restart
    } else if format!("{:?}", old.subnets) != format!("{:?}", new.subnets) {
        Change::Reload
    } else {
        Change::Keep
    }
}

/// Drops the errors of `prefix` nodes that `still` no longer holds
/// (started since, or no longer asked for).
fn forget_errors(
    errors: &mut BTreeMap<String, String>,
    prefix: &str,
    still: impl Fn(&str) -> bool,
) {
    errors.retain(|w, _| w.strip_prefix(prefix).is_none_or(&still));
}

/// A server that runs, with the plan and namespace it runs for.
struct ServerRun {
    running: Running,
    plan: ServerPlan,
    ns: Option<u64>,
}

/// A relay that runs, with the plan and namespace it runs for.
struct RelayRun {
    relay: Relay,
    plan: RelayPlan,
    ns: Option<u64>,
}

pub struct Service {
    lab: String,
    servers: BTreeMap<String, ServerRun>,
    relays: BTreeMap<String, RelayRun>,
    clients: Option<Clients>,
    /// What could not be started, by what it is (`DHCP server d1`).
    errors: BTreeMap<String, String>,
    /// The journal's plan last synced, to skip a sync that changes nothing.
    synced: Option<String>,
}

impl Service {
    pub fn new(lab: &str) -> Service {
        Service {
            lab: lab.to_string(),
            servers: BTreeMap::new(),
            relays: BTreeMap::new(),
            clients: None,
            errors: BTreeMap::new(),
            synced: None,
        }
    }

    /// Runs what the lab's journal asks for, changing only what changed:
    /// a server whose scopes changed reloads them, one whose interface,
    /// address or namespace changed restarts, clients are added and
    /// removed one by one. What could not start is tried again.
    pub fn sync(&mut self) {
        let t = match State::load(&self.lab) {
            Ok(Some(st)) => st.topology,
            Ok(None) => return self.stop(),
            Err(e) => {
                let what = "the lab's journal".to_string();
                self.errors
                    .insert(what, format!("reading the lab's journal: {e}"));
                return;
            }
        };
        self.errors.remove("the lab's journal");
        let p = plan::of(&t);
        let inodes = self.inodes(&p);
        let key = format!("{:?}", (&p, &inodes));
        let failed = self.clients.as_ref().is_some_and(Clients::has_failed);
        if self.errors.is_empty() && !failed && self.synced.as_ref() == Some(&key) {
            return;
        }
        let ns = |n: &str| inodes.get(n).copied().flatten();
        self.sync_servers(&p.servers, &ns);
        self.sync_relays(&p.relays, &ns);
        self.sync_clients(&p.clients, &ns);
        self.synced = Some(key);
    }

    fn sync_servers(&mut self, plans: &[ServerPlan], ns: &dyn Fn(&str) -> Option<u64>) {
        self.servers
            .retain(|node, _| plans.iter().any(|p| p.node == *node));
        for p in plans {
            let what = format!("DHCP server {}", p.node);
            let now_ns = ns(&p.node);
            if let Some(r) = self.servers.get_mut(&p.node) {
                match change(&r.plan, r.ns, p, now_ns) {
                    Change::Keep => continue,
                    Change::Reload => {
                        r.running.reload(p.subnets.clone());
                        r.plan = p.clone();
                        continue;
                    }
                    // The old socket must be closed before the new one
                    // binds the same interface.
                    Change::Restart => drop(self.servers.remove(&p.node)),
                }
            }
            match Running::start(&self.lab, p) {
                Ok(running) => {
                    self.errors.remove(&what);
                    let run = ServerRun {
                        running,
                        plan: p.clone(),
                        ns: now_ns,
                    };
                    self.servers.insert(p.node.clone(), run);
                }
                Err(e) => {
                    self.errors.insert(what.clone(), format!("{what}: {e}"));
                }
            }
        }
        forget_errors(&mut self.errors, "DHCP server ", |n| {
            !self.servers.contains_key(n) && plans.iter().any(|p| p.node == n)
        });
    }

    fn sync_relays(&mut self, plans: &[RelayPlan], ns: &dyn Fn(&str) -> Option<u64>) {
        self.relays.retain(|node, r| {
            plans
                .iter()
                .any(|p| p.node == *node && *p == r.plan && ns(node) == r.ns)
        });
        for p in plans {
            if self.relays.contains_key(&p.node) {
                continue;
            }
            let what = format!("DHCP relay {}", p.node);
            match Relay::start(&self.lab, p) {
                Ok(relay) => {
                    self.errors.remove(&what);
                    let run = RelayRun {
                        relay,
                        plan: p.clone(),
                        ns: ns(&p.node),
                    };
                    self.relays.insert(p.node.clone(), run);
                }
                Err(e) => {
                    self.errors.insert(what.clone(), format!("{what}: {e}"));
                }
            }
        }
        forget_errors(&mut self.errors, "DHCP relay ", |n| {
            !self.relays.contains_key(n) && plans.iter().any(|p| p.node == n)
        });
    }

    fn sync_clients(&mut self, plans: &[ClientPlan], ns: &dyn Fn(&str) -> Option<u64>) {
        const WHAT: &str = "DHCP clients";
        if plans.is_empty() {
            self.clients = None;
            self.errors.remove(WHAT);
            return;
        }
        let wanted: Vec<Wanted> = plans.iter().map(|p| (p.clone(), ns(&p.node))).collect();
        if let Some(c) = &self.clients {
            return c.set(wanted);
        }
        match Clients::start(&self.lab, wanted) {
            Ok(c) => {
                self.clients = Some(c);
                self.errors.remove(WHAT);
            }
            Err(e) => {
                self.errors.insert(WHAT.to_string(), e);
            }
        }
    }

    fn inodes(&self, p: &Plan) -> BTreeMap<String, Option<u64>> {
        let nodes = p
            .servers
            .iter()
            .map(|s| &s.node)
            .chain(p.relays.iter().map(|r| &r.node))
            .chain(p.clients.iter().map(|c| &c.node));
        nodes
            .map(|n| {
                (
                    n.clone(),
                    netns::pinned_inode(&netns::ns_name(&self.lab, n)),
                )
            })
            .collect()
    }

    pub fn stop(&mut self) {
        self.clients = None;
        self.relays.clear();
        self.servers.clear();
        self.synced = None;
    }

    pub fn status(&self) -> Status {
        Status {
            servers: self
                .servers
                .values()
                .map(|r| ServerStatus {
                    node: r.plan.node.clone(),
                    iface: r.plan.iface.clone(),
                    server_id: r.plan.server_id,
                    started: r.running.started,
                    counters: r.running.counters(),
                })
                .collect(),
            relays: self
                .relays
                .values()
                .map(|r| RelayStatus {
                    node: r.relay.node.clone(),
                    forwarded: r.relay.forwarded.load(std::sync::atomic::Ordering::Relaxed),
                })
                .collect(),
            clients: self
                .clients
                .as_ref()
                .map(Clients::status)
                .unwrap_or_default(),
            errors: self.errors.values().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::dhcp::pool::Subnet;
    use crate::topo::dhcp::{Reservation, Scope};

    fn server(iface: &str, id: [u8; 4], reserved: &[u64]) -> ServerPlan {
        let mut scope = Scope::new("10.0.0.100".parse().unwrap(), "10.0.0.199".parse().unwrap());
        scope.reservations = reserved
            .iter()
            .map(|m| Reservation {
                mac: crate::topo::MacAddr::sequential(*m),
                ip: std::net::Ipv4Addr::new(10, 0, 0, *m as u8),
                loc: Default::default(),
            })
            .collect();
        ServerPlan {
            node: "d1".into(),
            iface: iface.into(),
            server_id: id.into(),
            subnets: vec![Subnet {
                net: "10.0.0.0/24".parse().unwrap(),
                scope,
            }],
        }
    }

    #[test]
    fn reservations_reload_and_only_a_new_socket_restarts() {
        let old = server("eth0", [10, 0, 0, 2], &[1, 2]);
        let same = server("eth0", [10, 0, 0, 2], &[1, 2]);
        assert_eq!(change(&old, Some(7), &same, Some(7)), Change::Keep);
        for other in [&[1, 2, 3][..], &[2], &[]] {
            let new = server("eth0", [10, 0, 0, 2], other);
            assert_eq!(change(&old, Some(7), &new, Some(7)), Change::Reload);
        }
        let mut lease = server("eth0", [10, 0, 0, 2], &[1, 2]);
        lease.subnets[0].scope.lease_secs = 60;
        assert_eq!(change(&old, Some(7), &lease, Some(7)), Change::Reload);
        let moved = server("eth1", [10, 0, 0, 2], &[1, 2]);
        assert_eq!(change(&old, Some(7), &moved, Some(7)), Change::Restart);
        let readdressed = server("eth0", [10, 0, 0, 3], &[1, 2]);
        assert_eq!(
            change(&old, Some(7), &readdressed, Some(7)),
            Change::Restart
        );
        assert_eq!(change(&old, Some(7), &same, Some(8)), Change::Restart);
    }
}
