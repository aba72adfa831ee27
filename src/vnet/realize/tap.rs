//! Ports bound to a VM's TAP (`binding:profile {"nlab": "tap"}`): what
//! such a port shows as Neutron's `binding:vif_details` once its TAP is
//! there, so the user learns where to start the guest.
//!
//! The TAP is a lab VM node's (`kind: vm` without kernel or disk): node
//! `vm-<id8>` holds `vtap0`, bridged inside the node to the `eth0` end of
//! the port's veth, whose other end `tap<id10>` is on the network's
//! bridge. QEMU runs in the node's namespace (a TAP is reached by name
//! only from its own namespace); the guest's NIC gets the port's MAC, so
//! the network's DHCP server hands it the port's fixed address. Removing
//! the port or its binding removes the node, which ends what runs in it
//! (the user's QEMU included) and with it the TAP, as `nlab down` does.

use super::{Binding, Desired, Error, Names, PortStatus};
use crate::lab::VmReport;
use serde::Serialize;
use std::collections::BTreeMap;

/// Neutron's `binding:vif_type` of a port bound to a TAP.
pub const VIF_TYPE: &str = "tap";

/// A TAP port's `binding:vif_details`: Neutron's keys where it has them,
/// and what QEMU needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vif {
    /// The TAP the guest's NIC attaches to (Nova's `devname`).
    pub devname: String,
    /// The namespace that holds it: QEMU must run there.
    pub netns: String,
    /// The lab node of that namespace (`nlab exec LAB NODE -- qemu…`).
    pub node: String,
    /// Layer 2: the guest is on the network's segment.
    pub connectivity: &'static str,
    /// Whether nlab filters the port's traffic (security groups and
    /// anti-spoofing), in the VM's node (`docs/vnet.md`): only where the
    /// kernel has `br_netfilter`, without which the stateful chains never
    /// see the guest's bridged packets.
    pub port_filter: bool,
    /// QEMU's network arguments, one word each: a TAP netdev and a
    /// virtio NIC with the port's MAC.
    pub qemu_args: Vec<String>,
    /// The whole command, with a placeholder for the machine's own
    /// arguments (as `nlab up` prints it for a VM node).
    pub qemu_command: String,
}

/// The details of every TAP port of `d` whose TAP is in its node now (by
/// the lab's report `vms` and one read of the node's interfaces). A TAP
/// port whose TAP is missing is set `DOWN` in `ports`.
pub fn vifs(
    d: &Desired,
    lab: &str,
    names: &Names,
    vms: &[VmReport],
    ports: &mut BTreeMap<String, PortStatus>,
) -> Result<BTreeMap<String, Vif>, Error> {
    let mut out = BTreeMap::new();
    for p in d.ports.iter().filter(|p| p.binding == Binding::Tap) {
        let Some(node) = names.port_node(p) else {
            continue;
        };
        let vif = match vms.iter().find(|v| v.node == node) {
            Some(v) => vif(lab, &node, v)?,
            None => None,
        };
        match vif {
            Some(v) if ports.get(&p.id) == Some(&PortStatus::Active) => {
                out.insert(p.id.clone(), v);
            }
            _ => {
                ports.insert(p.id.clone(), PortStatus::Down);
            }
        }
    }
    Ok(out)
}

/// Whether this kernel passes bridged IP packets through the IP hooks
/// (`br_netfilter`, whose sysctls every namespace has when it is built in).
/// Asked once per process: the kernel does not change under it.
fn bridged_packets_filtered() -> Result<bool, Error> {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if let Some(a) = ANSWER.get() {
        return Ok(*a);
    }
    let key = "net.bridge.bridge-nf-call-iptables".to_string();
    let missing =
        crate::kernel::features::missing_sysctls(&[key]).map_err(crate::lab::Error::from)?;
    Ok(*ANSWER.get_or_init(|| missing.is_empty()))
}

/// The details of VM node `node`'s first TAP, when it exists.
fn vif(lab: &str, node: &str, v: &VmReport) -> Result<Option<Vif>, Error> {
    let Some(dev) = v.taps.first() else {
        return Ok(None);
    };
    let have = crate::lab::sg::ifaces(lab, node)?.unwrap_or_default();
    if !have.contains(dev) {
        return Ok(None);
    }
    Ok(Some(Vif {
        devname: dev.clone(),
        netns: v.namespace.clone(),
        node: node.to_string(),
        connectivity: "l2",
        port_filter: bridged_packets_filtered()?,
        qemu_args: v.net_args.clone(),
        qemu_command: v.command.clone().unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{net, port, subnet};
    use super::super::{to_topology, Binding, Desired};
    use crate::topo::ValidTopology;

    const N: &str = "11111111-aaaa-4000-8000-000000000001";
    const S: &str = "33333333-aaaa-4000-8000-000000000003";
    const P: &str = "a1000000-0000-4000-8000-000000000000";

    #[test]
    fn a_tap_port_is_a_vm_node_whose_guest_has_the_ports_mac() {
        let mut p = port(P, N, S, "172.16.1.5", 5);
        p.binding = Binding::Tap;
        let mut statik = Desired {
            networks: vec![net(N)],
            subnets: vec![subnet(S, N, "172.16.1.0/24", false)],
            ports: vec![p],
            ..Default::default()
        };
        let mut dhcp = statik.clone();
        dhcp.subnets[0].enable_dhcp = true;
        for d in [&mut statik, &mut dhcp] {
            let t = ValidTopology::new(to_topology(d, "vn").expect("maps")).expect("valid");
            let n = &t.nodes["vm-a1000000"];
            assert!(n.vm.as_ref().is_some_and(|v| v.boot.is_none()), "{n:?}");
            let e = t.endpoints_of("vm-a1000000").next().expect("a link");
            assert_eq!(e.iface, "eth0");
            assert_eq!(e.mac, Some(d.ports[0].mac), "the guest NIC's MAC");
            // The guest configures itself: nothing of its stack on the node.
            assert!(e.addrs.is_empty() && !e.dhcp, "{e:?}");
            assert!(n.gateway.is_none() && n.routes.is_empty());
        }
        let t = to_topology(&dhcp, "vn").expect("maps");
        let scope = &t.nodes["qdhcp-33333333"]
            .dhcp
            .as_ref()
            .expect("server")
            .scopes[0];
        assert_eq!(scope.reservations.len(), 1, "the guest gets its address");
        let json = serde_json::to_value(Binding::Tap).expect("json");
        assert_eq!(json, serde_json::json!({"nlab": "tap"}));
    }
}
