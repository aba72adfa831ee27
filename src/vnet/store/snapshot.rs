//! A consistent copy of every resource, read in one transaction: what the
//! reconciler (`vnet::realize`) builds the kernel's desired state from.

use crate::vnet::model::{
    FloatingIp, Network, Port, Router, SecurityGroup, SecurityGroupRule, Subnet,
};
use crate::vnet::ops::Fault;
use crate::vnet::store::Tx;

/// Every resource of the database at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub networks: Vec<Network>,
    pub subnets: Vec<Subnet>,
    pub ports: Vec<Port>,
    pub routers: Vec<Router>,
    pub floatingips: Vec<FloatingIp>,
    /// Groups with their `security_group_rules` filled in.
    pub security_groups: Vec<SecurityGroup>,
    pub security_group_rules: Vec<SecurityGroupRule>,
    pub projects: Vec<String>,
}

impl Snapshot {
    /// Reads everything through `tx`.
    pub(crate) fn read(tx: &Tx) -> Result<Snapshot, Fault> {
        let rules: Vec<SecurityGroupRule> = tx.list()?;
        let mut groups: Vec<SecurityGroup> = tx.list()?;
        for g in &mut groups {
            g.security_group_rules = rules
                .iter()
                .filter(|r| r.security_group_id == g.id)
                .cloned()
                .collect();
        }
        Ok(Snapshot {
            networks: tx.list()?,
            subnets: tx.list()?,
            ports: tx.list()?,
            routers: tx.list()?,
            floatingips: tx.list()?,
            security_groups: groups,
            security_group_rules: rules,
            projects: tx.projects()?,
        })
    }
}
