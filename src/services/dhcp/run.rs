//! A DHCP server at work: a thread in the server node's namespace with a
//! UDP socket on port 67 of its interface. It answers a burst of requests,
//! saves the lease table once if any lease changed, and only then sends
//! the burst's replies: no ACK leaves before its lease is on disk, and a
//! thousand clients cost a handful of writes, not a thousand.
//!
//! New scopes (a reservation more or less) reach a running server through
//! [`Running::reload`]: it takes them before the next request it answers,
//! keeping its socket, its lease table and the exchanges in flight.

use super::leases::{self, Leases};
use super::plan::ServerPlan;
use super::pool::Subnet;
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
    reload: Arc<Reload>,
    /// Unix seconds when its socket was opened: unchanged by reloads.
    pub started: u64,
    thread: Option<JoinHandle<()>>,
}

/// Scopes waiting for a running server. `pending` is set after `subnets`
/// is filled, so a request received after [`Running::reload`] returned
/// is answered with the new scopes.
#[derive(Default)]
struct Reload {
    pending: AtomicBool,
    subnets: Mutex<Option<Vec<Subnet>>>,
}

impl Reload {
    /// Hands the server the newest scopes, if any came.
    fn apply(&self, server: &mut Server) {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Some(s) = self.subnets.lock().ok().and_then(|mut s| s.take()) {
            server.set_subnets(s);
        }
    }
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
        let reload = Arc::new(Reload::default());
        let ctl = Control {
            stop: stop.clone(),
            counters: counters.clone(),
            reload: reload.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("dhcp-{}", plan.node))
            .spawn(move || serve(sock, &out, server, path, &ctl))
            .map_err(|e| format!("starting the DHCP server thread of {}: {e}", plan.node))?;
        Ok(Running {
            node: plan.node.clone(),
            stop,
            counters,
            reload,
            started: now(),
            thread: Some(thread),
        })
    }

    /// Gives the running server new scopes (same interface and address):
    /// no new socket, leases and offers kept. Returns at once; the server
    /// takes them before it answers its next request.
    pub fn reload(&self, subnets: Vec<Subnet>) {
        if let Ok(mut s) = self.reload.subnets.lock() {
            *s = Some(subnets);
        }
        self.reload.pending.store(true, Ordering::Release);
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

/// What the serving thread shares with its [`Running`].
struct Control {
    stop: Arc<AtomicBool>,
    counters: Arc<Mutex<Counters>>,
    reload: Arc<Reload>,
}

fn serve(sock: UdpSocket, out: &Out, mut server: Server, path: PathBuf, ctl: &Control) {
    let mut buf = vec![0u8; 1500];
    while !ctl.stop.load(Ordering::Relaxed) {
        ctl.reload.apply(&mut server);
        let mut replies: Vec<Reply> = Vec::new();
        // The first receive waits (up to a tick); the rest of the burst is
        // whatever has queued up meanwhile.
        let _ = sock.set_nonblocking(false);
        while replies.len() < BURST {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    // Scopes that came while it waited apply to this one.
                    ctl.reload.apply(&mut server);
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
        if let Ok(mut c) = ctl.counters.lock() {
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
