//! Live changes to a running lab's links: conditions (`nlab link set` /
//! `reset`) and MTU. Each change goes to the kernel first and then into
//! the journal's recorded topology, so `show` and `inspect` agree with the
//! kernel, and a later `nlab up FILE` puts the file's conditions back (the
//! file is the declaration; live changes are until the next `up`).

use super::emulated::needs_emulator;
use super::link_conditions::{self, Observed};
use super::{Error, Lab, Result};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{link, Error as KError};
use crate::services::supervisor::api as supervisor;
use crate::store::State;
use crate::topo::conditions::{units, Backend, Directed, Impairment, Step};
use crate::topo::Link;
use serde::Serialize;

/// One link as `nlab link show` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    /// The link's key, `a:ifa--b:ifb` with the ends in sorted order, as
    /// the journal and messages name it.
    pub key: String,
    /// `node:iface` of the two ends; `a_to_b` is sent by `ends[0]`.
    pub ends: [String; 2],
    /// The desired administrative state, as recorded (the file's, or the
    /// last `link set --up/--down`).
    pub up: bool,
    /// `up`, or `down` with who wants it so: `down (user)` (`link set
    /// --down`, the console), `down (file)` (`up: false`), `down
    /// (schedule)` (held down by the lab's supervisor now).
    pub state: String,
    /// The MTU both ends were given, in bytes; `None` leaves the kernel's
    /// default (1500).
    pub mtu: Option<u32>,
    /// As recorded (the file's, or the last `link set`).
    pub conditions: Directed,
    /// What carries the conditions: nothing (none set), the kernel's
    /// qdiscs, or the userspace emulator where the kernel lacks netem.
    pub backend: Backend,
    /// Timed changes the lab's supervisor makes to the link (the file's
    /// `schedule:`); empty without one.
    pub schedule: Vec<Step>,
    /// What the kernel holds on each end's egress, read back now.
    pub observed: [Option<Observed>; 2],
    /// Where the kernel differs from the recorded conditions (a qdisc
    /// changed or removed by hand); empty when they agree.
    pub drift: Vec<String>,
    /// Counters of the userspace emulator, per direction (`a_to_b`,
    /// `b_to_a`), for links it carries; `None` elsewhere or when the
    /// supervisor does not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<serde_json::Value>,
}

/// Differences between what a direction should have and what its sending
/// end's qdisc holds. Only kernel-carried settings are compared (kind and
/// rate): netem's tables and tbf's queue are not read back exactly.
fn drift_of(sender: &str, want: &Impairment, seen: &Option<Observed>) -> Option<String> {
    let seen = seen.as_ref()?;
    let want_kind = crate::kernel::tc::for_impairment(want).map_or("noqueue", |q| q.kind);
    if seen.qdisc != want_kind {
        return Some(format!(
            "{sender} sends through {} but the lab has {want_kind} there",
            seen.qdisc
        ));
    }
    let got_rate = seen
        .conditions
        .as_ref()
        .and_then(|c| c.rate)
        .map(|r| r.bits_per_sec);
    let want_rate = want.rate.map(|r| r.bits_per_sec);
    if want_kind == "tbf" && got_rate != want_rate {
        let fmt = |r: Option<u64>| r.map_or("-".to_string(), units::fmt_rate);
        return Some(format!(
            "{sender} is shaped to {} but the lab says {}",
            fmt(got_rate),
            fmt(want_rate)
        ));
    }
    None
}

impl Lab {
    /// The link that has the end `id` (`node:iface`) and which end it is.
    pub fn find_end(&self, id: &str) -> Result<(usize, usize)> {
        for (i, l) in self.topology.links.iter().enumerate() {
            if let Some(e) = l.end_index(id) {
                return Ok((i, e));
            }
        }
        let ids: Vec<String> = self
            .topology
            .links
            .iter()
            .flat_map(|l| l.endpoints.iter().map(|e| e.id()))
            .collect();
        let hint = crate::topo::suggest::closest(id, ids.iter().map(String::as_str))
            .map(|c| format!("did you mean `{c}`?"))
            .unwrap_or_else(|| "see `nlab link show` for the ends".into());
        Err(Error::NoSuchEndpoint {
            lab: self.name.clone(),
            endpoint: id.to_string(),
            hint,
        })
    }

    /// The lab's links as recorded, in the topology's order; the index of
    /// a link here is what [`set_link_conditions`](Self::set_link_conditions)
    /// and [`set_link_mtu`](Self::set_link_mtu) take.
    pub fn links(&self) -> &[Link] {
        &self.topology.links
    }

    /// Records a change to link `i` in the journal (under the lab's lock).
    fn record(&mut self, i: usize, change: impl Fn(&mut Link)) -> Result<()> {
        if self.is_ephemeral() {
            // No journal: the handle is the only record.
            change(&mut self.topology.links[i]);
            return Ok(());
        }
        let mut st = State::load(&self.name)?.ok_or_else(|| Error::NoSuchLab(self.name.clone()))?;
        let key = self.topology.links[i].key();
        if let Some(l) = st.topology.links.iter_mut().find(|l| l.key() == key) {
            change(l);
        }
        st.updated = crate::store::now();
        st.save()?;
        change(&mut self.topology.links[i]);
        Ok(())
    }

    /// Gives link `i` exactly the conditions `c`, live: the kernel's qdiscs
    /// are replaced in place, so established connections carry on. Fails
    /// before touching anything when no usable backend can carry `c`.
    pub fn set_link_conditions(&mut self, i: usize, c: Directed) -> Result<Backend> {
        let _lock = self.change_lock()?;
        let l = self
            .topology
            .links
            .get(i)
            .ok_or_else(|| Error::Internal(format!("no link #{i}")))?
            .clone();
        let f = if c.is_none() {
            crate::kernel::features::Features::all()
        } else {
            crate::kernel::features::probe()?
        };
        let backend = link_conditions::backend_for(&c, &f);
        let mut changed = l.clone();
        changed.conditions = c.clone();
        let (was_emulated, emulated) = (needs_emulator(&l), needs_emulator(&changed));
        if was_emulated != emulated && self.is_ephemeral() {
            return Err(Error::Conditions(format!(
                "link {}: these conditions need the link {} the userspace emulator, which \
                 recreates it; an ephemeral lab cannot do that live: give the link conditions \
                 of the same kind from the start",
                l.key(),
                if emulated { "moved to" } else { "taken off" }
            )));
        }
        if was_emulated != emulated {
            // A veth becomes two TAPs or back: the link is recreated, which
            // `up` of the recorded topology with the new conditions does.
            drop(_lock);
            let mut t = State::load(&self.name)?
                .ok_or_else(|| Error::NoSuchLab(self.name.clone()))?
                .topology;
            if let Some(x) = t.links.iter_mut().find(|x| x.key() == l.key()) {
                x.conditions = c.clone();
            }
            super::Lab::up(&t, &super::UpOptions::default())?;
            self.topology = t;
            return Ok(backend);
        }
        if let (true, Some(h)) = (emulated, &self.held) {
            let state = supervisor::LinkState {
                conditions: c.clone(),
                up: l.up,
            };
            h.local()
                .set_link(&self.topology, &l.key(), &state, supervisor::EMULATOR)
                .map_err(|e| Error::service(&self.name, e))?;
        } else if emulated {
            super::emulated::set_emulated(&self.name, &l, &c)?;
        } else {
            link_conditions::apply_link(&self.name, &l, &c, false)?;
        }
        self.record(i, |l| l.conditions = c.clone())?;
        Ok(backend)
    }

    /// Sets the MTU of both ends of link `i`, live.
    pub fn set_link_mtu(&mut self, i: usize, mtu: u32) -> Result<()> {
        let _lock = self.change_lock()?;
        let l = self.topology.links[i].clone();
        for e in &l.endpoints {
            let ns_name = netns::ns_name(&self.name, &e.node);
            let ns = NetNs::open(&ns_name)?;
            let iface = e.iface.clone();
            ns.run(move || -> Result<(), KError> {
                let mut sock = Socket::new()?;
                let index = link::index_of(&mut sock, &iface, &ns_name)?;
                sock.request(link::set_mtu(
                    index,
                    mtu,
                    format!("setting the MTU of {iface} in {ns_name} to {mtu}"),
                ))
            })??;
        }
        self.record(i, |l| {
            l.mtu = Some(mtu);
            for e in &mut l.endpoints {
                e.mtu = None;
            }
        })
    }

    /// Every link with its recorded conditions, backend and what the
    /// kernel holds now.
    pub fn link_status(&self) -> Result<Vec<LinkStatus>> {
        let f = if self
            .topology
            .links
            .iter()
            .all(|l| link_conditions::all_conditions(l).all(Directed::is_none))
        {
            crate::kernel::features::Features::all()
        } else {
            crate::kernel::features::probe()?
        };
        let mut out = Vec::new();
        let mut emu_stats: Option<serde_json::Value> = None;
        let (by_user, driven) = if self.is_ephemeral() {
            Default::default()
        } else {
            (
                State::load(&self.name)?
                    .map(|s| s.down_by_user)
                    .unwrap_or_default(),
                supervisor::driven_links(&self.name).unwrap_or_default(),
            )
        };
        let state_of = |l: &Link| {
            let key = l.key();
            if driven.get(&key).map_or(l.up, |d| d.up) {
                "up"
            } else if !l.up && by_user.contains(&key) {
                "down (user)"
            } else if !l.up {
                "down (file)"
            } else {
                "down (schedule)"
            }
            .to_string()
        };
        for l in &self.topology.links {
            let backend = link_conditions::link_backend(l, &f);
            if backend == Backend::Userspace {
                let stats = emu_stats.get_or_insert_with(|| match &self.held {
                    Some(h) => {
                        let local = h.local();
                        let per_link: serde_json::Map<String, serde_json::Value> = self
                            .topology
                            .links
                            .iter()
                            .filter_map(|l| Some((l.key(), local.stats(&l.key())?)))
                            .collect();
                        serde_json::Value::Object(per_link)
                    }
                    None => supervisor::Client::new(&self.name)
                        .stats()
                        .unwrap_or(serde_json::Value::Null),
                });
                out.push(LinkStatus {
                    key: l.key(),
                    ends: [l.endpoints[0].id(), l.endpoints[1].id()],
                    up: l.up,
                    state: state_of(l),
                    mtu: l.mtu,
                    conditions: l.conditions.clone(),
                    backend,
                    schedule: l.schedule.clone(),
                    observed: [None, None],
                    drift: Vec::new(),
                    emulator: stats.get(l.key()).cloned(),
                });
                continue;
            }
            let observed = if netns::exists(&netns::ns_name(&self.name, &l.endpoints[0].node)) {
                link_conditions::observe(&self.name, l)?
            } else {
                [None, None]
            };
            let ends = [l.endpoints[0].id(), l.endpoints[1].id()];
            let drift = [(&l.conditions.a_to_b, 0usize), (&l.conditions.b_to_a, 1)]
                .into_iter()
                .filter_map(|(want, i)| drift_of(&ends[i], want, &observed[i]))
                .collect();
            out.push(LinkStatus {
                key: l.key(),
                ends,
                up: l.up,
                state: state_of(l),
                mtu: l.mtu,
                conditions: l.conditions.clone(),
                backend,
                schedule: l.schedule.clone(),
                observed,
                drift,
                emulator: None,
            });
        }
        Ok(out)
    }
}
