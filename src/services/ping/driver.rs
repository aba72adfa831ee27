//! One driver thread's share of a wave: its sockets, its pairs, its epoll
//! loop, and the deletion of the neighbour entries in its namespaces.
//!
//! A pair is driven by the thread that owns its source namespace's socket
//! (replies come back there). The second pair of a unit usually has its
//! source in another thread's share: it waits, `Held`, until the first pair
//! answers (or is slow), and the thread that sees that sends it a trigger
//! through the other thread's `Inbox` (`sync.rs`).

use super::plan::{Del, Pair, Plan, State, NONE};
use super::socket::{self, Probe, PKT_LEN};
use super::sync::{Inbox, Shared};
use crate::kernel::fd::{self, Epoll};
use crate::kernel::{neigh, netlink, Result};
use socket2::{SockAddr, Socket};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

/// Epoll data of a thread's eventfd (sockets use their index).
const WAKE: u64 = u64::MAX;
/// A trigger for a pair whose first pair did not answer: it may need a
/// broadcast of its own.
const COLD_BIT: u32 = 1 << 31;

/// The sockets and namespaces one driver thread owns, for the whole run.
pub(super) struct Shard {
    /// Index of this driver (its inbox).
    pub me: u32,
    pub socks: Vec<Socket>,
    pub sock_v6: Vec<bool>,
    /// Per namespace of the share: name and netlink socket (cleanup only).
    pub nl: Vec<(String, Option<netlink::Socket>)>,
    /// Straggling pairs carried over to the next wave.
    pub carry: Vec<Pair>,
    /// Slot of each of the run's pairs in the current wave (by pair id).
    slot_of: Vec<u32>,
    epoll: Epoll,
}

/// Outcome of one driver's neighbour cleanup.
#[derive(Debug, Default)]
pub(super) struct Cleanup {
    pub requests: usize,
    pub failed: usize,
    pub first_error: Option<String>,
}

impl Cleanup {
    pub fn add(&mut self, other: Cleanup) {
        self.requests += other.requests;
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

impl Shard {
    pub fn new(me: u32, inbox: &Inbox, pairs: usize) -> Result<Shard> {
        let epoll = Epoll::new("the ICMP prober")?;
        epoll.add(inbox.fd(), WAKE)?;
        Ok(Shard {
            me,
            socks: Vec::new(),
            sock_v6: Vec::new(),
            nl: Vec::new(),
            carry: Vec::new(),
            slot_of: vec![NONE; pairs],
            epoll,
        })
    }

    /// Adds a raw socket; returns its index.
    pub fn add_socket(&mut self, sock: Socket, v6: bool) -> Result<u32> {
        let i = self.socks.len() as u32;
        self.epoll.add(sock.as_raw_fd(), u64::from(i))?;
        self.socks.push(sock);
        self.sock_v6.push(v6);
        Ok(i)
    }

    /// Probes the pairs of `plan`, and those carried over, until each
    /// answered or timed out; or, if `may_carry`, until only stragglers are
    /// left, which are carried over to the next wave. Finished pairs stay in
    /// `plan.pairs`. Calls `report` as pairs finish. Returns early (`Ok`)
    /// if the run aborted.
    pub fn drive(
        &mut self,
        plan: &mut Plan,
        may_carry: bool,
        sh: &Shared,
        report: &dyn Fn(),
    ) -> Result<()> {
        let mut timers = BinaryHeap::new();
        let mut in_flight = 0;
        let mut held = 0;
        for p in &plan.pairs {
            held += usize::from(p.state == State::Held);
        }
        for mut p in self.carry.drain(..) {
            let slot = plan.pairs.len() as u32;
            timers.push(Reverse((p.due, slot)));
            p.holds_cold = false;
            in_flight += 1;
            plan.pairs.push(p);
        }
        for (slot, p) in plan.pairs.iter().enumerate() {
            self.slot_of[p.id as usize] = slot as u32;
        }
        let mut run = Run {
            shard: self,
            sh,
            pairs: &mut plan.pairs,
            timers,
            cold_timers: BinaryHeap::new(),
            warm: VecDeque::new(),
            cold: VecDeque::new(),
            in_flight,
            cold_in_flight: 0,
            held,
            done: 0,
            pkt: [0u8; PKT_LEN],
        };
        run.go(&plan.order, may_carry, report)?;
        // What is still active is carried over (the wave ended early).
        for p in &plan.pairs {
            self.slot_of[p.id as usize] = NONE;
        }
        let (finished, active): (Vec<Pair>, Vec<Pair>) =
            plan.pairs.drain(..).partition(|p| p.state != State::Active);
        plan.pairs = finished;
        self.carry = active;
        Ok(())
    }

    /// Deletes the neighbour entries `dels` (pipelined, one batch per
    /// namespace). Entries already gone are fine.
    pub fn delete(&mut self, dels: &mut [Del]) -> Cleanup {
        let mut out = Cleanup::default();
        dels.sort_unstable_by_key(|d| d.ns);
        for group in dels.chunk_by(|a, b| a.ns == b.ns) {
            let ns = group[0].ns as usize;
            let Some((name, Some(sock))) = self.nl.get_mut(ns) else {
                continue;
            };
            let reqs: Vec<netlink::Request> = group
                .iter()
                .map(|d| {
                    let what = format!("deleting neighbour {} in {name}", d.addr);
                    neigh::del(d.index, d.addr, what)
                })
                .collect();
            out.requests += reqs.len();
            for e in sock.execute(reqs) {
                if e.is_not_found() {
                    continue;
                }
                out.failed += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
            }
        }
        out
    }
}

/// The state of one driver during one wave.
struct Run<'a, 'b> {
    shard: &'a mut Shard,
    sh: &'a Shared<'b>,
    pairs: &'a mut Vec<Pair>,
    /// Next retry or expiry of active pairs: (due, slot).
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    /// When cold pairs give their cold slot back: (due, slot).
    cold_timers: BinaryHeap<Reverse<(u64, u32)>>,
    /// Triggered second pairs, ready to start.
    warm: VecDeque<u32>,
    cold: VecDeque<u32>,
    in_flight: usize,
    cold_in_flight: usize,
    /// Pairs still waiting for a trigger.
    held: usize,
    done: usize,
    pkt: [u8; PKT_LEN],
}

impl Run<'_, '_> {
    fn go(&mut self, order: &[u32], may_carry: bool, report: &dyn Fn()) -> Result<()> {
        let total = self.pairs.len();
        let pace = self.sh.pace;
        let mut next = 0usize;
        let mut inbox = Vec::new();
        let nevents = (self.shard.socks.len() + 1).clamp(2, 256);
        let mut events = vec![fd::Event::default(); nevents];
        let mut buf = [0u8; 2048];
        let my_inbox = &self.sh.inboxes[self.shard.me as usize];
        loop {
            if self.sh.is_aborted() {
                return Ok(());
            }
            let before = self.done;
            let now = self.sh.now();
            self.expire(now);
            // Triggers from other drivers.
            my_inbox.drain(&mut inbox);
            for v in inbox.drain(..) {
                self.triggered(v & !COLD_BIT, v & COLD_BIT != 0);
            }
            // Start pairs while there is room: warm second pairs first,
            // then cold ones and new units while broadcasts may go out.
            while self.in_flight < pace.max_in_flight {
                let p = if let Some(p) = self.warm.pop_front() {
                    p
                } else if self.cold_in_flight >= pace.max_cold {
                    break;
                } else if let Some(p) = self.cold.pop_front() {
                    p
                } else if next < order.len() {
                    next += 1;
                    order[next - 1]
                } else {
                    break;
                };
                self.start(p, now);
            }
            if self.done != before {
                self.sh
                    .done
                    .fetch_add(self.done - before, Ordering::Relaxed);
            }
            report();
            if self.done >= total {
                return Ok(());
            }
            let idle = next == order.len()
                && self.warm.is_empty()
                && self.cold.is_empty()
                && self.held == 0;
            if may_carry && idle && self.only_stragglers(now) {
                return Ok(());
            }

            // Sleep until a reply, a trigger or a timer.
            let due = [&self.timers, &self.cold_timers]
                .iter()
                .filter_map(|t| t.peek().map(|&Reverse((due, _))| due))
                .min()
                .unwrap_or(u64::MAX);
            let wait = due.saturating_sub(self.sh.now()).min(1_000_000_000);
            let ready = self.shard.epoll.wait(&mut events, wait)?;
            let before = self.done;
            for ev in &events[..ready] {
                if ev.data() == WAKE {
                    my_inbox.clear();
                    continue;
                }
                let sock = ev.data() as usize;
                // Read what is there, bounded so one busy socket cannot
                // starve the timers.
                for _ in 0..256 {
                    let (len, from) = match fd::recv_from(&self.shard.socks[sock], &mut buf) {
                        Ok(r) => r,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // WouldBlock: drained. Anything else (an ICMP error
                        // queued on the socket) says nothing about our pairs.
                        Err(_) => break,
                    };
                    self.reply(sock, &buf[..len], &from);
                }
            }
            if self.done != before {
                self.sh
                    .done
                    .fetch_add(self.done - before, Ordering::Relaxed);
            }
        }
    }

    /// Whether every active pair has gone unanswered for a while (and has
    /// let its unit's second pair go: a driver waiting for that trigger
    /// would never end its wave).
    fn only_stragglers(&mut self, now: u64) -> bool {
        let straggle = self.sh.pace.straggle;
        let mut all = true;
        for p in 0..self.pairs.len() {
            let pair = &self.pairs[p];
            if pair.state != State::Active {
                continue;
            }
            if now < pair.first.saturating_add(straggle) {
                all = false;
            } else {
                self.trigger_partner(p as u32, true);
            }
        }
        all && self.warm.is_empty() && self.cold.is_empty()
    }

    /// Retries, expiries and cold slots that are due.
    fn expire(&mut self, now: u64) {
        let pace = self.sh.pace;
        while let Some(&Reverse((due, p))) = self.cold_timers.peek() {
            if due > now {
                break;
            }
            self.cold_timers.pop();
            self.release_cold(p);
        }
        while let Some(&Reverse((due, p))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            if self.pairs[p as usize].state != State::Active {
                continue;
            }
            // No answer within an interval: let the second pair go.
            self.trigger_partner(p, true);
            let deadline = self.pairs[p as usize].first.saturating_add(pace.timeout);
            if now >= deadline {
                self.finish(p, State::Failed);
                continue;
            }
            self.send(p, now);
            self.schedule(p, now.saturating_add(pace.interval).min(deadline));
        }
    }

    fn schedule(&mut self, p: u32, at: u64) {
        self.pairs[p as usize].due = at;
        self.timers.push(Reverse((at, p)));
    }

    fn start(&mut self, p: u32, now: u64) {
        let pace = self.sh.pace;
        let pair = &mut self.pairs[p as usize];
        pair.state = State::Active;
        pair.first = now;
        self.in_flight += 1;
        if pair.cold {
            pair.holds_cold = true;
            self.cold_in_flight += 1;
            self.cold_timers
                .push(Reverse((now.saturating_add(pace.cold_hold), p)));
        }
        self.send(p, now);
        self.schedule(p, now.saturating_add(pace.interval.min(pace.timeout)));
    }

    fn release_cold(&mut self, p: u32) {
        let pair = &mut self.pairs[p as usize];
        if pair.holds_cold {
            pair.holds_cold = false;
            self.cold_in_flight -= 1;
        }
    }

    fn finish(&mut self, p: u32, state: State) {
        self.pairs[p as usize].state = state;
        self.release_cold(p);
        self.in_flight -= 1;
        self.done += 1;
    }

    /// Lets the unit's second pair start (once).
    fn trigger_partner(&mut self, p: u32, cold: bool) {
        let pair = &mut self.pairs[p as usize];
        let (driver, slot) = pair.partner;
        if driver == NONE {
            return;
        }
        pair.partner = (NONE, NONE);
        if driver == self.shard.me {
            self.triggered(slot, cold);
        } else {
            let bit = if cold { COLD_BIT } else { 0 };
            self.sh.inboxes[driver as usize].push(slot | bit);
        }
    }

    fn triggered(&mut self, p: u32, cold: bool) {
        let Some(pair) = self.pairs.get_mut(p as usize) else {
            return;
        };
        if pair.state != State::Held {
            return;
        }
        pair.state = State::Waiting;
        self.held -= 1;
        if cold {
            pair.cold = true;
            self.cold.push_back(p);
        } else {
            self.warm.push_back(p);
        }
    }

    fn reply(&mut self, sock: usize, data: &[u8], from: &SockAddr) {
        let sh = self.sh;
        let v6 = self.shard.sock_v6[sock];
        let Some((probe, from_ip)) = socket::parse(data, v6, from, sh.nonce) else {
            return;
        };
        let Some(&slot) = self.shard.slot_of.get(probe.pair as usize) else {
            return;
        };
        let Some(pair) = self.pairs.get(slot as usize) else {
            return; // not in this wave
        };
        if pair.id != probe.pair
            || pair.src != probe.src
            || pair.dst != probe.dst
            || pair.sock as usize != sock
            || pair.state != State::Active
            || sh.hosts.get(pair.dst as usize).map(|h| h.addr) != Some(from_ip)
        {
            return;
        }
        self.pairs[slot as usize].rtt = sh.now().saturating_sub(probe.sent_at);
        self.finish(slot, State::Answered);
        self.trigger_partner(slot, false);
    }

    /// Sends one echo request of pair `p`. A failure (no route while a link
    /// is down, a full socket buffer, a full neighbour table) is not fatal:
    /// the pair is retried until it times out, and `sent` counts only
    /// requests the kernel took.
    fn send(&mut self, p: u32, now: u64) {
        let pair = &mut self.pairs[p as usize];
        let v6 = self.shard.sock_v6[pair.sock as usize];
        let probe = Probe {
            src: pair.src,
            dst: pair.dst,
            sent_at: now,
            pair: pair.id,
        };
        socket::build(&mut self.pkt, v6, self.sh.nonce, &probe);
        let sock = &self.shard.socks[pair.sock as usize];
        let dest = &self.sh.dests[pair.dst as usize];
        loop {
            match sock.send_to(&self.pkt, dest) {
                Ok(_) => {
                    pair.sent += 1;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }
}
