//! The operations of the API on the store: each runs inside one
//! transaction ([`crate::vnet::store::Tx`]), validates everything before
//! it writes, and fails with a [`Fault`] shaped like Neutron's errors.

/// Copies each named field an update body has (`Some`) onto the resource,
/// as a PUT does for fields that need no check.
macro_rules! set_present {
    ($to:expr, $from:expr, $($field:ident),+ $(,)?) => {
        $(if let Some(v) = $from.$field {
            $to.$field = v;
        })+
    };
}

pub(crate) mod addr;
pub(crate) mod dhcp;
pub(crate) mod fips;
pub(crate) mod networks;
pub(crate) mod ports;
pub(crate) mod routers;
pub(crate) mod secgroups;
pub(crate) mod subnets;

use crate::vnet::model::{Network, Resource, Subnet};
use crate::vnet::store::Tx;

/// A refused or failed request, as Neutron reports it:
/// `{"NeutronError": {"type": kind, "message": message, "detail": ""}}`
/// with HTTP `status`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

impl Fault {
    pub(crate) fn new(status: u16, kind: &str, message: impl Into<String>) -> Fault {
        Fault {
            status,
            kind: kind.to_string(),
            message: message.into(),
        }
    }
    /// 400 `HTTPBadRequest`: the request itself is wrong.
    pub(crate) fn bad_request(message: impl Into<String>) -> Fault {
        Fault::new(400, "HTTPBadRequest", message)
    }
    /// 400 with a specific Neutron type (`InvalidInput`, `InvalidCIDR`, …).
    pub(crate) fn invalid(kind: &str, message: impl Into<String>) -> Fault {
        Fault::new(400, kind, message)
    }
    /// 404 with Neutron's `<Resource>NotFound` type.
    pub(crate) fn not_found(kind: &str, message: impl Into<String>) -> Fault {
        Fault::new(404, kind, message)
    }
    /// 409: the request conflicts with the current state.
    pub(crate) fn conflict(kind: &str, message: impl Into<String>) -> Fault {
        Fault::new(409, kind, message)
    }
    /// 403 `PolicyNotAuthorized`.
    pub(crate) fn forbidden(message: impl Into<String>) -> Fault {
        Fault::new(403, "PolicyNotAuthorized", message)
    }
    /// 500: the server could not do it (the message says what to check).
    pub(crate) fn internal(message: impl Into<String>) -> Fault {
        Fault::new(500, "HTTPInternalServerError", message)
    }
}

/// Who is asking: from the token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Caller {
    pub user_id: String,
    pub project_id: String,
    /// The admin role: sees and changes everything.
    pub is_admin: bool,
}

impl Caller {
    /// The admin of scripts (`admin_token`).
    pub(crate) fn admin(project_id: &str) -> Caller {
        Caller {
            user_id: "admin".into(),
            project_id: project_id.into(),
            is_admin: true,
        }
    }

    /// Whether the caller owns (or administers) `r`.
    pub(crate) fn owns<T: Resource>(&self, r: &T) -> bool {
        self.is_admin || r.project() == self.project_id
    }

    /// The project a new resource belongs to: the body's `project_id` /
    /// `tenant_id` (which must agree, and name the caller's own project
    /// unless the caller is admin), else the caller's.
    pub(crate) fn project_for(
        &self,
        project_id: &Option<String>,
        tenant_id: &Option<String>,
    ) -> Result<String, Fault> {
        let p = match (project_id, tenant_id) {
            (Some(p), Some(t)) if p != t => {
                return Err(Fault::bad_request(
                    "project_id and tenant_id do not match; give one of them",
                ))
            }
            (Some(p), _) | (None, Some(p)) => p.clone(),
            (None, None) => self.project_id.clone(),
        };
        if p != self.project_id && !self.is_admin {
            return Err(Fault::forbidden(
                "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
            ));
        }
        Ok(p)
    }
}

/// A new UUID (version 4).
pub(crate) fn new_id() -> String {
    let mut b = [0u8; 16];
    fill_random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(b)
}

/// 16 bytes in a UUID's text form (`8-4-4-4-12` lowercase hex digits).
pub(crate) fn uuid_text(b: [u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Fills `b` from the kernel's random source (a fallback mixes the clock
/// and a counter in, should `getrandom` ever fail).
pub(crate) fn fill_random(b: &mut [u8]) {
    if getrandom::fill(b).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut x = t ^ N.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        for v in b.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *v = x as u8;
        }
    }
}

/// The resource `id` of kind `T` if the caller may see it, else Neutron's
/// 404 (a resource of another project does not exist for the caller).
pub(crate) fn fetch<T: Resource>(tx: &Tx, caller: &Caller, id: &str) -> Result<T, Fault> {
    match tx.get::<T>(id)? {
        Some(r) if caller.owns(&r) => Ok(r),
        _ => Err(not_found::<T>(id)),
    }
}

/// Neutron's 404 for the resource `id` of kind `T`.
pub(crate) fn not_found<T: Resource>(id: &str) -> Fault {
    let noun = match T::KIND {
        "floatingip" => "Floating IP".to_string(),
        "security_group" => "Security group".to_string(),
        "security_group_rule" => "Security group rule".to_string(),
        k => {
            let mut s = k.to_string();
            s[..1].make_ascii_uppercase();
            s
        }
    };
    Fault::not_found(T::NOT_FOUND, format!("{noun} {id} could not be found."))
}

/// Whether the caller may see network `n`: its own, or shared, or external.
pub(crate) fn network_visible(caller: &Caller, n: &Network) -> bool {
    caller.owns(n) || n.shared || n.router_external
}

/// The network `id` if the caller may see it (own, shared or external).
pub(crate) fn fetch_network(tx: &Tx, caller: &Caller, id: &str) -> Result<Network, Fault> {
    match tx.get::<Network>(id)? {
        Some(n) if network_visible(caller, &n) => Ok(n),
        _ => Err(not_found::<Network>(id)),
    }
}

/// The subnet `id` if the caller may see it (own, or on a network it sees).
pub(crate) fn fetch_subnet(tx: &Tx, caller: &Caller, id: &str) -> Result<Subnet, Fault> {
    if let Some(s) = tx.get::<Subnet>(id)? {
        if caller.owns(&s) || fetch_network(tx, caller, &s.network_id).is_ok() {
            return Ok(s);
        }
    }
    Err(not_found::<Subnet>(id))
}

/// Whether the caller may see subnet `s` (given its network, if any).
pub(crate) fn subnet_visible(caller: &Caller, s: &Subnet, net: Option<&Network>) -> bool {
    caller.owns(s) || net.is_some_and(|n| network_visible(caller, n))
}

/// Refuses a change of `r` by a caller that may see it but does not own it.
pub(crate) fn must_own<T: Resource>(caller: &Caller, r: &T) -> Result<(), Fault> {
    if caller.owns(r) {
        Ok(())
    } else {
        Err(Fault::forbidden(format!(
            "{} {} belongs to another project; only its project or an admin may change it",
            T::KIND,
            r.id()
        )))
    }
}

/// Refuses an admin-only attribute for a non-admin caller.
pub(crate) fn admin_only(caller: &Caller, set: bool, attr: &str) -> Result<(), Fault> {
    if set && !caller.is_admin {
        return Err(Fault::forbidden(format!(
            "setting '{attr}' requires the admin role"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid4() {
        let a = new_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, new_id());
    }

    #[test]
    fn project_of_a_new_resource() {
        let member = Caller {
            user_id: "u".into(),
            project_id: "p".into(),
            is_admin: false,
        };
        assert_eq!(member.project_for(&None, &None), Ok("p".to_string()));
        assert_eq!(
            member
                .project_for(&None, &Some("q".into()))
                .map_err(|f| f.status),
            Err(403)
        );
        let admin = Caller::admin("p");
        assert_eq!(
            admin.project_for(&Some("q".into()), &None),
            Ok("q".to_string())
        );
        assert_eq!(
            admin
                .project_for(&Some("q".into()), &Some("r".into()))
                .map_err(|f| f.status),
            Err(400)
        );
    }
}
