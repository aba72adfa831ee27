//! The command table and what each command does. Names, meanings and
//! output shapes are Mininet's (`mininet/cli.py`); anything else on a line
//! that starts with a node name runs in that node's shell.

use super::format::{self, NetView};
use super::{iperf, jobs, line, Console};
use crate::services::ping::{self, PingHost, PingOpts};
use anyhow::{anyhow, bail};
use std::io::Write;
use std::time::{Duration, Instant};

/// `(name, usage, one line of help)`, in the order `help` lists them.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "help [CMD]", "list commands, or explain one"),
    ("nodes", "nodes", "list all nodes"),
    ("net", "net", "list the links of every node"),
    ("links", "links", "list links with the state of both ends"),
    ("intfs", "intfs", "list the interfaces of every node"),
    (
        "dump",
        "dump",
        "nodes with interfaces, addresses, namespaces",
    ),
    ("ports", "ports", "bridge ports of every switch"),
    (
        "pingall",
        "pingall [TIMEOUT]",
        "every host pings every other host",
    ),
    ("pingall6", "pingall6 [TIMEOUT]", "pingall over IPv6"),
    (
        "pingallfull",
        "pingallfull",
        "pingall with round-trip times",
    ),
    ("pingpair", "pingpair", "ping between the first two hosts"),
    (
        "pingpairfull",
        "pingpairfull",
        "pingpair with round-trip times",
    ),
    (
        "iperf",
        "iperf [H1 H2 [SECS]]",
        "TCP throughput from H1 to H2",
    ),
    (
        "link",
        "link A B up|down",
        "set the links between A and B up or down",
    ),
    ("jobs", "jobs", "list background commands (NODE CMD &)"),
    ("wait", "wait", "wait until the background commands end"),
    (
        "iperfudp",
        "iperfudp [BW [H1 H2]]",
        "UDP at BW (10M) from H1 to H2 (iperf3)",
    ),
    ("noecho", "noecho NODE CMD", "run CMD in NODE without echo"),
    ("py", "py EXPR", "evaluate Python: net, h1... (`help py`)"),
    ("px", "px STMT", "execute a Python statement (`help py`)"),
    ("sh", "sh CMD", "run CMD on the host machine"),
    ("source", "source FILE", "run the commands in FILE"),
    ("time", "time CMD", "run a console command and time it"),
    ("exit", "exit", "leave the console (also quit, Ctrl-D)"),
    ("quit", "quit", "leave the console"),
];

/// How deep `source` may nest.
const MAX_SOURCE_DEPTH: usize = 16;

/// Mininet commands that have no meaning here, with the reason.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("xterm", "use `nlab shell LAB NODE` in another terminal"),
    ("x", "use `nlab shell LAB NODE` in another terminal"),
    ("gterm", "use `nlab shell LAB NODE` in another terminal"),
    (
        "dpctl",
        "nlab switches are Linux bridges, not OpenFlow switches",
    ),
    (
        "switch",
        "nlab switches are Linux bridges; use `link` to cut a port",
    ),
];

const DETAILS: &[(&str, &str)] = &[
    (
        "node",
        "NODE CMD...   run CMD in NODE's shell (bash), e.g. `h1 ping -c1 h2`.\n\
         Each node keeps its shell while the console runs (started on its\n\
         first command), so `h1 cd /tmp` and `h1 export X=1` persist.\n\
         Words that are node names become their IP address, as in Mininet.\n\
         Ctrl-C stops the command, not the console. A trailing `&` runs it\n\
         in the background in that shell (`h2 python3 -m http.server 80 &`),\n\
         so `h2 jobs`, `h2 kill %1` and `$!` know it; `jobs` lists them all,\n\
         with their output file, and they are stopped on exit.",
    ),
    (
        "iperf",
        "iperf [H1 H2 [SECS]]   TCP from H1 to H2 (default: first and last\n\
         host, 5 s). Uses iperf3 when installed, else a built-in sender and\n\
         receiver (NLAB_IPERF=builtin forces it); the line after the\n\
         results says which measured.\n\
         Results: [rate received by H2, rate sent by H1], as Mininet.",
    ),
    (
        "py",
        "py EXPR / px STMT   Mininet's: Python with `net` and every node\n\
         (h1, s1, ...) bound to Mininet objects of nlab's Python package;\n\
         px's names last (`px x = 5` then `py x`). In a console a script's\n\
         CLI(net) opened, they are that script's objects; otherwise a helper\n\
         ($NLAB_PYTHON -m nlab.console_py, default python3) attaches to the\n\
         lab on first use. Objects' h1.cmd() runs in shells of their own.",
    ),
    (
        "link",
        "link A B up|down   sets both ends of every link between A and B\n\
         administratively up or down (`link s1 h1 down`).",
    ),
];

/// `help` without a topic: one line per command, within 80 columns.
fn help_text() -> String {
    let mut s = String::from("Commands (Mininet's; `help CMD` for more):\n");
    for (_, usage, h) in COMMANDS {
        s.push_str(&format!("  {usage:<22}{h}\n"));
    }
    s.push_str(
        "  NODE CMD [&]          run CMD in NODE (`help node`)\n\n\
         Node names in CMD become addresses: `h1 ping -c1 h2`.\n",
    );
    s
}

impl Console {
    /// Runs one console line; `Ok(false)` when the command failed.
    pub fn execute(&mut self, input: &str) -> anyhow::Result<bool> {
        if line::is_blank(input) {
            return Ok(true);
        }
        let (cmd, rest) = line::first_word(input);
        match cmd {
            "help" | "?" => self.help(rest),
            "nodes" => self.print(format::nodes(&self.view(false))),
            "net" => self.print(format::net(&self.view(false))),
            "links" => self.print(format::links(&self.view(true))),
            "intfs" => self.print(format::intfs(&self.view(false))),
            "dump" => self.dump(),
            "ports" => self.print(format::ports(&self.view(false))),
            "pingall" => self.pingall(rest, false, false),
            "pingall6" => self.pingall(rest, true, false),
            "pingallfull" => self.pingall(rest, false, true),
            "pingpair" => self.pingpair(false),
            "pingpairfull" => self.pingpair(true),
            "iperf" => self.iperf(rest),
            "link" => self.link(rest),
            "jobs" => self.jobs(),
            "wait" => self.wait_jobs(),
            "iperfudp" => self.iperfudp(rest),
            "noecho" => self.noecho(rest),
            "py" | "px" => self.python.run(self.lab.name(), cmd, rest),
            "sh" => self.shell_line(None, rest),
            "source" => self.source(rest),
            "time" => {
                let start = Instant::now();
                let ok = self.execute(rest)?;
                self.print(format!(
                    "*** Elapsed time: {:0.6} secs\n",
                    start.elapsed().as_secs_f64()
                ))?;
                Ok(ok)
            }
            "exit" | "quit" | "EOF" => {
                self.quit = true;
                Ok(true)
            }
            _ if self.lab.topology().nodes.contains_key(cmd) => {
                if rest.is_empty() {
                    bail!("*** Please enter a command for node: {cmd} <cmd>");
                }
                let (body, background) = line::strip_background(rest);
                let body = line::substitute(body, &self.addrs);
                if background {
                    let node = cmd.to_string();
                    self.background(&node, &body)
                } else {
                    let node = cmd.to_string();
                    self.shell_line(Some(&node), &body)
                }
            }
            _ => {
                if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == cmd) {
                    bail!("*** `{cmd}` is not supported in nlab: {why}");
                }
                let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.0).collect();
                names.extend(self.lab.topology().nodes.keys().map(|s| s.as_str()));
                let hint = crate::topo::suggest::did_you_mean(cmd, names.iter().copied())
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                bail!("*** Unknown command: {input}{hint}; `help` lists commands")
            }
        }
    }

    pub(super) fn print(&self, s: String) -> anyhow::Result<bool> {
        let mut out = std::io::stdout().lock();
        out.write_all(s.as_bytes())?;
        out.flush()?;
        Ok(true)
    }

    /// The listing model; reads the kernel only for commands that show state.
    pub(super) fn view(&self, kernel: bool) -> NetView {
        let k = if kernel {
            self.lab.inspect().ok()
        } else {
            None
        };
        NetView::new(self.lab.topology(), k.as_ref())
    }

    fn help(&self, rest: &str) -> anyhow::Result<bool> {
        let topic = rest.trim();
        if !topic.is_empty() {
            if let Some((_, d)) = DETAILS.iter().find(|(n, _)| *n == topic) {
                return self.print(format!("{d}\n"));
            }
            if let Some((_, usage, h)) = COMMANDS.iter().find(|c| c.0 == topic) {
                return self.print(format!("{usage}   {h}\n"));
            }
            bail!("*** No help on `{topic}`");
        }
        self.print(help_text())
    }

    fn hosts(&self, v6: bool) -> Vec<PingHost> {
        ping::hosts_of(self.lab.topology(), v6)
    }

    fn pingall(&self, rest: &str, v6: bool, full: bool) -> anyhow::Result<bool> {
        let timeout = match rest.trim() {
            "" => 2.0,
            t => t
                .parse::<f64>()
                .map_err(|_| anyhow!("*** pingall: `{t}` is not a timeout in seconds"))?,
        };
        let hosts = self.hosts(v6);
        if hosts.is_empty() {
            bail!(
                "*** No host has an {} address",
                if v6 { "IPv6" } else { "IPv4" }
            );
        }
        self.ping_report(&hosts, &ping::all_pairs(hosts.len()), timeout, full)
    }

    fn pingpair(&self, full: bool) -> anyhow::Result<bool> {
        let mut hosts = self.hosts(false);
        if hosts.len() < 2 {
            bail!("*** pingpair needs two hosts with IPv4 addresses");
        }
        hosts.truncate(2);
        self.ping_report(&hosts, &[(0, 1), (1, 0)], 2.0, full)
    }

    fn ping_report(
        &self,
        hosts: &[PingHost],
        pairs: &[(usize, usize)],
        timeout: f64,
        full: bool,
    ) -> anyhow::Result<bool> {
        let opts = PingOpts {
            timeout: Duration::from_secs_f64(timeout.max(0.01)),
            ..PingOpts::default()
        };
        // VMs are destinations only: their guest holds the address.
        let skip = ping::not_sources(self.lab.topology(), hosts);
        let pairs = ping::without_sources(pairs, &skip);
        let results = ping::ping_pairs(hosts, &pairs, &opts, &|_, _| {})?;
        let report = ping::report_skipping(hosts, &results, &skip);
        let sum = ping::Summary::of(&results);
        if full {
            // Mininet's pingAllFull: the reachability lines, then one line
            // per pair. nlab sends until the first reply, so min = avg = max.
            let mut s: String = report
                .lines()
                .filter(|l| !l.starts_with("*** Results"))
                .map(|l| format!("{l}\n"))
                .collect();
            s.push_str("*** Results: \n");
            for r in &results {
                let ms = r.rtt.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0);
                s.push_str(&format!(
                    " {}->{}: {}/{}, rtt min/avg/max/mdev {ms:0.3}/{ms:0.3}/{ms:0.3}/0.000 ms\n",
                    hosts[r.src].name,
                    hosts[r.dst].name,
                    r.sent,
                    u32::from(r.ok())
                ));
            }
            self.print(s)?;
        } else {
            self.print(report)?;
        }
        Ok(sum.received == sum.pairs)
    }

    fn iperf(&self, rest: &str) -> anyhow::Result<bool> {
        let args: Vec<&str> = rest.split_whitespace().collect();
        let hosts: Vec<String> = self
            .lab
            .topology()
            .hosts()
            .iter()
            .map(|n| n.name.clone())
            .collect();
        let (a, b, secs) = match args.as_slice() {
            [] if hosts.len() >= 2 => (hosts[0].clone(), hosts[hosts.len() - 1].clone(), 5),
            [] => bail!("*** iperf needs two hosts"),
            [a, b] => (a.to_string(), b.to_string(), 5),
            [a, b, s] => (
                a.to_string(),
                b.to_string(),
                s.parse::<u64>()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| anyhow!("*** iperf: `{s}` is not a number of seconds"))?,
            ),
            _ => bail!("invalid number of args: iperf src dst [seconds]"),
        };
        for n in [&a, &b] {
            if !self.lab.topology().nodes.contains_key(n.as_str()) {
                bail!("node '{n}' not in network");
            }
        }
        self.print(format!(
            "*** Iperf: testing TCP bandwidth between {a} and {b} \n"
        ))?;
        let m = iperf::measure(&self.lab, &a, &b, secs)?;
        self.print(format!(
            "*** Results: ['{}', '{}']\n*** (measured by {}, {secs} s)\n",
            iperf::rate(m.server_bps),
            iperf::rate(m.client_bps),
            m.tool
        ))
    }

    fn link(&mut self, rest: &str) -> anyhow::Result<bool> {
        let args: Vec<&str> = rest.split_whitespace().collect();
        let [a, b, state] = args.as_slice() else {
            bail!("invalid number of args: link end1 end2 [up down]");
        };
        let up = match *state {
            "up" => true,
            "down" => false,
            _ => bail!("invalid type: link end1 end2 [up down]"),
        };
        let changed = self.lab.set_link_up(a, b, up)?;
        self.print(format!("*** {} {}\n", changed.join(" "), state))
    }

    fn jobs(&mut self) -> anyhow::Result<bool> {
        self.jobs.reap(&self.lab, &mut self.shells);
        let s: String = self
            .jobs
            .list()
            .iter()
            .map(|j| format!("{}\n", jobs::job_line(j)))
            .collect();
        if s.is_empty() {
            return self.print("No background jobs.\n".into());
        }
        self.print(s)
    }

    /// Runs a shell line in a node's own shell (kept between commands),
    /// or on the host in a fresh one, in the foreground.
    fn shell_line(&mut self, node: Option<&str>, body: &str) -> anyhow::Result<bool> {
        if body.trim().is_empty() {
            bail!("usage: sh CMD");
        }
        if let Some(n) = node {
            return self.node_line(n, body);
        }
        let cmd = jobs::shell_command(&self.lab, node, body)?;
        let status = jobs::run_foreground(cmd, self.interactive)?;
        // A script stops at Ctrl-C (its loop reads the flag); a person at
        // the prompt just gets the prompt back.
        let interrupted = if self.interactive {
            jobs::take_interrupt()
        } else {
            jobs::interrupted()
        };
        match jobs::describe_failure(&status) {
            None => Ok(true),
            // Ctrl-C on a running command is how one stops `ping`: not a
            // failure worth a message.
            Some(_) if interrupted && self.interactive => {
                self.print("\n".into())?;
                Ok(true)
            }
            Some(why) => {
                eprintln!("*** {} ({why})", node.unwrap_or("sh"));
                Ok(false)
            }
        }
    }

    fn source(&mut self, rest: &str) -> anyhow::Result<bool> {
        let path = rest.trim();
        if path.is_empty() || path.contains(char::is_whitespace) {
            bail!("usage: source <file>");
        }
        if self.depth >= MAX_SOURCE_DEPTH {
            bail!("*** source: files nested {MAX_SOURCE_DEPTH} deep; does {path} source itself?");
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow!("error reading file {path}: {e}"))?;
        self.depth += 1;
        let mut ok = true;
        for l in text.lines() {
            if self.quit {
                break;
            }
            ok &= self.run_line(l);
        }
        self.depth -= 1;
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_fits_80_columns_and_names_every_command() {
        let h = help_text();
        for l in h.lines().chain(DETAILS.iter().flat_map(|d| d.1.lines())) {
            assert!(l.chars().count() <= 80, "too wide: {l:?}");
        }
        for (name, _, _) in COMMANDS {
            assert!(h.contains(&format!("  {name}")), "help lacks {name}");
        }
        // Mininet's commands are all either here or explained away.
        for m in [
            "nodes",
            "net",
            "links",
            "intfs",
            "dump",
            "ports",
            "pingall",
            "pingpair",
            "pingallfull",
            "pingpairfull",
            "iperf",
            "link",
            "sh",
            "source",
            "time",
            "exit",
            "quit",
            "py",
            "px",
            "xterm",
            "dpctl",
            "switch",
            "iperfudp",
            "noecho",
        ] {
            assert!(
                COMMANDS.iter().any(|c| c.0 == m) || UNSUPPORTED.iter().any(|u| u.0 == m),
                "{m}"
            );
        }
    }
}
