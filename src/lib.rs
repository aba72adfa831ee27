//! nlab: a kernel-native network lab for one Linux host.
//!
//! The layers, top to bottom; a module uses only those below it:
//! - `cli` (the binary, `src/cli`): parse, call this library, print.
//! - [`lab`]: plan the difference between the desired model and the
//!   recorded state, apply it, journal it, inspect it, tear it down.
//!   It reaches the lab's supervisor through one facade,
//!   [`services::supervisor::api`], and nothing else of [`services`].
//! - [`services`]: what needs a running loop: the per-lab supervisor and
//!   its link drivers, the userspace link emulator, the ICMP prober behind
//!   `pingall`. It never uses [`lab`].
//! - [`store`]: what `lab` and `services` both keep on disk about a lab:
//!   the journal, lab names and paths, the per-lab lock.
//! - [`kernel`]: the only code that makes syscalls (netlink, setns,
//!   sysctl, qdiscs, TAPs, and safe wrappers for the rest: fds, signals,
//!   locks, limits); the only module allowed `unsafe`
//!   (`#![deny(unsafe_code)]` everywhere else).
//! - [`topo`]: the model (parse, generate, validate); plain data, no
//!   syscalls.
//!
//! `tests/layers.rs` checks these arrows on the source.
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
#![deny(unsafe_code)]

// The one layer that may: every syscall wrapper, each `unsafe` with its
// SAFETY note, behind a safe API.
#[allow(unsafe_code)]
mod kernel;
// The `nlab` command line; the binary calls `cli::main` and nothing else.
#[doc(hidden)]
pub mod cli;
pub mod lab;
mod pause;
mod services;
mod store;
pub mod testing;
pub mod topo;
