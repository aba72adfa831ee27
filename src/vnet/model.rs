//! The resources, with Neutron's field names (neutron-lib's attribute maps
//! are the reference), as stored and as the API returns them, and the
//! bodies the API accepts to create and update them. A create or update
//! body names only the attributes Neutron lets a client write
//! (`deny_unknown_fields`), so any other is a 400 before anything is read.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Deserializes a field that may be absent (outer `None`), `null`
/// (`Some(None)`) or a value (`Some(Some(v))`).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// What every resource has: identity, owner, standard attributes.
pub(crate) trait Resource: Serialize + for<'de> Deserialize<'de> + Clone {
    /// The store's kind and Neutron's singular name (`network`).
    const KIND: &'static str;
    /// Neutron's collection name (`networks`).
    const COLLECTION: &'static str;
    /// Neutron's error type for a missing one (`NetworkNotFound`).
    const NOT_FOUND: &'static str;
    /// The resource's UUID.
    fn id(&self) -> &str;
    /// The owning project ("" for resources nlab owns, like gateway ports).
    fn project(&self) -> &str;
    /// Bumps `revision_number` and `updated_at` after a change.
    fn touch(&mut self, now: &str);
}

macro_rules! resource {
    ($t:ty, $kind:literal, $coll:literal, $nf:literal) => {
        impl Resource for $t {
            const KIND: &'static str = $kind;
            const COLLECTION: &'static str = $coll;
            const NOT_FOUND: &'static str = $nf;
            fn id(&self) -> &str {
                &self.id
            }
            fn project(&self) -> &str {
                &self.project_id
            }
            fn touch(&mut self, now: &str) {
                self.revision_number += 1;
                self.updated_at = now.to_string();
            }
        }
    };
}

/// A network: an isolated layer-2 segment (a bridge in the kernel).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct Network {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub admin_state_up: bool,
    pub status: String,
    /// The ids of its subnets (maintained by the store).
    pub subnets: Vec<String>,
    pub shared: bool,
    pub mtu: u32,
    #[serde(rename = "router:external")]
    pub router_external: bool,
    pub port_security_enabled: bool,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}
resource!(Network, "network", "networks", "NetworkNotFound");

/// The body of `POST /v2.0/networks`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    pub mtu: Option<u32>,
    #[serde(rename = "router:external")]
    pub router_external: Option<bool>,
    pub port_security_enabled: Option<bool>,
}

/// The body of `PUT /v2.0/networks/{id}`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    pub mtu: Option<u32>,
    #[serde(rename = "router:external")]
    pub router_external: Option<bool>,
    pub port_security_enabled: Option<bool>,
}

/// One allocation pool of a subnet (inclusive).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pool {
    pub start: String,
    pub end: String,
}

/// A route (a subnet's host route, a router's extra route).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    pub destination: String,
    pub nexthop: String,
}

/// A subnet: an address range on a network.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct Subnet {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub network_id: String,
    pub ip_version: u8,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<Pool>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<Route>,
    pub enable_dhcp: bool,
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
    pub subnetpool_id: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}
resource!(Subnet, "subnet", "subnets", "SubnetNotFound");

/// The body of `POST /v2.0/subnets`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubnetCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub network_id: String,
    pub ip_version: u8,
    pub cidr: String,
    #[serde(default, deserialize_with = "nullable")]
    pub gateway_ip: Option<Option<String>>,
    pub allocation_pools: Option<Vec<Pool>>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<Route>>,
    pub enable_dhcp: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub ipv6_address_mode: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub ipv6_ra_mode: Option<Option<String>>,
}

/// The body of `PUT /v2.0/subnets/{id}`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubnetUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub gateway_ip: Option<Option<String>>,
    pub allocation_pools: Option<Vec<Pool>>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<Route>>,
    pub enable_dhcp: Option<bool>,
}

/// One address of a port (`fixed_ips` entry).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// A requested address: a subnet, an address, or both.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixedIpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

/// An allowed address pair: traffic from this address (and MAC) passes
/// the port's anti-spoofing.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddressPair {
    pub ip_address: String,
    #[serde(default)]
    pub mac_address: Option<String>,
}

/// A port: one attachment (a MAC and its addresses) on a network.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct Port {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub network_id: String,
    pub admin_state_up: bool,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_id: String,
    pub device_owner: String,
    pub status: String,
    pub security_groups: Vec<String>,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: Vec<AddressPair>,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: String,
    /// nlab's binding keys (see docs/vnet.md).
    #[serde(rename = "binding:profile")]
    #[schema(value_type = Object)]
    pub binding_profile: Map<String, Value>,
    #[serde(rename = "binding:vif_type")]
    pub binding_vif_type: String,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    #[serde(rename = "binding:vif_details")]
    #[schema(value_type = Object)]
    pub binding_vif_details: Map<String, Value>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}
resource!(Port, "port", "ports", "PortNotFound");

/// The body of `POST /v2.0/ports`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub network_id: String,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    pub security_groups: Option<Vec<String>>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: Option<String>,
    #[serde(rename = "binding:profile")]
    #[schema(value_type = Object)]
    pub binding_profile: Option<Map<String, Value>>,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: Option<String>,
}

/// The body of `PUT /v2.0/ports/{id}`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    pub security_groups: Option<Vec<String>>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: Option<String>,
    #[serde(rename = "binding:profile")]
    #[schema(value_type = Object)]
    pub binding_profile: Option<Map<String, Value>>,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: Option<String>,
}

/// A router's external gateway.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct GatewayInfo {
    pub network_id: String,
    pub enable_snat: bool,
    pub external_fixed_ips: Vec<FixedIp>,
}

/// A requested external gateway.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayRequest {
    pub network_id: String,
    pub enable_snat: Option<bool>,
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// A router: forwards between its interfaces' subnets, SNAT to its gateway.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct Router {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub admin_state_up: bool,
    pub status: String,
    pub external_gateway_info: Option<GatewayInfo>,
    pub routes: Vec<Route>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}
resource!(Router, "router", "routers", "RouterNotFound");

/// The body of `POST /v2.0/routers`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub admin_state_up: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_gateway_info: Option<Option<Value>>,
}

/// The body of `PUT /v2.0/routers/{id}`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_gateway_info: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    pub routes: Option<Option<Vec<Route>>>,
}

/// The body of `add_router_interface` / `remove_router_interface`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct InterfaceRequest {
    pub subnet_id: Option<String>,
    pub port_id: Option<String>,
}

/// What `add_router_interface` / `remove_router_interface` answer.
#[derive(Serialize, ToSchema, Debug)]
pub(crate) struct InterfaceInfo {
    pub id: String,
    pub subnet_id: String,
    pub subnet_ids: Vec<String>,
    pub port_id: String,
    pub network_id: String,
    pub project_id: String,
    pub tenant_id: String,
}

/// A floating IP: an external address mapped 1:1 to a port's address.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct FloatingIp {
    pub id: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub floating_network_id: String,
    pub floating_ip_address: String,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub router_id: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}
resource!(
    FloatingIp,
    "floatingip",
    "floatingips",
    "FloatingIPNotFound"
);

/// The body of `POST /v2.0/floatingips`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct FloatingIpCreate {
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub floating_network_id: String,
    pub floating_ip_address: Option<String>,
    pub subnet_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
}

/// The body of `PUT /v2.0/floatingips/{id}`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct FloatingIpUpdate {
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub port_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub fixed_ip_address: Option<Option<String>>,
}

/// A security group rule (stateful; what it allows).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct SecurityGroupRule {
    pub id: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}
resource!(
    SecurityGroupRule,
    "security_group_rule",
    "security_group_rules",
    "SecurityGroupRuleNotFound"
);

/// The body of `POST /v2.0/security-group-rules`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecurityGroupRuleCreate {
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: Option<String>,
    #[schema(value_type = Option<String>)]
    pub protocol: Option<Value>,
    #[schema(value_type = Option<u32>)]
    pub port_range_min: Option<Value>,
    #[schema(value_type = Option<u32>)]
    pub port_range_max: Option<Value>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

/// A security group: a named set of rules ports refer to.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub(crate) struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    /// Filled in from the rules when the group is read.
    #[serde(default)]
    pub security_group_rules: Vec<SecurityGroupRule>,
    pub stateful: bool,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}
resource!(
    SecurityGroup,
    "security_group",
    "security_groups",
    "SecurityGroupNotFound"
);

/// The body of `POST /v2.0/security-groups`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecurityGroupCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// The body of `PUT /v2.0/security-groups/{id}`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecurityGroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// The body of `PUT /v2.0/security-group-rules/{id}` (the description
/// only, as standard-attr-description allows).
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecurityGroupRuleUpdate {
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_refuse_unknown_and_read_only_fields() {
        let ok: NetworkCreate = serde_json::from_str(r#"{"name":"a","router:external":true}"#)
            .expect("a valid network body");
        assert_eq!(ok.router_external, Some(true));
        for bad in [r#"{"status":"ACTIVE"}"#, r#"{"bogus":1}"#, r#"{"mtu":"x"}"#] {
            assert!(serde_json::from_str::<NetworkCreate>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<NetworkUpdate>(r#"{"id":"x"}"#).is_err());
    }

    #[test]
    fn nullable_tells_null_from_absent() {
        let absent: SubnetUpdate = serde_json::from_str("{}").expect("empty body");
        assert_eq!(absent.gateway_ip, None);
        let null: SubnetUpdate = serde_json::from_str(r#"{"gateway_ip":null}"#).expect("null");
        assert_eq!(null.gateway_ip, Some(None));
        let set: SubnetUpdate =
            serde_json::from_str(r#"{"gateway_ip":"10.0.0.1"}"#).expect("a gateway");
        assert_eq!(set.gateway_ip, Some(Some("10.0.0.1".into())));
    }
}
