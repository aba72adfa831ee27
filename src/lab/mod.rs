//! Plan and apply: the desired topology against the recorded state.
//!
//! [`Lab`] is the library's entry point: bring a topology up, run commands
//! in its nodes, read it back, tear it down.

pub mod apply;
pub mod conditions;
pub mod emulated;
pub mod handles;
pub mod hosts;
pub mod inspect;
pub mod links;
pub mod live;
pub mod plan;
pub mod state;
pub mod status;
pub mod teardown;

pub use status::{list, LabSummary};

use crate::kernel::{self, netns};
use crate::topo::Topology;
use serde::Serialize;
use state::{LabLock, Phase, State};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Errors of the plan/apply layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] kernel::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Journal(String),
    #[error("no lab named `{0}` is up (see `nlab list`)")]
    NoSuchLab(String),
    #[error("`{0}` is not a lab name: {1}")]
    BadLabName(String, String),
    #[error("lab `{lab}` has no node `{node}` (nodes: {known})")]
    NoSuchNode {
        lab: String,
        node: String,
        known: String,
    },
    #[error("lab `{lab}` has no link between `{a}` and `{b}`")]
    NoSuchLink { lab: String, a: String, b: String },
    #[error("{} kernel operation(s) failed:\n  {}", .0.len(), join_errors(.0))]
    Apply(Vec<kernel::Error>),
    #[error("cleanup failed for:\n  {}", .0.join("\n  "))]
    Cleanup(Vec<String>),
    #[error("{0}")]
    Conditions(String),
    #[error("lab `{lab}` has no link end `{endpoint}` ({hint})")]
    NoSuchEndpoint {
        lab: String,
        endpoint: String,
        hint: String,
    },
    /// The lab's supervisor (emulated links, schedules) failed.
    #[error("{0}")]
    Service(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn join_errors(e: &[kernel::Error]) -> String {
    let mut v: Vec<String> = e.iter().take(10).map(|e| e.to_string()).collect();
    if e.len() > 10 {
        v.push(format!("… and {} more", e.len() - 10));
    }
    v.join("\n  ")
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Refuses names that are not lab names. Matters beyond tidiness: labs are
/// found by the prefix `nlab-<lab>-`, and a name with a `-` in it would
/// match the nodes of another lab.
pub fn check_lab_name(name: &str) -> Result<()> {
    crate::topo::validate::check_lab_name(name).map_err(|(msg, hint)| {
        let msg = match hint {
            Some(h) => format!("{msg} ({h})"),
            None => msg,
        };
        Error::BadLabName(name.to_string(), msg)
    })
}

/// Progress callback: phase name, items done, items in the phase.
pub type Progress<'a> = dyn Fn(&str, usize, usize) + Sync + 'a;

/// No progress output.
pub fn quiet(_: &str, _: usize, _: usize) {}

#[derive(Clone, Copy, Default)]
pub struct UpOptions<'a> {
    /// Compute and return the plan without touching the kernel.
    pub dry_run: bool,
    pub progress: Option<&'a Progress<'a>>,
    /// Seed for the userspace link emulator. `None` keeps a running lab's
    /// seed, or picks a random one for a new lab (reported in the
    /// [`UpReport`] so a run can be repeated with it).
    pub seed: Option<u64>,
}

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub lab: String,
    pub nodes: usize,
    pub links: usize,
    /// Kernel-visible changes made (0 when the lab already matched).
    pub changes: usize,
    pub plan: plan::Plan,
    /// Drift found in the kernel before applying (and repaired).
    pub drift: Vec<String>,
    pub dry_run: bool,
    /// The emulator seed the lab runs with (see [`UpOptions::seed`]).
    pub seed: u64,
    #[serde(serialize_with = "ser_secs")]
    pub elapsed: Duration,
    pub timings: apply::Timings,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Nothing half-built: a lab that did not exist before `up` failed goes
/// away again (after its lock is released). Returns the error to report.
fn undo_fresh(fresh: bool, lock: Option<LabLock>, lab: &str, e: Error) -> Error {
    if fresh {
        drop(lock);
        let _ = teardown::down(lab);
    }
    e
}

/// A seed nobody chose: from the kernel's random pool, else the clock.
fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| {
        use std::io::Read;
        f.read_exact(&mut b)
    }) {
        Ok(()) => u64::from_le_bytes(b) % 1_000_000_000,
        Err(_) => state::now() % 1_000_000_000,
    }
}

/// What `up` must repair besides the plan: drift of the recorded lab in
/// the kernel, and namespaces of the lab that the journal does not know.
fn drift_and_orphans(lab: &str, recorded: Option<&State>) -> Result<(plan::Drift, Vec<String>)> {
    let prefix = netns::ns_name(lab, "");
    let Some(st) = recorded else {
        // No journal: whatever carries this lab's names is a leftover and
        // goes first.
        return Ok((plan::Drift::default(), netns::list_pinned(&prefix)));
    };
    let (_, drift) = inspect::inspect(&st.topology)?;
    // Namespaces of this lab that neither the journal nor the new
    // topology knows (a crash during an earlier apply).
    let known: Vec<String> = st
        .topology
        .nodes
        .keys()
        .map(|n| netns::ns_name(lab, n))
        .collect();
    let orphans = netns::list_pinned(&prefix)
        .into_iter()
        .filter(|n| !known.contains(n))
        .collect();
    Ok((drift, orphans))
}

/// A lab that is up (or was found in the journal).
#[derive(Debug, Clone)]
pub struct Lab {
    name: String,
    topology: Topology,
}

impl Lab {
    /// Brings `topo` up, or changes a running lab of the same name to match
    /// it, touching only what differs. Validated input is assumed (the
    /// `topo` loaders validate).
    pub fn up(topo: &Topology, opts: &UpOptions) -> Result<(Lab, UpReport)> {
        let start = Instant::now();
        let progress: &Progress<'_> = opts.progress.unwrap_or(&quiet);
        let lab = topo.name.clone();
        // Before anything is touched (not even the lab's directory): every
        // link's conditions need a backend this build can run.
        conditions::check_topology(topo)?;
        let _lock = if opts.dry_run {
            None
        } else {
            Some(LabLock::acquire(&lab)?)
        };
        let recorded = State::load(&lab)?;
        let fresh = recorded.is_none();
        let (drift, orphans) = drift_and_orphans(&lab, recorded.as_ref())?;
        let p = plan::plan(topo, recorded.as_ref().map(|s| &s.topology), &drift);
        let mut report = UpReport {
            lab: lab.clone(),
            nodes: topo.nodes.len(),
            links: topo.links.len(),
            changes: p.changes() + orphans.len(),
            plan: p.clone(),
            drift: drift.notes.clone(),
            dry_run: opts.dry_run,
            seed: opts.seed.unwrap_or(0),
            elapsed: Duration::ZERO,
            timings: Default::default(),
        };
        if opts.dry_run {
            report.elapsed = start.elapsed();
            return Ok((
                Lab {
                    name: lab,
                    topology: topo.clone(),
                },
                report,
            ));
        }
        if !orphans.is_empty() {
            teardown::remove_namespaces(&orphans)?;
        }
        let mut st = recorded.unwrap_or_else(|| State {
            version: state::STATE_VERSION,
            lab: lab.clone(),
            phase: Phase::Applying,
            topology: topo.clone(),
            created: state::now(),
            updated: state::now(),
            pid: std::process::id(),
            seed: random_seed(),
        });
        let seed_before = st.seed;
        if let Some(seed) = opts.seed {
            st.seed = seed;
        }
        report.seed = st.seed;
        if !p.is_empty() || st.phase != Phase::Applied {
            let previous = st.topology.clone();
            st.phase = Phase::Applying;
            st.topology = topo.clone();
            st.updated = state::now();
            st.pid = std::process::id();
            st.save()?;
            let result = apply::apply(topo, (!fresh).then_some(&previous), &p, progress);
            match result {
                Ok(t) => report.timings = t,
                Err(e) => return Err(undo_fresh(fresh, _lock, &lab, e)),
            }
            // Not "applied" yet: emulated links pass nothing until the
            // supervisor carries them (issue 11, item 3).
            st.phase = Phase::Handover;
            st.save()?;
            crate::pause::at("applied");
        } else if opts.seed.is_some_and(|s| s != seed_before) {
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
        report.elapsed = start.elapsed();
        Ok((
            Lab {
                name: lab,
                topology: topo.clone(),
            },
            report,
        ))
    }

    /// Opens a lab that is up, from its journal.
    pub fn open(name: &str) -> Result<Lab> {
        check_lab_name(name)?;
        match State::load(name)? {
            Some(st) => Ok(Lab {
                name: name.to_string(),
                topology: st.topology,
            }),
            None => Err(Error::NoSuchLab(name.to_string())),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

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
        let mut c = kernel::exec::command_in(&ns, program, args)?;
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

    /// Reads the lab back from the kernel.
    pub fn inspect(&self) -> Result<inspect::LabView> {
        Ok(inspect::inspect(&self.topology)?.0)
    }

    /// Tears the lab down (processes, namespaces, files).
    pub fn down(self) -> Result<teardown::TeardownReport> {
        teardown::down(&self.name)
    }
}
