//! `nlab capture`: record packets on lab interfaces as pcapng, or print a
//! line per packet.

use super::output::{print_json, BadInput};
use super::root::require_root;
use crate::lab::Lab;
use crate::services::capture::{
    self, filter,
    sinks::{LineSink, PcapngSink},
    Capture, IfCount, Limits, Sink, Target,
};
use anyhow::Context;
use clap::Args;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    nlab capture demo h1:h1-eth0                       a line per packet, Ctrl-C to stop\n  \
    nlab capture demo h1:h1-eth0 -w h1.pcapng -c 100   100 packets into a file\n  \
    nlab capture demo h1:h1-eth0 s1:s1-eth1 -w two.pcapng --duration 10\n  \
    nlab capture demo h1:h1-eth0 --filter 'icmp or arp'\n  \
    nlab capture demo h1:h1-eth0 -w - | tcpdump -nr -\n  \
    nlab capture demo h1:h1-eth0 -w - | wireshark -k -i -\n  \
    nlab capture demo --list                           what the lab records on its own\n\n\
    The file is pcapng with one interface per NODE:IFACE, named like `h1:h1-eth0`\n\
    (Wireshark's frame.interface_name), each packet marked inbound or outbound.\n\
    Filters are tcpdump's language, compiled by `tcpdump -dd` (tcpdump must be\n\
    installed to use --filter) and run in the kernel: filtered packets never\n\
    reach nlab. At the end, packets captured, received by the filter and dropped\n\
    by the kernel (ring full) are counted per interface on stderr.\n\n\
    To record a link for the lab's whole life, write `capture: true` on it in the\n\
    topology file (or `capture: {max_size: 16mb, files: 4, both_ends: false}`, the\n\
    defaults) and run `nlab up FILE`: the lab's supervisor writes rotating pcapng\n\
    files under /run/nlab/LAB/capture/, which `--list` shows and `nlab down` removes.")]
pub struct CaptureArgs {
    /// Lab name (see `nlab list`).
    pub lab: String,
    /// Interfaces to capture on, as NODE:IFACE (`h1:h1-eth0`; see
    /// `nlab inspect LAB` for the names).
    #[arg(value_name = "NODE:IFACE", required_unless_present = "list")]
    pub targets: Vec<String>,
    /// Show the links the lab records on its own (`capture: true` on a
    /// link in the topology file): interfaces, files, size, packets,
    /// drops, since when (as JSON with `--json`).
    #[arg(long, conflicts_with_all = ["targets", "write", "filter", "count", "duration"])]
    pub list: bool,
    /// Write pcapng to FILE (`-` for stdout, flushed as packets come, for
    /// a pipe into `tcpdump -r -` or `wireshark -k -i -`). Without -w: one
    /// line per packet on stdout.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Keep only packets matching this tcpdump filter expression
    /// (`icmp`, `udp port 53`, `not arp`).
    #[arg(short = 'f', long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Stop after COUNT packets (over all interfaces).
    #[arg(short = 'c', long, value_name = "COUNT")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// Kernel ring per interface in KiB; more drops less.
    #[arg(short = 'B', long, value_name = "KIB", default_value_t = (capture::DEFAULT_RING_BYTES / 1024) as u64)]
    pub buffer: u64,
    /// Also print the counts as JSON on stdout (with `-w FILE` or
    /// `--list` only).
    #[arg(long)]
    pub json: bool,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 31_536_000.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("`{s}` is not a number of seconds above 0")),
    }
}

fn targets_of(lab: &Lab, specs: &[String]) -> anyhow::Result<Vec<Target>> {
    specs
        .iter()
        .map(|s| {
            let (node, iface) = s
                .split_once(':')
                .filter(|(n, i)| !n.is_empty() && !i.is_empty())
                .ok_or_else(|| {
                    BadInput(format!(
                    "`{s}` is not NODE:IFACE: name the node and its interface, like h1:h1-eth0 \
                     (see `nlab inspect {}`)",
                    lab.name()
                ))
                })?;
            let ns = lab.namespace(node)?;
            Ok(Target {
                node: node.to_string(),
                iface: iface.to_string(),
                ns,
            })
        })
        .collect()
}

fn check_args(a: &CaptureArgs) -> anyhow::Result<()> {
    let stream = a.write.as_deref() == Some(std::path::Path::new("-"));
    if a.json && (stream || a.write.is_none()) {
        return Err(BadInput(
            "--json prints the counts on stdout, which already carries the packets here: \
             give -w FILE, or leave out --json (the counts go to stderr anyway)"
                .into(),
        )
        .into());
    }
    if stream && std::io::stdout().is_terminal() {
        return Err(BadInput(
            "-w - writes binary pcapng to stdout, which is a terminal: pipe it \
             (`| tcpdump -nr -`) or give -w FILE"
                .into(),
        )
        .into());
    }
    if a.buffer < 512 {
        return Err(BadInput(format!(
            "--buffer {} KiB is too small: give 512 or more",
            a.buffer
        ))
        .into());
    }
    Ok(())
}

pub fn capture(a: CaptureArgs) -> anyhow::Result<i32> {
    require_root()?;
    if a.list {
        return super::capture_list::list(&a.lab, a.json);
    }
    check_args(&a)?;
    let lab = Lab::open(&a.lab)?;
    let targets = targets_of(&lab, &a.targets)?;
    let prog = match &a.filter {
        Some(expr) => Some(filter::compile(expr, capture::SNAPLEN).map_err(bad_input)?),
        None => None,
    };
    let cap =
        Capture::open(&targets, prog.as_deref(), (a.buffer * 1024) as usize).map_err(bad_input)?;
    let labels: Vec<String> = targets.iter().map(Target::label).collect();
    let limits = Limits {
        count: a.count,
        duration: a.duration,
    };
    crate::kernel::signals::catch_stop_signals().context("installing signal handlers")?;
    let stop = crate::kernel::signals::sigint_seen;
    let filter_note = a
        .filter
        .as_ref()
        .map(|f| format!(" (filter `{f}`)"))
        .unwrap_or_default();
    let counts = match a.write.as_deref() {
        None => {
            eprintln!(
                "capturing on {}{filter_note}; Ctrl-C to stop",
                labels.join(", ")
            );
            let mut sink = LineSink::new(std::io::stdout().lock(), &targets);
            cap.run(&mut sink, &limits, &stop)?
        }
        Some(p) if p == std::path::Path::new("-") => {
            eprintln!("capturing on {}{filter_note} to stdout", labels.join(", "));
            let mut sink = PcapngSink::new(std::io::stdout().lock(), &targets, lab.name())?;
            sink.flush_each_batch = true;
            run_sink(cap, &mut sink, &limits, &stop)?
        }
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating capture file {}", path.display()))?;
            eprintln!(
                "capturing on {}{filter_note} to {}; Ctrl-C to stop",
                labels.join(", "),
                path.display()
            );
            let out = std::io::BufWriter::with_capacity(1 << 20, file);
            let mut sink = PcapngSink::new(out, &targets, lab.name())?;
            run_sink(cap, &mut sink, &limits, &stop)?
        }
    };
    report(&counts);
    if a.json {
        print_json(&serde_json::json!({
            "lab": lab.name(),
            "file": a.write,
            "filter": a.filter,
            "interfaces": counts,
        }))?;
    }
    Ok(0)
}

fn run_sink<S: Sink>(
    cap: Capture,
    sink: &mut S,
    limits: &Limits,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Vec<IfCount>> {
    Ok(cap.run(sink, limits, stop)?)
}

/// Unknown interfaces and bad filters are the user's input (exit 2).
fn bad_input(e: capture::Error) -> anyhow::Error {
    match e {
        capture::Error::BadFilter { .. } | capture::Error::NoSuchInterface { .. } => {
            BadInput(e.to_string()).into()
        }
        e => e.into(),
    }
}

/// tcpdump's closing counts, per interface, on stderr.
fn report(counts: &[IfCount]) {
    let mut err = std::io::stderr().lock();
    for c in counts {
        let _ = writeln!(
            err,
            "{}: {} packets captured, {} received by filter, {} dropped by kernel",
            c.interface, c.captured, c.received, c.dropped
        );
    }
}
