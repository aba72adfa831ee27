//! `nlab supervisor status|start|stop LAB` and the hidden `nlab supervise
//! LAB`, which is the supervisor process itself.

use super::lifecycle::require_root;
use super::output::{print_json, table, BadInput};
use clap::Subcommand;
use nlab::services::supervisor::{self, schedule::wall_ns, Status};

#[derive(Subcommand, Debug)]
pub enum SupervisorCmd {
    /// Whether the lab's supervisor runs, and per link: driver, state,
    /// schedule progress and the next step.
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
    nlab::lab::check_lab_name(lab)?;
    supervisor::daemon::run(lab)?;
    Ok(0)
}

pub fn supervisor(cmd: SupervisorCmd) -> anyhow::Result<i32> {
    require_root()?;
    match cmd {
        SupervisorCmd::Status { lab, json } => status(&lab, json),
        SupervisorCmd::Start { lab } => {
            nlab::lab::check_lab_name(&lab)?;
            let c = supervisor::ensure_running(&lab).map_err(bad_lab)?;
            let st = c.status()?;
            println!(
                "Supervisor of {lab} runs as pid {} on {}.",
                st.pid, st.socket
            );
            Ok(0)
        }
        SupervisorCmd::Stop { lab } => {
            nlab::lab::check_lab_name(&lab)?;
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

fn status(lab: &str, json: bool) -> anyhow::Result<i32> {
    let st = supervisor::status(lab)?;
    if st.is_none() {
        // Tell a typo from a lab that needs no supervisor.
        nlab::lab::Lab::open(lab)?;
    }
    if json {
        print_json(&serde_json::json!({ "lab": lab, "running": st.is_some(), "status": st }))?;
        return Ok(0);
    }
    match st {
        None => println!("Lab {lab} has no supervisor running (nothing in it needs one)."),
        Some(st) => print_status(&st),
    }
    Ok(0)
}

fn print_status(st: &Status) {
    let up_for = wall_ns().saturating_sub(st.started_unix_ns) as f64 / 1e9;
    println!(
        "Supervisor of {}: pid {}, up {up_for:.1} s, socket {}",
        st.lab, st.pid, st.socket
    );
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
