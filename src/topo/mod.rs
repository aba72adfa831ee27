//! The topology model: plain data, no syscalls.

pub mod addr;
pub mod conditions;
pub mod dhcp;
pub mod file;
pub mod generate;
pub mod graph;
pub mod model;
pub mod nat;
pub mod ra;
pub mod routes;
pub mod suggest;
mod valid;
pub mod validate;

pub use model::*;
pub use valid::ValidTopology;
