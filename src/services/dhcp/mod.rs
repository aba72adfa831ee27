//! DHCPv4: a server written on `dhcproto` (no maintained Rust DHCP server
//! exists), run by the lab's supervisor inside the server node's
//! namespace; the relay agent for routers with `dhcp_relay: true`; and the
//! lease files `nlab leases` reads.
//!
//! - [`server`]: the protocol, pure (request in, reply out), unit-tested.
//! - [`pool`]: which address a client gets.
//! - [`options`]: what a reply carries.
//! - [`leases`]: the lease table and its atomic, root-only file.
//!
//! Stateful DHCPv6 is not part of nlab: IPv6 hosts autoconfigure (SLAAC).

pub mod leases;
pub mod options;
pub mod pool;
pub mod server;
#[cfg(test)]
mod tests;

pub use leases::{Lease, LeaseState, Leases};
pub use server::{Dest, Reply, Server};
