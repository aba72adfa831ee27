//! The topology model: plain data, no syscalls.

pub(crate) mod addr;
pub mod conditions;
pub mod dhcp;
pub mod file;
pub mod generate;
pub(crate) mod graph;
pub mod model;
pub mod nat;
pub mod ra;
pub(crate) mod routes;
pub(crate) mod suggest;
mod valid;
pub mod validate;

pub use model::*;
pub use valid::ValidTopology;
