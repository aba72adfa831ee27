//! containerlab's verbs: `deploy -t FILE`, `destroy -t FILE | --all`,
//! `inspect --all | -t FILE`, and `exec` on several nodes at once
//! (`--all`, `--label KEY=VALUE`).

use super::output::BadInput;
use super::root::require_root;
use super::{run, show, wiring, UpArgs};
use crate::lab::{self, Lab};
use crate::topo;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The topology file (`*.clab.yml`, or nlab's own).
    #[arg(short = 't', long = "topo", value_name = "FILE")]
    pub file: PathBuf,
    /// Lab name instead of the file's `name:`.
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the lab first if it is there, and build it fresh
    /// (containerlab's `--reconfigure`; nlab's `up --replace`).
    #[arg(long)]
    pub reconfigure: bool,
    /// Make no management network.
    #[arg(long)]
    pub no_mgmt: bool,
    /// `runtime` or `namespace`: see `nlab up --images`.
    #[arg(long, value_name = "MODE", default_value = "runtime", value_parser = ["runtime", "namespace"], hide_possible_values = true)]
    pub images: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DestroyArgs {
    /// The topology file whose lab goes.
    #[arg(
        short = 't',
        long = "topo",
        value_name = "FILE",
        required_unless_present = "all"
    )]
    pub file: Option<PathBuf>,
    /// Lab name instead of the file's `name:`.
    #[arg(long, conflicts_with = "all")]
    pub name: Option<String>,
    /// Every lab on this host (`nlab cleanup`).
    #[arg(long, conflicts_with = "file")]
    pub all: bool,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Lab name (see `nlab list`); or `-t FILE`.
    #[arg(required_unless_present = "topo_file")]
    pub lab: Option<String>,
    /// Node name (see `nlab inspect LAB`); or `--all`, `--label`.
    #[arg(required_unless_present_any = ["all", "label", "topo_file"])]
    pub node: Option<String>,
    /// The lab of this topology file (containerlab's `-t`).
    #[arg(
        short = 't',
        long = "topo",
        value_name = "FILE",
        conflicts_with = "lab"
    )]
    pub topo_file: Option<PathBuf>,
    /// Every node of the lab that runs programs (not switches).
    #[arg(long, conflicts_with_all = ["node", "label"])]
    pub all: bool,
    /// Nodes with this label (repeat: all of them must match).
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "node")]
    pub label: Vec<String>,
    /// The command as one string, run by `sh -c` (containerlab's `--cmd`).
    #[arg(long, value_name = "CMD")]
    pub cmd: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

fn up_args(file: PathBuf, name: Option<String>) -> UpArgs {
    UpArgs {
        file: Some(file),
        topo: None,
        custom: None,
        name,
        mac: false,
        link: None,
        host: None,
        dry_run: false,
        json: false,
        cli: false,
        rm: false,
        replace: false,
        seed: None,
        no_wait: false,
        nat: false,
        no_mgmt: false,
        images: "runtime".into(),
        arp: false,
        test: None,
        ipbase: None,
    }
}

impl DeployArgs {
    /// The `nlab up` this `deploy` means.
    pub fn into_up(self) -> UpArgs {
        let mut u = up_args(self.file, self.name);
        u.replace = self.reconfigure;
        u.no_mgmt = self.no_mgmt;
        u.images = self.images;
        u.json = self.json;
        u
    }
}

impl DestroyArgs {
    /// The lab to take down, or `None` for every lab (`--all`).
    pub fn lab(&self) -> anyhow::Result<Option<String>> {
        match &self.file {
            Some(f) if !self.all => Ok(Some(lab_of(f, self.name.clone())?)),
            _ => Ok(None),
        }
    }
}

/// The lab a topology file names (`--name` wins).
fn lab_of(file: &Path, name: Option<String>) -> anyhow::Result<String> {
    if let Some(n) = name {
        return Ok(n);
    }
    let opts = topo::file::ClabOptions::default();
    let t = topo::file::load_valid_with(file, None, opts)?;
    Ok(t.name.clone())
}

pub fn inspect(
    lab: Option<String>,
    all: bool,
    file: Option<PathBuf>,
    wiring_view: bool,
    json: bool,
) -> anyhow::Result<i32> {
    let name = match (lab, file) {
        (Some(l), _) => Some(l),
        (None, Some(f)) => Some(lab_of(&f, None)?),
        (None, None) => None,
    };
    if let (Some(name), false) = (&name, all) {
        return match wiring_view {
            true => wiring::inspect_wiring(name, json),
            false => show::inspect(name, json),
        };
    }
    require_root()?;
    let labs = lab::list();
    if json {
        let mut views = Vec::new();
        for l in &labs {
            views.push(Lab::open(&l.name)?.inspect()?);
        }
        super::output::print_json(&views)?;
        return Ok(0);
    }
    if labs.is_empty() {
        println!("No labs.");
    }
    let mut code = 0;
    for l in &labs {
        println!("Lab {}:", l.name);
        code = code.max(show::inspect(&l.name, false)?);
    }
    Ok(code)
}

/// Whether node `n` has every `KEY=VALUE` of `want`.
fn matches(n: &topo::Node, want: &[(String, String)]) -> bool {
    want.iter()
        .all(|(k, v)| n.labels.get(k).is_some_and(|x| x == v))
}

pub fn exec(a: ExecArgs) -> anyhow::Result<i32> {
    let command: Vec<String> = match (&a.cmd, a.command.is_empty()) {
        (Some(c), true) => vec!["sh".into(), "-c".into(), c.clone()],
        (None, false) => a.command.clone(),
        (Some(_), false) => {
            return Err(BadInput(
                "give the command either after `--` or with --cmd, not both".into(),
            )
            .into())
        }
        (None, true) => {
            return Err(
                BadInput("no command: give it after `--` or with --cmd \"…\"".into()).into(),
            )
        }
    };
    let lab = match (&a.lab, &a.topo_file) {
        (Some(l), _) => l.clone(),
        (None, Some(f)) => lab_of(f, None)?,
        (None, None) => return Err(BadInput("name the lab, or give -t FILE".into()).into()),
    };
    if let (Some(node), false, true) = (&a.node, a.all, a.label.is_empty()) {
        return run::exec(&lab, node, &command);
    }
    let mut want = Vec::new();
    for l in &a.label {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| BadInput(format!("--label {l}: write it as KEY=VALUE")))?;
        want.push((k.to_string(), v.to_string()));
    }
    if a.node.is_none() && !a.all && want.is_empty() {
        return Err(BadInput("name a node, or give --all or --label KEY=VALUE".into()).into());
    }
    require_root()?;
    let lab = Lab::open(&lab)?;
    let mut nodes: Vec<&topo::Node> = lab
        .topology()
        .nodes
        .values()
        .filter(|n| n.kind != topo::NodeKind::Switch && matches(n, &want))
        .collect();
    nodes.sort_by(|x, y| topo::natural_cmp(&x.name, &y.name));
    if nodes.is_empty() {
        let what = a.label.join(", ");
        return Err(BadInput(format!(
            "no node of lab {} has the label {what} (see `nlab inspect {}`)",
            lab.name(),
            lab.name()
        ))
        .into());
    }
    let argv: Vec<&str> = command.iter().map(String::as_str).collect();
    let mut code = 0;
    for n in nodes {
        println!("*** {}: {}", n.name, command.join(" "));
        let o = lab.exec_output(&n.name, &argv)?;
        print!("{}", String::from_utf8_lossy(&o.stdout));
        eprint!("{}", String::from_utf8_lossy(&o.stderr));
        let status = o.status.code().unwrap_or(1);
        if status != 0 {
            eprintln!("*** {}: exit status {status}", n.name);
            if code == 0 {
                code = status;
            }
        }
    }
    Ok(code)
}
