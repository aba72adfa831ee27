//! A DHCP server at work: a thread in the server node's namespace with a
//! UDP socket on port 67 of its interface. It answers a burst of requests,
//! saves the lease table once if any lease changed, and only then sends
//! the burst's replies: no ACK leaves before its lease is on disk, and a
//! thousand clients cost a handful of writes, not a thousand.

use super::leases::{self, Leases};
use super::plan::ServerPlan;
use super::server::{Counters, Dest, Reply, Server};
use super::socket::{self, CLIENT_PORT, SERVER_PORT};
use dhcproto::v4::Message;
use dhcproto::{Decodable, Encodable};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Requests answered per burst at most, before the table is saved.
const BURST: usize = 256;

/// A running server; dropping it (or [`Running::stop`]) ends the thread.
pub struct Running {
    pub node: String,
    stop: Arc<AtomicBool>,
    counters: Arc<Mutex<Counters>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Opens the socket (errors here are the caller's to report) and
    /// starts serving with the leases of `plan.node`'s lease file.
    pub fn start(lab: &str, plan: &ServerPlan) -> Result<Running, String> {
        let ns = crate::kernel::netns::ns_name(lab, &plan.node);
        leases::ensure_dir(lab)
            .map_err(|e| format!("creating {}: {e}", leases::dir(lab).display()))?;
        let path = leases::path(lab, &plan.node);
        let table = Leases::load(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let sock = socket::open(&ns, Some(&plan.iface), SERVER_PORT).map_err(|e| e.to_string())?;
        let out = Out {
            udp: sock
                .try_clone()
                .map_err(|e| format!("DHCP socket of {}: {e}", plan.node))?,
            frames: socket::open_packet(&ns, &plan.iface)?,
            server_id: plan.server_id,
        };
        let server = Server::new(plan.server_id, plan.subnets.clone(), table);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Mutex::new(Counters::default()));
        let (s, c) = (stop.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name(format!("dhcp-{}", plan.node))
            .spawn(move || serve(sock, &out, server, path, &s, &c))
            .map_err(|e| format!("starting the DHCP server thread of {}: {e}", plan.node))?;
        Ok(Running {
            node: plan.node.clone(),
            stop,
            counters,
            thread: Some(thread),
        })
    }

    pub fn counters(&self) -> Counters {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

fn now() -> u64 {
    crate::store::now()
}

fn serve(
    sock: UdpSocket,
    out: &Out,
    mut server: Server,
    path: PathBuf,
    stop: &AtomicBool,
    counters: &Mutex<Counters>,
) {
    let mut buf = vec![0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let mut replies: Vec<Reply> = Vec::new();
        // The first receive waits (up to a tick); the rest of the burst is
        // whatever has queued up meanwhile.
        let _ = sock.set_nonblocking(false);
        while replies.len() < BURST {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Ok(m) = Message::from_bytes(&buf[..n]) {
                        replies.extend(server.handle(&m, now()));
                    }
                    let _ = sock.set_nonblocking(true);
                }
                Err(e) if socket::timed_out(&e) => break,
                Err(e) => {
                    eprintln!("dhcp server: receiving: {e}");
                    break;
                }
            }
        }
        if server.take_dirty() {
            if let Err(e) = server.leases.save(&path) {
                // Without the table on disk an ACK could be given twice
                // after a restart: answer nothing this round.
                eprintln!("dhcp server: saving {}: {e}; not answering", path.display());
                continue;
            }
        }
        let _ = sock.set_nonblocking(false);
        for r in &replies {
            send(out, r);
        }
        if let Ok(mut c) = counters.lock() {
            *c = server.counters.clone();
        }
    }
}

/// Where replies leave: the UDP socket, and a packet socket for replies
/// to clients that have no address yet.
struct Out {
    udp: UdpSocket,
    frames: crate::kernel::packet_send::PacketSocket,
    server_id: Ipv4Addr,
}

fn send(out: &Out, r: &Reply) {
    let Ok(bytes) = r.msg.to_vec() else { return };
    // A client without an address: an IP broadcast (it accepts nothing
    // else yet) in a frame to its MAC, so the bridge does not flood a
    // thousand ports with every reply (RFC 2131 4.1 allows either).
    if let (Dest::Broadcast, Some(mac)) = (r.dest, r.msg.chaddr().get(..6)) {
        let mut m = [0u8; 6];
        m.copy_from_slice(mac);
        if m != [0; 6] && m[0] & 1 == 0 {
            let ip = socket::udp_packet(
                SocketAddrV4::new(out.server_id, SERVER_PORT),
                SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
                &bytes,
            );
            match out.frames.send_ipv4(m, &ip) {
                Ok(_) => return,
                Err(e) => eprintln!("dhcp server: sending a frame to {:?}: {e}; broadcasting", m),
            }
        }
    }
    let sock = &out.udp;
    let to = match r.dest {
        Dest::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
        Dest::Client(ip) => SocketAddrV4::new(ip, CLIENT_PORT),
        Dest::Relay(ip) => SocketAddrV4::new(ip, SERVER_PORT),
    };
    if let Err(e) = sock.send_to(&bytes, to) {
        eprintln!("dhcp server: sending to {to}: {e}");
    }
}
