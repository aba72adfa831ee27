//! The `nlab` command line: argument parsing and dispatch. Each command
//! lives in its own module and is a thin layer over the library.

// A closed output (`nlab list | head -1`, a terminal that went away) must
// never interrupt work on the kernel: std's print macros panic on EPIPE
// (Rust ignores SIGPIPE, and restoring its default would kill `up`
// halfway). These shadow them for every module below (textual macro scope
// wins over the prelude's), drop the write error and let the command
// finish and exit with its work's status.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
mod capture;
mod capture_list;
mod clab;
mod console;
mod custom;
mod demo;
mod images;
mod leases;
mod lifecycle;
mod limits;
mod link;
pub mod log;
mod mn_flags;
mod output;
mod root;
mod run;
mod serve;
mod show;
mod supervise;
mod trace;
mod vms;
mod vnet;
mod wiring;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use output::{exit_code, print_error, print_error_json};

/// Runs the `nlab` command line on the process's arguments and returns the
/// exit code (the `nlab` binary is this and nothing else).
pub fn main() -> i32 {
    let json = wants_json(&std::env::args_os().collect::<Vec<_>>());
    let args = Cli::parse();
    log::init(args.verbose);
    match dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            if json {
                print_error_json(&e);
            }
            exit_code(&e)
        }
    }
}

/// A kernel-native network lab: namespaces, veths and bridges, set up in
/// milliseconds, inspected live, torn down without a trace.
#[derive(Parser, Debug)]
#[command(
    name = "nlab",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  \
        nlab demo                          bring up a small tree lab and tour it\n  \
        nlab up --topo linear,4            Mininet's linear topology, lab `linear`\n  \
        nlab up lab.yaml                   a lab from a topology file\n  \
        nlab pingall linear                every host pings every other\n  \
        nlab exec linear h1 -- ping -c1 h2 run a command inside a node\n  \
        nlab link set linear h1:h1-eth0 --delay 20ms --rate 10mbit\n  \
        nlab down linear                   remove the lab, nothing left behind\n\n\
        Exit codes: 0 success, 1 failure (or loss in pingall), 2 bad input."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Seconds to wait while another nlab command works on the same lab
    /// (commands that change a lab take turns); then fail, naming the
    /// process that holds the lab's lock.
    #[arg(long, global = true, value_name = "SECS", default_value = "30", value_parser = parse_wait)]
    pub wait: std::time::Duration,
    /// Say more on stderr: `-v` what nlab decides (info), `-vv` how it
    /// goes (debug), `-vvv` everything. Warnings always show; `RUST_LOG`
    /// (`debug`, `crate::services::ping=trace`) filters per module.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => {
            Ok(std::time::Duration::from_secs_f64(v))
        }
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400"
        )),
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a lab, or change a running one to match its topology.
    ///
    /// Validates the whole topology first (nothing is created when it has
    /// errors), then applies only what differs from what is running:
    /// running `up` twice with the same input reports 0 changes. Missing
    /// routes and gateways are re-added in place. A link set down with
    /// `nlab link set --down` stays down. On a looped topology (switches
    /// running spanning tree) `up` returns once every bridge port forwards
    /// (at most 60 s; `--no-wait` returns at once).
    ///
    /// Nodes may also be existing namespaces (`kind: external` with
    /// `netns:`, `pid:` or `container:`), containers nlab starts (`image:`)
    /// and veth ends in the root namespace (`host:IFNAME` endpoints): see
    /// README "Attaching existing namespaces, containers and image nodes".
    Up(UpArgs),
    /// Remove a lab: its processes, namespaces, links and files.
    ///
    /// Attached namespaces (`kind: external`) are only detached: nlab
    /// deletes the interfaces it added there and its own pin, and never ends
    /// their processes nor touches their own interfaces, addresses or
    /// routes. Containers of `image:` nodes are removed; `host:` ends go.
    Down {
        /// Lab name (see `nlab list`).
        lab: String,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove every lab on this host, including those left by a crashed or
    /// killed nlab.
    ///
    /// Also finds, without any journal, `host:` interfaces by their alias
    /// `nlab:<lab>` and containers nlab started by their label `nlab.lab`.
    Cleanup {
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List labs on this host.
    #[command(visible_alias = "ls")]
    List {
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show a lab as the kernel holds it: nodes, interfaces, addresses,
    /// MACs, veth peers, and anything that drifted from the topology.
    /// Exits 1 when something drifted.
    Inspect {
        /// Lab name (see `nlab list`).
        #[arg(required_unless_present_any = ["all", "topo_file"])]
        lab: Option<String>,
        /// Every lab on this host, one after the other (containerlab's
        /// `inspect --all`).
        #[arg(long, conflicts_with_all = ["lab", "wiring"])]
        all: bool,
        /// The lab of this topology file (containerlab's `-t`).
        #[arg(
            short = 't',
            long = "topo",
            value_name = "FILE",
            conflicts_with = "lab"
        )]
        topo_file: Option<PathBuf>,
        /// Show the lab's wiring instead: each interface and what it is
        /// joined to wherever that is on the host (a veth end someone
        /// moved to another namespace is found there), bridge ports, and
        /// interfaces the topology does not have.
        #[arg(long)]
        wiring: bool,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Which interface is joined to which, for every network namespace
    /// on the host (labs or not), read from the kernel: veth peers and the
    /// namespace they are in, bridge ports, macvlan/macvtap parents, and
    /// the processes holding each TUN/TAP device.
    ///
    /// Namespaces are named `root` (the host's own), by container
    /// (`podman:NAME`, `docker:NAME`), by `ip netns` name (nlab's are
    /// `nlab-LAB-NODE`), else by the process that holds them (`pid 812
    /// (sleep)`). "Which host veth is my container's eth0?": `nlab wiring
    /// --ns NAME` or `--pid PID` and read the `joined to` column.
    #[command(after_help = "Examples:\n  \
        nlab wiring                    every namespace and its interfaces\n  \
        nlab wiring --ns podman:web    one container (or `--ns web`)\n  \
        nlab wiring --pid 812          the namespace process 812 is in\n  \
        nlab wiring --json | jq '.namespaces[] | select(.kind == \"container\")'")]
    Wiring {
        /// Show only the namespace with this name: `root`, an `ip netns`
        /// name, a container's name or id, or a name from the first column.
        #[arg(long, value_name = "NAME", conflicts_with = "pid")]
        ns: Option<String>,
        /// Show only the namespace process PID is in.
        #[arg(long, value_name = "PID")]
        pid: Option<i32>,
        /// Also list each namespace's loopback interface.
        #[arg(long)]
        all: bool,
        /// Print the result (or the error) as JSON on stdout (loopbacks
        /// included).
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a node (`nlab exec LAB h1 -- ping -c1 h2`).
    /// The command's exit code is nlab's.
    ///
    /// Several nodes at once, as containerlab's `exec` does: `--all` (every
    /// node of the lab), `--label KEY=VALUE` (nodes with that label: a
    /// containerlab file's `labels:`, or `clab-node-name`,
    /// `clab-node-kind`, `clab-node-group`), the lab by `-t FILE`, the
    /// command by `--cmd "…"` (run by `sh -c`); the output comes per node
    /// and the exit code is the first failure's.
    Exec(clab::ExecArgs),
    /// containerlab's `deploy -t FILE`: `nlab up FILE`.
    Deploy(clab::DeployArgs),
    /// containerlab's `destroy -t FILE` (`nlab down` of the file's lab),
    /// or `destroy --all` (`nlab cleanup`).
    Destroy(clab::DestroyArgs),
    /// Open an interactive shell inside a node.
    Shell {
        /// Lab name (see `nlab list`).
        lab: String,
        /// Node name (see `nlab inspect LAB`).
        node: String,
    },
    /// Attach the terminal to a VM's serial console (a VM nlab started,
    /// `kind: vm` with `kernel:` or `disk:`). Every key goes to the guest,
    /// Ctrl-C included; Ctrl-] detaches, and the guest keeps running.
    /// Without a terminal, stdin is sent to the guest and the guest's
    /// output printed until the input ended and the guest went quiet
    /// (1.5 s): `echo uname -a | nlab console LAB vm1`.
    Console {
        /// Lab name (see `nlab list`).
        lab: String,
        /// The VM's node name.
        node: String,
    },
    /// Ping between every pair of hosts, in parallel, with ICMP sent by
    /// nlab itself. Exits 1 when any pair fails.
    Pingall(PingArgs),
    /// Draw a lab or a topology file as Graphviz dot, Mermaid or JSON.
    Graph {
        /// A running lab's name, or a topology file.
        target: String,
        #[arg(long, short, default_value = "dot", value_parser = ["dot", "mermaid", "json"])]
        format: String,
        /// Draw a running lab's wiring as the kernel has it (veth pairs
        /// between namespaces, also to namespaces outside the lab) instead
        /// of its topology.
        #[arg(long)]
        wiring: bool,
    },
    /// Open Mininet's console on a running lab (`nodes`, `net`, `pingall`,
    /// `h1 ping -c1 h2`, …); `help` inside lists the commands.
    ///
    /// With -c or a script on stdin it runs the commands, echoing each after
    /// the prompt, and exits 1 if any failed (pingall loss, a node command's
    /// non-zero exit, an unknown command).
    Cli {
        /// Lab name (see `nlab list`).
        lab: String,
        /// Commands to run instead of reading stdin, separated by `;`
        /// (`-c "pingall; h1 ping -c1 h2"`).
        #[arg(short = 'c', long = "command", value_name = "CMDS")]
        commands: Option<String>,
    },
    /// Bring up a small demo lab, ping across it, show it, and leave it up.
    Demo,
    /// The lab's background supervisor, which hosts scheduled link changes
    /// and the userspace link emulator: see it, start it, stop it.
    #[command(subcommand)]
    Supervisor(supervise::SupervisorCmd),
    /// Run as the init of a node's PID namespace (started by nlab itself
    /// for nodes with `isolation: {pid: true}`).
    #[command(hide = true)]
    NodeInit {
        /// Lab name.
        lab: String,
        /// Node name.
        node: String,
    },
    /// Run as the lab's supervisor (started by nlab itself).
    #[command(hide = true)]
    Supervise {
        /// Lab name.
        lab: String,
    },
    /// Link conditions: set, show, reset, presets.
    #[command(subcommand)]
    Link(link::LinkCommand),
    /// The lab's DHCP leases: every address its DHCP servers handed out,
    /// to which MAC and host, and until when (read from the lease files
    /// under /run/nlab/LAB/dhcp/, also when the supervisor is not running).
    Leases {
        /// Lab name (see `nlab list`).
        lab: String,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// What this kernel can do for link conditions (qdiscs probed in a
    /// throwaway namespace) and which backend each kind of condition uses;
    /// which cgroup version carries node limits (cpu, memory, pids).
    Features {
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Capture packets on lab interfaces: pcapng Wireshark and tcpdump
    /// read (one interface per NODE:IFACE), or a line per packet.
    Capture(capture::CaptureArgs),
    /// Follow a packet from a virtual-network port (`nlab serve`): which
    /// security-group rule lets it out, which route and router carry it,
    /// which NAT rewrites it and which rule lets it in or drops it, from
    /// the model as last applied; then a real probe packet (TCP connect,
    /// UDP datagram or ICMP echo) from the port's namespace confirms it.
    Trace(trace::TraceArgs),
    /// Serve the Neutron-compatible virtual-network API (networks,
    /// subnets, ports, routers, floating IPs, security groups) with a
    /// Keystone v3 token endpoint; see README "Virtual networks: nlab serve".
    Serve(serve::ServeArgs),
    #[command(flatten)]
    Vnet(vnet::VnetCommand),
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Topology file (YAML, containerlab-like). See README "Topology files".
    #[arg(conflicts_with = "topo", required_unless_present = "topo")]
    pub file: Option<PathBuf>,
    /// A built-in topology, in Mininet's spelling: minimal, single,N,
    /// reversed,N (single,N with the switch ports in reverse order),
    /// linear,N, tree,D,F (or tree,depth=D,fanout=F), torus,X,Y.
    #[arg(long, value_name = "SPEC")]
    pub topo: Option<String>,
    /// With `--topo NAME[,ARGS]`: Mininet's `--custom`, a Python file whose
    /// `topos = {...}` dict names the topology (`--custom mytopo.py --topo
    /// mytopo,3`), read through nlab's Python package (`pip install
    /// ./python`; `NLAB_PYTHON` names the interpreter, default python3).
    #[arg(long, value_name = "FILE.py", requires = "topo")]
    pub custom: Option<PathBuf>,
    /// Lab name: 1-24 of lowercase letters, digits, `_` and `-` (not first
    /// or last). Wins over the file's `name:` (which may then be left
    /// out); default: the file's `name:`, or the generator's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Sequential MACs 00:00:00:00:00:01… like `mn --mac`. With a file:
    /// for host and router interfaces the file gives no `mac:`, numbered in
    /// natural order of node and interface (MACs the file uses are skipped).
    #[arg(long)]
    pub mac: bool,
    /// Conditions for links in Mininet's spelling,
    /// `tc,bw=10,delay=10ms,loss=1,max_queue_size=100,jitter=1ms` (bw in
    /// Mbit/s, loss in percent), or `default` for plain links. With --topo:
    /// every link; with a file: every link the file gives no conditions
    /// (neither on the link nor under `defaults:`).
    #[arg(long, value_name = "SPEC")]
    pub link: Option<String>,
    /// Limits for hosts in Mininet's spelling: `cfs,cpu=0.1` gives each
    /// host 10% of the whole machine's CPU time (CFS bandwidth, like
    /// `mn --host cfs,cpu=.1`), `proc` none. With a file: hosts the file
    /// gives no `cpu:`. `rt,cpu=0.1`: real-time group scheduling (SCHED_RR,
    /// 10% of each period per CPU) where the kernel has it (cgroup v1 with
    /// CONFIG_RT_GROUP_SCHED; `nlab features` says), else refused.
    #[arg(long, value_name = "SPEC")]
    pub host: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Open the console (`nlab cli`) once the lab is up, like `mn`.
    #[arg(long, conflicts_with_all = ["json", "dry_run"])]
    pub cli: bool,
    /// With --cli: remove the lab when the console exits, like `mn`.
    #[arg(long, requires = "cli")]
    pub rm: bool,
    /// Tear down an existing lab of this name and build this topology
    /// fresh, in one turn of the lab's lock. Needed when the lab was made
    /// from another file or another --topo generator (a tree, now
    /// `single,2`): without it `up` refuses (exit 2) rather than reshape
    /// it. Re-running `up` with the lab's own source (an edited file, the
    /// same generator with other numbers) applies only the difference.
    #[arg(long)]
    pub replace: bool,
    /// Seed of the userspace link emulator: the same seed drops, duplicates
    /// and reorders the same packets. Default: the running lab's seed, or a
    /// random one for a new lab (printed, so a run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Return as soon as the lab is applied, without waiting for spanning
    /// tree to converge on a looped topology (traffic across the loops is
    /// lost for ~4 s after such an `up`).
    #[arg(long)]
    pub no_wait: bool,
    /// With --topo: Mininet's --nat, so lab hosts reach what this host
    /// reaches. Adds a NAT node `nat0` on the first switch (the next host
    /// address), routes every host's default through it, and links it to
    /// the host by a veth `nlu-<8 hex>` on a /30 of 100.127.0.0/16. The
    /// host side is nlab's own: that veth (alias `nlab:LAB:nat0:uplink`),
    /// an nft table `ip nlab-LAB` that masquerades the transfer subnet,
    /// and net.ipv4.ip_forward=1 (the old value restored when the last
    /// such lab goes). `nlab down`/`cleanup` remove all of it, even after
    /// nlab was killed. A host forward chain that drops (Docker's) is reported,
    /// not changed. Topology files say `kind: nat` (README "NAT").
    #[arg(long, requires = "topo")]
    pub nat: bool,
    /// containerlab files: make no management network (no `mgmt-net`
    /// switch, no `eth0` on the nodes, no root-namespace end).
    #[arg(long)]
    pub no_mgmt: bool,
    /// `image:` nodes: `runtime` (the default) starts their containers (an
    /// image not in podman's or docker's local store is an error);
    /// `namespace` runs the nodes whose image is not there as plain
    /// namespace nodes, with one warning.
    #[arg(long, value_name = "MODE", default_value = "runtime", value_parser = ["runtime", "namespace"], hide_possible_values = true, hide_default_value = true)]
    pub images: String,
    /// Mininet's --arp: every host gets a permanent neighbour (ARP) entry
    /// for every other host it reaches directly, so no ARP request is
    /// broadcast (pingall of big labs is much faster). Applied after each
    /// `up`; the entries go with the lab.
    #[arg(long)]
    pub arp: bool,
    /// Mininet's --test: after up, run `pingall`, `pingpair`, `iperf` or
    /// `none`; nlab's exit status is the test's (1 on loss or failure).
    #[arg(long, value_name = "TEST", value_parser = ["pingall", "pingpair", "iperf", "none"], conflicts_with_all = ["dry_run", "cli"])]
    pub test: Option<String>,
    /// Mininet's --ipbase: with --topo, number hosts from this IPv4
    /// network instead of 10.0.0.0/8 (e.g. 192.168.0.0/24: h1 is
    /// 192.168.0.1/24).
    #[arg(long, value_name = "NET", requires = "topo")]
    pub ipbase: Option<String>,
}

#[derive(Args, Debug)]
pub struct PingArgs {
    /// Lab name (see `nlab list`).
    pub lab: String,
    /// Seconds to wait for each pair (retrying while ARP resolves).
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
    /// Use each host's first IPv6 address instead of IPv4.
    #[arg(long, short = '6')]
    pub ipv6: bool,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Whether the command line asks for JSON output (`--json` before any
/// `--`, after which the words belong to the command `exec` runs).
pub fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Runs the parsed command; the `Err` carries what to print and the exit
/// code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    crate::store::set_lock_wait(cli.wait);
    match cli.command {
        Command::Up(a) => lifecycle::up(a),
        Command::Down { lab, json } => lifecycle::down(&lab, json),
        Command::Cleanup { json } => lifecycle::cleanup(json),
        Command::List { json } => show::list(json),
        Command::Inspect {
            lab,
            all,
            topo_file,
            wiring,
            json,
        } => clab::inspect(lab, all, topo_file, wiring, json),
        Command::Wiring { ns, pid, all, json } => {
            wiring::wiring(wiring::Filter { ns, pid, all }, json)
        }
        Command::Exec(a) => clab::exec(a),
        Command::Deploy(a) => lifecycle::up(a.into_up()),
        Command::Destroy(a) => match a.lab()? {
            Some(lab) => lifecycle::down(&lab, a.json),
            None => lifecycle::cleanup(a.json),
        },
        Command::Shell { lab, node } => run::shell(&lab, &node),
        Command::Console { lab, node } => vms::console(&lab, &node),
        Command::Pingall(a) => run::pingall(a),
        Command::Graph {
            target,
            format,
            wiring: true,
        } => wiring::graph(&target, &format),
        Command::Graph { target, format, .. } => show::graph(&target, &format),
        Command::Cli { lab, commands } => lifecycle::cli(&lab, commands),
        Command::Demo => demo::demo(),
        Command::Supervisor(c) => supervise::supervisor(c),
        Command::Supervise { lab } => supervise::supervise(&lab),
        Command::NodeInit { .. } => limits::node_init(),
        Command::Link(c) => link::dispatch(c),
        Command::Features { json } => link::features(json),
        Command::Capture(a) => capture::capture(a),
        Command::Leases { lab, json } => leases::leases(&lab, json),
        Command::Trace(a) => trace::run(a),
        Command::Serve(a) => serve::serve(a),
        Command::Vnet(c) => vnet::dispatch(c),
    }
}
