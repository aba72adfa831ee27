//! `up`, `down`, `cleanup` and `cli`.

use super::output::{print_json, secs, table, BadInput};
use super::root::require_root;
use super::UpArgs;
use crate::lab::{self, Lab, UpOptions, UpReport};
use crate::topo::{self, Topology, ValidTopology};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// Labs larger than this get a progress bar on a terminal.
const PROGRESS_MIN_NODES: usize = 200;
/// Rows of the node table printed before "… and N more".
const TABLE_ROWS: usize = 20;

/// Loads the topology named by `up`'s arguments (file or generator).
/// `--name` wins over a file's `name:`; `--link` and `--mac` apply to a
/// file as defaults under what it says (links without conditions,
/// interfaces of hosts and routers without a MAC).
///
/// The loaders validate once; only a topology `--link` or `--mac` changed
/// is validated again, and `up` takes the result as it is.
pub fn load_topology(a: &UpArgs) -> anyhow::Result<ValidTopology> {
    if let Some(n) = &a.name {
        lab::check_lab_name(n).map_err(|e| BadInput(format!("--name: {e}")))?;
    }
    let host_cpu = match &a.host {
        Some(spec) => topo::limits::parse_mininet_host(spec).map_err(BadInput)?,
        None => None,
    };
    let link = match &a.link {
        Some(spec) => {
            topo::conditions::mininet::parse_link(spec).map_err(|e| BadInput(e.to_string()))?
        }
        None => None,
    };
    match (from_file(a)?, &a.topo) {
        (Some(v), _) => {
            let images = a.images == "namespace" && super::images::images_as_namespaces(&v);
            if link.is_none() && !a.mac && host_cpu.is_none() && !images {
                return Ok(v);
            }
            let mut t = v.into_inner();
            let mut changed = images && super::images::drop_missing_images(&mut t) > 0;
            changed |= link
                .as_ref()
                .is_some_and(|imp| topo::file::default_conditions(&mut t, imp) > 0);
            changed |= host_cpu.is_some_and(|c| limit_hosts(&mut t, c) > 0);
            if a.mac {
                changed |= topo::file::sequential_macs(&mut t) > 0;
            }
            if changed {
                Ok(ValidTopology::new(t)?)
            } else {
                Ok(ValidTopology::checked(t))
            }
        }
        (None, Some(spec)) => {
            let name = a
                .name
                .clone()
                .unwrap_or_else(|| topo::generate::default_lab_name(spec));
            let v = topo::generate::valid_from_spec(spec, &name, a.mac)?;
            if link.is_none() && host_cpu.is_none() && !a.nat && a.ipbase.is_none() {
                return Ok(v);
            }
            let mut t = v.into_inner();
            if a.nat {
                topo::generate::add_nat(&mut t)?;
            }
            if let Some(net) = &a.ipbase {
                super::mn_flags::ipbase(&mut t, net)?;
            }
            if let Some(imp) = link {
                for l in &mut t.links {
                    l.conditions = topo::conditions::Directed::symmetric(imp.clone());
                }
            }
            if let Some(c) = host_cpu {
                limit_hosts(&mut t, c);
            }
            Ok(ValidTopology::new(t)?)
        }
        (None, None) => Err(BadInput("give a topology file or --topo SPEC".into()).into()),
    }
}

/// The topology of a file (nlab's or containerlab's, whose notes are
/// shown) or of `--custom FILE.py --topo NAME`; `None` for a plain
/// `--topo SPEC`.
fn from_file(a: &UpArgs) -> anyhow::Result<Option<ValidTopology>> {
    Ok(match (&a.file, &a.custom, &a.topo) {
        (Some(f), _, _) => {
            let opts = topo::file::ClabOptions { no_mgmt: a.no_mgmt };
            let v = topo::file::load_valid_with(f, a.name.as_deref(), opts)?;
            for n in &v.notes {
                eprintln!("note: {n}");
            }
            Some(v)
        }
        (None, Some(c), Some(spec)) => Some(super::custom::load(c, spec, a.name.as_deref())?),
        _ => None,
    })
}

/// `--host cfs|rt,cpu=F`: the CPU limit for every host without its own.
fn limit_hosts(t: &mut Topology, cpu: topo::limits::Cpu) -> usize {
    let mut n = 0;
    for node in t.nodes.values_mut() {
        if node.kind == topo::NodeKind::Host && node.run.cpu.is_none() {
            node.run.cpu = Some(cpu);
            n += 1;
        }
    }
    n
}

/// What `up` builds from, as the journal records it: the file's absolute
/// path (the same file from another directory is the same source) or the
/// generator. A generator's parameters are like a file's content: `single,3`
/// over `single,2` grows the lab, `tree,2,2` over it would replace it.
fn origin_of(a: &UpArgs) -> Option<String> {
    match (&a.file, &a.topo) {
        (Some(f), _) => {
            let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            Some(format!("file:{}", abs.display()))
        }
        (None, Some(spec)) if a.custom.is_some() => {
            super::custom::origin(a.custom.as_deref(), spec)
        }
        (None, Some(spec)) => {
            let kind = spec.split(',').next().unwrap_or("").trim();
            Some(format!("topo:{}", kind.to_ascii_lowercase()))
        }
        (None, None) => None,
    }
}

/// A progress bar that follows the engine's phases, on a terminal only.
struct Bar {
    bar: Option<ProgressBar>,
    phase: Mutex<String>,
    /// Waits worth a line on a terminal whatever the lab's size (spanning
    /// tree takes seconds even for a 3x3 torus).
    waits: Option<ProgressBar>,
}

impl Bar {
    fn new(nodes: usize, json: bool) -> Bar {
        let show = !json && nodes >= PROGRESS_MIN_NODES && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let b = ProgressBar::new(nodes as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        let waits = (!json && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::hidden();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                b.set_style(style);
            }
            b
        });
        Bar {
            bar,
            phase: Mutex::new(String::new()),
            waits,
        }
    }
    fn update(&self, phase: &str, done: usize, total: usize) {
        if phase == "spanning tree" && self.bar.is_none() {
            if let Some(w) = &self.waits {
                if w.is_hidden() {
                    w.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    w.enable_steady_tick(std::time::Duration::from_millis(120));
                }
                w.set_message(format!("spanning tree: {done}/{total} bridge ports ready"));
            }
            return;
        }
        let Some(b) = &self.bar else { return };
        if let Ok(mut p) = self.phase.lock() {
            if *p != phase {
                *p = phase.to_string();
                b.set_message(phase.to_string());
                b.set_length(total as u64);
                b.reset();
            }
        }
        b.set_position(done as u64);
    }
    fn finish(&self) {
        for b in [&self.bar, &self.waits].into_iter().flatten() {
            b.finish_and_clear();
        }
    }
}

/// Held while `up --cli --rm` removes its lab, so the process does not
/// exit halfway through a removal the other path started.
static REMOVING: Mutex<()> = Mutex::new(());

/// `up --cli --rm`: SIGTERM or SIGHUP (the terminal closed) removes the
/// lab too, then exits 128+signal like a shell. Installed before the lab
/// exists: a signal during `up` waits for its lock, then removes what it
/// made.
fn remove_on_termination(lab: &str) -> anyhow::Result<()> {
    let term = crate::kernel::signals::catch_termination()?;
    // Line editing puts the terminal in raw mode; leave it as it was.
    let tty = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    let lab = lab.to_string();
    std::thread::spawn(move || {
        let Some(sig) = term.wait() else { return };
        let _g = REMOVING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = &tty {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
        println!("*** Signal {sig}: removing lab {lab}");
        let code = match lab::teardown::down(&lab) {
            Ok(_) => 128 + sig,
            Err(e) => {
                super::output::print_error(&anyhow::Error::new(e));
                1
            }
        };
        std::process::exit(code);
    });
    Ok(())
}

pub fn up(a: UpArgs) -> anyhow::Result<i32> {
    let t = load_topology(&a)?;
    if !a.dry_run {
        require_root()?;
    }
    if a.cli && a.rm {
        remove_on_termination(&t.name)?;
    }
    let bar = Bar::new(t.nodes.len(), a.json);
    let cb = |p: &str, d: usize, n: usize| bar.update(p, d, n);
    let origin = origin_of(&a);
    let opts = UpOptions {
        dry_run: a.dry_run,
        progress: Some(&cb),
        seed: a.seed,
        no_wait: a.no_wait,
        origin: origin.as_deref(),
        replace: a.replace,
        ephemeral: false,
    };
    let result = Lab::up_valid(&t, &opts);
    bar.finish();
    let (lab, report) = result.with_context(|| format!("bringing up lab {}", t.name))?;
    if a.json {
        print_json(&up_json(&t, &report)?)?;
    } else if a.dry_run {
        print_plan(&t, &report);
    } else {
        print_up(&t, &report);
    }
    if a.arp && !a.dry_run {
        super::mn_flags::arp(&lab, a.json)?;
    }
    if let Some(test) = &a.test {
        return super::mn_flags::test(lab, test, a.json);
    }
    if a.cli {
        let console = super::console::run(lab, super::console::Input::Stdin);
        if a.rm {
            let _g = REMOVING.lock().unwrap_or_else(|e| e.into_inner());
            println!("*** Removing lab {}", t.name);
            down(&t.name, false)?;
        }
        return console;
    }
    Ok(0)
}

/// `up --json`: the report, with `nodes` a list of `{name, kind}` like
/// `inspect --json` and `graph --format json` give it, and the count as
/// `node_count`.
fn up_json(t: &Topology, r: &UpReport) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(r)?;
    let mut nodes: Vec<&topo::Node> = t.nodes.values().collect();
    nodes.sort_by(|a, b| topo::natural_cmp(&a.name, &b.name));
    let list: Vec<serde_json::Value> = nodes
        .iter()
        .map(|n| {
            let kind = if n.vm.is_some() {
                "vm".to_string()
            } else {
                n.kind.to_string()
            };
            serde_json::json!({ "name": n.name, "kind": kind })
        })
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("node_count".into(), r.nodes.into());
        o.insert("nodes".into(), list.into());
    }
    Ok(v)
}

/// `nlab cli LAB [-c CMDS]`.
pub fn cli(name: &str, commands: Option<String>) -> anyhow::Result<i32> {
    require_root()?;
    let lab = Lab::open(name)?;
    let input = match commands {
        Some(c) => super::console::Input::Commands(c),
        None => super::console::Input::Stdin,
    };
    super::console::run(lab, input)
}

fn print_plan(t: &Topology, r: &UpReport) {
    let p = &r.plan;
    println!(
        "Plan for lab {} ({} change{}; nothing applied):",
        t.name,
        r.changes,
        if r.changes == 1 { "" } else { "s" }
    );
    for d in &r.drift {
        println!("  ! {d}");
    }
    for n in &p.delete_nodes {
        println!("  - node {n}");
    }
    for l in &p.delete_links {
        println!("  - link {l}");
    }
    for n in &p.create_nodes {
        let kind = t.nodes.get(n).map(|n| n.kind.as_str()).unwrap_or("?");
        println!("  + node {n} ({kind})");
    }
    for l in &p.create_links {
        println!("  + link {l}");
    }
    for l in &p.condition_links {
        println!("  ~ conditions of link {l}");
    }
    if p.route_repairs > 0 {
        println!(
            "  ~ {} missing route(s) or gateway(s) re-added in place",
            p.route_repairs
        );
    }
    if p.is_empty() {
        println!("  (nothing to do: the lab matches the topology)");
    }
}

pub fn print_up(t: &Topology, r: &UpReport) {
    for d in &r.drift {
        println!("repaired: {d}");
    }
    for k in &r.kept_down {
        println!(
            "kept down: link {k} (set down with `nlab link set`; `nlab link set {} {} --up` brings it up)",
            t.name,
            k.split("--").next().unwrap_or(k)
        );
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if r.changes == 0 {
        println!(
            "Lab {} is up to date: 0 changes ({} nodes, {} links, checked in {}).",
            t.name,
            r.nodes,
            r.links,
            secs(r.elapsed)
        );
        say_recorded(t);
        super::vms::print(&t.name, &r.vms);
        return;
    }
    let mut tab = table(&["node", "kind", "interfaces", "addresses"]);
    let mut nodes: Vec<&topo::Node> = t.nodes.values().collect();
    nodes.sort_by(|a, b| topo::natural_cmp(&a.name, &b.name));
    for n in nodes.iter().take(TABLE_ROWS) {
        let eps: Vec<&topo::Endpoint> = t.endpoints_of(&n.name).collect();
        let mut ifaces: Vec<&str> = eps.iter().map(|e| e.iface.as_str()).collect();
        ifaces.extend(
            t.host_links
                .iter()
                .filter(|h| h.node == n.name)
                .map(|h| h.iface.as_str()),
        );
        let addrs: Vec<String> = eps
            .iter()
            .flat_map(|e| {
                let dhcp = e.dhcp.then(|| "dhcp".to_string());
                dhcp.into_iter()
                    .chain(e.addrs.iter().map(|a| a.to_string()))
            })
            .collect();
        // A DHCP server is a host running nlab's server: say so.
        let kind = match (&n.attach, n.dhcp.is_some()) {
            (Some(topo::external::Attach::Image(_)), _) => "image".to_string(),
            (Some(_), _) => "external".to_string(),
            (None, true) => "dhcp".to_string(),
            (None, false) if n.vm.is_some() => "vm".to_string(),
            (None, false) => n.kind.to_string(),
        };
        tab.add_row(vec![
            n.name.clone(),
            kind,
            abbreviate(&ifaces.join(" "), 40),
            abbreviate(&addrs.join(" "), 40),
        ]);
    }
    println!("{tab}");
    if nodes.len() > TABLE_ROWS {
        println!("… and {} more nodes", nodes.len() - TABLE_ROWS);
    }
    println!(
        "Lab {} is up: {} nodes, {} links, {} changes in {}.",
        t.name,
        r.nodes,
        r.links,
        r.changes,
        secs(r.elapsed)
    );
    super::limits::print_settings(t);
    super::limits::print_exec(&r.exec);
    let emulated = t
        .links
        .iter()
        .filter(|l| crate::lab::emulated::needs_emulator(l))
        .count();
    if emulated > 0 {
        println!(
            "{emulated} link{} carried by the userspace emulator (no netem in this kernel), seed {} (repeat with --seed {}); see `nlab link show {}`.",
            if emulated == 1 { "" } else { "s" },
            r.seed,
            r.seed,
            t.name
        );
    }
    say_recorded(t);
    super::vms::print(&t.name, &r.vms);
    println!(
        "Next: nlab pingall {0} | nlab exec {0} NODE -- CMD | nlab inspect {0} | nlab down {0}",
        t.name
    );
}

/// Which links the supervisor records, and where.
fn say_recorded(t: &topo::Topology) {
    let recs = topo::capture::recordings(t);
    if recs.is_empty() {
        return;
    }
    let links: Vec<&str> = recs.iter().map(|r| r.link.as_str()).collect();
    println!(
        "Recording {} link{} ({}) into {}/; see `nlab capture {} --list`.",
        recs.len(),
        if recs.len() == 1 { "" } else { "s" },
        abbreviate(&links.join(", "), 60),
        crate::services::capture::record::files::dir(&t.name).display(),
        t.name
    );
}

fn abbreviate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

pub fn down(name: &str, json: bool) -> anyhow::Result<i32> {
    require_root()?;
    lab::check_lab_name(name)?;
    let known = lab::teardown::all_labs();
    if !known.iter().any(|l| l == name) {
        // Like every other command that names a lab: an unknown name is
        // bad input (exit 2), so a typo in a script does not pass as done.
        // Nothing of the lab is left either way.
        return Err(lab::Error::NoSuchLab(name.to_string()).into());
    }
    let start = std::time::Instant::now();
    let r = lab::teardown::down(name).with_context(|| format!("tearing down lab {name}"))?;
    if json {
        print_json(&r)?;
    } else {
        println!(
            "Lab {name} is down: removed {} namespaces{}{}{} in {}. The kernel frees their memory in the background.",
            r.namespaces,
            if r.cgroups > 0 {
                format!(", {} node cgroups", r.cgroups)
            } else {
                String::new()
            },
            if r.detached > 0 {
                format!(
                    ", detached {} (their processes, interfaces and routes left as they were)",
                    r.detached
                )
            } else {
                String::new()
            },
            if r.processes > 0 {
                format!(" and ended {} processes", r.processes)
            } else {
                String::new()
            },
            secs(start.elapsed())
        );
    }
    Ok(0)
}

pub fn cleanup(json: bool) -> anyhow::Result<i32> {
    require_root()?;
    let start = std::time::Instant::now();
    let r = lab::teardown::cleanup_all().context("cleaning up")?;
    if json {
        print_json(&r)?;
    } else if r.labs.is_empty() {
        println!("Nothing to clean up: no nlab namespaces, journals or files on this host.");
    } else {
        println!(
            "Removed {} lab{} ({}): {} namespaces, {} processes, in {}.",
            r.labs.len(),
            if r.labs.len() == 1 { "" } else { "s" },
            r.labs.join(", "),
            r.namespaces,
            r.processes,
            secs(start.elapsed())
        );
    }
    Ok(0)
}
