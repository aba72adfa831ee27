//! nlab: a kernel-native network lab for one Linux host.
//!
//! Nodes are network namespaces, links are veth pairs (or TAPs carried by
//! a userspace emulator), switches are Linux bridges; no containers. The
//! library is for tests written in Rust: build a lab in code or from a
//! topology file, run code and programs in its nodes, change its links
//! while the test runs, and tear it down.
//!
//! The supported surface is two modules:
//! - [`lab`]: bring labs up ([`lab::Lab::up`], [`lab::Lab::builder`]),
//!   ephemeral or pinned, run code in nodes ([`lab::Lab::node`]), change
//!   links live ([`lab::Lab::link`]), read a lab back from the kernel
//!   ([`lab::Lab::inspect`]), list and tear labs down ([`lab::list`],
//!   [`lab::down`]).
//! - [`topo`]: the model: topology files ([`topo::file`]), Mininet's
//!   generators ([`topo::generate`]), validation ([`topo::ValidTopology`]),
//!   link conditions ([`topo::conditions`]). Plain data, no syscalls, no
//!   root needed.
//!
//! Bringing a lab up needs root (`CAP_NET_ADMIN` and `CAP_SYS_ADMIN`).
//! Prefer ephemeral labs in tests: they are held by the test process, so
//! the kernel frees them when it exits, even when a test panics or the
//! process is killed.
//!
//! ```
//! use nlab::lab::{Lab, UpOptions};
//! use nlab::topo::generate;
//! # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
//!
//! // Mininet's `--topo linear,3`: h1-s1-s2-s3-h3, hosts on 10.0.0.0/8.
//! // A name of its own: labs of tests that run at once must not share one.
//! let name = format!("crate{}", std::process::id());
//! let topo = generate::from_spec("linear,3", &name, false)?;
//! let opts = UpOptions { ephemeral: true, ..Default::default() };
//! let (lab, report) = Lab::up(&topo, &opts)?;
//! assert_eq!(report.nodes, 6);
//! // Programs started in a node see the lab's /etc/hosts.
//! let out = lab.exec_output("h1", &["ping", "-c1", "-W2", "h3"])?;
//! assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
//! lab.down()?; // or let `lab` drop
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layers
//!
//! Top to bottom; a module uses only those below it:
//! - `cli` (hidden, `src/cli`): the `nlab` command line: parse, call
//!   this library, print. The binary (`src/main.rs`) only calls
//!   `nlab::cli::main`; it is not part of the API.
//! - [`lab`]: plan the difference between the desired model and the
//!   recorded state, apply it, journal it, inspect it, tear it down.
//!   It reaches the lab's supervisor through one facade,
//!   `services::supervisor::api`, and nothing else of `services`.
//! - `services` (private): what needs a running loop: the per-lab
//!   supervisor and its link drivers, the userspace link emulator, the
//!   ICMP prober behind `pingall`. It never uses [`lab`].
//! - `store` (private): what `lab` and `services` both keep on disk about
//!   a lab: the journal, lab names and paths, the per-lab lock.
//! - `kernel` (private): the only code that makes syscalls (netlink,
//!   setns, sysctl, qdiscs, TAPs, and safe wrappers for the rest: fds,
//!   signals, locks, limits); the only module allowed `unsafe`
//!   (`#![deny(unsafe_code)]` everywhere else).
//! - [`topo`]: the model (parse, generate, validate); plain data, no
//!   syscalls.
//!
//! Beside them, [`testing`] names the few internals nlab's own
//! integration tests and examples reach; it is not a stable API.
//! `tests/layers.rs` checks these arrows and this surface on the source.

// Long functions hide their phases; the threshold is in clippy.toml.
#![warn(clippy::too_many_lines)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

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
// Neutron-style virtual networks (issue 15): model, store, operations,
// and `nlab serve`, the API over them.
mod api;
mod vnet;
