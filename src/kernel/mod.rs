//! The only layer that makes syscalls: netlink (rtnetlink), `setns`,
//! `/proc/sys`, and one small safe wrapper per other kind of syscall
//! (`fd`: eventfd, epoll, poll, read/write, socket options; `thread`;
//! `signals`; `proc`: kill, pidfd; `files`: flock; `limits`: rlimit).
//! The only module allowed `unsafe` (lib.rs denies it everywhere else).
//! One module per kind of kernel object.

// An internal layer: outside the crate only `crate::testing` reaches a
// few of its items, for nlab's own tests; the public API is `lab` and
// `topo`, which `missing_docs` holds to full documentation.
#![allow(missing_docs, rustdoc::private_intra_doc_links)]

pub mod addr;
pub mod attach;
pub mod cgroup;
pub mod container;
pub mod ethtool;
pub mod exec;
pub mod exec_node;
pub mod fd;
pub mod fd_held;
pub mod features;
pub mod files;
pub mod icmp6;
pub mod limits;
pub mod link;
pub mod link_detail;
pub mod macvlan;
pub mod macvtap;
pub mod neigh;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nft_expr;
pub mod nsid;
pub mod nsscan;
pub mod packet;
pub mod packet_send;
pub mod pid_init;
pub mod proc;
pub mod route;
pub mod rt_sched;
pub mod shell_io;
pub mod signals;
pub mod tagged;
pub mod tap;
pub mod tc;
pub mod term;
pub mod thread;
#[cfg(test)]
mod wire;

use std::fmt;

/// What went wrong in the kernel layer, always with the object and the
/// operation: `creating veth h1-eth0 in nlab-demo-h1: File exists`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {errno}")]
    Sys { what: String, errno: Errno },
    #[error("{what}: {msg}")]
    Protocol { what: String, msg: String },
    /// `execve` of the program itself failed (not found, not executable):
    /// shells exit 127 or 126 for these, see [`Error::exec_status`].
    #[error("{what}: {source}")]
    Exec {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused with an errno and said why (extended ack).
    #[error("{what}: {errno} ({text})")]
    Refused {
        what: String,
        errno: Errno,
        text: String,
    },
}

/// An errno with a readable description (`File exists`, not `EEXIST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
    pub fn sys(what: impl Into<String>, e: nix::Error) -> Self {
        Error::Sys {
            what: what.into(),
            errno: Errno(e as i32),
        }
    }
    pub fn errno(what: impl Into<String>, errno: i32) -> Self {
        Error::Sys {
            what: what.into(),
            errno: Errno(errno),
        }
    }
    pub fn protocol(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Protocol {
            what: what.into(),
            msg: msg.into(),
        }
    }
    /// The exit status a shell gives a command it could not execute: 127
    /// when the program was not found, 126 when it is not executable.
    pub fn exec_status(&self) -> Option<i32> {
        match self {
            Error::Exec { source, .. } => Some(match source.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => 127,
                _ => 126,
            }),
            _ => None,
        }
    }

    /// Whether the kernel said the object does not exist (ENOENT).
    pub fn is_not_found(&self) -> bool {
        self.raw_errno() == Some(libc::ENOENT)
    }

    /// Whether the kernel said there is no such device (ENODEV).
    pub fn is_no_device(&self) -> bool {
        self.raw_errno() == Some(libc::ENODEV)
    }

    /// Whether the kernel rejected an argument (EINVAL).
    pub fn is_invalid(&self) -> bool {
        self.raw_errno() == Some(libc::EINVAL)
    }

    /// The errno behind this error, if it came from the kernel.
    pub fn raw_errno(&self) -> Option<i32> {
        match self {
            Error::Sys { errno, .. } => Some(errno.0),
            Error::Io { source, .. } | Error::Exec { source, .. } => source.raw_os_error(),
            Error::Refused { errno, .. } => Some(errno.0),
            Error::Protocol { .. } => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_predicates() {
        assert!(Error::errno("x", libc::ENOENT).is_not_found());
        assert!(Error::errno("x", libc::ENODEV).is_no_device());
        assert!(Error::errno("x", libc::EINVAL).is_invalid());
        let io = Error::io("x", std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(io.is_not_found() && !io.is_no_device());
        assert!(!Error::protocol("x", "y").is_not_found());
    }
}
