//! The supervisor's wire protocol: one JSON object per line over the lab's
//! Unix socket, a request answered by exactly one response line.
//!
//! ```text
//! → {"op":"set-link","key":"h1:h1-eth0","state":{"up":false}}
//! ← {"ok":{"key":"h1:h1-eth0--s1:s1-eth1", ...}}
//! → {"op":"remove-link","key":"nope"}
//! ← {"error":{"kind":"no-such-link","message":"lab demo has no link `nope` ..."}}
//! ```
//!
//! Times are integer nanoseconds (durations since a schedule's start, and
//! wall-clock instants since the Unix epoch), like the journal's durations.

use crate::topo::conditions::{Directed, Step, StepAction};
use serde::{Deserialize, Serialize};

/// What a link should be like right now: its conditions and whether both
/// ends are administratively up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    #[serde(default)]
    pub conditions: Directed,
    #[serde(default = "yes")]
    pub up: bool,
}

fn yes() -> bool {
    true
}

impl Default for LinkState {
    fn default() -> Self {
        LinkState {
            conditions: Directed::default(),
            up: true,
        }
    }
}

impl LinkState {
    /// The state after one schedule step.
    pub fn after(&self, action: &StepAction) -> LinkState {
        let mut s = self.clone();
        match action {
            StepAction::Set(d) => s.conditions = (**d).clone(),
            StepAction::Up => s.up = true,
            StepAction::Down => s.up = false,
        }
        s
    }
}

/// One end of a link, as its node and interface name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub node: String,
    pub iface: String,
}

/// A link of the lab a driver acts on. `a` is the topology's
/// `endpoints[0]`, so `Directed::a_to_b` is what `a` sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTarget {
    /// The topology's key for the link (`h1:h1-eth0--s1:s1-eth1`).
    pub key: String,
    pub a: End,
    pub b: End,
}

/// A request to the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Everything the supervisor runs, per link.
    Status,
    /// Puts a link into `state` now (through its driver). `key` is the
    /// link's key or one of its ends (`h1:h1-eth0`).
    SetLink {
        key: String,
        state: Box<LinkState>,
        /// Driver to carry the link (default: the one it has, or
        /// `kernel-state` for a new link).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        driver: Option<String>,
    },
    /// Replaces the link's schedule. `steps` must be in time order; their
    /// `at` counts from `start_unix_ns` (default: now).
    SetSchedule {
        key: String,
        steps: Vec<Step>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_unix_ns: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        driver: Option<String>,
    },
    /// Stops driving a link (its schedule ends; the kernel keeps the state
    /// the link is in).
    RemoveLink { key: String },
    /// Per-link counters from the drivers that keep any.
    Stats,
    /// Replaces the router advertisements the supervisor sends (every
    /// advertising interface of the lab; empty: none).
    SetRa {
        adverts: Vec<crate::topo::ra::Advert>,
    },
    /// Replaces the links the supervisor records (every recorded link of
    /// the lab; empty: none); answers with [`Request::Capture`]'s status.
    SetCapture {
        recordings: Vec<crate::topo::capture::Recording>,
        /// Links (keys) whose interfaces were just made again: their
        /// recorders start over on the new ones.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fresh: Vec<String>,
    },
    /// What is recorded: per link, its files, packets and drops.
    Capture,
    /// Brings the lab's DHCP servers, relays and clients to what its
    /// journal's topology asks, changing only what changed (new scopes
    /// reach running servers without a restart); answers with
    /// [`Request::Dhcp`]'s status.
    DhcpSync,
    /// The DHCP service's status: servers, relays, clients.
    Dhcp,
    /// Ends the supervisor after answering.
    Stop,
}

/// The answer to one request: `{"ok": …}` or `{"error": {…}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    Ok(serde_json::Value),
    Error(RemoteError),
}

/// An error the supervisor reports instead of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The line was not a request this supervisor understands.
    BadRequest,
    /// The key names no link of the lab (or no link the supervisor drives).
    NoSuchLink,
    /// A schedule that cannot run (steps out of order, …).
    BadSchedule,
    /// The driver failed to put the link into the asked state.
    Driver,
    /// Reading the lab or writing the supervisor's state failed.
    Internal,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// The answer to `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub lab: String,
    pub pid: u32,
    /// When this supervisor process started.
    pub started_unix_ns: u64,
    pub socket: String,
    pub links: Vec<LinkStatus>,
    /// Router advertisements it sends, per interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ra: Vec<crate::services::ra::RaStatus>,
}

/// One link the supervisor drives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkStatus {
    pub key: String,
    pub a: End,
    pub b: End,
    pub driver: String,
    /// The state the link is in as far as the supervisor applied it.
    pub state: LinkState,
    pub schedule: Option<ScheduleStatus>,
    /// The last failure of the driver on this link, if any.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleStatus {
    pub start_unix_ns: u64,
    pub steps: usize,
    /// Steps applied so far (the first `done` steps).
    pub done: usize,
    /// The next step, `None` when the schedule has run out.
    pub next: Option<NextStep>,
    /// The most recent applied steps, oldest first.
    pub history: Vec<Applied>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NextStep {
    pub index: usize,
    pub at_ns: u64,
    /// `up`, `down` or `set`.
    pub action: String,
    /// How long until it is due (negative: overdue).
    pub in_ms: f64,
}

/// A step as it was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub index: usize,
    pub action: String,
    pub due_unix_ns: u64,
    /// When the supervisor woke for it and handed it to the driver.
    #[serde(default)]
    pub began_unix_ns: u64,
    /// When the driver was done.
    pub applied_unix_ns: u64,
    /// Which supervisor process applied it (a restart shows a new pid).
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn action_name(a: &StepAction) -> &'static str {
    match a {
        StepAction::Set(_) => "set",
        StepAction::Up => "up",
        StepAction::Down => "down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = Request::SetSchedule {
            key: "h1:h1-eth0".into(),
            steps: vec![Step {
                at: Duration::from_secs(1),
                action: StepAction::Down,
            }],
            start_unix_ns: None,
            driver: None,
        };
        let line = serde_json::to_string(&r).expect("encode");
        assert!(
            line.starts_with(r#"{"op":"set-schedule","key":"h1:h1-eth0""#),
            "{line}"
        );
        assert!(!line.contains('\n'));
        let back: Request = serde_json::from_str(&line).expect("decode");
        assert!(matches!(back, Request::SetSchedule { ref steps, .. } if steps.len() == 1));
        let s: Request = serde_json::from_str(r#"{"op":"status"}"#).expect("status");
        assert!(matches!(s, Request::Status));
        // A state with only `up` given keeps default conditions.
        let l: Request =
            serde_json::from_str(r#"{"op":"set-link","key":"x","state":{"up":false}}"#)
                .expect("set");
        match l {
            Request::SetLink { state, .. } => {
                assert!(!state.up);
                assert!(state.conditions.is_none());
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn errors_are_structured() {
        let r = Response::Error(RemoteError {
            kind: ErrorKind::NoSuchLink,
            message: "no link x".into(),
        });
        let v = serde_json::to_value(&r).expect("encode");
        assert_eq!(v["error"]["kind"], "no-such-link");
        assert_eq!(ErrorKind::BadSchedule.to_string(), "bad-schedule");
    }

    #[test]
    fn steps_change_state() {
        let s = LinkState::default();
        assert!(!s.after(&StepAction::Down).up);
        assert!(s.after(&StepAction::Down).after(&StepAction::Up).up);
    }
}
