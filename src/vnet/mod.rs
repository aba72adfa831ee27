//! Neutron-style virtual networks (issue 15; design in `docs/vnet.md`).
//!
//! `realize` turns a plain description of the whole virtual world
//! ([`realize::Desired`]) into one lab and the per-port security-group
//! tables, so the REST API and its store meet the kernel only through it.

pub(crate) mod realize;
pub(crate) mod trace;
