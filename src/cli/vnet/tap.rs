//! What the client says of a port bound to a VM's TAP (`--bind tap`): how
//! to start the guest on it, from the port's `binding:vif_details`, in
//! the words `nlab up` uses for a VM node the user starts.

use serde_json::Value;

/// A port as its table shows it: the QEMU words left out of
/// `binding:vif_details` (the lines of [`guest_hint`] below the table
/// carry them, readable).
pub fn for_table(port: &Value) -> Value {
    let mut p = port.clone();
    if let Some(d) = p
        .get_mut("binding:vif_details")
        .and_then(Value::as_object_mut)
    {
        d.remove("qemu_args");
        d.remove("qemu_command");
    }
    p
}

/// The lines to print after a port's table, when it is bound to a TAP.
pub fn guest_hint(port: &Value) -> Option<String> {
    if port["binding:vif_type"] != "tap" {
        return None;
    }
    let d = &port["binding:vif_details"];
    let name = port["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or(port["id"].as_str())
        .unwrap_or("?");
    let Some(cmd) = d["qemu_command"].as_str().filter(|c| !c.is_empty()) else {
        return Some(format!(
            "Port {name} is bound to a TAP the server has not built yet (status {}): \
             `nlab port show {name}` prints how to start the guest once it is ACTIVE.",
            port["status"].as_str().unwrap_or("?")
        ));
    };
    let dev = d["devname"].as_str().unwrap_or("?");
    let ns = d["netns"].as_str().unwrap_or("?");
    let mut out = format!(
        "Start the guest yourself, inside namespace {ns} (TAP {dev}, NIC MAC {}):\n  {cmd}",
        port["mac_address"].as_str().unwrap_or("?")
    );
    // `nlab-<lab>-<node>`: the same place by lab and node.
    if let Some(node) = d["node"].as_str() {
        if let Some(lab) = ns
            .strip_prefix("nlab-")
            .and_then(|r| r.strip_suffix(&format!("-{node}")))
        {
            out.push_str(&format!(
                "\n  (or: nlab exec {lab} {node} -- qemu-system-x86_64 …)"
            ));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tap_port_says_how_to_start_its_guest() {
        let mut p = json!({"id": "6294afcd", "name": "vm1", "status": "ACTIVE",
            "mac_address": "fa:16:3e:00:00:01", "binding:vif_type": "tap",
            "binding:vif_details": {"devname": "vtap0", "netns": "nlab-vnet-vm-6294afcd",
                "node": "vm-6294afcd", "qemu_command": "ip netns exec nlab-vnet-vm-6294afcd qemu-system-x86_64 -netdev tap"}});
        let text = guest_hint(&p).expect("a hint");
        assert!(text.contains("ip netns exec nlab-vnet-vm-6294afcd qemu-system-x86_64 -netdev tap"));
        assert!(text.contains("nlab exec vnet vm-6294afcd --"), "{text}");
        assert!(text.contains("fa:16:3e:00:00:01"), "{text}");
        p["binding:vif_details"] = json!({});
        p["status"] = json!("DOWN");
        let text = guest_hint(&p).expect("a hint");
        assert!(text.contains("not built yet (status DOWN)"), "{text}");
        let shown = for_table(&json!({"binding:vif_details": {"devname": "vtap0",
            "qemu_args": ["-netdev"], "qemu_command": "ip"}}));
        assert_eq!(shown, json!({"binding:vif_details": {"devname": "vtap0"}}));
        p["binding:vif_type"] = json!("bridge");
        assert!(guest_hint(&p).is_none());
    }
}
