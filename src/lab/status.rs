//! What `nlab list` says of each lab, judged from everything that must
//! hold for the lab to work, not from the journal alone (issue 11, item
//! 3): a lab is `up` only when its journal says applied, no `nlab`
//! command is half-way through it, every node's namespace is there and
//! the supervisor runs and answers when the lab has links only it
//! carries. Anything else says why, and what to run.

use super::emulated::{short_list, Supervised};
use super::teardown;
use crate::kernel::{netns, proc};
use crate::services::supervisor::api::{self as supervisor, Health};
use crate::store::{LabLock, Phase, State};
use serde::Serialize;
use std::collections::BTreeSet;

/// A node as the read commands name it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeBrief {
    /// The node's name.
    pub name: String,
    /// `host`, `switch` or `router`.
    pub kind: String,
}

/// A lab's entry in `nlab list`.
#[derive(Debug, Clone, Serialize)]
pub struct LabSummary {
    /// The lab's name.
    pub name: String,
    /// The lab's nodes, `{name, kind}` in natural order: the same schema as
    /// `up --json`, `inspect --json` and `graph --format json` give.
    pub nodes: Vec<NodeBrief>,
    /// Nodes in the journal's topology (0 without a journal).
    pub node_count: usize,
    /// Links in the journal's topology (0 without a journal).
    pub link_count: usize,
    /// `up`; `applying` (an `nlab up` holds the lab's lock and applies
    /// it); `degraded` (recorded but not working as recorded: see
    /// `reason`); or `orphaned` (namespaces or files without a journal).
    pub status: String,
    /// Why the status is not `up`: what is wrong, what it breaks, and the
    /// command that mends it. `None` when the lab is up.
    pub reason: Option<String>,
    /// The lab's network namespaces pinned under `/run/netns` now; fewer
    /// than `node_count` means some are gone.
    pub namespaces: usize,
    /// The topology file the lab was made from; `None` for a generator,
    /// the builder, or without a journal.
    pub source: Option<String>,
    /// When the lab was first brought up, in seconds since the Unix epoch
    /// (0 without a journal).
    pub created: u64,
    /// Pid of the lab's supervisor, when one runs.
    pub supervisor: Option<i32>,
}

/// Every lab with a trace on this host (`nlab list`): a journal, a pinned
/// namespace or files, in name order, each with a status that says
/// whether it works and, if not, why. Ephemeral labs leave no trace and
/// are not listed.
///
/// ```
/// use nlab::lab::{self, Lab};
/// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
///
/// let name = format!("list{}", std::process::id());
/// let lab = Lab::builder(&name).host("h1").host("h2").link("h1", "h2").up()?;
/// let listed = lab::list().into_iter().find(|l| l.name == name);
/// lab.down()?;
/// let listed = listed.ok_or("the lab is not listed")?;
/// assert_eq!((listed.status.as_str(), listed.node_count), ("up", 2));
/// assert!(lab::list().iter().all(|l| l.name != name));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn list() -> Vec<LabSummary> {
    let supervisors = supervisor::running();
    teardown::all_labs()
        .into_iter()
        .map(|name| {
            let pinned = netns::lab_pinned(&name);
            let supervisor = supervisors
                .iter()
                .find(|(l, _)| *l == name)
                .map(|(_, p)| *p);
            let mut s = LabSummary {
                name: name.clone(),
                nodes: Vec::new(),
                node_count: 0,
                link_count: 0,
                status: String::new(),
                reason: None,
                namespaces: pinned.len(),
                source: None,
                created: 0,
                supervisor,
            };
            let (status, reason) = match State::load(&name) {
                Ok(Some(st)) => {
                    let mut nodes: Vec<&crate::topo::Node> = st.topology.nodes.values().collect();
                    nodes.sort_by(|a, b| crate::topo::natural_cmp(&a.name, &b.name));
                    s.nodes = nodes
                        .iter()
                        .map(|n| NodeBrief {
                            name: n.name.clone(),
                            kind: n.kind.to_string(),
                        })
                        .collect();
                    s.node_count = st.topology.nodes.len();
                    s.link_count = st.topology.links.len();
                    s.source = st.topology.source.clone();
                    s.created = st.created;
                    judge(&st, &pinned)
                }
                Ok(None) if lock_holders(&name).is_some() => (
                    "applying".into(),
                    Some(format!("{} is creating it", holders_text(&name))),
                ),
                Ok(None) => (
                    "orphaned".into(),
                    Some(format!(
                        "namespaces or files without a journal (left by a crashed nlab?); `nlab down {name}` removes them"
                    )),
                ),
                Err(e) => (
                    "degraded".into(),
                    Some(format!("{e}; `nlab down {name}` removes the lab by name")),
                ),
            };
            s.status = status;
            s.reason = reason;
            s
        })
        .collect()
}

/// Pids holding the lab's lock, if any does.
fn lock_holders(lab: &str) -> Option<Vec<i32>> {
    let p = LabLock::path(lab);
    (proc::exclusively_locked(&p) == Some(true)).then(|| proc::flock_holders(&p))
}

fn holders_text(lab: &str) -> String {
    match lock_holders(lab) {
        Some(v) if !v.is_empty() => v
            .into_iter()
            .map(proc::describe)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "an nlab command".into(),
    }
}

/// The status of a lab that has a journal, and the reason when it is not
/// `up`. `pinned` are the lab's pinned namespaces.
pub fn judge(st: &State, pinned: &[String]) -> (String, Option<String>) {
    let lab = st.lab.as_str();
    let locked = lock_holders(lab).is_some();
    if locked && st.phase != Phase::Applied {
        return (
            "applying".into(),
            Some(format!("{} is applying it", holders_text(lab))),
        );
    }
    let mut problems = Vec::new();
    match st.phase {
        Phase::Applied => {}
        Phase::Applying => problems.push(format!(
            "`nlab up` (pid {}) did not finish applying the topology; `nlab up` with it again finishes, `nlab down {lab}` removes the lab",
            st.pid
        )),
        Phase::Handover => problems.push(format!(
            "`nlab up` (pid {}) applied the kernel part but did not finish handing the lab's links to its supervisor; `nlab up` with the same topology again finishes",
            st.pid
        )),
    }
    if let Some(p) = missing_nodes(st, pinned) {
        problems.push(p);
    }
    if let Some(p) = supervisor_problem(st) {
        problems.push(p);
    }
    if problems.is_empty() {
        return ("up".into(), None);
    }
    if locked {
        problems.push(format!("{} holds the lab's lock", holders_text(lab)));
    }
    ("degraded".into(), Some(problems.join("; ")))
}

/// Nodes whose namespace is gone: a `down` that was interrupted, or
/// namespaces deleted by hand.
fn missing_nodes(st: &State, pinned: &[String]) -> Option<String> {
    let have: BTreeSet<&str> = pinned.iter().map(String::as_str).collect();
    let gone: BTreeSet<String> = st
        .topology
        .nodes
        .keys()
        .filter(|n| !have.contains(netns::ns_name(&st.lab, n).as_str()))
        .cloned()
        .collect();
    if gone.is_empty() {
        return None;
    }
    Some(format!(
        "{} of {} node namespaces are gone ({}): an `nlab down` was interrupted or they were deleted by hand; `nlab down {lab}` finishes removing the lab, `nlab up` with its topology rebuilds them",
        gone.len(),
        st.topology.nodes.len(),
        short_list(&gone),
        lab = st.lab
    ))
}

/// What is wrong with the supervisor of a lab that needs one.
fn supervisor_problem(st: &State) -> Option<String> {
    let needs = Supervised::of(&st.topology);
    if needs.is_empty() {
        return None;
    }
    let lab = st.lab.as_str();
    let effects = needs.effects();
    let restart = format!("`nlab supervisor start {lab}` (or `nlab up` with its topology)");
    let health = match supervisor::health(lab) {
        Ok(h) => h,
        Err(e) => return Some(format!("{e}: {effects}")),
    };
    match health {
        Health::NotRunning => Some(format!(
            "supervisor not running: {effects}; {restart} starts it"
        )),
        Health::Starting(s) => Some(format!(
            "supervisor pid {} is starting: {effects} until it answers",
            s.pid
        )),
        Health::NotAnswering { sup, why } => Some(format!(
            "supervisor pid {} does not answer ({why}): {effects}; {restart} replaces it",
            sup.pid
        )),
        Health::Running(status) => {
            let carried: BTreeSet<&str> = status
                .links
                .iter()
                .filter(|l| l.driver == supervisor::EMULATOR && l.last_error.is_none())
                .map(|l| l.key.as_str())
                .collect();
            let dropped: BTreeSet<String> = needs
                .emulated
                .iter()
                .filter(|k| !carried.contains(k.as_str()))
                .cloned()
                .collect();
            (!dropped.is_empty()).then(|| {
                format!(
                    "the supervisor (pid {}) does not carry emulated link(s) {}, which drop every packet; `nlab up` with its topology hands them over again",
                    status.pid,
                    short_list(&dropped)
                )
            })
        }
    }
}
