//! Flag spellings the client accepts, turned into Neutron's JSON fields:
//! allocation pools, host routes, fixed IPs, allowed address pairs, port
//! ranges and where a port is bound.

use super::super::output::BadInput;
use anyhow::Result;
use serde_json::{json, Value};

fn bad(msg: String) -> anyhow::Error {
    BadInput(msg).into()
}

/// `--pool 10.0.0.10-10.0.0.99` → `{"start", "end"}`.
pub fn pool(s: &str) -> Result<Value> {
    let (start, end) = s.split_once('-').ok_or_else(|| {
        bad(format!(
            "--pool `{s}`: write START-END, e.g. --pool 10.0.0.10-10.0.0.99"
        ))
    })?;
    Ok(json!({"start": start.trim(), "end": end.trim()}))
}

/// `--route 192.168.9.0/24=10.0.0.254` → `{"destination", "nexthop"}`.
pub fn route(s: &str) -> Result<Value> {
    let (d, n) = s
        .split_once('=')
        .or_else(|| s.split_once(','))
        .ok_or_else(|| {
            bad(format!(
                "--route `{s}`: write DESTINATION=NEXTHOP, e.g. --route 192.168.9.0/24=10.0.0.254"
            ))
        })?;
    Ok(json!({"destination": d.trim(), "nexthop": n.trim()}))
}

/// `--fixed-ip ip=10.0.0.5`, `--fixed-ip subnet=ID,ip=10.0.0.5`, or just
/// `10.0.0.5`. The subnet, when named, is resolved by the caller.
pub fn fixed_ip(s: &str) -> Result<(Option<String>, Option<String>)> {
    if !s.contains('=') {
        return Ok((None, Some(s.to_string())));
    }
    let (mut subnet, mut ip) = (None, None);
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("subnet", v)) => subnet = Some(v.to_string()),
            Some(("ip", v)) | Some(("ip-address", v)) => ip = Some(v.to_string()),
            _ => {
                return Err(bad(format!(
                    "--fixed-ip `{s}`: write [subnet=NAME_OR_ID,]ip=ADDRESS (or subnet=NAME alone)"
                )))
            }
        }
    }
    Ok((subnet, ip))
}

/// `--allowed-pair 10.0.0.99` or `10.0.0.0/24,fa:16:3e:00:00:01`.
pub fn address_pair(s: &str) -> Value {
    match s.split_once(',') {
        Some((ip, mac)) => json!({"ip_address": ip, "mac_address": mac}),
        None => json!({"ip_address": s}),
    }
}

/// `--port 22` or `--port 8000-8080` → (min, max).
pub fn port_range(s: &str) -> Result<(u16, u16)> {
    let num = |p: &str| {
        p.trim().parse::<u16>().map_err(|_| {
            bad(format!(
                "--port `{s}`: write a port or a range, e.g. --port 22 or --port 8000-8080"
            ))
        })
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((num(a)?, num(b)?)),
        None => num(s).map(|p| (p, p)),
    }
}

/// `--bind` values → nlab's `binding:profile` (docs/vnet.md).
pub fn binding(s: &str) -> Result<Value> {
    let (what, arg) = s.split_once(':').unwrap_or((s, ""));
    Ok(match (what, arg) {
        ("instance", "") => json!({"nlab": "instance"}),
        ("tap", "") => json!({"nlab": "tap"}),
        ("netns", n) if !n.is_empty() => json!({"nlab": "netns", "netns": n}),
        ("container", n) if !n.is_empty() => json!({"nlab": "container", "container": n}),
        ("pid", n) => match n.parse::<u32>() {
            Ok(p) => json!({"nlab": "pid", "pid": p}),
            Err(_) => return Err(bad(format!("--bind `{s}`: write pid:NUMBER"))),
        },
        ("lab", n) => match n.split_once('/') {
            Some((lab, node)) if !lab.is_empty() && !node.is_empty() => {
                json!({"nlab": "lab", "lab": lab, "node": node})
            }
            _ => return Err(bad(format!("--bind `{s}`: write lab:LAB/NODE"))),
        },
        _ => {
            return Err(bad(format!(
                "--bind `{s}`: one of instance, tap, netns:NAME, pid:N, container:NAME, \
                 lab:LAB/NODE"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_neutron_fields() {
        assert_eq!(
            pool("10.0.0.10-10.0.0.99").unwrap(),
            json!({"start": "10.0.0.10", "end": "10.0.0.99"})
        );
        assert!(pool("10.0.0.10").is_err());
        assert_eq!(
            route("0.0.0.0/0=10.0.0.254").unwrap(),
            json!({"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"})
        );
        assert_eq!(
            fixed_ip("subnet=s1,ip=10.0.0.5").unwrap(),
            (Some("s1".into()), Some("10.0.0.5".into()))
        );
        assert_eq!(
            fixed_ip("10.0.0.5").unwrap(),
            (None, Some("10.0.0.5".into()))
        );
        assert!(fixed_ip("subnet=s1,foo=1").is_err());
        assert_eq!(port_range("22").unwrap(), (22, 22));
        assert_eq!(port_range("8000-8080").unwrap(), (8000, 8080));
        assert!(port_range("ssh").is_err());
        assert_eq!(
            address_pair("10.0.0.0/24,fa:16:3e:00:00:01"),
            json!({"ip_address": "10.0.0.0/24", "mac_address": "fa:16:3e:00:00:01"})
        );
    }

    #[test]
    fn bindings_follow_the_design() {
        assert_eq!(binding("instance").unwrap(), json!({"nlab": "instance"}));
        assert_eq!(
            binding("lab:demo/h1").unwrap(),
            json!({"nlab": "lab", "lab": "demo", "node": "h1"})
        );
        assert_eq!(
            binding("pid:42").unwrap(),
            json!({"nlab": "pid", "pid": 42})
        );
        for wrong in ["vm", "lab:demo", "pid:x", "netns:"] {
            let e = binding(wrong).unwrap_err().to_string();
            assert!(e.contains(wrong), "{e}");
        }
    }
}
