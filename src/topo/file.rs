//! Topology files: containerlab's shape (`name`, `topology.nodes`,
//! `topology.links[].endpoints`) plus nlab's own keys. A `Topology` that
//! comes out of here has passed [`validate`](super::validate::validate).
//!
//! ```yaml
//! name: demo                    # lab name: 1-24 of [a-z0-9_-], required
//!                               # unless the lab is named otherwise (--name)
//! topology:
//!   defaults:                   # optional
//!     kind: host                # nodes without `kind` (else: host)
//!     gateway: 10.0.1.254       # hosts without their own gateway
//!     gateway6: fd00:1::fe
//!     mtu: 1500                 # links without their own mtu
//!   nodes:
//!     h1:
//!       kind: host              # host | switch | router (linux, bridge)
//!       gateway: none           # opt out of the default (or `~`)
//!       routes:
//!         - {dst: 10.9.0.0/16, via: 10.0.1.254}
//!         - {dst: default, via: 10.0.1.254, dev: eth0}   # ::/0 if via is IPv6
//!       interfaces:             # instead of settings on the endpoint
//!         eth0: {ip: [10.0.1.1/24, "fd00:1::1/64"], mac: "02:00:00:00:00:01", mtu: 9000}
//!     s1: {kind: switch, stp: true}
//!     r1: {kind: router}
//!   links:
//!     - endpoints: ["h1:eth0", "s1:p1"]
//!     - endpoints:
//!         - {node: r1, iface: eth0, ip: 10.0.1.254/24}   # ip: one or a list
//!         - s1:p2
//!       mtu: 1400
//!       up: false
//!       conditions: {delay: 10ms, jitter: 1ms, loss: 1%, rate: 10mbit}
//!       schedule: [{at: 10s, loss: 30%}, {at: 20s, down: true}]
//!       capture: true           # or {max_size: 16mb, files: 4, both_ends: false}
//! ```
//!
//! DHCP: a node of `kind: dhcp` (a host running nlab's DHCP server) with a
//! `dhcp:` mapping (see `parse_dhcp`), `ip: dhcp` on a host's interface,
//! `dhcp_relay: true` on a router.
//!
//! Virtual machines: `kind: vm` with the keys of [`super::vm`]; an
//! interface on a host NIC: `macvlan:`/`macvtap:` under `interfaces:`
//! (see [`super::macvlan`]); such an interface is on no link.
//!
//! Conditions and schedules are described in [`super::conditions`];
//! `defaults:` may carry `conditions:` for every link (a link's own keys
//! override them).
//!
//! Any other key is an error that lists the keys allowed there. An
//! interface's `ip`, `mac` or `mtu` may be set on the endpoint or under
//! `interfaces`, not both; an `interfaces` entry no link uses is an error.

mod build;
mod clab;
mod emit;
mod flags;
mod nat;
mod parse_capture;
mod parse_conditions;
mod parse_dhcp;
mod parse_external;
mod parse_limits;
mod parse_ra;
mod parse_vm;
mod reader;
#[cfg(test)]
mod tests;
mod yaml;

pub use clab::{ClabOptions, LABEL_NODE_NAME, MGMT_NODE};
pub use emit::to_yaml;
pub use flags::{default_conditions, sequential_macs};
pub(crate) use parse_vm::image_problem;

use super::model::Topology;
use super::valid::ValidTopology;
use super::validate::{validate_with, TopoError, TopoErrors};
use std::path::Path;

/// The largest topology file `load` reads. A 10,000-node lab is a few
/// MiB of YAML; anything far larger is a mistake (`nlab up /dev/zero`),
/// and reading it whole would take the machine's memory.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads, parses and validates a topology file (`nlab up FILE`). The lab
/// is named by the file's `name:`; [`load_as`] names it otherwise. Every
/// problem found is in the error, each with its `file:line:column`.
///
/// ```
/// use nlab::topo::file;
///
/// let yaml = [
///     "name: pair",
///     "topology:",
///     "  nodes: {a: {}, b: {}}",
///     "  links:",
///     "    - endpoints: [a:eth0, b:eth0]",
/// ];
/// let path = std::env::temp_dir().join(format!("nlab-doc-{}.yaml", std::process::id()));
/// std::fs::write(&path, yaml.join("\n"))?;
/// let topo = file::load(&path);
/// std::fs::remove_file(&path)?;
/// let topo = topo?;
/// assert_eq!(topo.name, "pair");
/// assert_eq!(topo.links[0].key(), "a:eth0--b:eth0");
/// assert_eq!(topo.source.as_deref(), path.to_str());
///
/// let missing = file::load("/nonexistent/lab.yaml".as_ref()).unwrap_err();
/// assert!(missing.to_string().contains("cannot read the topology file"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(path: &Path) -> Result<Topology, TopoErrors> {
    load_as(path, None)
}

/// [`load_as`], as a [`ValidTopology`] (the checks ran once, in the loader).
pub fn load_valid(path: &Path, name: Option<&str>) -> Result<ValidTopology, TopoErrors> {
    load_as(path, name).map(ValidTopology::checked)
}

/// [`load_valid`] with containerlab's options (`--no-mgmt`).
pub fn load_valid_with(
    path: &Path,
    name: Option<&str>,
    opts: ClabOptions,
) -> Result<ValidTopology, TopoErrors> {
    let source = path.display().to_string();
    let text = read_limited(path, MAX_FILE_BYTES)
        .map_err(|msg| TopoError::new(msg).with_file(Some(&source)))?;
    parse_with(&text, Some(&source), name, opts).map(ValidTopology::checked)
}

/// [`parse_as`], as a [`ValidTopology`].
pub fn parse_valid(
    text: &str,
    source: Option<&str>,
    name: Option<&str>,
) -> Result<ValidTopology, TopoErrors> {
    parse_as(text, source, name).map(ValidTopology::checked)
}

/// [`load`], with the lab named `name` when given (`up FILE --name X`):
/// the file's `name:` is then ignored and may be absent.
pub fn load_as(path: &Path, name: Option<&str>) -> Result<Topology, TopoErrors> {
    let source = path.display().to_string();
    let text = read_limited(path, MAX_FILE_BYTES)
        .map_err(|msg| TopoError::new(msg).with_file(Some(&source)))?;
    parse_as(&text, Some(&source), name)
}

/// Reads a regular file of at most `max` bytes as UTF-8. Anything else (a
/// FIFO that would block forever, a device that never ends, a directory)
/// is refused with a message that says what it is and what to give
/// instead. The file is opened non-blocking and checked on the open
/// descriptor, so a file swapped for a FIFO after a check cannot block us.
pub fn read_limited(path: &Path, max: u64) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io = |e: std::io::Error| format!("cannot read the topology file: {e}");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO (named pipe)"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!(
            "the topology file is {what}; give a regular YAML file (to use generated text, write it to a file first)"
        ));
    }
    let too_big = || {
        format!(
            "the topology file is larger than {} MiB; nlab reads topology files of at most that size",
            max >> 20
        )
    };
    if meta.len() > max {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read (or lies about its size, as
    // /proc files do) still stops at the limit.
    f.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the topology file is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Parses and validates topology text; `source` names it in messages
/// and becomes [`Topology::source`](crate::topo::Topology::source).
///
/// ```
/// use nlab::topo::{file, NodeKind};
///
/// let yaml = r#"
/// name: demo
/// topology:
///   nodes:
///     h1: {}
///     h2: {}
///     s1: {kind: switch}
///   links:
///     - endpoints: ["h1:eth0", "s1:p1"]
///       conditions: {delay: 10ms, loss: 1%}
///     - endpoints: [{node: h2, iface: eth0, ip: 10.0.0.2/24}, "s1:p2"]
/// "#;
/// let topo = file::parse(yaml, Some("demo.yaml"))?;
/// assert_eq!(topo.nodes["s1"].kind, NodeKind::Switch);
/// let delay = topo.links[0].conditions.a_to_b.delay;
/// assert_eq!(delay, std::time::Duration::from_millis(10));
///
/// // Mistakes come back together, each where it was written.
/// let errs = file::parse(&yaml.replace("s1:p2", "s2:p2"), Some("demo.yaml")).unwrap_err();
/// assert!(errs.to_string().starts_with("demo.yaml:11:"), "{errs}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse(text: &str, source: Option<&str>) -> Result<Topology, TopoErrors> {
    parse_as(text, source, None)
}

/// [`parse`], with the lab named `name` when given.
pub fn parse_as(
    text: &str,
    source: Option<&str>,
    name: Option<&str>,
) -> Result<Topology, TopoErrors> {
    parse_with(text, source, name, ClabOptions::default())
}

/// [`parse_as`] with containerlab's options. A containerlab file (named
/// `*.clab.yml`, or using `mgmt:`, `kinds:`, `groups:`, `group:`,
/// `labels:` or `mgmt-ipv4/6`) is rewritten into nlab's shape first (see
/// README "For containerlab users").
pub fn parse_with(
    text: &str,
    source: Option<&str>,
    name: Option<&str>,
    opts: ClabOptions,
) -> Result<Topology, TopoErrors> {
    let with_file = |errs: Vec<TopoError>| {
        let mut errs: Vec<TopoError> = errs.into_iter().map(|e| e.with_file(source)).collect();
        errs.sort_by_key(|e| (e.loc.line, e.loc.column));
        TopoErrors(errs)
    };
    let mut root = yaml::read(text).map_err(|e| with_file(vec![e]))?;
    let c = clab::rewrite(&mut root, text, source, name, opts);
    let mut b = build::Builder::new(text).with_name(name);
    let mut t = b.build(&root);
    t.source = source.map(str::to_string);
    let extra = b.extra;
    let mut errs = b.into_errors();
    errs.extend(c.finish(&mut t));
    errs.extend(parse_vm::resolve_paths(&mut t, source));
    // Validation on a half-read file would mostly echo the same mistakes
    // (a link to a node whose entry failed to read), so it waits for a clean read.
    if !errs.is_empty() {
        return Err(with_file(errs));
    }
    validate_with(&t, extra)?;
    Ok(t)
}
