//! DHCPv4: a server written on `dhcproto` (no maintained Rust DHCP server
//! exists), run by the lab's supervisor inside the server node's
//! namespace; the relay agent for routers with `dhcp_relay: true`; and the
//! lease files `nlab leases` reads.
//!
//! - [`server`]: the protocol, pure (request in, reply out), unit-tested.
//! - [`pool`]: which address a client gets.
//! - [`options`]: what a reply carries.
//! - [`leases`]: the lease table and its atomic, root-only file.
//! - [`plan`]: servers, relays and clients the applied topology asks for.
//! - [`run`], [`relay`], [`client_run`]: the threads that do the work, on
//!   UDP sockets opened in the nodes' namespaces ([`socket`]).
//! - [`client`]: the built-in client's state machine, pure.
//! - [`service`]: all of it inside the lab's supervisor.
//!
//! Stateful DHCPv6 is not part of nlab: IPv6 hosts autoconfigure (SLAAC).

pub mod client;
pub mod client_run;
pub mod leases;
pub mod options;
pub mod plan;
pub mod pool;
pub mod relay;
pub mod run;
pub mod server;
pub mod service;
pub mod socket;
#[cfg(test)]
mod tests;

pub use leases::{Lease, LeaseState, Leases};
pub use server::{Dest, Reply, Server};
