//! `nlab supervisor status|start|stop LAB` and the hidden `nlab supervise
//! LAB`, which is the supervisor process itself.

use super::output::{print_json, table, BadInput};
use super::root::require_root;
use crate::lab::emulated::Supervised;
use crate::services::supervisor::{self, schedule::wall_ns, Health, Status};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum SupervisorCmd {
    /// Whether the lab's supervisor runs and answers (within 5 s), and
    /// per link: driver, state, schedule progress and the next step.
    /// Exits 1 when the lab needs a supervisor (emulated links, schedules)
    /// that is not running or not answering.
    Status {
        /// Lab name (see `nlab list`).
        lab: String,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Start the lab's supervisor (a no-op when it runs). Normally `nlab`
    /// starts it when the lab needs one.
    Start {
        /// Lab name (see `nlab list`).
        lab: String,
    },
    /// Stop the lab's supervisor. Kernel state stays as it is; scheduled
    /// changes pause until a supervisor runs again, then catch up.
    Stop {
        /// Lab name (see `nlab list`).
        lab: String,
    },
}

/// The supervisor process (`nlab supervise LAB`, started by nlab itself).
pub fn supervise(lab: &str) -> anyhow::Result<i32> {
    require_root()?;
    // A bad name is bad input (exit 2), as for every command.
    crate::lab::check_lab_name(lab)?;
    supervisor::daemon::run(lab)?;
    Ok(0)
}

pub fn supervisor(cmd: SupervisorCmd) -> anyhow::Result<i32> {
    require_root()?;
    match cmd {
        SupervisorCmd::Status { lab, json } => status(&lab, json),
        SupervisorCmd::Start { lab } => {
            crate::lab::check_lab_name(&lab)?;
            let c = supervisor::ensure_running(&lab).map_err(bad_lab)?;
            let st = c.status()?;
            println!(
                "Supervisor of {lab} runs as pid {} on {}.",
                st.pid, st.socket
            );
            Ok(0)
        }
        SupervisorCmd::Stop { lab } => {
            crate::lab::check_lab_name(&lab)?;
            let r = supervisor::stop(&lab);
            if r.found == 0 {
                println!("Lab {lab} has no supervisor running.");
            } else {
                println!("Stopped the supervisor of {lab}.");
            }
            Ok(0)
        }
    }
}

fn bad_lab(e: supervisor::Error) -> anyhow::Error {
    match e {
        supervisor::Error::NoSuchLab(_) => BadInput(e.to_string()).into(),
        e => e.into(),
    }
}

/// Exit 1 when the lab needs a supervisor (emulated links, schedules)
/// that does not run or does not answer: its links are not working.
fn status(lab: &str, json: bool) -> anyhow::Result<i32> {
    // Tells a typo from a lab, and what the lab needs a supervisor for.
    let l = crate::lab::Lab::open(lab)?;
    let needs = Supervised::of(l.topology());
    let health = supervisor::health(lab)?;
    let effects = needs.effects();
    let (state, pid, reason, st) = match health {
        Health::Running(st) => ("running", Some(st.pid as i32), None, Some(*st)),
        Health::NotRunning => (
            "not-running",
            None,
            (!needs.is_empty()).then(|| format!(
                "no supervisor runs, but the lab needs one: {effects}; `nlab supervisor start {lab}` (or `nlab up` with its topology) starts it"
            )),
            None,
        ),
        Health::Starting(s) => (
            "starting",
            Some(s.pid),
            Some(format!("the supervisor (pid {}) is starting", s.pid)),
            None,
        ),
        Health::NotAnswering { sup, why } => (
            "not-answering",
            Some(sup.pid),
            Some(format!(
                "the supervisor (pid {}) runs but does not answer ({why}){}; `nlab up` with its topology or `nlab supervisor start {lab}` replaces it",
                sup.pid,
                if effects.is_empty() { String::new() } else { format!(": {effects}") }
            )),
            None,
        ),
    };
    let broken = !needs.is_empty() && state != "running";
    if json {
        print_json(&serde_json::json!({
            "lab": lab,
            "state": state,
            "running": pid.is_some(),
            "answering": st.is_some(),
            "needed": !needs.is_empty(),
            "pid": pid,
            "reason": reason,
            "status": st,
        }))?;
        return Ok(i32::from(broken));
    }
    match (&st, &reason) {
        (Some(st), _) => print_status(st),
        (None, Some(r)) => println!("Lab {lab}: {r}."),
        (None, None) => {
            println!("Lab {lab} has no supervisor running (nothing in it needs one).")
        }
    }
    Ok(i32::from(broken))
}

fn print_status(st: &Status) {
    let up_for = wall_ns().saturating_sub(st.started_unix_ns) as f64 / 1e9;
    println!(
        "Supervisor of {}: pid {}, up {up_for:.1} s, socket {}",
        st.lab, st.pid, st.socket
    );
    print_ra(st);
    if st.links.is_empty() {
        println!("It drives no links.");
        return;
    }
    let mut t = table(&["link", "driver", "state", "schedule", "next", "error"]);
    for l in &st.links {
        let state = format!(
            "{}{}",
            if l.state.up { "up" } else { "down" },
            if l.state.conditions.is_none() {
                ""
            } else {
                ", conditioned"
            }
        );
        let (sched, next) = match &l.schedule {
            None => ("-".to_string(), "-".to_string()),
            Some(s) => (
                format!("{}/{} steps", s.done, s.steps),
                s.next
                    .as_ref()
                    .map(|n| format!("{} in {:.1} s", n.action, n.in_ms / 1000.0))
                    .unwrap_or_else(|| "finished".into()),
            ),
        };
        t.add_row(vec![
            l.key.clone(),
            l.driver.clone(),
            state,
            sched,
            next,
            l.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{t}");
}

/// The router advertisements it sends, when it sends any.
fn print_ra(st: &Status) {
    if st.ra.is_empty() {
        return;
    }
    println!("It sends IPv6 router advertisements:");
    let mut t = table(&["interface", "prefixes", "sent", "solicitations", "error"]);
    for r in &st.ra {
        t.add_row(vec![
            r.end.clone(),
            r.prefixes.join(" "),
            if r.running {
                r.counters.sent.to_string()
            } else {
                "not running".into()
            },
            r.counters.solicitations.to_string(),
            r.counters.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{t}");
}
