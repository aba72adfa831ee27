//! The built-in DHCP client at work: one thread of the supervisor for
//! all `ip: dhcp` interfaces of the lab (no process per host), one UDP
//! socket on port 68 per interface, opened in the host's namespace and
//! polled together. A binding is configured over netlink from a thread
//! inside the host's namespace: address, MTU, option-121 routes or the
//! default route through the router.
//!
//! The set of interfaces changes in place ([`Clients::set`]): a port
//! bound at a thousand costs one new client, not a thousand restarted.

use super::client::{Action, Binding, Client, Phase, To};
use super::plan::ClientPlan;
use super::socket::{self, CLIENT_PORT, SERVER_PORT};
use crate::kernel::netlink::Socket as Netlink;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{addr, link, route};
use crate::topo::dhcp::DhcpClient;
use crate::topo::{IpNet, MacAddr};
use dhcproto::v4::Message;
use dhcproto::{Decodable, Encodable};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// One interface's client as `dhcp-status` reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ClientStatus {
    pub node: String,
    pub iface: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    pub phase: Option<Phase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
    pub naks: u32,
    /// Milliseconds from this client's start to its first binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One client the lab asks for, with the inode of its node's namespace
/// when asked: a namespace made anew needs a new socket.
pub type Wanted = (ClientPlan, Option<u64>);

/// The clients' thread and what it shares with the service.
pub struct Clients {
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    /// Wakes the thread's poll when the wanted set changes.
    wake: UnixDatagram,
    thread: Option<JoinHandle<()>>,
}

/// Written by [`Clients::set`] (a new generation of wanted clients) and
/// by the thread (their status). `status[k]` is `wanted[k]`'s.
#[derive(Default)]
struct Shared {
    generation: u64,
    wanted: Vec<Wanted>,
    status: Vec<ClientStatus>,
}

/// One interface's client with its socket.
struct Iface {
    ns: String,
    index: u32,
    sock: UdpSocket,
    client: Client,
    /// The address this client put on the interface.
    configured: Option<IpNet>,
    /// When this client started, in the thread's milliseconds.
    since_ms: u64,
    first_bound_ms: Option<u64>,
    error: Option<String>,
}

/// A wanted client and its running state (or why it does not run).
type Slot = (Wanted, Result<Iface, String>);

fn not_started(p: &ClientPlan) -> ClientStatus {
    ClientStatus {
        node: p.node.clone(),
        iface: p.iface.clone(),
        mac: None,
        phase: None,
        binding: None,
        naks: 0,
        bound_ms: None,
        error: None,
    }
}

/// A client that never started: its socket did not open.
fn failed(s: &ClientStatus) -> bool {
    s.error.is_some() && s.phase.is_none()
}

fn key(p: &ClientPlan) -> (String, String) {
    (p.node.clone(), p.iface.clone())
}

impl Clients {
    /// Starts the thread that runs `wanted`.
    pub fn start(lab: &str, wanted: Vec<Wanted>) -> Result<Clients, String> {
        let (wake, woken) = UnixDatagram::pair()
            .map_err(|e| format!("making the DHCP clients' wake-up socket pair: {e}"))?;
        woken
            .set_nonblocking(true)
            .map_err(|e| format!("making the DHCP clients' wake-up socket non-blocking: {e}"))?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let lab = lab.to_string();
        let (sh, sp) = (shared.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("dhcp-clients".into())
            .spawn(move || run(&lab, &sh, &woken, &sp))
            .map_err(|e| format!("starting the DHCP clients' thread: {e}"))?;
        let c = Clients {
            stop,
            shared,
            wake,
            thread: Some(thread),
        };
        c.set(wanted);
        Ok(c)
    }

    /// Runs `wanted` from now on: clients no longer wanted stop (the
    /// address they configured stays), new ones start, and a client whose
    /// plan or namespace changed starts over; the others keep running
    /// with their leases. The status answers for the new set at once.
    pub fn set(&self, wanted: Vec<Wanted>) {
        let Ok(mut sh) = self.shared.lock() else {
            return;
        };
        if sh.generation > 0 && sh.wanted == wanted && !sh.status.iter().any(failed) {
            return;
        }
        let old_wanted = std::mem::take(&mut sh.wanted);
        let old_status = std::mem::take(&mut sh.status);
        let mut old: HashMap<(String, String), (Wanted, ClientStatus)> = old_wanted
            .into_iter()
            .zip(old_status)
            .map(|(w, s)| (key(&w.0), (w, s)))
            .collect();
        sh.status = wanted
            .iter()
            .map(|w| match old.remove(&key(&w.0)) {
                Some((was, s)) if was == *w && !failed(&s) => s,
                _ => not_started(&w.0),
            })
            .collect();
        sh.wanted = wanted;
        sh.generation += 1;
        drop(sh);
        let _ = self.wake.send(&[1]);
    }

    /// Whether a client could not start (its socket did not open): the
    /// next [`Clients::set`] tries it again, even with the same set.
    pub fn has_failed(&self) -> bool {
        self.shared
            .lock()
            .is_ok_and(|s| s.status.iter().any(failed))
    }

    pub fn status(&self) -> Vec<ClientStatus> {
        self.shared
            .lock()
            .map(|s| s.status.clone())
            .unwrap_or_default()
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.wake.send(&[0]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The slots `wanted` asks for, in its order: one whose plan and
/// namespace are unchanged is kept as it runs (if `keep` says it runs),
/// the others are made by `open`; what is left of `old` is dropped (its
/// sockets closed).
fn reconcile<T>(
    old: Vec<(Wanted, T)>,
    wanted: &[Wanted],
    keep: impl Fn(&T) -> bool,
    mut open: impl FnMut(&Wanted) -> T,
) -> Vec<(Wanted, T)> {
    let mut by_key: HashMap<(String, String), (Wanted, T)> =
        old.into_iter().map(|s| (key(&s.0 .0), s)).collect();
    wanted
        .iter()
        .map(|w| match by_key.remove(&key(&w.0)) {
            Some(s) if s.0 == *w && keep(&s.1) => s,
            _ => (w.clone(), open(w)),
        })
        .collect()
}

/// Opens the client's socket and reads its interface's index and MAC, in
/// one visit to the namespace.
fn open(ns_name: &str, iface: &str) -> Result<(UdpSocket, u32, MacAddr), String> {
    let ns = NetNs::open(ns_name).map_err(|e| e.to_string())?;
    std::thread::scope(|s| {
        s.spawn(|| -> Result<(UdpSocket, u32, MacAddr), String> {
            let _in = ns.enter().map_err(|e| e.to_string())?;
            let mut nl = Netlink::new().map_err(|e| e.to_string())?;
            let links = link::dump(&mut nl, &format!("reading the links of {ns_name}"))
                .map_err(|e| e.to_string())?;
            let l = links
                .iter()
                .find(|l| l.name == iface)
                .ok_or_else(|| format!("{ns_name} has no interface {iface}"))?;
            let mac = l
                .mac
                .ok_or_else(|| format!("{iface} in {ns_name} has no MAC address"))?;
            let sock = socket::open_here(Some(iface), CLIENT_PORT)
                .map_err(|e| format!("{iface} in {ns_name}: {e}"))?;
            socket::only_for(&sock, &mac)
                .map_err(|e| format!("filtering the DHCP socket of {iface} in {ns_name}: {e}"))?;
            Ok((sock, l.index, mac))
        })
        .join()
        .unwrap_or_else(|_| Err("thread panicked".into()))
    })
}

/// The wanted set's generation and clients, when newer than `seen`.
fn newer(shared: &Mutex<Shared>, seen: u64) -> Option<(u64, Vec<Wanted>)> {
    let sh = shared.lock().ok()?;
    (sh.generation != seen).then(|| (sh.generation, sh.wanted.clone()))
}

/// Opens one client's socket and sends its DISCOVER.
fn open_slot(lab: &str, w: &Wanted, xid_seed: u32, since_ms: u64) -> Result<Iface, String> {
    let p = &w.0;
    if p.client != DhcpClient::Builtin {
        return Err("only the built-in client runs in this version".to_string());
    }
    let ns = netns::ns_name(lab, &p.node);
    let (sock, index, mac) = open(&ns, &p.iface)?;
    let xid =
        u32::from_be_bytes([mac.0[2], mac.0[3], mac.0[4], mac.0[5]]) ^ xid_seed.rotate_left(16);
    let mut i = Iface {
        ns,
        index,
        sock,
        client: Client::new(mac, &p.node, xid),
        configured: None,
        since_ms,
        first_bound_ms: None,
        error: None,
    };
    let a = i.client.discover(since_ms);
    act(&mut i, a, since_ms);
    Ok(i)
}

fn run(lab: &str, shared: &Mutex<Shared>, woken: &UnixDatagram, stop: &AtomicBool) {
    let t0 = Instant::now();
    let now = || t0.elapsed().as_millis() as u64;
    let mut slots: Vec<Slot> = Vec::new();
    let (mut generation, mut opened) = (0u64, 0u32);
    let mut buf = vec![0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        if let Some((g, wanted)) = newer(shared, generation) {
            generation = g;
            let since = now();
            slots = reconcile(std::mem::take(&mut slots), &wanted, Result::is_ok, |w| {
                opened = opened.wrapping_add(1);
                open_slot(lab, w, opened, since)
            });
            publish(&slots, shared, generation);
        }
        let live: Vec<usize> = (0..slots.len()).filter(|k| slots[*k].1.is_ok()).collect();
        let next = live
            .iter()
            .filter_map(|k| slots[*k].1.as_ref().ok())
            .map(|i| i.client.deadline())
            .min()
            .unwrap_or(u64::MAX);
        let wait = next
            .saturating_sub(now())
            .min(socket::TICK.as_millis() as u64);
        let ready = wait_ready(&slots, &live, woken, wait);
        let mut changed = false;
        for k in ready {
            let Ok(i) = slots[k].1.as_mut() else { continue };
            while let Ok((n, _)) = recv_now(&i.sock, &mut buf) {
                if let Ok(m) = Message::from_bytes(&buf[..n]) {
                    let a = i.client.on_reply(&m, now());
                    changed |= act(i, a, now());
                }
            }
        }
        let t = now();
        for i in slots
            .iter_mut()
            .filter_map(|s| s.1.as_mut().ok())
            .filter(|i| i.client.deadline() <= t)
        {
            let a = i.client.on_timer(t);
            changed |= act(i, a, t);
        }
        if changed {
            publish(&slots, shared, generation);
        }
    }
}

/// Waits up to `wait_ms` for replies; the slots (of `live`) that have
/// some. A byte on `woken` (a new wanted set, or stop) ends the wait.
fn wait_ready(slots: &[Slot], live: &[usize], woken: &UnixDatagram, wait_ms: u64) -> Vec<usize> {
    let mut fds: Vec<PollFd> = vec![PollFd::new(woken.as_fd(), PollFlags::POLLIN)];
    fds.extend(
        live.iter()
            .filter_map(|k| slots[*k].1.as_ref().ok())
            .map(|i| PollFd::new(i.sock.as_fd(), PollFlags::POLLIN)),
    );
    let timeout = PollTimeout::try_from(wait_ms as i32).unwrap_or(PollTimeout::ZERO);
    let ready = match poll(&mut fds, timeout) {
        Ok(0) | Err(_) => return Vec::new(),
        Ok(_) => fds[1..]
            .iter()
            .zip(live)
            .filter(|(f, _)| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .map(|(_, k)| *k)
            .collect(),
    };
    let mut byte = [0u8; 16];
    while woken.recv(&mut byte).is_ok() {}
    ready
}

fn recv_now(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, std::net::SocketAddr)> {
    sock.set_nonblocking(true)?;
    sock.recv_from(buf)
}

/// Carries out `a`; whether the status changed.
fn act(i: &mut Iface, a: Action, now: u64) -> bool {
    match a {
        Action::Nothing => false,
        Action::Send(m, to) => {
            send(&i.sock, &m, to);
            false
        }
        Action::Renewed => true,
        Action::Configure(b) => {
            if i.configured.is_some_and(|c| c != b.addr) {
                unconfigure(i);
            }
            i.error = configure(i, &b).err();
            if i.error.is_none() {
                i.configured = Some(b.addr);
                i.first_bound_ms
                    .get_or_insert(now.saturating_sub(i.since_ms));
            }
            true
        }
        Action::Unconfigure => {
            unconfigure(i);
            let a = i.client.discover(now);
            act(i, a, now);
            true
        }
    }
}

/// Removes the address this client configured (the kernel drops the
/// routes through it with it).
fn unconfigure(i: &mut Iface) {
    if let Some(a) = i.configured.take() {
        let index = i.index;
        let _ = in_ns(&i.ns, move |nl| {
            nl.request(addr::delete(index, &a, format!("removing {a}")))
        });
    }
}

fn send(sock: &UdpSocket, m: &Message, to: To) {
    let Ok(bytes) = m.to_vec() else { return };
    let dst = match to {
        To::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
        To::Server(ip) => SocketAddrV4::new(ip, SERVER_PORT),
    };
    let _ = sock.set_nonblocking(true);
    let _ = sock.send_to(&bytes, dst);
}

fn in_ns<R>(
    ns_name: &str,
    f: impl FnOnce(&mut Netlink) -> crate::kernel::Result<R> + Send,
) -> Result<R, String>
where
    R: Send,
{
    let ns = NetNs::open(ns_name).map_err(|e| e.to_string())?;
    std::thread::scope(|s| {
        s.spawn(|| -> Result<R, String> {
            let _in = ns.enter().map_err(|e| e.to_string())?;
            let mut nl = Netlink::new().map_err(|e| e.to_string())?;
            f(&mut nl).map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("thread panicked".into()))
    })
}

/// Address, MTU, then routes: option 121's when given, else the default
/// route through the router.
fn configure(i: &Iface, b: &Binding) -> Result<(), String> {
    let (index, ns) = (i.index, i.ns.clone());
    let b = b.clone();
    in_ns(&i.ns, move |nl| {
        match nl.request(addr::add(
            index,
            &b.addr,
            format!("adding {} to {} in {ns}", b.addr, index),
        )) {
            Err(e) if e.raw_errno() == Some(libc::EEXIST) => {}
            r => r?,
        }
        if let Some(m) = b.mtu {
            nl.request(link::set_mtu(
                index,
                u32::from(m),
                format!("setting MTU {m} in {ns}"),
            ))?;
        }
        let default = IpNet {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix: 0,
        };
        let routes: Vec<(IpNet, Ipv4Addr)> = if b.routes.is_empty() {
            b.router.map(|r| (default, r)).into_iter().collect()
        } else {
            b.routes.clone()
        };
        for (dst, via) in routes {
            nl.request(route::replace(
                &dst,
                Some(IpAddr::V4(via)),
                Some(index),
                format!("route {dst} via {via} in {ns}"),
            ))?;
        }
        Ok(())
    })
}

/// Writes the slots' state into the status, unless a newer wanted set
/// came meanwhile (its status is already the new set's).
fn publish(slots: &[Slot], shared: &Mutex<Shared>, generation: u64) {
    let Ok(mut sh) = shared.lock() else { return };
    if sh.generation != generation {
        return;
    }
    for (s, (_, slot)) in sh.status.iter_mut().zip(slots) {
        match slot {
            Ok(i) => {
                s.mac = Some(i.client.mac);
                s.phase = Some(i.client.phase);
                s.binding = i.client.binding.clone();
                s.naks = i.client.naks;
                s.error = i.error.clone();
                s.bound_ms = i.first_bound_ms;
            }
            Err(e) => s.error = Some(e.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(node: &str, ns: u64) -> Wanted {
        let plan = ClientPlan {
            node: node.into(),
            iface: "eth0".into(),
            client: DhcpClient::Builtin,
        };
        (plan, Some(ns))
    }

    #[test]
    fn only_new_and_changed_clients_are_opened() {
        let mut opened = Vec::new();
        let mut open = |x: &Wanted| {
            opened.push(x.0.node.clone());
            x.0.node.clone() + "-new"
        };
        let old = vec![
            (w("a", 1), "a-old".to_string()),
            (w("b", 1), "b-old".to_string()),
            (w("c", 1), "c-old".to_string()),
            (w("e", 1), "e-failed".to_string()),
        ];
        // b goes, c's namespace was made anew, d comes, e failed before
        // and is tried again; a runs on.
        let wanted = [w("d", 1), w("a", 1), w("c", 2), w("e", 1)];
        let runs = |t: &String| !t.ends_with("failed");
        let now = reconcile(old, &wanted, runs, &mut open);
        let got: Vec<(&str, &str)> = now
            .iter()
            .map(|(w, t)| (w.0.node.as_str(), t.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("d", "d-new"),
                ("a", "a-old"),
                ("c", "c-new"),
                ("e", "e-new")
            ]
        );
        assert_eq!(opened, ["d", "c", "e"]);
    }
}
