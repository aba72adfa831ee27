//! Neutron-style virtual networks (issue 15; design in `docs/vnet.md`):
//! the resources as Neutron names them ([`model`]), their SQLite store
//! ([`store`]) and the operations the API performs on them in one
//! transaction each ([`ops`]); [`realize`] turns a plain description of
//! the whole virtual world ([`realize::Desired`]) into one lab and the
//! per-port security-group tables; [`world`] builds that world from a
//! [`store::Snapshot`]; [`trace`] follows a packet through it.

pub(crate) mod model;
pub(crate) mod ops;
pub(crate) mod realize;
pub(crate) mod store;
pub(crate) mod trace;
pub(crate) mod world;
