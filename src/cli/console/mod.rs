//! `nlab cli LAB`: an interactive console on a running lab, with Mininet's
//! vocabulary (`nodes`, `net`, `pingall`, `h1 ping h2`, …), line editing,
//! history and completion; and the same commands from `-c` or a script on
//! stdin for CI.

mod commands;
mod complete;
mod format;
mod iperf;
mod jobs;
mod line;
mod node_cmds;
mod python;
mod shells;

use crate::lab::Lab;
use anyhow::Context;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};
use std::net::IpAddr;
use std::path::PathBuf;

/// Where the commands come from.
pub enum Input {
    /// A terminal, or stdin when it is not one (a script).
    Stdin,
    /// `-c "a; b"`.
    Commands(String),
}

pub struct Console {
    lab: Lab,
    /// Node name → address for name substitution.
    addrs: HashMap<String, IpAddr>,
    jobs: jobs::Jobs,
    /// Each node's own shell, once it has had a command.
    shells: shells::Shells,
    /// `py`/`px`'s Python, once asked.
    python: python::Python,
    /// Reading a terminal: commands may use stdin, Ctrl-C is routine.
    interactive: bool,
    /// `source` files being read, against a file that sources itself.
    depth: usize,
    colour: bool,
    quit: bool,
    failures: usize,
}

impl Console {
    pub fn new(lab: Lab, interactive: bool) -> Console {
        let t = lab.topology();
        let addrs = t
            .nodes
            .keys()
            .filter_map(|n| {
                t.primary_addr(n, false)
                    .or_else(|| t.primary_addr(n, true))
                    .map(|a| (n.clone(), a))
            })
            .collect();
        Console {
            addrs,
            jobs: jobs::Jobs::new(),
            shells: shells::Shells::new(interactive),
            python: python::Python::default(),
            interactive,
            depth: 0,
            colour: interactive && std::io::stdout().is_terminal(),
            quit: false,
            failures: 0,
            lab,
        }
    }

    fn prompt(&self) -> String {
        if self.colour {
            format!("\x1b[1;34mnlab:{}>\x1b[0m ", self.lab.name())
        } else {
            format!("nlab:{}> ", self.lab.name())
        }
    }

    /// Runs one line, reports its error; false when it failed.
    fn run_line(&mut self, l: &str) -> bool {
        let ok = match self.execute(l) {
            Ok(ok) => ok,
            Err(e) => {
                let msg = format!("{e:#}");
                if self.colour {
                    eprintln!("\x1b[31m{msg}\x1b[0m");
                } else {
                    eprintln!("{msg}");
                }
                false
            }
        };
        if !ok {
            self.failures += 1;
        }
        for j in self.jobs.reap(&self.lab, &mut self.shells) {
            let how = jobs::describe_failure(&j.status.unwrap_or_default())
                .unwrap_or_else(|| "done".into());
            println!("[{}] {how}: {}: {}", j.id, j.node, j.line);
        }
        ok
    }

    /// Ends the node shells and stops background jobs, saying which.
    fn finish(&mut self) {
        self.python.stop();
        let stopped = self.jobs.stop_all(&self.lab, &mut self.shells);
        if !stopped.is_empty() {
            println!("*** Stopping {} background job(s)", stopped.len());
            for s in stopped {
                println!("{s}");
            }
        }
        let busy = self.shells.stop_all();
        if !busy.is_empty() {
            println!(
                "*** Stopped the running command in the shell of {}",
                busy.join(" ")
            );
        }
    }

    fn interactive_loop(&mut self) -> anyhow::Result<()> {
        let config = Config::builder()
            .auto_add_history(true)
            .history_ignore_dups(true)?
            .max_history_size(5000)?
            .build();
        let mut ed: Editor<complete::Complete, DefaultHistory> =
            Editor::with_config(config).context("opening the terminal for line editing")?;
        let t = self.lab.topology();
        let mut nodes: Vec<String> = t.nodes.keys().cloned().collect();
        nodes.sort_by(|a, b| crate::topo::natural_cmp(a, b));
        let mut first: Vec<String> = commands::COMMANDS.iter().map(|c| c.0.to_string()).collect();
        first.extend(nodes.iter().cloned());
        let mut words = nodes.clone();
        words.extend(
            t.links
                .iter()
                .flat_map(|l| l.endpoints.iter().map(|e| e.iface.clone())),
        );
        ed.set_helper(Some(complete::Complete { first, words }));
        let history = history_path();
        if let Some(h) = &history {
            let _ = ed.load_history(h);
        }
        println!(
            "nlab console on lab {} ({} nodes). `help` lists commands; Ctrl-D leaves.",
            self.lab.name(),
            self.lab.topology().nodes.len()
        );
        while !self.quit {
            match ed.readline(&self.prompt()) {
                Ok(l) => {
                    self.run_line(&l);
                }
                // Ctrl-C at the prompt drops the line, like Mininet.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => {
                    println!();
                    break;
                }
                Err(e) => return Err(e).context("reading the terminal"),
            }
        }
        if let Some(h) = &history {
            if let Some(dir) = h.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = ed.save_history(h) {
                eprintln!("warning: could not save history to {}: {e}", h.display());
            }
        }
        Ok(())
    }

    /// Non-interactive: each command echoed after the prompt, as it would
    /// look typed, so CI logs read like a session.
    fn script(&mut self, commands: impl Iterator<Item = String>) {
        for c in commands {
            if self.quit {
                break;
            }
            if line::is_blank(&c) {
                continue;
            }
            println!("{}{}", self.prompt(), c.trim());
            self.run_line(&c);
            if jobs::take_interrupt() {
                eprintln!("*** Interrupted");
                self.failures += 1;
                break;
            }
        }
    }
}

/// `$XDG_STATE_HOME/nlab/history`, else `~/.nlab_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(s) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(s).join("nlab").join("history"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".nlab_history"))
}

/// Runs one console command (`mn --test pingpair`) without the echo of
/// the prompt; the exit code is 1 if it failed.
pub fn run_one(lab: Lab, command: &str) -> anyhow::Result<i32> {
    jobs::catch_sigint()?;
    jobs::stop_jobs_on_termination()?;
    let mut c = Console::new(lab, false);
    c.run_line(command);
    c.finish();
    Ok(if c.failures > 0 { 1 } else { 0 })
}

/// Runs the console on `lab` until `exit`, Ctrl-D or the end of the
/// input. Returns the exit code: 1 if any command failed (non-interactive
/// input only; an interactive session exits 0).
pub fn run(lab: Lab, input: Input) -> anyhow::Result<i32> {
    jobs::catch_sigint()?;
    jobs::stop_jobs_on_termination()?;
    let interactive = matches!(input, Input::Stdin) && std::io::stdin().is_terminal();
    let mut c = Console::new(lab, interactive);
    let result = match input {
        Input::Commands(s) => {
            c.script(line::split_script(&s).into_iter());
            Ok(())
        }
        Input::Stdin if interactive => c.interactive_loop(),
        Input::Stdin => {
            let lines = std::io::stdin().lock().lines().map_while(Result::ok);
            c.script(lines);
            Ok(())
        }
    };
    c.finish();
    result?;
    Ok(if !interactive && c.failures > 0 { 1 } else { 0 })
}
