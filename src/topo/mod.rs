//! The topology model: plain data, no syscalls, no root needed.
//!
//! A [`Topology`] comes from a file ([`file::load`], [`file::parse`]), a
//! Mininet generator ([`generate::from_spec`]) or code
//! ([`crate::lab::Lab::builder`], or the structs of [`model`] directly).
//! [`ValidTopology`] is one that passed [`validate::validate`]; that is
//! what [`crate::lab::Lab::up_valid`] takes, and every problem found is a
//! [`validate::TopoError`] with its place in the file and, when there is
//! an obvious one, a fix.

pub(crate) mod addr;
pub mod capture;
pub mod conditions;
pub mod dhcp;
pub mod external;
pub mod file;
pub mod generate;
pub(crate) mod graph;
pub mod limits;
pub mod macvlan;
pub mod model;
pub mod nat;
pub mod ra;
pub(crate) mod routes;
pub(crate) mod suggest;
mod valid;
pub mod validate;
pub mod vm;

pub use model::*;
pub use valid::ValidTopology;
