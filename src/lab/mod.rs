//! Labs: bring a topology up, run code and commands in its nodes, change
//! its links, read it back from the kernel, tear it down.
//!
//! [`Lab`] is the entry point: [`Lab::builder`] declares a lab in code,
//! [`Lab::up`] takes a [`Topology`] from a file or a generator (see
//! [`crate::topo`]), [`Lab::open`] finds a lab that is already up.
//!
//! A lab is one of two kinds:
//! - *pinned* (the default, what `nlab up` makes): its namespaces are
//!   pinned under `/run/netns`, a journal under `/run/nlab` records it,
//!   and a supervisor process carries what needs a running loop
//!   (emulated links, schedules, DHCP, router advertisements). It stays
//!   up until [`Lab::down`] or `nlab down`, and any process (the `nlab`
//!   command included) can open it by name.
//! - *ephemeral* ([`UpOptions::ephemeral`], [`LabBuilder::ephemeral`]):
//!   held by the process that made it, invisible to others, and freed by
//!   the kernel when that process exits, however it exits. The right
//!   kind for tests.
//!
//! Everything that touches the kernel needs root (`CAP_NET_ADMIN` and
//! `CAP_SYS_ADMIN`); the errors say which operation on which object
//! failed. A pinned lab's `up`, link changes and `down` take a per-lab
//! lock, so concurrent callers (two tests, a test and `nlab`) do not
//! interleave.

pub(crate) mod apply;
mod attached;
pub(crate) mod builder;
pub(crate) mod cgroups;
pub(crate) mod converge;
mod detach;
pub(crate) mod dhcp;
pub(crate) mod emulated;
mod ephemeral;
mod external;
pub(crate) mod handles;
pub(crate) mod held;
mod host_links;
pub(crate) mod hosts;
pub(crate) mod inspect;
mod kvm_probe;
pub(crate) mod link_conditions;
pub(crate) mod links;
pub(crate) mod live;
mod macvlan;
pub(crate) mod nat;
mod node;
pub(crate) mod node_run;
mod owned;
pub(crate) mod plan;
mod qemu;
pub(crate) mod recorded;
pub(crate) mod sg;
pub(crate) mod slaac;
mod static_arp;
pub(crate) mod status;
pub(crate) mod teardown;
mod tied;
pub(crate) mod vm;
pub(crate) mod wiring;

pub use apply::Timings;
pub use builder::LabBuilder;
pub use converge::StpWait;
pub use external::image_available;
pub use inspect::{IfaceView, LabView, NodeInfo};
pub use link_conditions::Observed;
pub use live::LinkStatus;
pub use node::{LinkHandle, Node};
pub use node_run::ExecRun;
pub use plan::Plan;
pub use status::NodeBrief;
pub use status::{list, LabSummary};
pub use teardown::{all_labs, down, TeardownReport};
pub use vm::{MacvtapQueue, VmReport};

use crate::kernel::{self, netns};
use crate::services::supervisor::api as supervisor;
use crate::store::{self, LabLock, Phase, State};
use crate::topo::validate::TopoErrors;
use crate::topo::{Topology, ValidTopology};
use serde::Serialize;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Errors of the plan/apply layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A syscall failed (netlink, entering a namespace, a sysctl, a
    /// qdisc); the message names the object and the operation. Most often
    /// the process lacks `CAP_NET_ADMIN`/`CAP_SYS_ADMIN`: run as root.
    #[error(transparent)]
    Kernel(#[from] kernel::Error),
    /// A file or program could not be read, written or started.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `running ping in h1`.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The lab's files under `/run/nlab`: its journal, its lock; or a name
    /// that is not a lab name (1–24 of `[a-z0-9_-]`).
    #[error(transparent)]
    Store(#[from] store::Error),
    /// No lab of this name has a journal: it was never brought up, was
    /// torn down, or is ephemeral (held by another process, which only
    /// that process can reach).
    #[error("no lab named `{0}` is up (see `nlab list`)")]
    NoSuchLab(String),
    /// A node name that the lab's topology does not have.
    #[error("lab `{lab}` has no node `{node}` (nodes: {known})")]
    NoSuchNode {
        /// The lab's name.
        lab: String,
        /// The name asked for.
        node: String,
        /// The lab's nodes in natural order, at most 12 of them, comma
        /// separated, for the message.
        known: String,
    },
    /// [`Lab::link`] named two nodes that no link joins directly.
    #[error("lab `{lab}` has no link between `{a}` and `{b}`")]
    NoSuchLink {
        /// The lab's name.
        lab: String,
        /// The first node asked for.
        a: String,
        /// The second node asked for.
        b: String,
    },
    /// Applying a plan (or tearing a lab down) failed for these kernel
    /// operations; the others were done. A lab that did not exist before
    /// the failed `up` was removed again.
    #[error("{} kernel operation(s) failed:\n  {}", .0.len(), join_errors(.0))]
    Apply(Vec<kernel::Error>),
    /// Teardown left something behind: one line per lab (or per group of
    /// processes that kept reappearing); `nlab cleanup` retries.
    #[error("cleanup failed for:\n  {}", .0.join("\n  "))]
    Cleanup(Vec<String>),
    /// Link conditions (or features) this lab cannot have: no backend of
    /// this kernel carries them, or an ephemeral lab was asked for a
    /// schedule, DHCP or router advertisements, which need a supervisor.
    #[error("{0}")]
    Conditions(String),
    /// A link end (`node:iface`, as `nlab link show` lists them) that the
    /// lab does not have.
    #[error("lab `{lab}` has no link end `{endpoint}` ({hint})")]
    NoSuchEndpoint {
        /// The lab's name.
        lab: String,
        /// The end asked for.
        endpoint: String,
        /// The closest existing end (`did you mean …?`) or where to look.
        hint: String,
    },
    /// The lab's supervisor (emulated links, schedules) failed.
    #[error("supervisor of {lab}: {source}")]
    Service {
        /// The lab whose supervisor failed.
        lab: String,
        /// What went wrong there.
        #[source]
        source: supervisor::Error,
    },
    /// The topology given to [`Lab::up`] failed [`crate::topo::validate`].
    #[error(transparent)]
    Invalid(#[from] TopoErrors),
    /// A bug in nlab, or a request the API cannot express otherwise
    /// (an empty command line, a dry run of an ephemeral lab).
    #[error("internal error: {0}")]
    Internal(String),
    /// A node's limits or isolation cannot be had on this machine (a
    /// missing cgroup controller, a bind source that does not exist).
    #[error("{0}")]
    NodeRun(String),
    /// A command of a node's `exec:` list failed.
    #[error("exec of node `{node}`: `{command}` {detail}")]
    NodeExec {
        /// The node it ran in.
        node: String,
        /// The command as written.
        command: String,
        /// How it failed (exit status, signal, output).
        detail: String,
    },
    /// An attached namespace, container or image (issue 14) that cannot
    /// be used as the topology says.
    #[error("{0}")]
    Attach(String),
    /// `ip6: auto` hosts got no address from the routers' adverts in time.
    #[error("{0}")]
    Slaac(String),
    /// Hosts with `ip: dhcp` that got no address in time.
    #[error("{0}")]
    Dhcp(String),
    /// A virtual machine or an interface on a host NIC could not be set
    /// up: QEMU failed at start (its own words follow), or a parent NIC
    /// vanished while `up` ran.
    #[error("{0}")]
    Vm(String),
    /// What the topology needs from this host is not there: a VM image,
    /// a parent NIC, QEMU. Found before anything was touched; one problem
    /// per line.
    #[error("{0}")]
    Unavailable(String),
    /// `up` from another source than the one the lab was made from.
    #[error(
        "lab `{lab}` was made from {old}, not {new}: add --replace to tear it down and build \
         the new one, or `nlab down {lab}` first"
    )]
    OtherSource {
        /// The lab's name.
        lab: String,
        /// The source the lab was made from, in words.
        old: String,
        /// The source of this `up`, in words.
        new: String,
    },
}

fn join_errors(e: &[kernel::Error]) -> String {
    let mut v: Vec<String> = e.iter().take(10).map(|e| e.to_string()).collect();
    if e.len() > 10 {
        v.push(format!("… and {} more", e.len() - 10));
    }
    v.join("\n  ")
}

impl Error {
    /// An [`Error::Io`] saying what was being done when `source` happened.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// A failure of the lab's supervisor, with its type kept as the source.
    pub fn service(lab: &str, source: supervisor::Error) -> Self {
        Error::Service {
            lab: lab.to_string(),
            source,
        }
    }
}

/// The result of everything in [`crate::lab`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Refuses names that are not lab names (1–24 of `[a-z0-9_-]`; see
/// [`crate::topo::validate::check_lab_name`]) with [`Error::Store`].
pub fn check_lab_name(name: &str) -> Result<()> {
    Ok(store::check_lab_name(name)?)
}

/// Progress callback: phase name, items done, items in the phase.
pub type Progress<'a> = dyn Fn(&str, usize, usize) + Sync + 'a;

/// No progress output.
pub fn quiet(_: &str, _: usize, _: usize) {}

/// How [`Lab::up`] and [`Lab::up_valid`] work; `Default` is what
/// `nlab up` does without flags: a pinned lab, applied, waiting for
/// spanning tree, no progress output.
///
/// ```
/// use nlab::lab::UpOptions;
/// let opts = UpOptions { ephemeral: true, seed: Some(7), ..Default::default() };
/// assert!(!opts.dry_run && !opts.replace);
/// ```
#[derive(Clone, Copy, Default)]
pub struct UpOptions<'a> {
    /// Compute and return the plan without touching the kernel (`nlab up
    /// --dry-run`). Refused for an ephemeral lab.
    pub dry_run: bool,
    /// Called as each phase of applying moves on (see [`Progress`]);
    /// `None` reports nothing.
    pub progress: Option<&'a Progress<'a>>,
    /// Seed for the userspace link emulator. `None` keeps a running lab's
    /// seed, or picks a random one for a new lab (reported in the
    /// [`UpReport`] so a run can be repeated with it).
    pub seed: Option<u64>,
    /// Return right after applying, without waiting for spanning tree to
    /// converge on a looped topology (`nlab up --no-wait`; see
    /// [`StpWait`]).
    pub no_wait: bool,
    /// What `topo` was made from (`file:/abs/path`, `topo:GENERATOR`). An
    /// existing lab made from another source is not reshaped unless
    /// `replace` is set; `None` skips the check.
    pub origin: Option<&'a str>,
    /// Tear down an existing lab of this name first (under the same lock)
    /// and build `topo` fresh.
    pub replace: bool,
    /// An ephemeral lab: held by this process only, gone when it exits
    /// (even by `kill -9`) or when the [`Lab`] is dropped. See
    /// [`LabBuilder::ephemeral`].
    pub ephemeral: bool,
}

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    /// The lab's name.
    pub lab: String,
    /// How many nodes the lab has now.
    pub nodes: usize,
    /// How many links the lab has now.
    pub links: usize,
    /// Kernel-visible changes made (0 when the lab already matched).
    pub changes: usize,
    /// What `up` decided to create, change and remove.
    pub plan: plan::Plan,
    /// Drift found in the kernel before applying (and repaired).
    pub drift: Vec<String>,
    /// [`UpOptions::dry_run`] was set: `plan` is what would change, and
    /// nothing did.
    pub dry_run: bool,
    /// The emulator seed the lab runs with (see [`UpOptions::seed`]).
    pub seed: u64,
    /// Wall time of the whole `up` (in seconds, in JSON).
    #[serde(serialize_with = "ser_secs")]
    pub elapsed: Duration,
    /// Where the time went while applying (all zero when nothing
    /// changed).
    pub timings: apply::Timings,
    /// Links the user set down (`nlab link set --down`) that stay down
    /// although the topology says up (`nlab link set LAB END --up` brings
    /// them up).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_down: Vec<String>,
    /// The wait for spanning tree (looped topologies; `None` without one
    /// or with `no_wait`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spanning_tree: Option<converge::StpWait>,
    /// What the nodes' `exec:` commands printed (nodes created by this `up`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<node_run::ExecRun>,
    /// Things the user should know although `up` succeeded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The lab's virtual machines: the QEMU arguments for those the user
    /// starts, the pid and console of those nlab runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<VmReport>,
}

impl UpReport {
    /// The report of an `up` that planned `p` and has done nothing yet.
    fn planned(
        topo: &Topology,
        p: &plan::Plan,
        changes: usize,
        drift: &[String],
        opts: &UpOptions,
        kept_down: &[String],
    ) -> UpReport {
        UpReport {
            lab: topo.name.clone(),
            nodes: topo.nodes.len(),
            links: topo.links.len(),
            changes,
            plan: p.clone(),
            drift: drift.to_vec(),
            dry_run: opts.dry_run,
            seed: opts.seed.unwrap_or(0),
            elapsed: Duration::ZERO,
            timings: Default::default(),
            kept_down: kept_down.to_vec(),
            spanning_tree: None,
            exec: Vec::new(),
            warnings: Vec::new(),
            vms: Vec::new(),
        }
    }
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Nothing half-built: a lab that did not exist before `up` failed goes
/// away again, under the same lock (released, another `up` could build the
/// lab in between and see it torn down). Returns the error to report.
fn undo_fresh(fresh: bool, lock: Option<LabLock>, lab: &str, e: Error) -> Error {
    if let (true, Some(lock)) = (fresh, lock) {
        if teardown::down_locked(lab, &lock).is_ok() {
            lock.remove();
        }
    }
    e
}

/// What the kernel lacks compared with the journal, and namespaces of
/// `lab` that the journal does not know (leftovers of a crash).
fn drift_and_orphans(lab: &str, recorded: Option<&State>) -> Result<(plan::Drift, Vec<String>)> {
    Ok(match recorded {
        Some(st) => {
            let (_, d) = inspect::inspect(&st.topology)?;
            // Namespaces of this lab that neither the journal nor the
            // new topology knows (a crash during an earlier apply).
            let known: Vec<String> = st
                .topology
                .nodes
                .keys()
                .map(|n| netns::ns_name(lab, n))
                .collect();
            let orphans: Vec<String> = netns::lab_pinned(lab)
                .into_iter()
                .filter(|n| !known.contains(n))
                .collect();
            (d, orphans)
        }
        None => {
            // No journal: whatever carries this lab's names is a
            // leftover and goes first.
            (plan::Drift::default(), netns::lab_pinned(lab))
        }
    })
}

/// `desired` with the links the user set down (recorded in the journal)
/// kept down (`None` when that changes nothing), the keys of those links
/// it keeps down, and every recorded key that still names a link (the
/// markers to keep: a link the topology also says is down stays the
/// user's choice).
fn keep_user_down(
    desired: &Topology,
    recorded: Option<&State>,
) -> (Option<Topology>, Vec<String>, Vec<String>) {
    let Some(st) = recorded.filter(|s| !s.down_by_user.is_empty()) else {
        return (None, Vec::new(), Vec::new());
    };
    let mut t = desired.clone();
    let (mut kept, mut markers) = (Vec::new(), Vec::new());
    for l in &mut t.links {
        if !st.down_by_user.contains(&l.key()) {
            continue;
        }
        markers.push(l.key());
        if l.up {
            l.up = false;
            kept.push(l.key());
        }
    }
    ((!kept.is_empty()).then_some(t), kept, markers)
}

/// The journal `up` starts from: `None` for a new lab, or after tearing the
/// old one down for `replace`. Refuses to reshape a lab made from another
/// source.
fn recorded_for_up(
    topo: &Topology,
    opts: &UpOptions,
    lock: Option<&LabLock>,
) -> Result<Option<State>> {
    let lab = &topo.name;
    if opts.replace {
        if let Some(lock) = lock {
            teardown::down_locked(lab, lock)?;
        }
        return Ok(None);
    }
    let recorded = State::load(lab)?;
    if let Some(st) = &recorded {
        if let (Some(old), Some(new)) = (st.origin.as_deref(), opts.origin) {
            // The same topology from another source reshapes nothing.
            if old != new && st.topology != *topo {
                return Err(Error::OtherSource {
                    lab: lab.clone(),
                    old: describe_origin(old),
                    new: describe_origin(new),
                });
            }
        }
    }
    Ok(recorded)
}

/// The journal `up` writes: the recorded one (learning its origin if it
/// had none, taking a new seed if one is given) or a new one. The flag
/// says whether it differs from what is on disk.
fn journal_for_up(recorded: Option<State>, topo: &Topology, opts: &UpOptions) -> (State, bool) {
    let mut st = recorded.unwrap_or_else(|| State {
        version: store::STATE_VERSION,
        lab: topo.name.clone(),
        phase: Phase::Applying,
        topology: topo.clone(),
        created: store::now(),
        updated: store::now(),
        pid: std::process::id(),
        seed: random_seed(),
        origin: opts.origin.map(str::to_string),
        down_by_user: Default::default(),
    });
    let mut changed = false;
    // A lab from an older release (or the library) learns its source.
    if st.origin.is_none() && opts.origin.is_some() {
        st.origin = opts.origin.map(str::to_string);
        changed = true;
    }
    if let Some(seed) = opts.seed.filter(|&s| s != st.seed) {
        st.seed = seed;
        changed = true;
    }
    (st, changed)
}

fn describe_origin(o: &str) -> String {
    match o.split_once(':') {
        Some(("file", f)) => format!("the file {f}"),
        Some(("topo", t)) => format!("the `{t}` generator of --topo"),
        _ => o.to_string(),
    }
}

/// A seed nobody chose: from the kernel's random pool, else the clock.
fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| {
        use std::io::Read;
        f.read_exact(&mut b)
    }) {
        Ok(()) => u64::from_le_bytes(b) % 1_000_000_000,
        Err(_) => store::now() % 1_000_000_000,
    }
}

/// A lab that is up (or was found in the journal).
#[derive(Debug, Clone)]
pub struct Lab {
    name: String,
    topology: Topology,
    /// What an ephemeral lab holds (`None` for a pinned lab).
    held: Option<std::sync::Arc<ephemeral::Hold>>,
}

impl Lab {
    /// [`up_valid`](Self::up_valid) for a topology not checked yet: it is
    /// validated first, and a problem is [`Error::Invalid`] with nothing
    /// touched.
    ///
    /// ```
    /// use nlab::lab::{Error, Lab, UpOptions};
    /// use nlab::topo::generate;
    ///
    /// // Mininet's `--topo single,2`: h1 and h2 (10.0.0.1, 10.0.0.2) on s1.
    /// let name = format!("up{}", std::process::id());
    /// let topo = generate::from_spec("single,2", &name, false)?;
    /// let opts = UpOptions { ephemeral: true, ..Default::default() };
    ///
    /// // A mistake is reported before anything is built.
    /// let mut bad = topo.clone();
    /// bad.links[0].endpoints[0].node = "h9".into();
    /// assert!(matches!(Lab::up(&bad, &opts), Err(Error::Invalid(_))));
    ///
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    /// let (lab, report) = Lab::up(&topo, &opts)?;
    /// assert_eq!((report.nodes, report.links), (3, 2));
    /// let ping = lab.exec_output("h1", &["ping", "-c1", "-W2", "10.0.0.2"])?;
    /// assert!(ping.status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn up(topo: &Topology, opts: &UpOptions) -> Result<(Lab, UpReport)> {
        Self::up_valid(&ValidTopology::new(topo.clone())?, opts)
    }

    /// Brings `topo` up, or changes a running lab of the same name to match
    /// it, touching only what differs: the same topology again changes
    /// nothing, a node added is the only thing created. Links the user
    /// took down (`nlab link set --down`, [`LinkHandle::down`]) stay down
    /// (listed in [`UpReport::kept_down`]).
    ///
    /// A pinned lab that did not exist before a failed `up` is removed
    /// again; one that did is left as far as `up` got, and the next `up`
    /// carries on. Errors: [`Error::Kernel`] or [`Error::Apply`] for what
    /// the kernel refused, [`Error::Conditions`] for link conditions no
    /// backend can carry (before anything is touched),
    /// [`Error::OtherSource`] when [`UpOptions::origin`] differs from the
    /// lab's.
    ///
    /// ```
    /// use nlab::lab::{Lab, UpOptions};
    /// use nlab::topo::{generate, ValidTopology};
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let name = format!("upvalid{}", std::process::id());
    /// let topo = generate::valid_from_spec("single,2", &name, false)?;
    /// let opts = UpOptions::default(); // a pinned lab, as `nlab up` makes
    /// let (lab, first) = Lab::up_valid(&topo, &opts)?;
    /// let (_, again) = Lab::up_valid(&topo, &opts)?;
    ///
    /// // One more host on s1: only it and its link are made.
    /// let bigger = generate::from_spec("single,3", &name, false)?;
    /// let (_, grown) = Lab::up_valid(&ValidTopology::new(bigger)?, &opts)?;
    /// lab.down()?; // before checking, so a failed check leaves nothing
    ///
    /// assert!(first.changes > 0);
    /// assert_eq!(again.changes, 0);
    /// assert_eq!(grown.plan.create_nodes, ["h3"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn up_valid(topo: &ValidTopology, opts: &UpOptions) -> Result<(Lab, UpReport)> {
        if opts.ephemeral {
            return ephemeral::up(topo, opts);
        }
        let topo: &Topology = topo;
        let start = Instant::now();
        let progress: &Progress<'_> = opts.progress.unwrap_or(&quiet);
        let lab = topo.name.clone();
        // Before anything is touched (not even the lab's directory): every
        // link's conditions need a backend this build can run.
        link_conditions::check_topology(topo)?;
        vm::preflight(topo, false)?;
        // Limits and isolation the machine cannot give fail here too.
        let layout = node_run::precheck(topo)?;
        let _lock = (!opts.dry_run)
            .then(|| LabLock::acquire(&lab))
            .transpose()?;
        crate::pause::at("up-locked");
        let recorded = recorded_for_up(topo, opts, _lock.as_ref())?;
        let fresh = recorded.is_none();
        // A link the user set down stays down: the file says how the lab
        // is wired, the user's `link set --down` what state it is in now.
        let (kept, kept_down, markers) = keep_user_down(topo, recorded.as_ref());
        let topo = kept.as_ref().unwrap_or(topo);
        let (drift, orphans) = drift_and_orphans(&lab, recorded.as_ref())?;
        let p = plan::plan(topo, recorded.as_ref().map(|s| &s.topology), &drift);
        // Before anything is touched: every attached process, namespace,
        // container and image exists, and no `host:` name is taken.
        let mut resolved = match external::resolve(topo, &p.create_nodes, &p.create_host_links) {
            Ok(r) => r,
            // A fresh lab gives its lock file back: nothing else exists.
            Err(e) => return Err(undo_fresh(fresh, _lock, &lab, e)),
        };
        crate::pause::at("attach-resolved");
        let changes = p.changes() + orphans.len();
        let mut report = UpReport::planned(topo, &p, changes, &drift.notes, opts, &kept_down);
        if opts.dry_run {
            report.elapsed = start.elapsed();
            return Ok((Lab::pinned(lab, topo), report));
        }
        // A `down` that did not finish marked the lab closing; this `up`
        // makes it a lab again.
        held::clear_closing(&lab)?;
        if !orphans.is_empty() {
            teardown::remove_namespaces(&orphans)?;
        }
        let (mut st, journal_changed) = journal_for_up(recorded, topo, opts);
        report.seed = st.seed;
        let user_down_before = st.down_by_user.clone();
        st.down_by_user = markers.into_iter().collect();
        if !p.is_empty() || st.phase != Phase::Applied {
            let previous = st.topology.clone();
            st.phase = Phase::Applying;
            st.topology = topo.clone();
            st.updated = store::now();
            st.pid = std::process::id();
            st.save()?;
            let result = apply::apply(
                topo,
                (!fresh).then_some(&previous),
                &p,
                progress,
                &mut resolved,
            );
            match result.and_then(|t| Ok((t, nat::apply(topo)?))) {
                Ok((t, w)) => {
                    report.timings = t;
                    report.warnings.extend(w);
                }
                Err(e) => return Err(undo_fresh(fresh, _lock, &lab, e)),
            }
            // Not "applied" yet: emulated links pass nothing until the
            // supervisor carries them (issue 11, item 3).
            st.phase = Phase::Handover;
            st.save()?;
            crate::pause::at("applied");
        } else if journal_changed || st.down_by_user != user_down_before || st.topology != *topo {
            // Nothing to build, but a setting the supervisor carries
            // (router adverts, recordings) changed: record it.
            st.topology = topo.clone();
            st.save()?;
        }
        // The supervisor resolves link keys from the journal: after it.
        if let Err(e) = emulated::sync_supervisor(topo, &p) {
            return Err(undo_fresh(fresh, _lock, &lab, e));
        }
        if st.phase != Phase::Applied {
            st.phase = Phase::Applied;
            st.save()?;
        }
        // Guests next: they boot into a lab that is all there.
        match qemu::ensure_running(topo) {
            Ok(v) => report.vms = v,
            Err(e) => return Err(undo_fresh(fresh, _lock, &lab, e)),
        }
        converge::settle(topo, &p, opts, progress, &mut report)?;
        let made = Lab {
            name: lab.clone(),
            topology: topo.clone(),
            held: None,
        };
        // Last, on a lab that works: the node's `exec:` commands may use it.
        match node_run::after_up(&made, &p, layout.as_ref()) {
            Ok(ran) => report.exec = ran,
            Err(e) => return Err(undo_fresh(fresh, _lock, &lab, e)),
        }
        report.elapsed = start.elapsed();
        Ok((made, report))
    }

    /// A handle on pinned lab `name` built from `topo`.
    fn pinned(name: String, topo: &Topology) -> Lab {
        Lab {
            name,
            topology: topo.clone(),
            held: None,
        }
    }

    /// Opens a pinned lab that is up, from its journal: one brought up by
    /// `nlab up`, another process or an earlier run. Errors with
    /// [`Error::NoSuchLab`] when there is none of that name (ephemeral
    /// labs have no journal: only their own process reaches them).
    ///
    /// ```
    /// use nlab::lab::{self, Error, Lab};
    ///
    /// assert!(matches!(Lab::open("nosuchlab"), Err(Error::NoSuchLab(_))));
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let name = format!("open{}", std::process::id());
    /// let made = Lab::builder(&name)
    ///     .host("h1")
    ///     .host("h2")
    ///     .link("h1", "h2")
    ///     .addr("h1", "10.0.0.1/24")
    ///     .addr("h2", "10.0.0.2/24")
    ///     .up()?;
    /// drop(made); // a pinned lab stays up without its handle
    ///
    /// let lab = Lab::open(&name)?;
    /// let ping = lab.exec_output("h1", &["ping", "-c1", "-W2", "h2"]);
    /// lab::down(&name)?;
    /// assert!(ping?.status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<Lab> {
        check_lab_name(name)?;
        match State::load(name)? {
            Some(st) => Ok(Lab {
                name: name.to_string(),
                topology: st.topology,
                held: None,
            }),
            None => Err(Error::NoSuchLab(name.to_string())),
        }
    }

    /// The lab's name, as given to the builder or in the topology.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topology the lab was built from, with the live changes made
    /// through this handle (or recorded in the journal when opened).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The namespace name of a node, checking that the node exists.
    pub fn namespace(&self, node: &str) -> Result<String> {
        if !self.topology.nodes.contains_key(node) {
            let mut known: Vec<&str> = self.topology.nodes.keys().map(|s| s.as_str()).collect();
            known.sort_by(|a, b| crate::topo::natural_cmp(a, b));
            let mut list = known
                .iter()
                .take(12)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if known.len() > 12 {
                list.push_str(", …");
            }
            return Err(Error::NoSuchNode {
                lab: self.name.clone(),
                node: node.to_string(),
                known: list,
            });
        }
        Ok(netns::ns_name(&self.name, node))
    }

    /// A command that runs inside `node` (network namespace entered, the
    /// lab's `/etc/hosts` in place).
    pub fn command(&self, node: &str, program: &str, args: &[String]) -> Result<Command> {
        let ns = self.namespace(node)?;
        let n = self.topology.nodes.get(node);
        let mut c = match &self.held {
            Some(h) => kernel::exec::command_in_held(&ns, Some(&h.hosts), program, args)?,
            None => {
                let dir = store::lab_dir(&self.name);
                let spec = n
                    .map(|n| node_run::spec(&self.name, n))
                    .transpose()?
                    .flatten();
                kernel::exec::command_in_lab(&ns, Some(&dir), spec.as_ref(), program, args)?
            }
        };
        if let Some(n) = n {
            c.envs(&n.run.env);
        }
        c.env("NLAB_LAB", &self.name).env("NLAB_NODE", node);
        Ok(c)
    }

    /// Runs a command in `node` and collects its output.
    pub fn exec_output(&self, node: &str, argv: &[&str]) -> Result<Output> {
        let (prog, rest) = argv
            .split_first()
            .ok_or_else(|| Error::Internal("empty command".into()))?;
        let args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
        self.command(node, prog, &args)?
            .output()
            .map_err(|e| Error::io(format!("running {prog} in {node}"), e))
    }

    /// Reads the lab back from the kernel: every node's interfaces with
    /// their state, addresses, bridge and peer, and every difference from
    /// the topology in [`LabView::drift`] (what `nlab inspect` prints).
    ///
    /// ```
    /// use nlab::lab::Lab;
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let lab = Lab::builder(&format!("inspect{}", std::process::id()))
    ///     .host("h1")
    ///     .switch("s1")
    ///     .link("h1", "s1") // h1-eth0 -- s1-eth1
    ///     .addr("h1", "10.0.0.1/24")
    ///     .ephemeral()
    ///     .up()?;
    /// let view = lab.inspect()?;
    /// let names: Vec<&str> = view.nodes.iter().map(|n| n.name.as_str()).collect();
    /// assert_eq!(names, ["h1", "s1"]);
    /// let eth0 = &view.nodes[0].interfaces[0];
    /// assert_eq!(eth0.name, "h1-eth0");
    /// assert_eq!(eth0.addrs[0].to_string(), "10.0.0.1/24");
    /// assert_eq!(eth0.peer.as_deref(), Some("s1:s1-eth1"));
    /// assert!(view.drift.is_empty(), "{:?}", view.drift);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inspect(&self) -> Result<inspect::LabView> {
        Ok(inspect::inspect(&self.topology)?.0)
    }

    /// Whether this lab is ephemeral (held by this process only).
    pub fn is_ephemeral(&self) -> bool {
        self.held.is_some()
    }

    /// Tears the lab down: ends the programs still running in its nodes
    /// and its supervisor, removes its namespaces and its files. For an
    /// ephemeral lab, dropping the last clone of the `Lab` does the same;
    /// `down` says what it removed and reports errors. A pinned lab can
    /// also be torn down by name with [`down`](fn@down).
    ///
    /// ```
    /// use nlab::lab::{Error, Lab};
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let name = format!("down{}", std::process::id());
    /// let lab = Lab::builder(&name)
    ///     .host("h1")
    ///     .host("h2")
    ///     .link("h1", "h2")
    ///     .up()?;
    /// let report = lab.down()?;
    /// assert_eq!(report.namespaces, 2);
    /// assert!(matches!(Lab::open(&name), Err(Error::NoSuchLab(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn down(self) -> Result<teardown::TeardownReport> {
        if let Some(h) = &self.held {
            return ephemeral::down(h);
        }
        teardown::down(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// The layers below keep their error types inside `lab::Error`, so
    /// callers (the CLI's exit codes) match on them, not on their text.
    #[test]
    fn errors_of_the_store_and_the_supervisor_keep_their_types() {
        let e = check_lab_name("a/b").unwrap_err();
        assert!(
            matches!(&e, Error::Store(store::Error::BadLabName(n, _)) if n == "a/b"),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with("`a/b` is not a lab name: "),
            "{e}"
        );

        let e = Error::service("demo", supervisor::Error::NoSuchLab("demo".into()));
        assert_eq!(
            e.to_string(),
            "supervisor of demo: no lab named `demo` is up (see `nlab list`)"
        );
        let source = e.source().expect("a source");
        assert!(matches!(
            source.downcast_ref::<supervisor::Error>(),
            Some(supervisor::Error::NoSuchLab(_))
        ));
    }
}
