//! The built-in DHCP client at work: one thread of the supervisor for
//! every `ip: dhcp` interface of the lab (no process per host), one UDP
//! socket on port 68 per interface, opened in the host's namespace and
//! polled together. A binding is configured over netlink from a thread
//! inside the host's namespace: address, MTU, option-121 routes or the
//! default route through the router.

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
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
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
    /// Milliseconds from the clients' start to this one's first binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Clients {
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<Vec<ClientStatus>>>,
    thread: Option<JoinHandle<()>>,
}

/// One interface's client with its socket.
struct Iface {
    ns: String,
    index: u32,
    sock: UdpSocket,
    client: Client,
    /// The address this client put on the interface.
    configured: Option<IpNet>,
    first_bound_ms: Option<u64>,
    error: Option<String>,
}

impl Clients {
    pub fn start(lab: &str, plans: &[ClientPlan]) -> Clients {
        let status: Vec<ClientStatus> = plans
            .iter()
            .map(|p| ClientStatus {
                node: p.node.clone(),
                iface: p.iface.clone(),
                mac: None,
                phase: None,
                binding: None,
                naks: 0,
                bound_ms: None,
                error: (p.client != DhcpClient::Builtin)
                    .then(|| "only the built-in client runs in this version".to_string()),
            })
            .collect();
        let status = Arc::new(Mutex::new(status));
        let stop = Arc::new(AtomicBool::new(false));
        let (lab, plans) = (lab.to_string(), plans.to_vec());
        let (st, sp) = (status.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("dhcp-clients".into())
            .spawn(move || run(&lab, &plans, &st, &sp))
            .ok();
        Clients {
            stop,
            status,
            thread,
        }
    }

    pub fn status(&self) -> Vec<ClientStatus> {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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

fn run(lab: &str, plans: &[ClientPlan], status: &Mutex<Vec<ClientStatus>>, stop: &AtomicBool) {
    let t0 = Instant::now();
    let now = || t0.elapsed().as_millis() as u64;
    let mut ifs: Vec<Option<Iface>> = Vec::new();
    for (k, p) in plans.iter().enumerate() {
        if p.client != DhcpClient::Builtin {
            ifs.push(None);
            continue;
        }
        let ns = netns::ns_name(lab, &p.node);
        match open(&ns, &p.iface) {
            Ok((sock, index, mac)) => {
                let xid = u32::from_be_bytes([mac.0[2], mac.0[3], mac.0[4], mac.0[5]])
                    ^ (k as u32).rotate_left(16);
                let mut i = Iface {
                    ns,
                    index,
                    sock,
                    client: Client::new(mac, &p.node, xid),
                    configured: None,
                    first_bound_ms: None,
                    error: None,
                };
                let a = i.client.discover(now());
                act(&mut i, a, now());
                ifs.push(Some(i));
            }
            Err(e) => {
                if let Ok(mut st) = status.lock() {
                    st[k].error = Some(e);
                }
                ifs.push(None);
            }
        }
    }
    publish(&ifs, status);
    let mut buf = vec![0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let next = ifs
            .iter()
            .flatten()
            .map(|i| i.client.deadline())
            .min()
            .unwrap_or(u64::MAX);
        let wait = next
            .saturating_sub(now())
            .min(socket::TICK.as_millis() as u64);
        let ready: Vec<usize> = {
            let live: Vec<usize> = (0..ifs.len()).filter(|k| ifs[*k].is_some()).collect();
            let mut fds: Vec<PollFd> = live
                .iter()
                .filter_map(|k| ifs[*k].as_ref())
                .map(|i| PollFd::new(i.sock.as_fd(), PollFlags::POLLIN))
                .collect();
            let timeout = PollTimeout::try_from(wait as i32).unwrap_or(PollTimeout::ZERO);
            match poll(&mut fds, timeout) {
                Ok(0) | Err(_) => Vec::new(),
                Ok(_) => fds
                    .iter()
                    .zip(&live)
                    .filter(|(f, _)| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                    .map(|(_, k)| *k)
                    .collect(),
            }
        };
        let mut changed = false;
        for k in ready {
            let Some(i) = ifs[k].as_mut() else { continue };
            while let Ok((n, _)) = recv_now(&i.sock, &mut buf) {
                if let Ok(m) = Message::from_bytes(&buf[..n]) {
                    let a = i.client.on_reply(&m, now());
                    changed |= act(i, a, now());
                }
            }
        }
        let t = now();
        for i in ifs
            .iter_mut()
            .flatten()
            .filter(|i| i.client.deadline() <= t)
        {
            let a = i.client.on_timer(t);
            changed |= act(i, a, t);
        }
        if changed {
            publish(&ifs, status);
        }
    }
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
                i.first_bound_ms.get_or_insert(now);
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

fn publish(ifs: &[Option<Iface>], status: &Mutex<Vec<ClientStatus>>) {
    let Ok(mut st) = status.lock() else { return };
    for (s, i) in st.iter_mut().zip(ifs) {
        let Some(i) = i else { continue };
        s.mac = Some(i.client.mac);
        s.phase = Some(i.client.phase);
        s.binding = i.client.binding.clone();
        s.naks = i.client.naks;
        s.error = i.error.clone();
        s.bound_ms = i.first_bound_ms;
    }
}
