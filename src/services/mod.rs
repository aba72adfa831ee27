//! Work that needs a running loop rather than one kernel call.

pub mod capture;
pub mod dhcp;
pub mod emulator;
pub mod ping;
pub mod ra;
pub mod supervisor;
