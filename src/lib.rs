//! nlab: a kernel-native network lab for one Linux host.
//!
//! Three layers, each only knowing the one below:
//! - [`topo`]: the model (parse, generate, validate); plain data, no syscalls.
//! - [`lab`]: plan the difference between the desired model and the recorded
//!   state, apply it, journal it, tear it down.
//! - [`kernel`]: the only code that makes syscalls (netlink, setns, sysctl).
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

// Long functions hide their phases; the threshold is in clippy.toml.
#![warn(clippy::too_many_lines)]

pub mod kernel;
pub mod lab;
pub mod pause;
pub mod services;
pub mod topo;
