//! Internals that nlab's own integration tests, examples and benchmarks
//! reach: not a stable API, and hidden from the documentation.
//!
//! The supported surface of this library is [`crate::lab`] (bring labs
//! up, change them at run time, run code in their nodes, tear them down)
//! and [`crate::topo`] (the model: files, generators, validation). The
//! tests under `tests/` prove what no unit test can (a supervisor killed
//! with -9, a descriptor limit, the emulator on real TAPs, a probe in a
//! real namespace) and need a few pieces of the layers below `lab` to do
//! it; this module names exactly those pieces, and nothing else of the
//! kernel, services or store layers is reachable from outside the crate.

#[doc(hidden)]
pub use crate::kernel::{
    addr, exec, features, limits, link, netlink, netns, proc, tap, Error as KernelError,
};
#[doc(hidden)]
pub use crate::services::{dhcp, emulator, ping, supervisor};
#[doc(hidden)]
pub use crate::store::{lock_path, remove_stale_locks, LabLock};

/// The virtual networks' realizer (`vnet::realize`), for its root tests
/// and benchmark: the world as plain data, its lab, applying it.
#[doc(hidden)]
pub mod vnet {
    pub use crate::vnet::realize::{
        apply, to_topology, AddressPair, Binding, Desired, Direction, Error, ExternalGateway,
        FixedIp, FloatingIp, HostRoute, Names, Network, Port, PortStatus, Report, Router,
        RouterInterface, SgRule, Subnet,
    };
}
