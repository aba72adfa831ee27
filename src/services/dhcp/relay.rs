//! The DHCP relay agent of a router with `dhcp_relay: true` (RFC 2131
//! 4.1, RFC 1542): a socket on port 67 of each client-facing interface
//! takes the clients' broadcasts, stamps `giaddr` with that interface's
//! address and sends them to the server; one socket on no interface in
//! particular takes the server's replies (sent to `giaddr`) and
//! broadcasts each on the interface its `giaddr` names.

use super::plan::RelayPlan;
use super::socket::{self, CLIENT_PORT, SERVER_PORT};
use dhcproto::v4::{Message, Opcode};
use dhcproto::{Decodable, Encodable};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// RFC 1542: a request relayed this often is looping.
const MAX_HOPS: u8 = 16;

pub struct Relay {
    pub node: String,
    stop: Arc<AtomicBool>,
    pub forwarded: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

struct Side {
    iface: String,
    addr: Ipv4Addr,
    server: Ipv4Addr,
    sock: UdpSocket,
}

impl Relay {
    pub fn start(lab: &str, plan: &RelayPlan) -> Result<Relay, String> {
        let ns = crate::kernel::netns::ns_name(lab, &plan.node);
        let up = Arc::new(socket::open(&ns, None, SERVER_PORT).map_err(|e| e.to_string())?);
        let mut sides = Vec::new();
        for i in &plan.ifaces {
            sides.push(Side {
                iface: i.iface.clone(),
                addr: i.addr,
                server: i.server,
                sock: socket::open(&ns, Some(&i.iface), SERVER_PORT).map_err(|e| e.to_string())?,
            });
        }
        let sides = Arc::new(sides);
        let stop = Arc::new(AtomicBool::new(false));
        let forwarded = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for k in 0..sides.len() {
            let (sides, up, stop, fwd) =
                (sides.clone(), up.clone(), stop.clone(), forwarded.clone());
            threads.push(std::thread::spawn(move || {
                toward_server(&sides[k], &up, &stop, &fwd)
            }));
        }
        let (s2, st2, f2) = (sides.clone(), stop.clone(), forwarded.clone());
        threads.push(std::thread::spawn(move || {
            toward_clients(&s2, &up, &st2, &f2)
        }));
        Ok(Relay {
            node: plan.node.clone(),
            stop,
            forwarded,
            threads,
        })
    }

    pub fn stop(self) {}
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn toward_server(side: &Side, up: &UdpSocket, stop: &AtomicBool, fwd: &AtomicU64) {
    let mut buf = vec![0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let n = match side.sock.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if socket::timed_out(&e) => continue,
            Err(e) => {
                eprintln!("dhcp relay on {}: receiving: {e}", side.iface);
                continue;
            }
        };
        let Ok(mut m) = Message::from_bytes(&buf[..n]) else {
            continue;
        };
        if m.opcode() != Opcode::BootRequest || m.hops() >= MAX_HOPS {
            continue;
        }
        if m.giaddr().is_unspecified() {
            m.set_giaddr(side.addr);
        }
        m.set_hops(m.hops() + 1);
        let Ok(bytes) = m.to_vec() else { continue };
        match up.send_to(&bytes, SocketAddrV4::new(side.server, SERVER_PORT)) {
            Ok(_) => {
                fwd.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => eprintln!("dhcp relay: forwarding to {}: {e}", side.server),
        }
    }
}

fn toward_clients(sides: &[Side], up: &UdpSocket, stop: &AtomicBool, fwd: &AtomicU64) {
    let mut buf = vec![0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let n = match up.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if socket::timed_out(&e) => continue,
            Err(_) => continue,
        };
        let Ok(m) = Message::from_bytes(&buf[..n]) else {
            continue;
        };
        // Requests reach this socket too (broadcasts go to every socket on
        // the port); only replies are ours to pass on.
        if m.opcode() != Opcode::BootReply {
            continue;
        }
        let Some(side) = sides.iter().find(|s| s.addr == m.giaddr()) else {
            continue;
        };
        let to = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);
        if side.sock.send_to(&buf[..n], to).is_ok() {
            fwd.fetch_add(1, Ordering::Relaxed);
        }
    }
}
