//! Neutron-style virtual networks (issue 15; design in `docs/vnet.md`):
//! the resources as Neutron names them ([`model`]), their SQLite store
//! ([`store`]) and the operations the API performs on them in one
//! transaction each ([`ops`]). The kernel side (`realize`) takes a
//! [`store::Snapshot`] and is built beside this.

pub(crate) mod model;
pub(crate) mod ops;
pub(crate) mod store;
