//! What the client knows of each Neutron resource: its path, its JSON
//! wrappers, the columns `list` shows, and how a name becomes an ID.

use super::super::output::{print_json, table, BadInput};
use super::client::Client;
use anyhow::Result;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Subnet,
    Port,
    Router,
    FloatingIp,
    SecurityGroup,
    SecurityGroupRule,
}

impl Kind {
    /// The JSON wrapper of one (`network`) and the path segment.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::Router => "router",
            Kind::FloatingIp => "floatingip",
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
        }
    }
    pub fn plural(self) -> String {
        format!("{}s", self.singular())
    }
    pub fn path(self) -> String {
        format!("/v2.0/{}", self.plural().replace('_', "-"))
    }
    /// The command that lists them, for error messages.
    fn command(self) -> &'static str {
        match self {
            Kind::Network => "net",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::Router => "router",
            Kind::FloatingIp => "fip",
            Kind::SecurityGroup | Kind::SecurityGroupRule => "sg",
        }
    }
    /// (header, field) pairs for `list`.
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Network => &[
                ("ID", "id"),
                ("Name", "name"),
                ("Subnets", "subnets"),
                ("MTU", "mtu"),
                ("External", "router:external"),
                ("Shared", "shared"),
            ],
            Kind::Subnet => &[
                ("ID", "id"),
                ("Name", "name"),
                ("Network", "network_id"),
                ("CIDR", "cidr"),
                ("Gateway", "gateway_ip"),
                ("DHCP", "enable_dhcp"),
            ],
            Kind::Port => &[
                ("ID", "id"),
                ("Name", "name"),
                ("MAC", "mac_address"),
                ("Fixed IPs", "fixed_ips"),
                ("Status", "status"),
            ],
            Kind::Router => &[
                ("ID", "id"),
                ("Name", "name"),
                ("Status", "status"),
                ("External gateway", "external_gateway_info"),
            ],
            Kind::FloatingIp => &[
                ("ID", "id"),
                ("Floating IP", "floating_ip_address"),
                ("Fixed IP", "fixed_ip_address"),
                ("Port", "port_id"),
                ("Status", "status"),
            ],
            Kind::SecurityGroup => &[
                ("ID", "id"),
                ("Name", "name"),
                ("Description", "description"),
            ],
            Kind::SecurityGroupRule => &[
                ("ID", "id"),
                ("Direction", "direction"),
                ("Ethertype", "ethertype"),
                ("Protocol", "protocol"),
                ("Ports", "port_range_min"),
                ("Remote", "remote_ip_prefix"),
            ],
        }
    }
}

/// True for a string shaped like the UUIDs Neutron uses as IDs.
fn looks_like_id(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The resource called `name_or_id`: an ID, else the one resource with
/// that name (an error names the choices when several share it).
pub fn find(c: &Client, kind: Kind, name_or_id: &str) -> Result<Value> {
    if looks_like_id(name_or_id) {
        if let Ok(v) = c.get(&format!("{}/{}", kind.path(), name_or_id)) {
            return Ok(v[kind.singular()].clone());
        }
    }
    let q = form_urlencoded(name_or_id);
    let found = c.get(&format!("{}?name={q}", kind.path()))?;
    let list = found[kind.plural()].as_array().cloned().unwrap_or_default();
    match list.len() {
        1 => Ok(list[0].clone()),
        0 => Err(BadInput(format!(
            "no {} is named or numbered `{name_or_id}` (see `nlab {} list`)",
            kind.singular().replace('_', " "),
            kind.command()
        ))
        .into()),
        n => Err(BadInput(format!(
            "{n} {}s are named `{name_or_id}`: give one of their IDs ({})",
            kind.singular().replace('_', " "),
            list.iter()
                .filter_map(|v| v["id"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

pub fn id_of(c: &Client, kind: Kind, name_or_id: &str) -> Result<String> {
    let v = find(c, kind, name_or_id)?;
    Ok(v["id"].as_str().unwrap_or_default().to_string())
}

fn form_urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A field as one table cell: lists joined, objects compact.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(o) if o.contains_key("ip_address") => {
            o["ip_address"].as_str().unwrap_or_default().to_string()
        }
        other => other.to_string(),
    }
}

pub fn print_list(kind: Kind, list: &Value, json: bool) -> Result<()> {
    if json {
        return print_json(list);
    }
    let cols = kind.columns();
    let mut t = table(&cols.iter().map(|(h, _)| *h).collect::<Vec<_>>());
    for item in list.as_array().into_iter().flatten() {
        t.add_row(cols.iter().map(|(_, f)| cell(&item[*f])));
    }
    println!("{t}");
    Ok(())
}

/// One resource as a field/value table, fields sorted, or as JSON.
pub fn print_one(item: &Value, json: bool) -> Result<()> {
    if json {
        return print_json(item);
    }
    let mut t = table(&["Field", "Value"]);
    if let Some(o) = item.as_object() {
        let mut keys: Vec<&String> = o.keys().collect();
        keys.sort();
        for k in keys {
            t.add_row([k.clone(), cell(&o[k])]);
        }
    }
    println!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_wrappers_are_neutrons() {
        assert_eq!(Kind::SecurityGroupRule.path(), "/v2.0/security-group-rules");
        assert_eq!(Kind::SecurityGroupRule.plural(), "security_group_rules");
        assert_eq!(Kind::FloatingIp.path(), "/v2.0/floatingips");
        assert_eq!(Kind::Network.plural(), "networks");
    }

    #[test]
    fn ids_are_told_from_names() {
        assert!(looks_like_id("3f1c2a9e-0b7d-4c55-9a61-2f0e8d7b6c11"));
        assert!(!looks_like_id("net1"));
        assert!(!looks_like_id("3f1c2a9e00b7d-4c55-9a61-2f0e8d7b6c11"));
        assert_eq!(form_urlencoded("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn cells_show_addresses_not_json() {
        let ips = json!([{"subnet_id": "s", "ip_address": "10.0.0.5"},
                         {"subnet_id": "t", "ip_address": "10.0.1.5"}]);
        assert_eq!(cell(&ips), "10.0.0.5, 10.0.1.5");
        assert_eq!(cell(&json!(null)), "");
        assert_eq!(cell(&json!(1500)), "1500");
    }
}
