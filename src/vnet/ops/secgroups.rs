//! Security groups and their rules; the `default` group every project gets
//! on first use (egress anywhere, ingress from the same group).

use ipnet::IpNet;
use serde_json::Value;

use crate::vnet::model::{
    Port, Resource, SecurityGroup, SecurityGroupCreate, SecurityGroupRule, SecurityGroupRuleCreate,
    SecurityGroupUpdate,
};
use crate::vnet::ops::{fetch, must_own, new_id, Caller, Fault};
use crate::vnet::store::Tx;

fn bad(kind: &str, msg: String) -> Fault {
    Fault::invalid(kind, msg)
}

fn rule(
    tx: &Tx,
    group: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote: Option<&str>,
) -> SecurityGroupRule {
    SecurityGroupRule {
        id: new_id(),
        description: String::new(),
        project_id: group.project_id.clone(),
        tenant_id: group.project_id.clone(),
        security_group_id: group.id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote.map(str::to_string),
        created_at: tx.now.clone(),
        updated_at: tx.now.clone(),
        revision_number: 0,
    }
}

fn new_group(
    tx: &Tx,
    project: &str,
    name: &str,
    description: &str,
) -> Result<SecurityGroup, Fault> {
    let g = SecurityGroup {
        id: new_id(),
        name: name.into(),
        description: description.into(),
        project_id: project.into(),
        tenant_id: project.into(),
        security_group_rules: Vec::new(),
        stateful: true,
        tags: Vec::new(),
        created_at: tx.now.clone(),
        updated_at: tx.now.clone(),
        revision_number: 0,
    };
    tx.put(&g)?;
    let default = name == "default";
    for eth in ["IPv4", "IPv6"] {
        tx.put(&rule(tx, &g, "egress", eth, None))?;
        if default {
            tx.put(&rule(tx, &g, "ingress", eth, Some(&g.id)))?;
        }
    }
    Ok(g)
}

/// The id of `project`'s `default` group, made (with Neutron's default
/// rules) the first time the project is seen.
pub(crate) fn ensure_default(tx: &Tx, project: &str) -> Result<String, Fault> {
    if project.is_empty() {
        return Ok(String::new());
    }
    tx.first_use(project)?;
    let found = tx
        .list::<SecurityGroup>()?
        .into_iter()
        .find(|g| g.project_id == project && g.name == "default");
    match found {
        Some(g) => Ok(g.id),
        None => Ok(new_group(tx, project, "default", "Default security group")?.id),
    }
}

/// The group with its rules filled in.
pub(crate) fn with_rules(tx: &Tx, mut g: SecurityGroup) -> Result<SecurityGroup, Fault> {
    g.security_group_rules = tx
        .list::<SecurityGroupRule>()?
        .into_iter()
        .filter(|r| r.security_group_id == g.id)
        .collect();
    Ok(g)
}

/// `POST /v2.0/security-groups`.
pub(crate) fn create(
    tx: &Tx,
    caller: &Caller,
    b: SecurityGroupCreate,
) -> Result<SecurityGroup, Fault> {
    let project = caller.project_for(&b.project_id, &b.tenant_id)?;
    ensure_default(tx, &project)?;
    let name = b.name.unwrap_or_default();
    if name == "default" {
        return Err(Fault::conflict(
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let g = new_group(tx, &project, &name, &b.description.unwrap_or_default())?;
    with_rules(tx, g)
}

/// `PUT /v2.0/security-groups/{id}`.
pub(crate) fn update(
    tx: &Tx,
    caller: &Caller,
    id: &str,
    b: SecurityGroupUpdate,
) -> Result<SecurityGroup, Fault> {
    let mut g: SecurityGroup = fetch(tx, caller, id)?;
    if let Some(n) = b.name {
        if g.name == "default" && n != "default" || n == "default" && g.name != "default" {
            return Err(Fault::conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        g.name = n;
    }
    if let Some(d) = b.description {
        g.description = d;
    }
    g.touch(&tx.now);
    g.security_group_rules.clear();
    tx.put(&g)?;
    with_rules(tx, g)
}

/// `DELETE /v2.0/security-groups/{id}`: not the default group, not while
/// a port uses it; its rules go with it.
pub(crate) fn delete(tx: &Tx, caller: &Caller, id: &str) -> Result<(), Fault> {
    let g: SecurityGroup = fetch(tx, caller, id)?;
    must_own(caller, &g)?;
    if g.name == "default" && !caller.is_admin {
        return Err(Fault::conflict(
            "SecurityGroupCannotRemoveDefault",
            "Removing default security group not allowed.",
        ));
    }
    if tx
        .list::<Port>()?
        .iter()
        .any(|p| p.security_groups.contains(&g.id))
    {
        return Err(Fault::conflict(
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    for r in tx.list::<SecurityGroupRule>()? {
        if r.security_group_id == id || r.remote_group_id.as_deref() == Some(id) {
            tx.delete::<SecurityGroupRule>(&r.id)?;
        }
    }
    tx.delete::<SecurityGroup>(id)
}

const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("icmp", 1),
    ("icmpv6", 58),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// The protocol as given (a name or a number 0-255), checked; `None` for
/// any protocol. The second value is its number.
fn protocol(v: &Option<Value>) -> Result<Option<(String, u8)>, Fault> {
    let s = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() || s == "any" => return Ok(None),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(bad(
                "SecurityGroupRuleInvalidProtocol",
                format!("Security group rule protocol {other} not supported."),
            ))
        }
    };
    if let Some(&(_, n)) = PROTOCOLS.iter().find(|(name, _)| *name == s) {
        return Ok(Some((s, n)));
    }
    match s.parse::<u8>() {
        Ok(n) => Ok(Some((s, n))),
        Err(_) => Err(bad(
            "SecurityGroupRuleInvalidProtocol",
            format!("Security group rule protocol {s} not supported. Only protocol values {:?} and integer representations [0 to 255] are supported.", PROTOCOLS.iter().map(|p| p.0).collect::<Vec<_>>()),
        )),
    }
}

fn port_value(v: &Option<Value>, what: &str) -> Result<Option<u32>, Fault> {
    match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some),
        Some(Value::String(s)) => s.parse::<u32>().ok().map(Some),
        Some(_) => None,
    }
    .ok_or_else(|| {
        bad(
            "InvalidInput",
            format!(
                "Invalid input for {what}. Reason: '{}' is not an integer.",
                v.clone().unwrap_or(Value::Null)
            ),
        )
    })
}

fn check_ports(proto: Option<u8>, min: Option<u32>, max: Option<u32>) -> Result<(), Fault> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    match proto {
        Some(6 | 17 | 33 | 132 | 136) => {
            let (lo, hi) = (min.unwrap_or(0), max.unwrap_or(0));
            if min.is_none() || max.is_none() {
                return Err(bad(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max".into(),
                ));
            }
            if lo == 0 || hi > 65535 {
                return Err(bad(
                    "SecurityGroupInvalidPortValue",
                    format!("Invalid value for port {}", if lo == 0 { lo } else { hi }),
                ));
            }
            if lo > hi {
                return Err(bad(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max".into(),
                ));
            }
        }
        Some(1 | 58) => {
            for (what, v) in [("type", min), ("code", max)] {
                if v.is_some_and(|v| v > 255) {
                    return Err(bad(
                        "SecurityGroupInvalidIcmpValue",
                        format!(
                            "Invalid value for ICMP {what} (port-range-min): {}",
                            v.unwrap_or(0)
                        ),
                    ));
                }
            }
            if min.is_none() && max.is_some() {
                return Err(bad("SecurityGroupMissingIcmpType", format!("ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.", max.unwrap_or(0))));
            }
        }
        _ => {
            return Err(bad(
                "SecurityGroupInvalidProtocolForPortRange",
                "Ports can only be given for TCP, UDP, UDP-Lite, SCTP, DCCP and ICMP rules.".into(),
            ))
        }
    }
    Ok(())
}

/// `POST /v2.0/security-group-rules`.
pub(crate) fn create_rule(
    tx: &Tx,
    caller: &Caller,
    b: SecurityGroupRuleCreate,
) -> Result<SecurityGroupRule, Fault> {
    let project = caller.project_for(&b.project_id, &b.tenant_id)?;
    let g: SecurityGroup = fetch(tx, caller, &b.security_group_id)?;
    if !matches!(b.direction.as_str(), "ingress" | "egress") {
        return Err(bad(
            "InvalidInput",
            format!(
                "Invalid input for direction. Reason: '{}' is not in ['ingress', 'egress'].",
                b.direction
            ),
        ));
    }
    let ethertype = b.ethertype.clone().unwrap_or_else(|| "IPv4".into());
    if !matches!(ethertype.as_str(), "IPv4" | "IPv6") {
        return Err(bad(
            "InvalidInput",
            format!(
                "Invalid input for ethertype. Reason: '{ethertype}' is not in ['IPv4', 'IPv6']."
            ),
        ));
    }
    let proto = protocol(&b.protocol)?;
    if proto.as_ref().is_some_and(|p| p.1 == 58) && ethertype == "IPv4" {
        return Err(bad(
            "SecurityGroupEthertypeConflictWithProtocol",
            "Ethertype IPv4 is not supported by protocol icmpv6.".into(),
        ));
    }
    let (min, max) = (
        port_value(&b.port_range_min, "port_range_min")?,
        port_value(&b.port_range_max, "port_range_max")?,
    );
    check_ports(proto.as_ref().map(|p| p.1), min, max)?;
    if b.remote_ip_prefix.is_some() && b.remote_group_id.is_some() {
        return Err(bad(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.".into(),
        ));
    }
    let prefix = match &b.remote_ip_prefix {
        Some(p) => {
            let net: IpNet = p.parse().or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(|_| {
                bad("InvalidInput", format!("Invalid input for remote_ip_prefix. Reason: '{p}' is not a valid IP subnet."))
            })?;
            let fam = if matches!(net, IpNet::V4(_)) {
                "IPv4"
            } else {
                "IPv6"
            };
            if fam != ethertype {
                return Err(bad(
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                ));
            }
            Some(net.trunc().to_string())
        }
        None => None,
    };
    if let Some(r) = &b.remote_group_id {
        fetch::<SecurityGroup>(tx, caller, r)?;
    }
    let mut new = rule(
        tx,
        &g,
        &b.direction,
        &ethertype,
        b.remote_group_id.as_deref(),
    );
    new.project_id = project.clone();
    new.tenant_id = project;
    new.protocol = proto.as_ref().map(|p| p.0.clone());
    new.port_range_min = min;
    new.port_range_max = max;
    new.remote_ip_prefix = prefix;
    new.description = b.description.unwrap_or_default();
    let key = |r: &SecurityGroupRule| {
        let pnum = protocol(&r.protocol.clone().map(Value::String))
            .ok()
            .flatten()
            .map(|p| p.1);
        (
            r.security_group_id.clone(),
            r.direction.clone(),
            r.ethertype.clone(),
            pnum,
            r.port_range_min,
            r.port_range_max,
            r.remote_ip_prefix.clone(),
            r.remote_group_id.clone(),
        )
    };
    if let Some(dup) = tx
        .list::<SecurityGroupRule>()?
        .iter()
        .find(|r| key(r) == key(&new))
    {
        return Err(Fault::conflict(
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. Rule id is {}.", dup.id),
        ));
    }
    tx.put(&new)?;
    Ok(new)
}

/// `DELETE /v2.0/security-group-rules/{id}`.
pub(crate) fn delete_rule(tx: &Tx, caller: &Caller, id: &str) -> Result<(), Fault> {
    let r: SecurityGroupRule = fetch(tx, caller, id)?;
    must_own(caller, &r)?;
    tx.delete::<SecurityGroupRule>(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protocols_by_name_and_number() {
        assert_eq!(
            protocol(&Some(json!("TCP"))).ok().flatten().map(|p| p.1),
            Some(6)
        );
        assert_eq!(
            protocol(&Some(json!(17))).ok().flatten().map(|p| p.1),
            Some(17)
        );
        assert_eq!(protocol(&None).ok().flatten(), None);
        assert!(protocol(&Some(json!("bogus"))).is_err());
        assert!(protocol(&Some(json!(256))).is_err());
    }

    #[test]
    fn port_ranges() {
        assert!(check_ports(Some(6), Some(22), Some(22)).is_ok());
        assert!(check_ports(Some(6), Some(23), Some(22)).is_err());
        assert!(check_ports(Some(6), Some(0), Some(22)).is_err());
        assert!(check_ports(Some(6), Some(1), Some(65536)).is_err());
        assert!(check_ports(None, Some(1), Some(2)).is_err());
        assert!(check_ports(Some(1), Some(8), Some(0)).is_ok());
        assert!(check_ports(Some(1), Some(256), None).is_err());
        assert!(check_ports(Some(1), None, Some(1)).is_err());
    }
}
