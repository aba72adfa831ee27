//! A small synchronous rtnetlink socket that pipelines requests.
//!
//! Setup cost is what users feel, so requests are not sent one round trip
//! at a time: [`Socket::execute`] packs many messages into one `sendmsg`
//! (the kernel processes every message of the datagram before returning),
//! then collects the acks, and reports every failure with the description
//! the caller attached to its request.
//!
//! A socket belongs to the namespace of the thread that opened it, for its
//! whole life: open one per namespace on a thread that has entered it.

use super::{Error, Result};
use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, SocketAddr};

/// `NLMSGERR_ATTR_MSG` (linux/netlink.h): the kernel's error text in an
/// extended ack. Neither `libc` nor the netlink crates export it.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Bytes of requests per `sendmsg`. Bounded so the acks of one batch always
/// fit the receive buffer (each ack costs ~1 KiB of socket memory).
const SEND_CHUNK: usize = 128 * 1024;
const MAX_IN_FLIGHT: usize = 1024;
const SOCK_BUF: i32 = 8 * 1024 * 1024;
/// Big enough for the largest message a dump returns (NLMSG_GOODSIZE).
const RECV_BUF: usize = 64 * 1024;

/// One request with the words that describe it in an error message,
/// e.g. `creating veth h1-eth0 in nlab-demo-h1`.
pub struct Request {
    pub msg: RouteNetlinkMessage,
    /// `NLM_F_CREATE | NLM_F_EXCL` and friends; `REQUEST|ACK` are added.
    pub flags: u16,
    pub what: String,
}

impl Request {
    pub fn new(msg: RouteNetlinkMessage, flags: u16, what: impl Into<String>) -> Self {
        Request {
            msg,
            flags,
            what: what.into(),
        }
    }
}

pub struct Socket {
    sock: netlink_sys::Socket,
    seq: u32,
    rbuf: Vec<u8>,
}

impl Socket {
    /// Opens a NETLINK_ROUTE socket in the calling thread's namespace.
    pub fn new() -> Result<Socket> {
        let sock = netlink_sys::Socket::new(NETLINK_ROUTE)
            .map_err(|e| Error::io("opening a netlink socket", e))?;
        // Forced sizes need CAP_NET_ADMIN; fall back to the capped ones.
        for (force, plain) in [
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        ] {
            if super::fd::set_int_option(&sock, libc::SOL_SOCKET, force, SOCK_BUF).is_err() {
                let _ = super::fd::set_int_option(&sock, libc::SOL_SOCKET, plain, SOCK_BUF);
            }
        }
        // Extended acks carry the kernel's own error text; capped acks do not
        // echo our whole request back, which keeps the receive queue small.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        Ok(Socket {
            sock,
            seq: 0,
            rbuf: Vec::new(),
        })
    }

    /// Opens a socket inside a new, empty namespace that lives as long as
    /// the socket. Requests that create links elsewhere (`IFLA_NET_NS_FD`)
    /// are sent from here: some kernels look a requested interface index
    /// up in the sender's namespace, and an empty one holds only `lo`, so
    /// no index we ask for can match a device of the host.
    pub fn new_in_scratch_ns() -> Result<Socket> {
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys("creating a scratch namespace", e))?;
                Socket::new()
            })
            .join()
            .unwrap_or_else(|_| Err(Error::protocol("scratch namespace", "thread panicked")))
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Sends one request and waits for its ack.
    pub fn request(&mut self, req: Request) -> Result<()> {
        match self.execute(vec![req]).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends all requests pipelined, in order, and returns every failure.
    /// A failed request does not stop the ones after it: the kernel handles
    /// each message of a datagram on its own.
    pub fn execute(&mut self, reqs: Vec<Request>) -> Vec<Error> {
        let mut errors = Vec::new();
        let mut out = Vec::with_capacity(SEND_CHUNK + 4096);
        let mut pending: Vec<(u32, String)> = Vec::new();
        let total = reqs.len();
        for (i, req) in reqs.into_iter().enumerate() {
            let seq = self.next_seq();
            let mut hdr = NetlinkHeader::default();
            hdr.flags = NLM_F_REQUEST | NLM_F_ACK | req.flags;
            hdr.sequence_number = seq;
            let mut msg = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(req.msg));
            msg.finalize();
            let start = out.len();
            out.resize(start + msg.buffer_len(), 0);
            msg.serialize(&mut out[start..]);
            pending.push((seq, req.what));
            let last = i + 1 == total;
            if out.len() >= SEND_CHUNK || pending.len() >= MAX_IN_FLIGHT || last {
                if let Err(e) = self.send_all(&out) {
                    // Nothing of this chunk reached the kernel.
                    for (_, what) in pending.drain(..) {
                        errors.push(Error::io(what, clone_io(&e)));
                    }
                } else {
                    self.collect_acks(&mut pending, &mut errors);
                }
                out.clear();
            }
        }
        self.rbuf = Vec::new();
        errors
    }

    fn send_all(&self, buf: &[u8]) -> std::io::Result<()> {
        // To the kernel (port 0); the socket binds itself on first send.
        let kernel = SocketAddr::new(0, 0);
        loop {
            match self.sock.send_to(buf, &kernel, 0) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => return r.map(|_| ()),
            }
        }
    }

    fn recv(&mut self) -> std::io::Result<usize> {
        // Allocated while a request is in flight only: a lab holds one
        // socket per namespace, and idle buffers would add up.
        if self.rbuf.is_empty() {
            self.rbuf = vec![0u8; RECV_BUF];
        }
        loop {
            // A `&mut [u8]` fills from its start and never grows.
            let mut buf: &mut [u8] = &mut self.rbuf[..];
            match self.sock.recv(&mut buf, 0) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => return r.map(|n| n.min(RECV_BUF)),
            }
        }
    }

    /// Reads acks until every pending sequence number has been answered.
    fn collect_acks(&mut self, pending: &mut Vec<(u32, String)>, errors: &mut Vec<Error>) {
        let first = match pending.first() {
            Some(p) => p.0,
            None => return,
        };
        let mut answered = vec![false; pending.len()];
        let mut left = pending.len();
        while left > 0 {
            let n = match self.recv() {
                Ok(n) => n,
                Err(e) => {
                    for (i, (_, what)) in pending.iter().enumerate() {
                        if !answered[i] {
                            errors.push(Error::io(
                                format!("{what} (waiting for the kernel's answer)"),
                                clone_io(&e),
                            ));
                        }
                    }
                    break;
                }
            };
            let mut off = 0;
            while off + 16 <= n {
                let Ok(buf) = NetlinkBuffer::new_checked(&self.rbuf[off..n]) else {
                    break;
                };
                let len = buf.length() as usize;
                let seq = buf.sequence_number();
                let ty = buf.message_type();
                if ty == NLMSG_ERROR {
                    let idx = seq.wrapping_sub(first) as usize;
                    if idx < answered.len() && !answered[idx] {
                        answered[idx] = true;
                        left -= 1;
                        let payload = &self.rbuf[off + 16..off + len.max(16)];
                        if let Some((code, text)) = parse_error(payload) {
                            let what = &pending[idx].1;
                            errors.push(match text {
                                // Keep the errno: callers match on it
                                // (ENOENT, ENODEV) whether or not the
                                // kernel added a message.
                                Some(t) => Error::Refused {
                                    what: what.clone(),
                                    errno: super::Errno(code),
                                    text: t,
                                },
                                None => Error::errno(what.clone(), code),
                            });
                        }
                    }
                }
                off += align4(len.max(16));
            }
        }
        pending.clear();
    }

    /// Sends `msg` alone with `flags`; returns its sequence number, which
    /// the answer's messages carry.
    fn send_one(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> Result<u32> {
        let seq = self.next_seq();
        let mut hdr = NetlinkHeader::default();
        hdr.flags = flags;
        hdr.sequence_number = seq;
        let mut m = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let mut out = vec![0u8; m.buffer_len()];
        m.serialize(&mut out);
        self.send_all(&out).map_err(|e| Error::io(what, e))?;
        Ok(seq)
    }

    /// Runs a dump request (`RTM_GETLINK` with `NLM_F_DUMP`, …) and returns
    /// every message of the answer.
    pub fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let seq = self.send_one(msg, NLM_F_REQUEST | NLM_F_DUMP, what)?;
        self.answer(seq, what)
    }

    /// Sends one request the kernel answers with messages but that is no
    /// dump (`RTM_GETLINK` of one index, `RTM_GETNSID`), and returns them.
    /// The ack that follows the answer ends it.
    pub fn get(
        &mut self,
        msg: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let seq = self.send_one(msg, NLM_F_REQUEST | NLM_F_ACK, what)?;
        self.answer(seq, what)
    }

    /// The messages answering request `seq`, up to the `NLMSG_DONE` that
    /// ends a dump or the ack (or error) that ends any other request.
    /// Messages of other requests are skipped.
    fn answer(&mut self, seq: u32, what: &str) -> Result<Vec<RouteNetlinkMessage>> {
        let mut result = Vec::new();
        loop {
            let n = self.recv().map_err(|e| Error::io(what, e))?;
            let mut off = 0;
            while off + 16 <= n {
                let buf = NetlinkBuffer::new_checked(&self.rbuf[off..n])
                    .map_err(|e| Error::protocol(what, e.to_string()))?;
                let len = buf.length() as usize;
                let ty = buf.message_type();
                if buf.sequence_number() != seq {
                    off += align4(len.max(16));
                    continue;
                }
                if ty == NLMSG_DONE || ty == NLMSG_ERROR {
                    let code = (ty == NLMSG_ERROR)
                        .then(|| parse_error(&self.rbuf[off + 16..off + len.max(16)]))
                        .flatten();
                    self.rbuf = Vec::new();
                    return match code {
                        Some((code, _)) => Err(Error::errno(what, code)),
                        None => Ok(result),
                    };
                }
                let parsed =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.rbuf[off..off + len])
                        .map_err(|e| Error::protocol(what, e.to_string()))?;
                if let NetlinkPayload::InnerMessage(inner) = parsed.payload {
                    result.push(inner);
                }
                off += align4(len.max(16));
            }
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn clone_io(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}

/// Decodes an `nlmsgerr`: `None` for a plain ack, else the positive errno
/// and, with extended acks, the kernel's message.
fn parse_error(payload: &[u8]) -> Option<(i32, Option<String>)> {
    if payload.len() < 4 {
        return None;
    }
    let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
    if code == 0 {
        return None;
    }
    // With NETLINK_CAP_ACK the echoed request is only its 16-byte header;
    // extended-ack attributes follow it.
    let mut text = None;
    let mut off = 4 + 16;
    while off + 4 <= payload.len() {
        let len = u16::from_ne_bytes([payload[off], payload[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]) & 0x3fff;
        if len < 4 || off + len > payload.len() {
            break;
        }
        if ty == NLMSGERR_ATTR_MSG {
            let raw = &payload[off + 4..off + len];
            let s = String::from_utf8_lossy(raw)
                .trim_end_matches('\0')
                .to_string();
            if !s.is_empty() {
                text = Some(s);
            }
        }
        off += align4(len);
    }
    Some((-code, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real round trip through the socket: a dump and a failing request,
    /// in a scratch namespace when root (in this one otherwise, where the
    /// delete is refused for want of privilege).
    #[test]
    fn dumps_and_collects_errors_over_the_socket() {
        let root = crate::kernel::proc::is_root(std::process::id() as i32);
        let mut sock = if root {
            Socket::new_in_scratch_ns().unwrap()
        } else {
            Socket::new().unwrap()
        };
        let links = crate::kernel::link::dump(&mut sock, "listing links").unwrap();
        assert!(links.iter().any(|l| l.name == "lo"), "no lo in the dump");
        let reqs = (0..3)
            .map(|i| {
                crate::kernel::link::delete_by_name(&format!("nlab-none{i}"), format!("del {i}"))
            })
            .collect();
        let errs = sock.execute(reqs);
        assert_eq!(errs.len(), 3, "every failed request is reported: {errs:?}");
        let want = if root { libc::ENODEV } else { libc::EPERM };
        for (i, e) in errs.iter().enumerate() {
            assert!(e.to_string().starts_with(&format!("del {i}")), "{e}");
            assert_eq!(e.raw_errno(), Some(want), "{e}");
        }
        // The socket is still usable after failures.
        assert!(!crate::kernel::link::dump(&mut sock, "again")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn decodes_plain_ack_and_error() {
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&[0u8; 16]);
        assert_eq!(parse_error(&ack), None);
        let mut err = (-17i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&[0u8; 16]);
        let msg = b"Device exists\0";
        let alen = 4 + msg.len();
        err.extend_from_slice(&(alen as u16).to_ne_bytes());
        err.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        err.extend_from_slice(msg);
        assert_eq!(
            parse_error(&err),
            Some((17, Some("Device exists".to_string())))
        );
    }
}
