//! The lab's DHCP service inside its supervisor: every server, relay and
//! built-in client the applied topology asks for, started when the
//! supervisor starts (so one restarted after `kill -9` resumes from the
//! lease files) and re-synced when `nlab up` changes the lab.

use super::client_run::{ClientStatus, Clients};
use super::plan::{self, Plan};
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

pub struct Service {
    lab: String,
    plan: Plan,
    /// The plan's text and each node's namespace inode when started: a
    /// recreated namespace needs new sockets even when nothing else changed.
    started: Option<(String, BTreeMap<String, Option<u64>>)>,
    servers: Vec<(Running, plan::ServerPlan)>,
    relays: Vec<Relay>,
    clients: Option<Clients>,
    errors: Vec<String>,
}

impl Service {
    pub fn new(lab: &str) -> Service {
        Service {
            lab: lab.to_string(),
            plan: Plan::default(),
            started: None,
            servers: Vec::new(),
            relays: Vec::new(),
            clients: None,
            errors: Vec::new(),
        }
    }

    /// Runs what the lab's journal asks for; a no-op when that has not
    /// changed since the last call.
    pub fn sync(&mut self) {
        let t = match State::load(&self.lab) {
            Ok(Some(st)) => st.topology,
            Ok(None) => return self.stop(),
            Err(e) => {
                self.errors = vec![format!("reading the lab's journal: {e}")];
                return;
            }
        };
        let p = plan::of(&t);
        let key = format!(
            "{:?}",
            (
                &p.servers
                    .iter()
                    .map(|s| (&s.node, &s.iface, s.server_id, &s.subnets))
                    .collect::<Vec<_>>(),
                &p.relays,
                &p.clients
            )
        );
        let inodes = self.inodes(&p);
        if self
            .started
            .as_ref()
            .is_some_and(|(k, i)| *k == key && *i == inodes)
        {
            return;
        }
        self.stop();
        self.plan = p;
        self.start();
        self.started = Some((key, inodes));
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

    fn start(&mut self) {
        self.errors.clear();
        for s in &self.plan.servers {
            match Running::start(&self.lab, s) {
                Ok(r) => self.servers.push((r, s.clone())),
                Err(e) => self.errors.push(format!("DHCP server {}: {e}", s.node)),
            }
        }
        for r in &self.plan.relays {
            match Relay::start(&self.lab, r) {
                Ok(r) => self.relays.push(r),
                Err(e) => self.errors.push(format!("DHCP relay {}: {e}", r.node)),
            }
        }
        if !self.plan.clients.is_empty() {
            self.clients = Some(Clients::start(&self.lab, &self.plan.clients));
        }
    }

    pub fn stop(&mut self) {
        self.clients = None;
        self.relays.clear();
        self.servers.clear();
        self.started = None;
    }

    pub fn status(&self) -> Status {
        Status {
            servers: self
                .servers
                .iter()
                .map(|(r, p)| ServerStatus {
                    node: p.node.clone(),
                    iface: p.iface.clone(),
                    server_id: p.server_id,
                    counters: r.counters(),
                })
                .collect(),
            relays: self
                .relays
                .iter()
                .map(|r| RelayStatus {
                    node: r.node.clone(),
                    forwarded: r.forwarded.load(std::sync::atomic::Ordering::Relaxed),
                })
                .collect(),
            clients: self
                .clients
                .as_ref()
                .map(Clients::status)
                .unwrap_or_default(),
            errors: self.errors.clone(),
        }
    }
}
