//! Work that needs a running loop rather than one kernel call.

// An internal layer: outside the crate only `crate::testing` reaches a
// few of its items, for nlab's own tests; the public API is `lab` and
// `topo`, which `missing_docs` holds to full documentation.
#![allow(missing_docs, rustdoc::private_intra_doc_links)]

pub mod capture;
pub mod dhcp;
pub mod emulator;
pub mod ping;
pub mod ra;
pub mod supervisor;
