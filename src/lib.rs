//! nlab: a kernel-native network lab for one Linux host.
//!
//! Three layers, each only knowing the one below:
//! - [`topo`]: the model (parse, generate, validate); plain data, no syscalls.
//! - [`lab`]: plan the difference between the desired model and the recorded
//!   state, apply it, journal it, tear it down.
//! - [`kernel`]: the only code that makes syscalls (netlink, setns, sysctl,
//!   and safe wrappers for the rest: fds, signals, locks, limits); the
//!   only module allowed `unsafe` (`#![deny(unsafe_code)]` elsewhere).
//!
//! [`services`] holds what needs a running loop (the ICMP prober behind
//! `pingall`). The CLI in `src/cli` is a thin layer over this library.
//!
//! ```no_run
//! use nlab::{lab::Lab, topo::generate};
//! let topo = generate::from_spec("linear,3", "doc", false).unwrap();
//! let (lab, report) = Lab::up(&topo, &Default::default()).unwrap();
//! println!("{} nodes up in {:?}", report.nodes, report.elapsed);
//! let out = lab.exec_output("h1", &["ping", "-c1", "h3"]).unwrap();
//! assert!(out.status.success());
//! lab.down().unwrap();
//! ```

#![deny(unsafe_code)]

// The one layer that may: every syscall wrapper, each `unsafe` with its
// SAFETY note, behind a safe API.
#[allow(unsafe_code)]
pub mod kernel;
pub mod lab;
pub mod pause;
pub mod services;
pub mod topo;
