//! IPv6 router advertisements (RFC 4861, RDNSS from RFC 8106), sent for
//! the routers of a lab that have `ipv6_ra`, by the lab's supervisor.
//!
//! - What to advertise comes from the topology, resolved per interface
//!   ([`crate::topo::ra::adverts`]); the lab layer hands the list to the
//!   supervisor (`set-ra`), which records it in `supervisor.json` so a
//!   restarted supervisor advertises again.
//! - One thread per advertising interface, inside the router's
//!   namespace ([`sender`]); the messages are built in [`message`], the
//!   schedule is [`timing`].
//! - SLAAC only: the M and O flags are clear. Stateful DHCPv6 is out of
//!   scope.

pub mod message;
pub mod sender;
pub mod timing;

pub use sender::Counters;

use crate::topo::ra::Advert;
use sender::Sender;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One advertising interface as the supervisor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaStatus {
    /// `node:iface`.
    pub end: String,
    pub prefixes: Vec<String>,
    pub running: bool,
    #[serde(flatten)]
    pub counters: Counters,
}

/// Every advertiser of one lab, by `node:iface`.
#[derive(Default)]
pub struct Advertisers {
    senders: BTreeMap<String, Sender>,
    /// Why an advert is not running, by `node:iface`.
    failed: BTreeMap<String, (Advert, String)>,
}

fn end_of(a: &Advert) -> String {
    format!("{}:{}", a.node, a.iface)
}

impl Advertisers {
    /// Makes the running set `want`: stops the advertisers not in it or
    /// changed (with a farewell advert: RFC 4861 6.2.5), starts the new
    /// ones. Returns the ones that failed to start, with why.
    pub fn set(&mut self, lab: &str, want: &[Advert]) -> Vec<(String, String)> {
        let keep: BTreeMap<String, &Advert> = want.iter().map(|a| (end_of(a), a)).collect();
        let gone: Vec<String> = self
            .senders
            .iter()
            .filter(|(k, s)| keep.get(*k) != Some(&&s.advert))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(mut s) = self.senders.remove(&k) {
                s.stop(true);
            }
        }
        self.failed.clear();
        let mut errs = Vec::new();
        for (k, a) in keep {
            if self.senders.contains_key(&k) {
                continue;
            }
            match Sender::start(lab, a.clone()) {
                Ok(s) => {
                    self.senders.insert(k, s);
                }
                Err(e) => {
                    errs.push((k.clone(), e.to_string()));
                    self.failed.insert(k, (a.clone(), e.to_string()));
                }
            }
        }
        errs
    }

    pub fn status(&self) -> Vec<RaStatus> {
        let prefixes = |a: &Advert| {
            a.prefixes
                .iter()
                .map(|p| format!("{}/{}", p.addr, p.prefix))
                .collect()
        };
        let mut v: Vec<RaStatus> = self
            .senders
            .iter()
            .map(|(k, s)| RaStatus {
                end: k.clone(),
                prefixes: prefixes(&s.advert),
                running: true,
                counters: s.counters(),
            })
            .collect();
        v.extend(self.failed.iter().map(|(k, (a, e))| RaStatus {
            end: k.clone(),
            prefixes: prefixes(a),
            running: false,
            counters: Counters {
                last_error: Some(e.clone()),
                ..Counters::default()
            },
        }));
        v.sort_by(|a, b| a.end.cmp(&b.end));
        v
    }
}
