//! A NAT node's uplink toward the host (`uplink: host`, `--nat`): a veth
//! from the NAT's namespace into the root namespace on a /30 transfer
//! subnet, the host's own masquerade for it (table `nlab-<lab>` in the
//! root namespace) and `net.ipv4.ip_forward` on while a lab needs it.
//!
//! The one place nlab touches the root namespace, so every object is
//! owner-tagged and recorded before it is made: the root end is named
//! `nlu-<8 hex>` (a pattern users tell NetworkManager and networkd to
//! leave alone, see README "NAT") with the alias `nlab:<lab>:<node>:uplink`,
//! the table is named after the lab, and the forwarding setting's old
//! value is kept in `/run/nlab/.ip_forward.json`.

use super::super::handles::NodeConn;
use super::super::Result;
use super::rules::{host_batch, table_name, Published};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{addr, link, nft, route};
use crate::store::uplinks::{self, ForwardRecord, UplinkRecord};
use crate::topo::nat::UPLINK_IFACE;
use crate::topo::IpNet;
use std::net::{IpAddr, Ipv4Addr};

/// The root-namespace name of `node`'s uplink: `nlu-` and 8 hex digits of
/// a hash of lab and node (names are at most 15 bytes; lab names 24).
pub fn root_if_name(lab: &str, node: &str) -> String {
    format!("nlu-{:08x}", fnv(&format!("{lab}:{node}")) as u32)
}

/// The owner tag on the root end.
pub fn alias(lab: &str, node: &str) -> String {
    format!("nlab:{lab}:{node}:uplink")
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A free /30 in 100.127.0.0/16 (shared address space, RFC 6598, which
/// no public network routes), chosen by hash and probed past those the
/// root namespace already has.
fn pick_transfer(lab: &str, node: &str, taken: &[IpNet]) -> (Ipv4Addr, u8) {
    let start = (fnv(&format!("{lab}:{node}")) % 16384) as u32;
    for i in 0..16384u32 {
        let slot = (start + i) % 16384;
        let net = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 127, 0, 0)) + slot * 4);
        let clash = taken.iter().any(|t| match t.addr {
            IpAddr::V4(a) => u32::from(a) >> 2 == u32::from(net) >> 2,
            IpAddr::V6(_) => false,
        });
        if !clash {
            return (net, 30);
        }
    }
    (Ipv4Addr::new(100, 127, 255, 252), 30)
}

fn v4(a: Ipv4Addr, prefix: u8) -> IpNet {
    IpNet {
        addr: IpAddr::V4(a),
        prefix,
    }
}

/// Makes (or finds, on a later `up`) the host uplink of each named NAT
/// node, the root namespace's masquerade for all of them (and DNAT for
/// the forwards of those in `publish`, `(node, port, proto)`), and turns
/// forwarding on. Returns the records and warnings for the user.
pub fn make(
    lab: &str,
    nodes: &[String],
    publish: &[(String, u16, crate::topo::nat::Proto)],
) -> Result<(Vec<UplinkRecord>, Vec<String>)> {
    let mut recs = uplinks::load(lab);
    let mut root = Socket::new()?;
    let links = link::dump(&mut root, "reading links of the root namespace")?;
    for node in nodes {
        let name = root_if_name(lab, node);
        let have = links.iter().any(|l| l.name == name);
        if have && recs.iter().any(|r| &r.node == node) {
            continue;
        }
        let taken = addr::dump(&mut root, "reading addresses of the root namespace")?;
        let taken: Vec<IpNet> = taken
            .into_iter()
            .map(|a| a.net)
            .chain(recs.iter().map(|r| v4(r.net, r.prefix)))
            .collect();
        let (net, prefix) = pick_transfer(lab, node, &taken);
        let base = u32::from(net);
        let rec = UplinkRecord {
            node: node.clone(),
            root_if: name,
            net,
            prefix,
            root_addr: Ipv4Addr::from(base + 1),
            nat_addr: Ipv4Addr::from(base + 2),
        };
        // Intent first: a `kill -9` from here on leaves a record `down` reads.
        recs.retain(|r| &r.node != node);
        recs.push(rec.clone());
        uplinks::save(lab, &recs)?;
        create(lab, &mut root, &rec)?;
    }
    forwarding_on(lab)?;
    let recs: Vec<UplinkRecord> = recs
        .into_iter()
        .filter(|r| nodes.contains(&r.node))
        .collect();
    let ifs: Vec<(String, String, (Ipv4Addr, u8))> = recs
        .iter()
        .map(|r| (r.node.clone(), r.root_if.clone(), (r.net, r.prefix)))
        .collect();
    let published: Vec<Published> = publish
        .iter()
        .filter_map(|(node, port, proto)| {
            let r = recs.iter().find(|r| &r.node == node)?;
            Some((node.clone(), *port, *proto, r.nat_addr))
        })
        .collect();
    nft::apply(
        None,
        &host_batch(lab, &ifs, &published),
        &format!("adding table {} to the root namespace", table_name(lab)),
    )?;
    Ok((recs, host_firewall_warnings(lab)))
}

/// The veth, its owner tag, addresses, and the NAT's default route.
fn create(lab: &str, root: &mut Socket, rec: &UplinkRecord) -> Result<()> {
    let ns_name = netns::ns_name(lab, &rec.node);
    let nat_ns = NetNs::open(&ns_name)?;
    let here = NetNs::current()?;
    // Both ends come up only after they are told to make no IPv6
    // link-local address: the root end then sends no router solicitations
    // or MLD reports into the host, and network managers see no IPv6 there.
    let a = link::VethEnd {
        name: &rec.root_if,
        ns_fd: here.raw_fd(),
        index: 0,
        mac: None,
        mtu: None,
        up: false,
        master: None,
    };
    let b = link::VethEnd {
        name: UPLINK_IFACE,
        ns_fd: nat_ns.raw_fd(),
        index: 0,
        mac: None,
        mtu: None,
        up: false,
        master: None,
    };
    let what = |w: &str| format!("{w} of the host uplink {} of {ns_name}", rec.root_if);
    root.request(link::new_veth(&a, &b, what("creating the veth")))?;
    let idx = link::index_of(root, &rec.root_if, "the root namespace")?;
    let reqs = vec![
        link::set_alias(idx, &alias(lab, &rec.node), what("tagging")),
        link::no_link_local(idx, what("turning off IPv6 link-local on the root end")),
        link::set_up(idx, true, what("setting up the root end")),
        addr::add(
            idx,
            &v4(rec.root_addr, rec.prefix),
            what("addressing the root end"),
        ),
    ];
    if let Some(e) = root.execute(reqs).into_iter().next() {
        return Err(e.into());
    }
    let mut conn = NodeConn::open(&ns_name)?;
    let nidx = link::index_of(&mut conn.sock, UPLINK_IFACE, &ns_name)?;
    let default = v4(Ipv4Addr::UNSPECIFIED, 0);
    let reqs = vec![
        link::no_link_local(nidx, what("turning off IPv6 link-local on the NAT end")),
        link::set_up(nidx, true, what("setting up the NAT end")),
        addr::add(
            nidx,
            &v4(rec.nat_addr, rec.prefix),
            what("addressing the NAT end"),
        ),
        route::replace(
            &default,
            Some(IpAddr::V4(rec.root_addr)),
            Some(nidx),
            what("routing the NAT's default through"),
        ),
    ];
    match conn.sock.execute(reqs).into_iter().next() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Records the host's forwarding setting (first lab only) and turns it on.
fn forwarding_on(lab: &str) -> Result<()> {
    let now = netns::read_sysctl("net.ipv4.ip_forward")?;
    uplinks::with_forward(|rec| {
        let mut r = rec.unwrap_or(ForwardRecord {
            old: now.clone(),
            labs: Default::default(),
        });
        r.labs.insert(lab.to_string());
        (Some(r), ())
    })?;
    if now != "1" {
        netns::write_sysctl("net.ipv4.ip_forward", "1", "the root namespace")?;
    }
    Ok(())
}

/// Drops the lab from the forwarding record; the last lab restores the
/// value nlab found.
fn forwarding_release(lab: &str) -> Result<()> {
    let restore = uplinks::with_forward(|rec| match rec {
        None => (None, None),
        Some(mut r) => {
            r.labs.remove(lab);
            if r.labs.is_empty() {
                let old = r.old.clone();
                (None, Some(old))
            } else {
                (Some(r), None)
            }
        }
    })?;
    if let Some(old) = restore {
        netns::write_sysctl("net.ipv4.ip_forward", &old, "the root namespace")?;
    }
    Ok(())
}

/// A host firewall that drops forwarded packets (Docker sets the FORWARD
/// policy to DROP) would drop the lab's traffic too: say so, change nothing.
fn host_firewall_warnings(lab: &str) -> Vec<String> {
    let ours = table_name(lab);
    match nft::ruleset(None, "reading the root namespace's ruleset") {
        Ok(rs) => nft::forward_drop_chains(&rs)
            .into_iter()
            .filter(|c| c.split(' ').nth(1) != Some(ours.as_str()))
            .map(|c| format!(
                "the host's forward chain `{c}` drops by default (Docker sets this): traffic from the lab to the host's networks is dropped there unless a rule accepts it, e.g. `iptables -I FORWARD -i {p}+ -j ACCEPT` and `iptables -I FORWARD -o {p}+ -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`; nlab does not change it",
                p = "nlu-"
            ))
            .collect(),
        Err(e) => vec![format!("could not read the host's firewall to check its forward policy: {e}")],
    }
}

/// Whether the lab has anything in the root namespace.
pub fn has_root_objects(lab: &str) -> bool {
    !uplinks::load(lab).is_empty()
        || uplinks::forward_labs().iter().any(|l| l == lab)
        || !tagged_links(lab).is_empty()
}

/// Root-namespace links whose alias tags them as the lab's.
fn tagged_links(lab: &str) -> Vec<String> {
    let tag = format!("nlab:{lab}:");
    let Ok(mut root) = Socket::new() else {
        return Vec::new();
    };
    link::dump(&mut root, "reading links of the root namespace")
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.alias.as_deref().is_some_and(|a| a.starts_with(&tag)))
        .map(|l| l.name)
        .collect()
}

/// Labs that own a tagged link in the root namespace (for `cleanup`).
pub fn labs_in_root() -> Vec<String> {
    let Ok(mut root) = Socket::new() else {
        return Vec::new();
    };
    let mut labs: Vec<String> = link::dump(&mut root, "reading links of the root namespace")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| {
            Some(
                l.alias?
                    .strip_prefix("nlab:")?
                    .split(':')
                    .next()?
                    .to_string(),
            )
        })
        .chain(uplinks::forward_labs())
        .collect();
    labs.sort();
    labs.dedup();
    labs
}

/// Removes everything the lab has in the root namespace: the tagged and
/// recorded links (their NAT ends go with them), the lab's table, and its
/// claim on forwarding. Idempotent; finishes what an interrupted run left.
pub fn remove(lab: &str) -> Result<usize> {
    if !has_root_objects(lab) {
        return Ok(0);
    }
    let mut names: Vec<String> = uplinks::load(lab).into_iter().map(|r| r.root_if).collect();
    names.extend(tagged_links(lab));
    names.sort();
    names.dedup();
    let mut root = Socket::new()?;
    let mut removed = 0;
    for n in &names {
        match root.request(link::delete_by_name(
            n,
            format!("deleting host uplink {n} of lab {lab}"),
        )) {
            Ok(()) => removed += 1,
            Err(e) if e.is_no_device() || e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let table = table_name(lab);
    if nft::delete_table(
        None,
        "ip",
        &table,
        &format!("deleting table {table} from the root namespace"),
    )? {
        removed += 1;
    }
    forwarding_release(lab)?;
    uplinks::save(lab, &[]).ok();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_names_fit_and_are_stable() {
        let n = root_if_name("a-very-long-lab-name-xyz", "nat0");
        assert!(n.len() <= 15 && n.starts_with("nlu-"), "{n}");
        assert_eq!(n, root_if_name("a-very-long-lab-name-xyz", "nat0"));
        assert_ne!(n, root_if_name("a-very-long-lab-name-xyz", "nat1"));
    }

    #[test]
    fn transfer_subnets_skip_taken_ones() {
        let (a, p) = pick_transfer("x", "nat0", &[]);
        assert_eq!(p, 30);
        assert_eq!(a.octets()[..2], [100, 127]);
        let (b, _) = pick_transfer("x", "nat0", &[v4(Ipv4Addr::from(u32::from(a) + 1), 30)]);
        assert_ne!(a, b);
    }
}
