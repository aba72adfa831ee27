//! Two namespaces joined by the userspace link emulator, driven from stdin;
//! the harness of `bench/emulator.sh`. Run as root:
//!
//! ```text
//! cargo run --release --example emu_link -- PREFIX [SEED]
//! ```
//!
//! Creates `PREFIX-a` and `PREFIX-b` (pinned namespaces; use an `nlab-…`
//! prefix so `nlab cleanup` can find leftovers) with TAPs `a-eth0`
//! (10.9.0.1/24) and `b-eth0` (10.9.0.2/24), starts the emulator, prints
//! `ready PID`, then reads one command per line:
//! - `set JSON`: a `Directed` (the conditions contract) applied live;
//! - `stats`: prints the link's counters as one JSON line;
//! - `quit` (or end of input): stops, deletes the TAPs and namespaces.

use nlab::testing::emulator::{EmulatedLink, Running, TapEnd};
use nlab::testing::netlink::Socket;
use nlab::testing::netns::{self, NetNs};
use nlab::testing::{addr, link, tap};
use nlab::topo::conditions::Directed;
use std::io::{BufRead, Write};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn configure(ns: &str, iface: &str, ip: &str) -> Res<()> {
    let h = NetNs::open(ns)?;
    let net = ip.parse()?;
    let r: Result<(), nlab::testing::KernelError> = std::thread::scope(|s| {
        s.spawn(|| {
            h.run(|| {
                let mut sock = Socket::new()?;
                for l in link::dump(&mut sock, "reading links")? {
                    if l.name == "lo" || l.name == iface {
                        sock.request(link::set_up(l.index, true, format!("{} up", l.name)))?;
                    }
                    if l.name == iface {
                        sock.request(addr::add(l.index, &net, format!("address on {iface}")))?;
                    }
                }
                Ok(())
            })?
        })
        .join()
        .unwrap_or_else(|_| Err(nlab::testing::KernelError::protocol(ns, "thread panicked")))
    });
    Ok(r?)
}

fn build(prefix: &str) -> Res<(String, String)> {
    netns::prepare_run_dir()?;
    let mut names = Vec::new();
    for (node, ip) in [("a", "10.9.0.1/24"), ("b", "10.9.0.2/24")] {
        let ns = format!("{prefix}-{node}");
        netns::create_pinned(&ns, |_| Ok(()))?;
        let iface = format!("{node}-eth0");
        tap::create(&ns, &iface)?;
        configure(&ns, &iface, ip)?;
        names.push(ns);
    }
    Ok((names[0].clone(), names[1].clone()))
}

fn serve(run: &Running) -> Res<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let (cmd, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match cmd {
            "set" => {
                let d: Directed = serde_json::from_str(rest)?;
                run.update(&d);
                writeln!(out, "ok")?;
            }
            "stats" => writeln!(out, "{}", serde_json::to_string(&run.stats())?)?,
            "quit" => break,
            other => writeln!(out, "error: unknown command {other:?}")?,
        }
        out.flush()?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let prefix = args.next().ok_or("usage: emu_link PREFIX [SEED]")?;
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let built = build(&prefix);
    let result = built.and_then(|(a, b)| {
        let run = Running::start(&EmulatedLink {
            key: "a:eth0-b:eth0".into(),
            a: TapEnd {
                ns: a,
                iface: "a-eth0".into(),
            },
            b: TapEnd {
                ns: b,
                iface: "b-eth0".into(),
            },
            cond: Directed::default(),
            seed,
        })?;
        println!("ready {}", std::process::id());
        std::io::stdout().flush()?;
        let r = serve(&run);
        run.stop();
        r
    });
    for node in ["a", "b"] {
        let ns = format!("{prefix}-{node}");
        let _ = tap::delete(&ns, &format!("{node}-eth0"));
        netns::delete_pinned(&ns)?;
    }
    result
}
