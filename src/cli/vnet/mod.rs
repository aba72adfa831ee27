//! `nlab net|subnet|port|router|fip|sg|instance`: a thin client of the
//! Neutron-compatible API that `nlab serve` answers. Everything here is an
//! HTTP call; what the words mean is the server's business.

mod bodies;
mod client;
mod instance;
mod resource;
mod tap;

use anyhow::Result;
use clap::{Args, Subcommand};
use client::{Client, Endpoint};
use resource::{find, id_of, print_list, print_one, Kind};
use serde_json::{json, Map, Value};

const EXAMPLES: &str = "Examples (against `nlab serve` on 127.0.0.1:9696):\n  \
    nlab net create blue\n  \
    nlab subnet create blue-v4 --network blue --cidr 172.16.1.0/24\n  \
    nlab port create vm1 --network blue --bind instance\n  \
    nlab router create r1 --external-network public\n  \
    nlab router add-interface r1 blue-v4\n  \
    nlab fip create public --port vm1\n  \
    nlab sg rule-add default --protocol tcp --port 22\n\n\
    Credentials: --token (or OS_TOKEN), else OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME.";

/// The client commands, flattened into `nlab`'s own.
#[derive(Subcommand, Debug)]
pub enum VnetCommand {
    /// Virtual networks of `nlab serve` (Neutron's `network`).
    #[command(after_help = EXAMPLES)]
    Net {
        #[command(subcommand)]
        cmd: NetCmd,
        #[command(flatten)]
        ep: Endpoint,
    },
    /// Subnets: address ranges of a network, with DHCP and gateway.
    #[command(after_help = EXAMPLES)]
    Subnet {
        #[command(subcommand)]
        cmd: SubnetCmd,
        #[command(flatten)]
        ep: Endpoint,
    },
    /// Ports: a MAC and fixed addresses on a network, bound to a namespace.
    #[command(after_help = EXAMPLES)]
    Port {
        #[command(subcommand)]
        cmd: PortCmd,
        #[command(flatten)]
        ep: Endpoint,
    },
    /// Logical routers: gateways between subnets, SNAT to an external network.
    #[command(after_help = EXAMPLES)]
    Router {
        #[command(subcommand)]
        cmd: RouterCmd,
        #[command(flatten)]
        ep: Endpoint,
    },
    /// Floating IPs: an external address mapped onto a port's fixed one.
    #[command(after_help = EXAMPLES)]
    Fip {
        #[command(subcommand)]
        cmd: FipCmd,
        #[command(flatten)]
        ep: Endpoint,
    },
    /// Security groups and their rules (stateful, per port).
    #[command(after_help = EXAMPLES)]
    Sg {
        #[command(subcommand)]
        cmd: SgCmd,
        #[command(flatten)]
        ep: Endpoint,
    },
    /// Instances: a namespace nlab makes for a port, which gets its address
    /// by DHCP as a booting VM would.
    #[command(after_help = EXAMPLES)]
    Instance {
        #[command(subcommand)]
        cmd: instance::InstanceCmd,
        #[command(flatten)]
        ep: Endpoint,
    },
}

/// What every resource has: list, show, delete.
#[derive(Subcommand, Debug)]
pub enum Common {
    /// List them (a table, or `--json`).
    #[command(visible_alias = "ls")]
    List {
        /// Only those whose FIELD equals VALUE (repeatable), as Neutron's
        /// query string filters: `--filter name=blue`.
        #[arg(long = "filter", value_name = "FIELD=VALUE")]
        filters: Vec<String>,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show one, by name or ID.
    Show {
        /// Name or ID.
        name: String,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Delete one or more, by name or ID.
    #[command(visible_alias = "rm")]
    Delete {
        /// Names or IDs.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum NetCmd {
    /// Create a network.
    Create(NetCreate),
    #[command(flatten)]
    Common(Common),
}

#[derive(Args, Debug)]
pub struct NetCreate {
    /// Its name.
    name: String,
    /// MTU of the network (default: the server's, 1500).
    #[arg(long)]
    mtu: Option<u32>,
    /// Visible to every project.
    #[arg(long)]
    shared: bool,
    /// An external network: routers set their gateway on it and floating
    /// IPs come from it.
    #[arg(long)]
    external: bool,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
    /// Create it for this project (admin only).
    #[arg(long)]
    project: Option<String>,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum SubnetCmd {
    /// Create a subnet on a network.
    Create(SubnetCreate),
    #[command(flatten)]
    Common(Common),
}

#[derive(Args, Debug)]
pub struct SubnetCreate {
    /// Its name.
    name: String,
    /// The network (name or ID).
    #[arg(long)]
    network: String,
    /// The range, e.g. 172.16.1.0/24 or 2001:db8:1::/64.
    #[arg(long)]
    cidr: String,
    /// The gateway address (default: the first address), or `none`.
    #[arg(long)]
    gateway: Option<String>,
    /// No DHCP server on this subnet: ports get static addresses.
    #[arg(long)]
    no_dhcp: bool,
    /// A DNS server handed out by DHCP (repeatable).
    #[arg(long = "dns", value_name = "IP")]
    dns: Vec<String>,
    /// An allocation pool START-END (repeatable).
    #[arg(long = "pool", value_name = "START-END")]
    pools: Vec<String>,
    /// A host route DESTINATION=NEXTHOP handed out by DHCP (repeatable).
    #[arg(long = "route", value_name = "DEST=NEXTHOP")]
    routes: Vec<String>,
    /// IPv6 address and RA mode (only `slaac`).
    #[arg(long, value_name = "slaac")]
    ipv6_mode: Option<String>,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum PortCmd {
    /// Create a port on a network.
    Create(PortCreate),
    #[command(flatten)]
    Common(Common),
}

#[derive(Args, Debug)]
pub struct PortCreate {
    /// Its name.
    name: String,
    /// The network (name or ID).
    #[arg(long)]
    network: String,
    /// A fixed address: `10.0.0.5`, `ip=10.0.0.5`, `subnet=NAME,ip=…` or
    /// `subnet=NAME` (any free address of it). Repeatable.
    #[arg(long = "fixed-ip", value_name = "SPEC")]
    fixed_ips: Vec<String>,
    /// Its MAC address (default: fa:16:3e:…).
    #[arg(long)]
    mac: Option<String>,
    /// A security group (name or ID; repeatable; default: `default`).
    #[arg(long = "sg", value_name = "GROUP")]
    groups: Vec<String>,
    /// No security group at all.
    #[arg(long, conflicts_with = "groups")]
    no_security_group: bool,
    /// Turn off port security (no anti-spoofing; needs no security group).
    #[arg(long)]
    no_port_security: bool,
    /// Another address (or `CIDR,MAC`) this port may send from.
    #[arg(long = "allowed-pair", value_name = "IP[,MAC]")]
    allowed_pairs: Vec<String>,
    /// Where its veth goes: instance, tap (a TAP for a VM you start:
    /// `port show` prints the QEMU command), netns:NAME, pid:N,
    /// container:NAME or lab:LAB/NODE (default: unbound).
    #[arg(long, value_name = "WHERE")]
    bind: Option<String>,
    /// Neutron's device_owner (e.g. `compute:nova`).
    #[arg(long)]
    device_owner: Option<String>,
    /// Neutron's device_id (what uses the port, e.g. a VM's UUID).
    #[arg(long)]
    device_id: Option<String>,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum RouterCmd {
    /// Create a router, optionally with its gateway on an external network.
    Create {
        /// Its name.
        name: String,
        /// The external network for its gateway (name or ID).
        #[arg(long, value_name = "NET")]
        external_network: Option<String>,
        /// Keep source addresses on the gateway (no SNAT).
        #[arg(long)]
        no_snat: bool,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Give the router an interface on a subnet (at the subnet's gateway).
    AddInterface {
        /// The router (name or ID).
        router: String,
        /// The subnet (name or ID).
        subnet: String,
    },
    /// Remove the router's interface on a subnet.
    RemoveInterface {
        /// The router (name or ID).
        router: String,
        /// The subnet (name or ID).
        subnet: String,
    },
    /// Set the router's external gateway.
    SetGateway {
        /// The router (name or ID).
        router: String,
        /// The external network (name or ID).
        network: String,
        /// Keep source addresses (no SNAT).
        #[arg(long)]
        no_snat: bool,
    },
    /// Remove the router's external gateway.
    ClearGateway {
        /// The router (name or ID).
        router: String,
    },
    /// Add a static route (extraroute).
    AddRoute {
        /// The router (name or ID).
        router: String,
        /// DESTINATION=NEXTHOP, e.g. 192.168.9.0/24=10.0.0.254.
        route: String,
    },
    #[command(flatten)]
    Common(Common),
}

#[derive(Subcommand, Debug)]
pub enum FipCmd {
    /// Allocate a floating IP on an external network.
    Create {
        /// The external network (name or ID).
        network: String,
        /// Associate it with this port at once.
        #[arg(long)]
        port: Option<String>,
        /// Ask for this address.
        #[arg(long)]
        address: Option<String>,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Map the floating IP onto a port's fixed address.
    Associate {
        /// The floating IP (address or ID).
        fip: String,
        /// The port (name or ID).
        port: String,
    },
    /// Unmap the floating IP.
    Disassociate {
        /// The floating IP (address or ID).
        fip: String,
    },
    #[command(flatten)]
    Common(Common),
}

#[derive(Subcommand, Debug)]
pub enum SgCmd {
    /// Create a security group (it starts with Neutron's egress rules).
    Create {
        /// Its name.
        name: String,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Add a rule: what may come in (`--ingress`, default) or go out.
    RuleAdd(RuleAdd),
    /// Delete a rule by ID.
    RuleDelete {
        /// The rule's ID (see `nlab sg show GROUP`).
        rule: String,
    },
    #[command(flatten)]
    Common(Common),
}

#[derive(Args, Debug)]
pub struct RuleAdd {
    /// The group (name or ID).
    group: String,
    /// A rule for traffic leaving the port.
    #[arg(long)]
    egress: bool,
    /// IPv4 (default) or IPv6.
    #[arg(long, default_value = "IPv4")]
    ethertype: String,
    /// tcp, udp, icmp, ipv6-icmp or a number (default: any).
    #[arg(long)]
    protocol: Option<String>,
    /// A port or range: 22 or 8000-8080.
    #[arg(long)]
    port: Option<String>,
    /// Only from (to) this CIDR.
    #[arg(long, conflicts_with = "remote_group")]
    remote_ip: Option<String>,
    /// Only from (to) members of this group.
    #[arg(long)]
    remote_group: Option<String>,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn dispatch(cmd: VnetCommand) -> Result<i32> {
    match cmd {
        VnetCommand::Net { cmd, ep } => net(&Client::connect(&ep)?, cmd),
        VnetCommand::Subnet { cmd, ep } => subnet(&Client::connect(&ep)?, cmd),
        VnetCommand::Port { cmd, ep } => port(&Client::connect(&ep)?, cmd),
        VnetCommand::Router { cmd, ep } => router(&Client::connect(&ep)?, cmd),
        VnetCommand::Fip { cmd, ep } => fip(&Client::connect(&ep)?, cmd),
        VnetCommand::Sg { cmd, ep } => sg(&Client::connect(&ep)?, cmd),
        VnetCommand::Instance { cmd, ep } => instance::dispatch(&Client::connect(&ep)?, cmd),
    }?;
    Ok(0)
}

fn common(c: &Client, kind: Kind, cmd: Common) -> Result<()> {
    match cmd {
        Common::List { filters, json } => {
            let mut path = kind.path();
            for (i, f) in filters.iter().enumerate() {
                let (k, v) = f.split_once('=').ok_or_else(|| {
                    super::output::BadInput(format!(
                        "--filter `{f}`: write FIELD=VALUE, e.g. --filter name=blue"
                    ))
                })?;
                path.push(if i == 0 { '?' } else { '&' });
                path.push_str(&format!("{k}={v}"));
            }
            let all = c.get(&path)?;
            print_list(kind, &all[kind.plural()], json)
        }
        Common::Show { name, json } => {
            let item = find(c, kind, &name)?;
            if json {
                return print_one(&item, json);
            }
            print_one(&tap::for_table(&item), json)?;
            if let Some(hint) = tap::guest_hint(&item) {
                println!("{hint}");
            }
            Ok(())
        }
        Common::Delete { names } => {
            for n in names {
                let id = id_of(c, kind, &n)?;
                c.delete(&format!("{}/{id}", kind.path()))?;
                println!("deleted {} {n}", kind.singular().replace('_', " "));
            }
            Ok(())
        }
    }
}

/// POSTs `{singular: fields}` and prints what the server made.
fn create(c: &Client, kind: Kind, fields: Map<String, Value>, json: bool) -> Result<()> {
    let made = c.post(&kind.path(), &json!({ kind.singular(): fields }))?;
    print_one(&made[kind.singular()], json)
}

fn net(c: &Client, cmd: NetCmd) -> Result<()> {
    let a = match cmd {
        NetCmd::Common(x) => return common(c, Kind::Network, x),
        NetCmd::Create(a) => a,
    };
    let mut f = Map::new();
    f.insert("name".into(), json!(a.name));
    if let Some(m) = a.mtu {
        f.insert("mtu".into(), json!(m));
    }
    if a.shared {
        f.insert("shared".into(), json!(true));
    }
    if a.external {
        f.insert("router:external".into(), json!(true));
    }
    if let Some(d) = a.description {
        f.insert("description".into(), json!(d));
    }
    if let Some(p) = a.project {
        f.insert("project_id".into(), json!(p));
    }
    create(c, Kind::Network, f, a.json)
}

fn subnet(c: &Client, cmd: SubnetCmd) -> Result<()> {
    let a = match cmd {
        SubnetCmd::Common(x) => return common(c, Kind::Subnet, x),
        SubnetCmd::Create(a) => a,
    };
    let v6 = a.cidr.contains(':');
    let mut f = Map::new();
    f.insert("name".into(), json!(a.name));
    f.insert(
        "network_id".into(),
        json!(id_of(c, Kind::Network, &a.network)?),
    );
    f.insert("cidr".into(), json!(a.cidr));
    f.insert("ip_version".into(), json!(if v6 { 6 } else { 4 }));
    match a.gateway.as_deref() {
        Some("none") => {
            f.insert("gateway_ip".into(), Value::Null);
        }
        Some(g) => {
            f.insert("gateway_ip".into(), json!(g));
        }
        None => {}
    }
    f.insert("enable_dhcp".into(), json!(!a.no_dhcp));
    if !a.dns.is_empty() {
        f.insert("dns_nameservers".into(), json!(a.dns));
    }
    let pools = a
        .pools
        .iter()
        .map(|p| bodies::pool(p))
        .collect::<Result<Vec<_>>>()?;
    if !pools.is_empty() {
        f.insert("allocation_pools".into(), json!(pools));
    }
    let routes = a
        .routes
        .iter()
        .map(|r| bodies::route(r))
        .collect::<Result<Vec<_>>>()?;
    if !routes.is_empty() {
        f.insert("host_routes".into(), json!(routes));
    }
    if let Some(m) = a.ipv6_mode {
        f.insert("ipv6_address_mode".into(), json!(m));
        f.insert("ipv6_ra_mode".into(), json!(m));
    }
    create(c, Kind::Subnet, f, a.json)
}

fn port(c: &Client, cmd: PortCmd) -> Result<()> {
    let a = match cmd {
        PortCmd::Common(x) => return common(c, Kind::Port, x),
        PortCmd::Create(a) => a,
    };
    let mut f = Map::new();
    f.insert("name".into(), json!(a.name));
    f.insert(
        "network_id".into(),
        json!(id_of(c, Kind::Network, &a.network)?),
    );
    let mut ips = Vec::new();
    for spec in &a.fixed_ips {
        let (subnet, ip) = bodies::fixed_ip(spec)?;
        let mut one = Map::new();
        if let Some(s) = subnet {
            one.insert("subnet_id".into(), json!(id_of(c, Kind::Subnet, &s)?));
        }
        if let Some(ip) = ip {
            one.insert("ip_address".into(), json!(ip));
        }
        ips.push(Value::Object(one));
    }
    if !ips.is_empty() {
        f.insert("fixed_ips".into(), json!(ips));
    }
    if let Some(m) = a.mac {
        f.insert("mac_address".into(), json!(m));
    }
    if a.no_security_group {
        f.insert("security_groups".into(), json!([]));
    } else if !a.groups.is_empty() {
        let ids = a
            .groups
            .iter()
            .map(|g| id_of(c, Kind::SecurityGroup, g))
            .collect::<Result<Vec<_>>>()?;
        f.insert("security_groups".into(), json!(ids));
    }
    if a.no_port_security {
        f.insert("port_security_enabled".into(), json!(false));
    }
    if !a.allowed_pairs.is_empty() {
        let pairs: Vec<Value> = a
            .allowed_pairs
            .iter()
            .map(|p| bodies::address_pair(p))
            .collect();
        f.insert("allowed_address_pairs".into(), json!(pairs));
    }
    if let Some(b) = a.bind {
        f.insert("binding:profile".into(), bodies::binding(&b)?);
    }
    if let Some(o) = a.device_owner {
        f.insert("device_owner".into(), json!(o));
    }
    if let Some(d) = a.device_id {
        f.insert("device_id".into(), json!(d));
    }
    let made = c.post(&Kind::Port.path(), &json!({ "port": f }))?;
    print_one(&made["port"], a.json)?;
    if let Some(hint) = tap::guest_hint(&made["port"]).filter(|_| !a.json) {
        println!("{hint}");
    }
    Ok(())
}

fn router(c: &Client, cmd: RouterCmd) -> Result<()> {
    let path = |r: &str| -> Result<String> {
        Ok(format!(
            "{}/{}",
            Kind::Router.path(),
            id_of(c, Kind::Router, r)?
        ))
    };
    let gateway = |net: &str, no_snat: bool| -> Result<Value> {
        Ok(json!({"network_id": id_of(c, Kind::Network, net)?, "enable_snat": !no_snat}))
    };
    match cmd {
        RouterCmd::Common(x) => common(c, Kind::Router, x),
        RouterCmd::Create {
            name,
            external_network,
            no_snat,
            json,
        } => {
            let mut f = Map::new();
            f.insert("name".into(), json!(name));
            if let Some(n) = external_network {
                f.insert("external_gateway_info".into(), gateway(&n, no_snat)?);
            }
            create(c, Kind::Router, f, json)
        }
        RouterCmd::AddInterface { router, subnet } => {
            let s = id_of(c, Kind::Subnet, &subnet)?;
            let r = c.put(
                &format!("{}/add_router_interface", path(&router)?),
                &json!({"subnet_id": s}),
            )?;
            println!(
                "router {router} has an interface on {subnet} (port {})",
                r["port_id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        RouterCmd::RemoveInterface { router, subnet } => {
            let s = id_of(c, Kind::Subnet, &subnet)?;
            c.put(
                &format!("{}/remove_router_interface", path(&router)?),
                &json!({"subnet_id": s}),
            )?;
            println!("router {router} has no interface on {subnet} any more");
            Ok(())
        }
        RouterCmd::SetGateway {
            router,
            network,
            no_snat,
        } => {
            let g = gateway(&network, no_snat)?;
            c.put(
                &path(&router)?,
                &json!({"router": {"external_gateway_info": g}}),
            )?;
            println!("router {router} has its gateway on {network}");
            Ok(())
        }
        RouterCmd::ClearGateway { router } => {
            c.put(
                &path(&router)?,
                &json!({"router": {"external_gateway_info": {}}}),
            )?;
            println!("router {router} has no external gateway");
            Ok(())
        }
        RouterCmd::AddRoute { router, route } => {
            let r = find(c, Kind::Router, &router)?;
            let mut routes = r["routes"].as_array().cloned().unwrap_or_default();
            routes.push(bodies::route(&route)?);
            c.put(&path(&router)?, &json!({"router": {"routes": routes}}))?;
            println!("router {router} routes {route}");
            Ok(())
        }
    }
}

/// A floating IP by its address or ID.
fn fip_id(c: &Client, fip: &str) -> Result<String> {
    if fip.parse::<std::net::IpAddr>().is_ok() {
        let l = c.get(&format!(
            "{}?floating_ip_address={fip}",
            Kind::FloatingIp.path()
        ))?;
        if let Some(id) = l["floatingips"][0]["id"].as_str() {
            return Ok(id.to_string());
        }
    }
    id_of(c, Kind::FloatingIp, fip)
}

fn fip(c: &Client, cmd: FipCmd) -> Result<()> {
    let path = |id: &str| format!("{}/{id}", Kind::FloatingIp.path());
    match cmd {
        FipCmd::Common(Common::Show { name, json }) => {
            print_one(&c.get(&path(&fip_id(c, &name)?))?["floatingip"], json)
        }
        FipCmd::Common(x) => common(c, Kind::FloatingIp, x),
        FipCmd::Create {
            network,
            port,
            address,
            json,
        } => {
            let mut f = Map::new();
            f.insert(
                "floating_network_id".into(),
                json!(id_of(c, Kind::Network, &network)?),
            );
            if let Some(p) = port {
                f.insert("port_id".into(), json!(id_of(c, Kind::Port, &p)?));
            }
            if let Some(a) = address {
                f.insert("floating_ip_address".into(), json!(a));
            }
            create(c, Kind::FloatingIp, f, json)
        }
        FipCmd::Associate { fip, port } => {
            let p = id_of(c, Kind::Port, &port)?;
            let r = c.put(
                &path(&fip_id(c, &fip)?),
                &json!({"floatingip": {"port_id": p}}),
            )?;
            println!(
                "{} → {} (port {port})",
                r["floatingip"]["floating_ip_address"]
                    .as_str()
                    .unwrap_or(&fip),
                r["floatingip"]["fixed_ip_address"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        FipCmd::Disassociate { fip } => {
            c.put(
                &path(&fip_id(c, &fip)?),
                &json!({"floatingip": {"port_id": null}}),
            )?;
            println!("floating IP {fip} is not mapped any more");
            Ok(())
        }
    }
}

fn sg(c: &Client, cmd: SgCmd) -> Result<()> {
    match cmd {
        SgCmd::Common(x) => common(c, Kind::SecurityGroup, x),
        SgCmd::Create {
            name,
            description,
            json,
        } => {
            let mut f = Map::new();
            f.insert("name".into(), json!(name));
            if let Some(d) = description {
                f.insert("description".into(), json!(d));
            }
            create(c, Kind::SecurityGroup, f, json)
        }
        SgCmd::RuleAdd(a) => {
            let mut f = Map::new();
            f.insert(
                "security_group_id".into(),
                json!(id_of(c, Kind::SecurityGroup, &a.group)?),
            );
            f.insert(
                "direction".into(),
                json!(if a.egress { "egress" } else { "ingress" }),
            );
            f.insert("ethertype".into(), json!(a.ethertype));
            if let Some(p) = a.protocol {
                f.insert("protocol".into(), json!(p));
            }
            if let Some(p) = a.port {
                let (lo, hi) = bodies::port_range(&p)?;
                f.insert("port_range_min".into(), json!(lo));
                f.insert("port_range_max".into(), json!(hi));
            }
            if let Some(r) = a.remote_ip {
                f.insert("remote_ip_prefix".into(), json!(r));
            }
            if let Some(g) = a.remote_group {
                f.insert(
                    "remote_group_id".into(),
                    json!(id_of(c, Kind::SecurityGroup, &g)?),
                );
            }
            create(c, Kind::SecurityGroupRule, f, a.json)
        }
        SgCmd::RuleDelete { rule } => {
            c.delete(&format!("{}/{rule}", Kind::SecurityGroupRule.path()))?;
            println!("deleted security group rule {rule}");
            Ok(())
        }
    }
}
