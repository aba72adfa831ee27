//! `nlab link set|show|reset|presets` and `nlab features`.

use super::output::{print_json, table, BadInput};
use crate::kernel::features;
use crate::lab::link_conditions::backend_for;
use crate::lab::live::LinkStatus;
use crate::lab::Lab;
use crate::topo::conditions::{presets, spec, units, Backend, Directed, Impairment, StepAction};
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum LinkCommand {
    /// Change a link's conditions live (qdiscs replaced in place, so open
    /// connections survive).
    ///
    /// An endpoint names its link. Only the keys given change; the rest of
    /// the link's conditions stay. A value of `none` removes that key.
    /// `--direction out` is what the endpoint sends, `in` what it receives,
    /// `both` (the default) both. Changes are recorded with the lab; the
    /// next `nlab up FILE` puts the file's conditions back.
    #[command(after_help = "Examples:\n  \
        nlab link set demo h1:eth0 --delay 20ms --loss 1% --rate 10mbit\n  \
        nlab link set demo h1:eth0 --rate 1mbit --direction out\n  \
        nlab link set demo h1:eth0 --preset lte --loss none\n  \
        nlab link set demo h1:eth0 --mtu 1400")]
    Set(Box<SetArgs>),
    /// Every link: its state (up, or down by whose choice: user, file or
    /// schedule), its ends, conditions per direction (as recorded and as
    /// the kernel holds them), backend and schedule.
    Show {
        /// Lab name (see `nlab list`).
        lab: String,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a link's conditions (or every link's with --all).
    Reset {
        /// Lab name (see `nlab list`).
        lab: String,
        /// An end of the link (`node:iface`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        endpoint: Option<String>,
        /// Every link of the lab.
        #[arg(long)]
        all: bool,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The named presets with their numbers and where they come from.
    Presets {
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Direction {
    Both,
    Out,
    In,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// Lab name (see `nlab list`).
    pub lab: String,
    /// An end of the link, `node:iface` (see `nlab link show`).
    pub endpoint: String,
    /// One-way delay: 20ms, 500us, 1.5s.
    #[arg(long)]
    pub delay: Option<String>,
    /// Delay variation: `5ms`, `5ms normal`, `5ms 25% pareto`.
    #[arg(long)]
    pub jitter: Option<String>,
    /// Loss: `1%`, or Gilbert-Elliott `gemodel 1% 30% 100% 0%`.
    #[arg(long)]
    pub loss: Option<String>,
    /// Duplicated packets: `1%`.
    #[arg(long)]
    pub duplicate: Option<String>,
    /// Reordered packets: `25%` or `25% gap 5` (needs a delay).
    #[arg(long)]
    pub reorder: Option<String>,
    /// Corrupted packets (one bit flipped): `0.1%`.
    #[arg(long)]
    pub corrupt: Option<String>,
    /// Rate limit: 10mbit, 512kbit, 1gbit (kbps/mbps are bytes/s, as in tc).
    #[arg(long)]
    pub rate: Option<String>,
    /// Token bucket size for the rate: 32kb.
    #[arg(long)]
    pub burst: Option<String>,
    /// Queue length in packets.
    #[arg(long)]
    pub limit: Option<String>,
    /// Start from a preset (see `nlab link presets`); other flags override it.
    #[arg(long)]
    pub preset: Option<String>,
    /// MTU of both ends.
    #[arg(long)]
    pub mtu: Option<u32>,
    /// Bring both ends of the link administratively up, with the routes,
    /// gateways and IPv6 addresses of both nodes the kernel dropped while
    /// it was down. Clears a recorded `--down`.
    #[arg(long, conflicts_with = "down")]
    pub up: bool,
    /// Take both ends of the link administratively down (like `link A B
    /// down` in the console). Recorded as the lab's desired state:
    /// `link show`, `graph` and `inspect` say the link is down by your
    /// choice, and a later `nlab up FILE` keeps it down (and says so)
    /// until `--up`.
    #[arg(long)]
    pub down: bool,
    #[arg(long, value_enum, default_value = "both")]
    pub direction: Direction,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn dispatch(c: LinkCommand) -> anyhow::Result<i32> {
    match c {
        LinkCommand::Set(a) => set(*a),
        LinkCommand::Show { lab, json } => show(&lab, json),
        LinkCommand::Reset {
            lab,
            endpoint,
            all,
            json,
        } => reset(&lab, endpoint.as_deref(), all, json),
        LinkCommand::Presets { json } => list_presets(json),
    }
}

fn bad(e: units::UnitError) -> anyhow::Error {
    BadInput(format!("--{e}")).into()
}

/// Applies the flags to one direction.
fn edit(imp: &mut Impairment, a: &SetArgs) -> anyhow::Result<()> {
    if let Some(p) = &a.preset {
        spec::set(imp, "preset", p).map_err(bad)?;
    }
    let keys = [
        ("delay", &a.delay),
        ("jitter", &a.jitter),
        ("loss", &a.loss),
        ("duplicate", &a.duplicate),
        ("reorder", &a.reorder),
        ("corrupt", &a.corrupt),
        ("rate", &a.rate),
        ("burst", &a.burst),
        ("limit", &a.limit),
    ];
    for (k, v) in keys {
        match v.as_deref() {
            None => {}
            Some("none") => spec::clear(imp, k),
            Some(v) => spec::set(imp, k, v).map_err(bad)?,
        }
    }
    spec::check(imp).map_err(bad)
}

fn set(a: SetArgs) -> anyhow::Result<i32> {
    super::root::require_root()?;
    let mut lab = Lab::open(&a.lab)?;
    let (i, end) = lab.find_end(&a.endpoint)?;
    let any_condition = a.preset.is_some()
        || [
            &a.delay,
            &a.jitter,
            &a.loss,
            &a.duplicate,
            &a.reorder,
            &a.corrupt,
            &a.rate,
            &a.burst,
            &a.limit,
        ]
        .iter()
        .any(|v| v.is_some());
    if !any_condition && a.mtu.is_none() && !a.up && !a.down {
        return Err(BadInput(
            "nothing to set: give a condition (--delay 20ms, --rate 10mbit, …), --preset, --mtu, --up or --down"
                .into(),
        )
        .into());
    }
    let mut backend = None;
    if any_condition {
        let mut c = lab.links()[i].conditions.clone();
        // `out` is what this end sends: a_to_b when it is endpoints[0].
        let (out, inn) = if end == 0 {
            (&mut c.a_to_b, &mut c.b_to_a)
        } else {
            (&mut c.b_to_a, &mut c.a_to_b)
        };
        if a.direction != Direction::In {
            edit(out, &a)?;
        }
        if a.direction != Direction::Out {
            edit(inn, &a)?;
        }
        backend = Some(
            lab.set_link_conditions(i, c)
                .with_context(|| format!("changing the conditions of {}", a.endpoint))?,
        );
    }
    if let Some(mtu) = a.mtu {
        if !(68..=65535).contains(&mtu) {
            return Err(BadInput(format!("--mtu {mtu} is outside 68-65535")).into());
        }
        lab.set_link_mtu(i, mtu)?;
    }
    if a.up || a.down {
        let [x, y] = &lab.links()[i].endpoints;
        let (x, y) = (x.node.clone(), y.node.clone());
        lab.set_link_up(&x, &y, a.up)?;
    }
    let l = &lab.links()[i];
    let ends = [l.endpoints[0].id(), l.endpoints[1].id()];
    if a.json {
        print_json(&json!({
            "link": l.key(),
            "ends": ends,
            "conditions": l.conditions,
            "backend": backend,
            "mtu": l.mtu,
            "up": l.up,
        }))?;
    } else {
        println!(
            "link {}: {}{}",
            l.key(),
            spec::directed_summary(&l.conditions, [&ends[0], &ends[1]]),
            backend
                .map(|b| format!(" (backend: {})", backend_name(b)))
                .unwrap_or_default()
        );
        if let Some(m) = a.mtu {
            println!("mtu {m} on both ends");
        }
        if a.up || a.down {
            println!("both ends {}", if a.up { "up" } else { "down" });
        }
    }
    Ok(0)
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::None => "none",
        Backend::Kernel => "kernel",
        Backend::Userspace => "userspace",
    }
}

/// One direction's emulator counters, short enough for the table.
fn emulator_text(d: &serde_json::Value) -> String {
    let n = |k: &str| d[k].as_u64().unwrap_or(0);
    let mut s = format!("emulator: {} in, {} out", n("rx"), n("tx"));
    for (k, what) in [
        ("lost", "lost"),
        ("queue_dropped", "queue drops"),
        ("down_dropped", "dropped while down"),
        ("duplicated", "duplicated"),
        ("corrupted", "corrupted"),
        ("reordered", "reordered"),
    ] {
        if n(k) > 0 {
            s.push_str(&format!(", {} {what}", n(k)));
        }
    }
    s
}

fn observed_text(o: &Option<crate::lab::link_conditions::Observed>) -> String {
    match o {
        None => "?".into(),
        Some(o) => match &o.conditions {
            Some(c) => format!("{}: {}", o.qdisc, spec::summary(c)),
            None => o.qdisc.clone(),
        },
    }
}

fn schedule_text(s: &LinkStatus) -> String {
    s.schedule
        .iter()
        .map(|st| {
            let what = match &st.action {
                StepAction::Up => "up".to_string(),
                StepAction::Down => "down".to_string(),
                StepAction::Set(d) => spec::directed_summary(d, [&s.ends[0], &s.ends[1]]),
            };
            format!("{}: {what}", units::fmt_time(st.at))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn show(lab: &str, json: bool) -> anyhow::Result<i32> {
    super::root::require_root()?;
    let lab = Lab::open(lab)?;
    let status = lab.link_status()?;
    if json {
        print_json(&status)?;
        return Ok(0);
    }
    let mut t = table(&[
        "LINK",
        "STATE",
        "SENT BY",
        "CONDITIONS",
        "BACKEND",
        "KERNEL / EMULATOR",
        "SCHEDULE",
    ]);
    for s in &status {
        for (dir, imp) in [(0usize, &s.conditions.a_to_b), (1, &s.conditions.b_to_a)] {
            t.add_row(vec![
                if dir == 0 {
                    s.key.clone()
                } else {
                    String::new()
                },
                if dir == 0 {
                    s.state.clone()
                } else {
                    String::new()
                },
                s.ends[dir].clone(),
                spec::summary(imp),
                if dir == 0 {
                    backend_name(s.backend).to_string()
                } else {
                    String::new()
                },
                match &s.emulator {
                    Some(v) => emulator_text(&v[["a_to_b", "b_to_a"][dir]]),
                    None if s.backend == Backend::Userspace => "emulator: no answer".into(),
                    None => observed_text(&s.observed[dir]),
                },
                if dir == 0 {
                    schedule_text(s)
                } else {
                    String::new()
                },
            ]);
        }
    }
    println!("{t}");
    for s in &status {
        for d in &s.drift {
            println!("drift: {d} (`nlab link set` or `nlab up` puts it back)");
        }
    }
    Ok(0)
}

fn reset(lab: &str, endpoint: Option<&str>, all: bool, json: bool) -> anyhow::Result<i32> {
    super::root::require_root()?;
    let mut lab = Lab::open(lab)?;
    let targets: Vec<usize> = match (endpoint, all) {
        (Some(e), _) => vec![lab.find_end(e)?.0],
        (None, _) => (0..lab.links().len()).collect(),
    };
    let mut done = Vec::new();
    for i in targets {
        let key = lab.links()[i].key();
        // Reset also clears qdiscs that drifted in by hand.
        lab.set_link_conditions(i, Directed::default())
            .with_context(|| format!("resetting {key}"))?;
        done.push(key);
    }
    if json {
        print_json(&json!({ "reset": done }))?;
    } else {
        for k in &done {
            println!("link {k}: no conditions (plain veth)");
        }
    }
    Ok(0)
}

fn list_presets(json: bool) -> anyhow::Result<i32> {
    let all = presets::all();
    if json {
        let v: Vec<_> = all
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "summary": p.summary,
                    "source": p.source,
                    "conditions": p.conditions,
                    "spelled": spec::to_pairs(&p.conditions).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                })
            })
            .collect();
        print_json(&v)?;
        return Ok(0);
    }
    let mut t = table(&["PRESET", "DELAY", "JITTER", "LOSS", "RATE", "WHAT"]);
    for p in &all {
        let pairs = spec::to_pairs(&p.conditions);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(x, _)| *x == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "-".into())
        };
        t.add_row(vec![
            p.name.to_string(),
            get("delay"),
            get("jitter"),
            get("loss"),
            get("rate"),
            p.summary.to_string(),
        ]);
    }
    println!("{t}");
    println!("Delay is one way (RTT is twice it); both directions get the same values.");
    println!(
        "Numbers are typical published figures, not measurements: `--json` has the source of each."
    );
    Ok(0)
}

/// `nlab features`.
pub fn features(json: bool) -> anyhow::Result<i32> {
    super::root::require_root()?;
    let f = features::probe()?;
    let rate = Directed::symmetric(Impairment {
        rate: Some(crate::topo::conditions::Rate {
            bits_per_sec: 1_000_000,
            burst_bytes: None,
        }),
        ..Impairment::default()
    });
    let delay = Directed::symmetric(Impairment {
        delay: std::time::Duration::from_millis(1),
        ..Impairment::default()
    });
    let describe = |c: &Directed| {
        let b = backend_for(c, &f);
        match b {
            Backend::Kernel if c.needs_netem() => "kernel (netem)".to_string(),
            Backend::Kernel => "kernel (tbf)".to_string(),
            Backend::Userspace => {
                "userspace (the built-in emulator, in the lab's supervisor)".to_string()
            }
            b => backend_name(b).to_string(),
        }
    };
    let (rate_b, other_b) = (describe(&rate), describe(&delay));
    if json {
        print_json(&json!({
            "probes": f.probes,
            "netem": f.netem,
            "tbf": f.tbf,
            "htb": f.htb,
            "ingress": f.ingress,
            "backends": {
                "rate_and_limit": backend_name(backend_for(&rate, &f)),
                "delay_loss_and_the_rest": backend_name(backend_for(&delay, &f)),
            },
            "cgroups": super::limits::cgroup_json(),
        }))?;
        return Ok(0);
    }
    let mut t = table(&["QDISC", "PRESENT", "KERNEL SAID"]);
    for p in &f.probes {
        t.add_row(vec![
            p.name.to_string(),
            if p.present { "yes" } else { "no" }.to_string(),
            p.error.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    println!("rate, limit:                       {rate_b}");
    println!("delay, jitter, loss, duplicate,");
    println!("reorder, corrupt:                  {other_b}");
    for (k, v) in super::limits::cgroup_lines() {
        println!("{:<35}{v}", format!("{k}:"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> SetArgs {
        let mut argv = vec!["nlab", "link", "set", "lab", "h1:eth0"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Link(LinkCommand::Set(a)) => *a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_edit_one_direction_preset_first_none_clears() {
        let a = args(&["--preset", "lte", "--loss", "none", "--rate", "5mbit"]);
        assert_eq!(a.direction, Direction::Both);
        let mut imp = Impairment::default();
        edit(&mut imp, &a).unwrap();
        let lte = presets::get("lte").unwrap().conditions;
        assert_eq!(imp.delay, lte.delay, "from the preset");
        assert_eq!(imp.loss, None, "`none` removed the preset's loss");
        assert_eq!(
            imp.rate.unwrap().bits_per_sec,
            5_000_000,
            "flags override the preset"
        );
        let bad = args(&["--delay", "20"]);
        let e = edit(&mut Impairment::default(), &bad)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--delay `20` needs a unit (20ms?)");
        assert_eq!(
            args(&["--rate", "1mbit", "--direction", "out"]).direction,
            Direction::Out
        );
    }
}
