//! [`LabBuilder`]: a lab in a few chained calls, for tests written in Rust.
//!
//! Mistakes (a bad address, a link to a node nobody declared, two hosts
//! with one address) do not panic and do not stop the chain: they are
//! collected, and [`LabBuilder::build`] returns them with everything
//! [`validate`](crate::topo::validate::validate) finds, the same checks a
//! topology file gets.

use super::{Lab, Result, UpOptions, UpReport};
use crate::topo::conditions::spec;
use crate::topo::validate::{TopoError, TopoErrors};
use crate::topo::{Endpoint, IpNet, Link, Node, NodeKind, Topology, ValidTopology};
use std::collections::HashMap;
use std::net::IpAddr;

impl Lab {
    /// Starts a lab named `name` in code. Declare nodes, then link them:
    /// [`link`](LabBuilder::link) names interfaces as the `--topo`
    /// generators do (hosts count from `eth0`, switches from `eth1`), and
    /// [`addr`](LabBuilder::addr) puts an address on a node's newest one.
    ///
    /// Nothing is checked or built until [`up`](LabBuilder::up) (or
    /// [`build`](LabBuilder::build)); mistakes along the chain are
    /// collected and come back together.
    ///
    /// ```
    /// use nlab::lab::Lab;
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let lab = Lab::builder(&format!("builder{}", std::process::id()))
    ///     .host("h1")
    ///     .host("h2")
    ///     .switch("s1")
    ///     .link("h1", "s1") // h1-eth0 -- s1-eth1
    ///     .addr("h1", "10.0.0.1/24")
    ///     .link("h2", "s1") // h2-eth0 -- s1-eth2
    ///     .addr("h2", "10.0.0.2/24")
    ///     .conditions(&[("delay", "5ms")]) // on h2 -- s1, both ways
    ///     .ephemeral()
    ///     .up()?;
    /// let out = lab.exec_output("h1", &["ping", "-c1", "-W2", "h2"])?;
    /// let text = String::from_utf8_lossy(&out.stdout);
    /// assert!(out.status.success(), "{text}");
    /// // 5 ms each way on h2's link: the round trip takes at least 10 ms.
    /// let rtt: f64 = text
    ///     .split("time=")
    ///     .nth(1)
    ///     .and_then(|t| t.split(' ').next())
    ///     .ok_or("no time= in ping's output")?
    ///     .parse()?;
    /// assert!(rtt >= 10.0, "{text}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(name: &str) -> LabBuilder {
        LabBuilder {
            t: Topology::new(name),
            ports: HashMap::new(),
            newest_end: HashMap::new(),
            errs: Vec::new(),
            ephemeral: false,
        }
    }

    /// Brings `topo` (from a file or a `--topo` generator) up as an
    /// ephemeral lab: see [`LabBuilder::ephemeral`]. The same as
    /// [`Lab::up`] with [`UpOptions::ephemeral`] set, without the report.
    ///
    /// ```
    /// use nlab::lab::{self, Lab};
    /// use nlab::topo::generate;
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let name = format!("eph{}", std::process::id());
    /// let lab = Lab::ephemeral(&generate::from_spec("linear,3", &name, false)?)?;
    /// assert!(lab.exec_output("h1", &["ping", "-c1", "-W2", "h3"])?.status.success());
    /// // Other processes do not see it: no journal, nothing pinned.
    /// assert!(Lab::open(&name).is_err());
    /// assert!(lab::list().iter().all(|l| l.name != name));
    /// drop(lab); // everything is gone now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ephemeral(topo: &Topology) -> Result<Lab> {
        let opts = UpOptions {
            ephemeral: true,
            ..UpOptions::default()
        };
        Ok(Lab::up(topo, &opts)?.0)
    }
}

/// A topology under construction; see [`Lab::builder`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    t: Topology,
    /// Interfaces made so far per node, for the next automatic name.
    ports: HashMap<String, u64>,
    /// Per node, the (link, end) of its newest interface: where `addr` goes.
    newest_end: HashMap<String, (usize, usize)>,
    errs: Vec<TopoError>,
    ephemeral: bool,
}

impl LabBuilder {
    /// Makes the lab ephemeral: its namespaces are held by descriptors of
    /// this process, never pinned, and nothing is written to disk (no
    /// journal, no lock, no `/etc/netns` entry). Emulated links run on
    /// threads of this process, and programs started with
    /// [`Lab::command`] die with the thread that started them. So the
    /// kernel reclaims all of it when the process exits, even by
    /// `kill -9`, and dropping the [`Lab`] frees it at once. Other
    /// processes (`nlab list`, `ip netns`) do not see it; links with a
    /// schedule are refused (they need the lab's supervisor), and so are
    /// DHCP and router advertisements ([`Error::Conditions`](super::Error::Conditions)).
    /// Each ephemeral lab of a process needs its own name.
    ///
    /// ```
    /// use nlab::lab::Lab;
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let name = format!("ephb{}", std::process::id());
    /// let lab = Lab::builder(&name)
    ///     .host("h1")
    ///     .host("h2")
    ///     .link("h1", "h2")
    ///     .addr("h1", "10.0.0.1/24")
    ///     .addr("h2", "10.0.0.2/24")
    ///     .ephemeral()
    ///     .up()?;
    /// assert!(lab.is_ephemeral());
    /// assert!(lab.exec_output("h1", &["ping", "-c1", "-W2", "h2"])?.status.success());
    /// drop(lab); // the lab is freed here
    /// // Nothing of it is left: its name can be used again at once.
    /// let again = Lab::builder(&name).host("h1").ephemeral().up()?;
    /// assert_eq!(again.topology().nodes.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    /// An end host.
    pub fn host(self, name: &str) -> Self {
        self.node(name, NodeKind::Host)
    }

    /// A Linux bridge in its own namespace.
    pub fn switch(self, name: &str) -> Self {
        self.node(name, NodeKind::Switch)
    }

    /// A host that forwards IP.
    pub fn router(self, name: &str) -> Self {
        self.node(name, NodeKind::Router)
    }

    fn node(mut self, name: &str, kind: NodeKind) -> Self {
        if let Some(old) = self.t.nodes.get(name) {
            let msg = format!(
                "node `{name}` is declared twice (as {} and {kind})",
                old.kind
            );
            self.errs
                .push(TopoError::new(msg).with_hint("give each node its own name"));
        } else {
            self.t.nodes.insert(name.into(), Node::new(name, kind));
        }
        self
    }

    /// Links `a` and `b` with interfaces named as the generators name them:
    /// `<node>-eth<n>`, `n` counting from 0 on hosts and routers and from 1
    /// on switches (so declare a switch before linking it).
    pub fn link(self, a: &str, b: &str) -> Self {
        let ia = self.next_iface(a);
        let ib = self.next_iface(b);
        self.link_with(Link::new(Endpoint::new(a, ia), Endpoint::new(b, ib)))
    }

    /// Adds a link as the model spells it: own interface names, MACs, MTU,
    /// directed conditions, a schedule.
    pub fn link_with(mut self, link: Link) -> Self {
        let i = self.t.links.len();
        for (end, ep) in link.endpoints.iter().enumerate() {
            *self.ports.entry(ep.node.clone()).or_default() += 1;
            self.newest_end.insert(ep.node.clone(), (i, end));
        }
        self.t.links.push(link);
        self
    }

    fn next_iface(&self, node: &str) -> String {
        let used = self.ports.get(node).copied().unwrap_or(0);
        let is_switch = self.t.nodes.get(node).map(|n| n.kind) == Some(NodeKind::Switch);
        format!("{node}-eth{}", used + u64::from(is_switch))
    }

    /// Adds `addr` (with its prefix length, IPv4 or IPv6) to the newest
    /// interface of `node`, the one the last `link` involving it made.
    pub fn addr(mut self, node: &str, addr: &str) -> Self {
        let call = format!("addr(\"{node}\", \"{addr}\")");
        let parsed = match addr.parse::<IpNet>() {
            Ok(a) => a,
            Err(msg) => return self.fail(format!("{call}: {msg}"), None),
        };
        match self.newest_end.get(node) {
            Some(&(l, e)) => self.t.links[l].endpoints[e].addrs.push(parsed),
            None => {
                let hint = format!("link `{node}` first: `.link(\"{node}\", …).addr(…)`");
                return self.fail(format!("{call}: `{node}` has no interface yet"), Some(hint));
            }
        }
        self
    }

    /// Sets the default gateway of `node` (IPv4 or IPv6, by the address).
    pub fn gateway(mut self, node: &str, via: &str) -> Self {
        let call = format!("gateway(\"{node}\", \"{via}\")");
        let ip = match via.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return self.fail(format!("{call}: `{via}` is not an IP address"), None),
        };
        match self.t.nodes.get_mut(node) {
            Some(n) if ip.is_ipv4() => n.gateway = Some(ip),
            Some(n) => n.gateway6 = Some(ip),
            None => {
                let hint = "declare it first with .host(…) or .router(…)".to_string();
                return self.fail(format!("{call}: there is no node `{node}`"), Some(hint));
            }
        }
        self
    }

    /// Conditions on the newest link, both directions, as `key, value`
    /// pairs in the topology file's spelling (`delay 10ms`, `loss 1%`,
    /// `rate 10mbit`, `preset lte`; see [`spec`]).
    pub fn conditions(mut self, pairs: &[(&str, &str)]) -> Self {
        let Some(link) = self.t.links.last_mut() else {
            let hint = "call .link(…) before .conditions(…)".to_string();
            return self.fail("conditions(…): there is no link yet".into(), Some(hint));
        };
        let key = link.key();
        let mut imp = link.conditions.a_to_b.clone();
        let mut problems = Vec::new();
        for (k, v) in pairs {
            if let Err(e) = spec::set(&mut imp, k, v) {
                problems.push((
                    format!("conditions on {key}: `{k}: {v}`: {}", e.msg),
                    e.hint,
                ));
            }
        }
        if problems.is_empty() {
            if let Err(e) = spec::check(&imp) {
                problems.push((format!("conditions on {key}: {}", e.msg), e.hint));
            }
        }
        if problems.is_empty() {
            link.conditions = crate::topo::conditions::Directed::symmetric(imp);
        }
        for (msg, hint) in problems {
            self = self.fail(msg, hint);
        }
        self
    }

    fn fail(mut self, msg: String, hint: Option<String>) -> Self {
        let mut e = TopoError::new(msg);
        e.hint = hint;
        self.errs.push(e);
        self
    }

    /// The topology so far, unchecked (to compare or change it).
    pub fn topology(&self) -> &Topology {
        &self.t
    }

    /// Checks everything: the builder's own complaints first, then what
    /// [`ValidTopology::new`] finds. Needs no root: a test can check a
    /// topology without building it.
    ///
    /// ```
    /// use nlab::lab::Lab;
    ///
    /// let errs = Lab::builder("typos")
    ///     .host("h1")
    ///     .host("h2")
    ///     .link("h1", "h3") // no such node
    ///     .addr("h1", "10.0.0.1") // no prefix length
    ///     .build()
    ///     .unwrap_err();
    /// assert!(errs.mentions("`10.0.0.1` needs a prefix length"), "{errs}");
    /// assert!(errs.mentions("`h3`"), "{errs}");
    /// ```
    pub fn build(self) -> Result<ValidTopology, TopoErrors> {
        let mut errs = self.errs;
        match ValidTopology::new(self.t) {
            Ok(v) if errs.is_empty() => Ok(v),
            Ok(_) => Err(TopoErrors(errs)),
            Err(more) => {
                errs.extend(more.0);
                Err(TopoErrors(errs))
            }
        }
    }

    /// Builds and brings the lab up with default options: a pinned lab
    /// (one that stays up until [`Lab::down`] or `nlab down`, and that
    /// `nlab` commands can reach), unless [`ephemeral`](Self::ephemeral)
    /// was called. Errors: the topology's problems as
    /// [`Error::Invalid`](super::Error::Invalid), then whatever
    /// [`Lab::up_valid`] reports.
    ///
    /// ```
    /// use nlab::lab::Lab;
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let name = format!("bup{}", std::process::id());
    /// let lab = Lab::builder(&name)
    ///     .host("h1")
    ///     .router("r1")
    ///     .host("h2")
    ///     .link("h1", "r1")
    ///     .addr("h1", "10.0.1.1/24")
    ///     .addr("r1", "10.0.1.254/24")
    ///     .gateway("h1", "10.0.1.254")
    ///     .link("h2", "r1")
    ///     .addr("h2", "10.0.2.1/24")
    ///     .addr("r1", "10.0.2.254/24")
    ///     .gateway("h2", "10.0.2.254")
    ///     .up()?;
    /// // `nlab exec`, `nlab inspect` and other processes see it by name.
    /// let ping = lab.exec_output("h1", &["ping", "-c1", "-W2", "h2"]);
    /// lab.down()?;
    /// assert!(ping?.status.success(), "h1 reaches h2 through r1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn up(self) -> Result<Lab> {
        Ok(self.up_with(&UpOptions::default())?.0)
    }

    /// Builds and brings the lab up with `opts`, returning the report too.
    pub fn up_with(self, opts: &UpOptions) -> Result<(Lab, UpReport)> {
        let opts = UpOptions {
            ephemeral: opts.ephemeral || self.ephemeral,
            ..*opts
        };
        Lab::up_valid(&self.build()?, &opts)
    }
}

#[cfg(test)]
mod tests;
