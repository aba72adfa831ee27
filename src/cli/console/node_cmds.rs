//! Console commands around the node shells: `NODE CMD` through the
//! node's own shell, `noecho`, `wait`, `iperfudp`.

use super::shells::{self, Outcome};
use super::{iperf, jobs, line, Console};
use crate::kernel::shell_io;
use anyhow::{anyhow, bail};
use std::time::Duration;

/// Status of a command that SIGINT ended, as a shell reports it.
const STATUS_SIGINT: i32 = 128 + libc::SIGINT;

impl Console {
    /// `dump`, with each node's shell pid once it has one.
    pub(super) fn dump(&self) -> anyhow::Result<bool> {
        let mut v = self.view(true);
        let pids = self.shells.pids();
        for n in &mut v.nodes {
            n.shell_pid = pids.get(&n.name).copied();
        }
        self.print(super::format::dump(&v))
    }

    /// `NODE CMD`: runs in the node's own shell, which keeps `cd`,
    /// `export` and shell variables from one command to the next.
    pub(super) fn node_line(&mut self, node: &str, body: &str) -> anyhow::Result<bool> {
        shells::flush();
        let Outcome {
            status,
            shell_ended,
            ..
        } = self.shells.run(&self.lab, node, body)?;
        if let Some(st) = shell_ended {
            let how = jobs::describe_failure(&st).unwrap_or_else(|| "exit status 0".into());
            eprintln!(
                "*** {node}: the node's shell ended ({how}); its next command starts a new one"
            );
            return Ok(st.success());
        }
        if status == 0 {
            return Ok(true);
        }
        let interrupted = status == STATUS_SIGINT || jobs::interrupted();
        if interrupted && self.interactive {
            // Ctrl-C is how one stops `ping`: not a failure worth a message.
            jobs::take_interrupt();
            self.print("\n".into())?;
            return Ok(true);
        }
        eprintln!("*** {node} (exit status {status})");
        Ok(false)
    }

    /// `NODE CMD &`: sent to the node's own shell, as Mininet does, so
    /// the job is that shell's (`h1 jobs`, `h1 kill %1`, its variables);
    /// its output goes to a log file, and the console returns at once.
    pub(super) fn background(&mut self, node: &str, body: &str) -> anyhow::Result<bool> {
        let log = self.jobs.new_log(&self.lab, node)?;
        let line = format!("{body} &");
        let out = self.shells.run_background(&self.lab, node, &line, &log)?;
        if let Some(st) = out.shell_ended {
            let how = jobs::describe_failure(&st).unwrap_or_else(|| "exit status 0".into());
            bail!("*** {node}: the node's shell ended ({how}); its next command starts a new one");
        }
        let Some(pid) = out.started else {
            bail!(
                "*** {node}: `{body} &` started no background job (exit status {}; see {})",
                out.status,
                log.display()
            );
        };
        let j = self.jobs.add(node, body, pid, log);
        let msg = format!("[{}] {} (output: {})\n", j.id, j.pid, j.log.display());
        self.print(msg)?;
        Ok(true)
    }

    /// `noecho NODE CMD`: Mininet's way to type a password or the like
    /// into a node's command: the terminal does not echo while it runs.
    pub(super) fn noecho(&mut self, rest: &str) -> anyhow::Result<bool> {
        let (node, body) = line::first_word(rest);
        if node.is_empty() || body.is_empty() {
            bail!("usage: noecho NODE CMD");
        }
        if !self.lab.topology().nodes.contains_key(node) {
            bail!(
                "*** noecho: `{node}` is not a node of lab {}",
                self.lab.name()
            );
        }
        let body = line::substitute(body, &self.addrs);
        let _quiet = if self.interactive {
            shell_io::EchoOff::enter()
        } else {
            None
        };
        self.node_line(node, &body)
    }

    /// `wait`: until every background job (`NODE CMD &`) has ended;
    /// Ctrl-C stops waiting, not the jobs.
    pub(super) fn wait_jobs(&mut self) -> anyhow::Result<bool> {
        self.jobs.reap(&self.lab, &mut self.shells);
        let n = self.jobs.running();
        if n == 0 {
            return self.print("No background jobs to wait for.\n".into());
        }
        self.print(format!("*** Waiting for {n} background job(s)\n"))?;
        jobs::take_interrupt();
        while self.jobs.running() > 0 {
            if jobs::take_interrupt() {
                self.print("*** Stopped waiting (the jobs run on; `jobs` lists them)\n".into())?;
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(50));
            for j in self.jobs.reap(&self.lab, &mut self.shells) {
                let how = jobs::describe_failure(&j.status.unwrap_or_default())
                    .unwrap_or_else(|| "done".into());
                println!("[{}] {how}: {}: {}", j.id, j.node, j.line);
            }
        }
        Ok(true)
    }

    /// `iperfudp [BW [H1 H2]]`: Mininet's UDP test, BW in iperf's
    /// spelling (default `10M`), from the first host to the last.
    pub(super) fn iperfudp(&mut self, rest: &str) -> anyhow::Result<bool> {
        let args: Vec<&str> = rest.split_whitespace().collect();
        let hosts: Vec<String> = self
            .lab
            .topology()
            .hosts()
            .iter()
            .map(|n| n.name.clone())
            .collect();
        let (bw, a, b) = match args.as_slice() {
            [] | [_] if hosts.len() < 2 => bail!("*** iperfudp needs two hosts"),
            [] => (
                "10M".to_string(),
                hosts[0].clone(),
                hosts[hosts.len() - 1].clone(),
            ),
            [bw] => (
                bw.to_string(),
                hosts[0].clone(),
                hosts[hosts.len() - 1].clone(),
            ),
            [bw, a, b] => (bw.to_string(), a.to_string(), b.to_string()),
            _ => bail!("invalid number of args: iperfudp bw src dst\nbw examples: 10M"),
        };
        if !bw
            .trim_end_matches(['K', 'M', 'G', 'k', 'm', 'g'])
            .parse::<f64>()
            .is_ok_and(|v| v > 0.0)
        {
            bail!("*** iperfudp: `{bw}` is not a bandwidth (examples: 10M, 500K, 1G)");
        }
        for n in [&a, &b] {
            if !self.lab.topology().nodes.contains_key(n.as_str()) {
                bail!("node '{n}' not in network");
            }
        }
        self.print(format!(
            "*** Iperf: testing UDP bandwidth between {a} and {b} \n"
        ))?;
        let m = iperf::measure_udp(&self.lab, &a, &b, 5, &bw)
            .map_err(|e| anyhow!("*** iperfudp: {e:#}"))?;
        self.print(format!(
            "*** Results: ['{bw}', '{}', '{}']\n*** (measured by {}, 5 s)\n",
            iperf::rate(m.server_bps),
            iperf::rate(m.client_bps),
            m.tool
        ))
    }
}
