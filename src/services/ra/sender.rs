//! One interface's advertiser: a thread inside the router's namespace
//! with a raw ICMPv6 socket bound to the interface, sending on the
//! [`Timing`] schedule and answering solicitations.

use super::message;
use super::timing::{Due, Timing};
use crate::kernel::icmp6::{Icmp6Socket, ALL_NODES};
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{link, netlink, Error, Result};
use crate::topo::ra::Advert;
use crate::topo::MacAddr;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest the thread sleeps before it looks at its stop flag.
const POLL: Duration = Duration::from_millis(200);
/// How long starting may take (entering the namespace, opening).
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// What an advertiser has done, for `nlab supervisor status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Adverts sent (periodic and answers).
    pub sent: u64,
    /// Valid router solicitations received.
    pub solicitations: u64,
    /// Messages dropped: not a valid solicitation, or hop limit not 255.
    pub ignored: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub struct Sender {
    pub advert: Advert,
    stop: Arc<AtomicBool>,
    /// Send a last advert with router lifetime 0 when stopping.
    farewell: Arc<AtomicBool>,
    counters: Arc<Mutex<Counters>>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    /// Starts advertising `a` in lab `lab`; returns once the socket is
    /// open, or with the error that kept it from opening.
    pub fn start(lab: &str, a: Advert) -> Result<Sender> {
        let ns_name = netns::ns_name(lab, &a.node);
        let stop = Arc::new(AtomicBool::new(false));
        let farewell = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Mutex::new(Counters::default()));
        let (tx, rx) = mpsc::channel();
        let (st, fw, ct, adv) = (stop.clone(), farewell.clone(), counters.clone(), a.clone());
        let thread = std::thread::Builder::new()
            .name(format!("ra-{}", a.iface))
            .spawn(move || match open(&ns_name, &adv.iface) {
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
                Ok((sock, mac)) => {
                    let _ = tx.send(Ok(()));
                    run(&sock, mac, &adv, &st, &ct);
                    if fw.load(Ordering::Relaxed) {
                        let body = message::advertisement(&adv, mac, Some(0));
                        let _ = sock.send_to(&body, ALL_NODES);
                    }
                }
            })
            .map_err(|e| {
                Error::io(
                    format!("starting the advertiser of {}:{}", a.node, a.iface),
                    e,
                )
            })?;
        let started = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            Err(Error::protocol(
                format!("starting the advertiser of {}:{}", a.node, a.iface),
                format!("no answer within {START_TIMEOUT:?}"),
            ))
        });
        let mut s = Sender {
            advert: a,
            stop,
            farewell,
            counters,
            thread: Some(thread),
        };
        match started {
            Ok(()) => Ok(s),
            Err(e) => {
                s.stop(false);
                Err(e)
            }
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Stops the thread; `farewell`: first tell the hosts this router is
    /// no default router any more (RFC 4861 6.2.5).
    pub fn stop(&mut self, farewell: bool) {
        self.farewell.store(farewell, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// Enters the router's namespace for good (this thread only works
/// there) and opens the socket; also reads the interface's MAC for the
/// source link-layer option.
fn open(ns_name: &str, iface: &str) -> Result<(Icmp6Socket, Option<MacAddr>)> {
    NetNs::open(ns_name)?.enter_for_good("to send router advertisements")?;
    let sock = Icmp6Socket::open(iface, message::ROUTER_SOLICITATION)?;
    let mut nl = netlink::Socket::new()?;
    let mac = link::dump(&mut nl, &format!("reading links of {ns_name}"))?
        .into_iter()
        .find(|l| l.name == iface)
        .and_then(|l| l.mac);
    Ok((sock, mac))
}

fn run(
    sock: &Icmp6Socket,
    mac: Option<MacAddr>,
    a: &Advert,
    stop: &AtomicBool,
    c: &Mutex<Counters>,
) {
    let body = message::advertisement(a, mac, None);
    let seed = crate::kernel::thread::monotonic_ns() ^ u64::from(sock.ifindex()) << 32;
    let mut timing = Timing::new(a.interval, Instant::now(), seed);
    let mut buf = vec![0u8; 2048];
    let note = |f: &dyn Fn(&mut Counters)| {
        if let Ok(mut g) = c.lock() {
            f(&mut g);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while let Some(d) = timing.due(now) {
            let to = match d {
                Due::Periodic | Due::Reply(None) => ALL_NODES,
                Due::Reply(Some(host)) => host,
            };
            // A link that is down (a schedule, `nlab link down`) cannot
            // send: count the error and keep the schedule.
            match sock.send_to(&body, to) {
                Ok(()) => note(&|g| g.sent += 1),
                Err(e) => note(&|g| g.last_error = Some(e.to_string())),
            }
        }
        let wait = timing
            .next_deadline()
            .saturating_duration_since(now)
            .min(POLL);
        match sock.recv(&mut buf, wait) {
            Ok(Some(r)) => {
                let valid = message::is_solicitation(&buf[..r.len.min(buf.len())])
                    && r.hop_limit.is_none_or(|h| h == 255);
                if valid {
                    note(&|g| g.solicitations += 1);
                    timing.solicited(r.from, Instant::now());
                } else {
                    note(&|g| g.ignored += 1);
                }
            }
            Ok(None) => {}
            Err(e) => {
                note(&|g| g.last_error = Some(e.to_string()));
                std::thread::sleep(POLL);
            }
        }
    }
}
