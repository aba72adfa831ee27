//! Live changes to a running lab's links: conditions (`nlab link set` /
//! `reset`) and MTU. Each change goes to the kernel first and then into
//! the journal's recorded topology, so `show` and `inspect` agree with the
//! kernel, and a later `nlab up FILE` puts the file's conditions back (the
//! file is the declaration; live changes are until the next `up`).

use super::conditions::{self, Observed};
use super::state::{LabLock, State};
use super::{Error, Lab, Result};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{link, Error as KError};
use crate::topo::conditions::{Backend, Directed, Step};
use crate::topo::Link;
use serde::Serialize;

/// One link as `nlab link show` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    pub key: String,
    /// `node:iface` of the two ends; `a_to_b` is sent by `ends[0]`.
    pub ends: [String; 2],
    pub up: bool,
    pub mtu: Option<u32>,
    /// As recorded (the file's, or the last `link set`).
    pub conditions: Directed,
    pub backend: Backend,
    pub schedule: Vec<Step>,
    /// What the kernel holds on each end's egress, read back now.
    pub observed: [Option<Observed>; 2],
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

    pub fn links(&self) -> &[Link] {
        &self.topology.links
    }

    /// Records a change to link `i` in the journal (under the lab's lock).
    fn record(&mut self, i: usize, change: impl Fn(&mut Link)) -> Result<()> {
        let mut st = State::load(&self.name)?.ok_or_else(|| Error::NoSuchLab(self.name.clone()))?;
        let key = self.topology.links[i].key();
        if let Some(l) = st.topology.links.iter_mut().find(|l| l.key() == key) {
            change(l);
        }
        st.updated = super::state::now();
        st.save()?;
        change(&mut self.topology.links[i]);
        Ok(())
    }

    /// Gives link `i` exactly the conditions `c`, live: the kernel's qdiscs
    /// are replaced in place, so established connections carry on. Fails
    /// before touching anything when no usable backend can carry `c`.
    pub fn set_link_conditions(&mut self, i: usize, c: Directed) -> Result<Backend> {
        let _lock = LabLock::acquire(&self.name)?;
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
        let backend = conditions::check_link(&l, &c, &f)?;
        conditions::apply_link(&self.name, &l, &c, false)?;
        self.record(i, |l| l.conditions = c.clone())?;
        Ok(backend)
    }

    /// Sets the MTU of both ends of link `i`, live.
    pub fn set_link_mtu(&mut self, i: usize, mtu: u32) -> Result<()> {
        let _lock = LabLock::acquire(&self.name)?;
        let l = self.topology.links[i].clone();
        for e in &l.endpoints {
            let ns_name = netns::ns_name(&self.name, &e.node);
            let ns = NetNs::open(&ns_name)?;
            let iface = e.iface.clone();
            ns.run(move || -> Result<(), KError> {
                let mut sock = Socket::new()?;
                let index = link::dump(&mut sock, &format!("reading links of {ns_name}"))?
                    .into_iter()
                    .find(|s| s.name == iface)
                    .map(|s| s.index)
                    .ok_or_else(|| {
                        KError::protocol(
                            format!("finding {iface} in {ns_name}"),
                            "no such interface",
                        )
                    })?;
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
        let f = if self.topology.links.iter().all(|l| l.conditions.is_none()) {
            crate::kernel::features::Features::all()
        } else {
            crate::kernel::features::probe()?
        };
        let mut out = Vec::new();
        for l in &self.topology.links {
            let observed = if netns::exists(&netns::ns_name(&self.name, &l.endpoints[0].node)) {
                conditions::observe(&self.name, l)?
            } else {
                [None, None]
            };
            out.push(LinkStatus {
                key: l.key(),
                ends: [l.endpoints[0].id(), l.endpoints[1].id()],
                up: l.up,
                mtu: l.mtu,
                conditions: l.conditions.clone(),
                backend: conditions::backend_for(&l.conditions, &f),
                schedule: l.schedule.clone(),
                observed,
            });
        }
        Ok(out)
    }
}
