//! The supervisor process itself (`nlab supervise LAB`).
//!
//! One thread owns all state and the drivers and runs the timer loop: it
//! sleeps on a channel until the next schedule step is due or a request
//! arrives. Connection threads only read request lines and write answers,
//! so a slow client never delays a step.

use super::desired::{self, Desired, LinkEntry};
use super::drivers::{Drivers, DEFAULT_DRIVER};
use super::protocol::{action_name, LinkState, LinkStatus, RemoteError, Request, Response, Status};
use super::schedule::{self, wall_ns, Clock, Schedule};
use super::{paths, process, Error, Result};
use crate::kernel::{files, proc};
use crate::store::State;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

/// How long a new supervisor waits for the pid-file lock of one that is
/// exiting.
const DYING_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How often an idle supervisor checks that its lab still exists.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

fn log(msg: impl std::fmt::Display) {
    let ns = wall_ns();
    eprintln!(
        "[{}.{:03}] supervisor {}: {msg}",
        ns / 1_000_000_000,
        (ns / 1_000_000) % 1000,
        std::process::id()
    );
}

/// Runs the supervisor of `lab` until asked to stop. Returns at once (Ok)
/// when another supervisor of the lab holds the pid file.
pub fn run(lab: &str) -> Result<()> {
    run_with(lab, Drivers::standard(lab))
}

/// [`run`] with a chosen set of drivers.
pub fn run_with(lab: &str, drivers: Drivers) -> Result<()> {
    crate::store::check_lab_name(lab)?;
    if State::load(lab)?.is_none() {
        return Err(Error::NoSuchLab(lab.to_string()));
    }
    let Some(_pid) = PidFile::lock(lab)? else {
        log(format!(
            "another supervisor of {lab} is running (lock on {} held by: {}); leaving it be",
            paths::pid(lab).display(),
            process::pid_lock_holders(lab)
        ));
        return Ok(());
    };
    let mut sup = Supervisor {
        lab: lab.to_string(),
        desired: Desired::load(lab)?,
        drivers,
        clock: Clock::now(),
        started_unix_ns: wall_ns(),
        ra: crate::services::ra::Advertisers::default(),
        dhcp: crate::services::dhcp::service::Service::new(lab),
        capture: crate::services::capture::record::Recorders::default(),
    };
    log(format!(
        "started for lab {lab} ({} link(s) to drive)",
        sup.desired.links.len()
    ));
    sup.reattach();
    sup.set_ra();
    // Recording resumes into new files (a restart after kill -9 included).
    sup.set_capture(&[]);
    sup.run_due();
    // DHCP resumes from the lease files (a restart after kill -9 included).
    sup.dhcp.sync();
    let listener = bind(lab)?;
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::spawn(move || accept(listener, tx));
    loop {
        sup.run_due();
        let watch = Instant::now() + WATCH_EVERY;
        let wake = sup.next_deadline().map_or(watch, |t| t.min(watch));
        let job = rx.recv_timeout(wake.saturating_duration_since(Instant::now()));
        if matches!(job, Err(RecvTimeoutError::Timeout)) && !State::path(lab).exists() {
            // The lab went away without stopping us (its files removed by
            // hand): nothing left to supervise.
            log(format!(
                "lab {lab} is gone (no {}); exiting",
                State::path(lab).display()
            ));
            break;
        }
        match job {
            Ok(Job::Stop) => break,
            Ok(Job::Call(req, reply)) => {
                let answer = match sup.handle(req) {
                    Ok(v) => Response::Ok(v),
                    Err(e) => Response::Error(RemoteError {
                        kind: e.kind(),
                        message: e.to_string(),
                    }),
                };
                let _ = reply.send(answer);
            }
            // A recording whose interface went away starts again once
            // the interface is back.
            Err(RecvTimeoutError::Timeout) if sup.capture.has_stopped() => {
                sup.set_capture(&[]);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    sup.dhcp.stop();
    sup.capture.stop();
    log("stopped");
    let _ = fs::remove_file(paths::socket(lab));
    Ok(())
}

/// The pid file, flocked for the supervisor's whole life.
struct PidFile {
    lab: String,
    _file: File,
}

impl PidFile {
    /// `None` when another supervisor holds the lock: a second one leaves
    /// at once, and the caller names the holder. A holder that is no live
    /// supervisor is one killed a moment ago whose descriptors the kernel
    /// is still closing (its leader a zombie while its other threads exit;
    /// a packet socket takes a grace period each): that one is waited
    /// for, at most [`DYING_HOLDER_WAIT`], so a restart right after a
    /// kill works.
    fn lock(lab: &str) -> Result<Option<PidFile>> {
        let p = paths::pid(lab);
        let deadline = Instant::now() + DYING_HOLDER_WAIT;
        loop {
            // Root only, whatever the umask: anyone who can open it can
            // flock it, and a held lock keeps every supervisor out.
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&p)
                .map_err(|e| Error::io(format!("opening {}", p.display()), e))?;
            proc::fchmod(&f, 0o600).map_err(|e| Error::io(format!("chmod {}", p.display()), e))?;
            if !files::try_lock_exclusive(&f)
                .map_err(|e| Error::io(format!("locking {}", p.display()), e))?
            {
                let left = deadline.saturating_duration_since(Instant::now());
                // Wait only for a holder on its way out: the lock held by a
                // live process that the pid file names as the supervisor is
                // another supervisor at work.
                let live_holder = proc::flock_holders(&p).into_iter().any(process::alive);
                let live_supervisor = process::from_pid_file(lab).is_some();
                if (live_holder && live_supervisor) || left.is_zero() {
                    return Ok(None);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            }
            // A stopping supervisor unlinks the file while holding the
            // lock: a lock on the unlinked inode protects nothing, retry.
            let same = match (f.metadata(), fs::symlink_metadata(&p)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            f.set_len(0)
                .and_then(|_| f.write_all(process::pid_file_line().as_bytes()))
                .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
            return Ok(Some(PidFile {
                lab: lab.to_string(),
                _file: f,
            }));
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(paths::pid(&self.lab));
    }
}

/// Binds the socket inside a directory only root can enter, so the
/// socket is never reachable by others, not even before its chmod. Any
/// file already there is a dead supervisor's: we hold the pid lock, so no
/// live one can own it.
fn bind(lab: &str) -> Result<UnixListener> {
    let dir = paths::socket_dir(lab);
    root_only_dir(&dir)?;
    let p = paths::socket(lab);
    let _ = fs::remove_file(&p);
    let l = UnixListener::bind(&p).map_err(|e| Error::io(format!("binding {}", p.display()), e))?;
    // Only root may steer the lab's links.
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("chmod {}", p.display()), e))?;
    Ok(l)
}

/// Makes `dir` a root-owned 0700 directory (mode set explicitly: the
/// umask only narrows what mkdir gets), refusing a symlink or a
/// directory someone else owns.
fn root_only_dir(dir: &std::path::Path) -> Result<()> {
    let io = |e| Error::io(format!("creating {}", dir.display()), e);
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    let m = fs::symlink_metadata(dir).map_err(io)?;
    if !m.file_type().is_dir() || m.uid() != 0 {
        return Err(Error::State(format!(
            "{} is not a directory owned by root; remove it (`nlab down {}`)",
            dir.display(),
            dir.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )));
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(format!("chmod {}", dir.display()), e))
}

enum Job {
    Call(Request, mpsc::Sender<Response>),
    /// Sent after the `stop` answer is written, so the client gets it.
    Stop,
}

fn accept(listener: UnixListener, tx: mpsc::Sender<Job>) {
    for conn in listener.incoming().flatten() {
        let tx = tx.clone();
        std::thread::spawn(move || serve(conn, tx));
    }
}

fn serve(conn: UnixStream, tx: mpsc::Sender<Job>) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        if line.trim().is_empty() {
            continue;
        }
        let (answer, stop) = match serde_json::from_str::<Request>(&line) {
            Err(e) => (
                Response::Error(RemoteError {
                    kind: super::ErrorKind::BadRequest,
                    message: format!("not a request ({e}); ops: status, set-link, set-schedule, remove-link, stats, set-ra, set-capture, capture, dhcp-sync, dhcp, stop"),
                }),
                false,
            ),
            Ok(Request::Stop) => (Response::Ok(serde_json::Value::Null), true),
            Ok(req) => {
                let (rtx, rrx) = mpsc::channel();
                if tx.send(Job::Call(req, rtx)).is_err() {
                    return;
                }
                match rrx.recv() {
                    Ok(a) => (a, false),
                    Err(_) => return,
                }
            }
        };
        let mut bytes = serde_json::to_vec(&answer).unwrap_or_default();
        bytes.push(b'\n');
        let _ = out.write_all(&bytes).and_then(|_| out.flush());
        if stop {
            let _ = tx.send(Job::Stop);
            return;
        }
    }
}

struct Supervisor {
    lab: String,
    desired: Desired,
    drivers: Drivers,
    clock: Clock,
    started_unix_ns: u64,
    ra: crate::services::ra::Advertisers,
    dhcp: crate::services::dhcp::service::Service,
    capture: crate::services::capture::record::Recorders,
}

impl Supervisor {
    fn save(&self) {
        if let Err(e) = self.desired.save() {
            log(format!("could not persist the supervisor's state: {e}"));
        }
    }

    /// After a restart: put every link the last supervisor had applied
    /// back through its driver (a userspace data path must be rebuilt; for
    /// kernel state this is a no-op that corrects drift).
    fn reattach(&mut self) {
        for e in self.desired.links.values_mut().filter(|e| e.attached) {
            let r = self
                .drivers
                .get(&e.driver)
                .and_then(|d| d.apply(&e.target, &e.state));
            e.last_error = r.err().map(|err| {
                log(format!("re-attaching {}: {err}", e.target.key));
                err.to_string()
            });
        }
    }

    /// Sends the router advertisements `desired` asks for (at start: the
    /// ones the last supervisor sent).
    fn set_ra(&mut self) -> Vec<(String, String)> {
        let errs = self.ra.set(&self.lab, &self.desired.ra);
        for (end, e) in &errs {
            log(format!("router advertisements on {end}: {e}"));
        }
        errs
    }

    /// Records the links `desired` asks for (at start: the ones the last
    /// supervisor recorded).
    fn set_capture(&mut self, fresh: &[String]) -> Vec<(String, String)> {
        let errs = self.capture.set(&self.lab, &self.desired.capture, fresh);
        for (link, e) in &errs {
            log(format!("recording {link}: {e}"));
        }
        errs
    }

    fn handle_set_capture(
        &mut self,
        recordings: Vec<crate::topo::capture::Recording>,
        fresh: &[String],
    ) -> Result<Vec<crate::services::capture::record::RecordingStatus>> {
        log(format!("recording {} link(s)", recordings.len()));
        self.desired.capture =
            crate::services::capture::record::entries(&self.desired.capture, recordings, wall_ns());
        self.save();
        let errs = self.set_capture(fresh);
        if !errs.is_empty() {
            let list: Vec<String> = errs.iter().map(|(k, e)| format!("{k}: {e}")).collect();
            return Err(Error::Driver(format!(
                "recording did not start on {}",
                list.join("; ")
            )));
        }
        Ok(self.capture.status(&self.lab))
    }

    /// Applies every step that is due, in order, each once.
    fn run_due(&mut self) {
        let mut changed = false;
        for e in self.desired.links.values_mut() {
            let Some(sched) = e.schedule.as_mut() else {
                continue;
            };
            while let Some(i) = sched.due(&self.clock, Instant::now()) {
                let action = sched.steps[i].action.clone();
                let next = e.state.after(&action);
                let began = wall_ns();
                let r = self
                    .drivers
                    .get(&e.driver)
                    .and_then(|d| d.apply(&e.target, &next));
                let now = wall_ns();
                let late_ms = (now as i128
                    - (sched.start_unix_ns as i128 + sched.steps[i].at.as_nanos() as i128))
                    as f64
                    / 1e6;
                let err = match r {
                    Ok(()) => {
                        e.state = next;
                        e.attached = true;
                        e.last_error = None;
                        None
                    }
                    Err(err) => {
                        e.last_error = Some(err.to_string());
                        Some(err.to_string())
                    }
                };
                log(format!(
                    "{}: step {i} ({}) done {late_ms:.1} ms after due (driver {:.1} ms){}",
                    e.target.key,
                    action_name(&action),
                    (now - began) as f64 / 1e6,
                    err.as_deref()
                        .map(|m| format!(", failed: {m}"))
                        .unwrap_or_default()
                ));
                sched.mark_done(i, (began, now), err);
                changed = true;
            }
        }
        if changed {
            self.save();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.desired
            .links
            .values()
            .filter_map(|e| e.schedule.as_ref()?.next_deadline(&self.clock))
            .min()
    }

    /// The entry for `key` (a link key or one end), made from the lab's
    /// topology when the supervisor does not drive the link yet.
    fn entry_key(&self, key: &str) -> Result<(String, Option<LinkEntry>)> {
        let t = desired::resolve(&self.lab, key).or_else(|e| {
            self.desired
                .links
                .values()
                .find(|l| {
                    l.target.key == key
                        || [&l.target.a, &l.target.b]
                            .iter()
                            .any(|end| format!("{}:{}", end.node, end.iface) == key)
                })
                .map(|l| l.target.clone())
                .ok_or(e)
        })?;
        if self.desired.links.contains_key(&t.key) {
            return Ok((t.key, None));
        }
        let up = State::load(&self.lab)
            .ok()
            .flatten()
            .and_then(|st| {
                st.topology
                    .links
                    .iter()
                    .find(|l| l.key() == t.key)
                    .map(|l| l.up)
            })
            .unwrap_or(true);
        Ok((
            t.key.clone(),
            Some(LinkEntry {
                target: t,
                driver: DEFAULT_DRIVER.to_string(),
                state: LinkState {
                    up,
                    ..LinkState::default()
                },
                attached: false,
                schedule: None,
                last_error: None,
            }),
        ))
    }

    fn pick_driver(&self, entry: &LinkEntry, asked: Option<String>) -> Result<String> {
        let name = asked.unwrap_or_else(|| entry.driver.clone());
        if !self.drivers.contains(&name) {
            return Err(Error::Driver(format!(
                "no link driver `{name}` (this supervisor has: {})",
                self.drivers.names()
            )));
        }
        Ok(name)
    }

    fn handle(&mut self, req: Request) -> Result<serde_json::Value> {
        let v = match req {
            Request::Status => serde_json::to_value(self.status()),
            Request::SetLink { key, state, driver } => {
                let (k, fresh) = self.entry_key(&key)?;
                let mut e = fresh.unwrap_or_else(|| self.desired.links[&k].clone());
                e.driver = self.pick_driver(&e, driver)?;
                self.drivers.get(&e.driver)?.apply(&e.target, &state)?;
                e.state = *state;
                e.attached = true;
                e.last_error = None;
                log(format!("{k}: set (up: {})", e.state.up));
                self.desired.links.insert(k.clone(), e);
                self.save();
                serde_json::to_value(self.link_status(&k))
            }
            Request::SetSchedule {
                key,
                steps,
                start_unix_ns,
                driver,
            } => {
                schedule::check_order(&steps).map_err(Error::Schedule)?;
                let (k, fresh) = self.entry_key(&key)?;
                let mut e = fresh.unwrap_or_else(|| self.desired.links[&k].clone());
                e.driver = self.pick_driver(&e, driver)?;
                let start = start_unix_ns.unwrap_or_else(wall_ns);
                log(format!(
                    "{k}: schedule of {} step(s) from {start}",
                    steps.len()
                ));
                e.schedule = Some(Schedule::new(steps, start));
                self.desired.links.insert(k.clone(), e);
                self.save();
                self.run_due();
                serde_json::to_value(self.link_status(&k))
            }
            Request::RemoveLink { key } => {
                let (k, fresh) = self.entry_key(&key)?;
                if fresh.is_some() {
                    return Err(Error::NoSuchLink {
                        lab: self.lab.clone(),
                        key: format!("{key} (the supervisor does not drive it)"),
                    });
                }
                if let Some(e) = self.desired.links.remove(&k) {
                    if let Ok(d) = self.drivers.get(&e.driver) {
                        d.remove(&k);
                    }
                }
                log(format!("{k}: no longer driven"));
                self.save();
                Ok(serde_json::Value::Null)
            }
            Request::Stats => {
                let m: serde_json::Map<String, serde_json::Value> = self
                    .desired
                    .links
                    .iter()
                    .filter_map(|(k, e)| Some((k.clone(), self.drivers.stats(&e.driver, k)?)))
                    .collect();
                Ok(serde_json::Value::Object(m))
            }
            Request::SetRa { adverts } => {
                log(format!(
                    "router advertisements on {} interface(s)",
                    adverts.len()
                ));
                self.desired.ra = adverts;
                self.save();
                let errs = self.set_ra();
                if !errs.is_empty() {
                    let list: Vec<String> = errs.iter().map(|(k, e)| format!("{k}: {e}")).collect();
                    return Err(Error::Driver(format!(
                        "router advertisements did not start on {}",
                        list.join("; ")
                    )));
                }
                serde_json::to_value(self.ra.status())
            }
            Request::SetCapture { recordings, fresh } => {
                serde_json::to_value(self.handle_set_capture(recordings, &fresh)?)
            }
            Request::Capture => serde_json::to_value(self.capture.status(&self.lab)),
            Request::DhcpSync => {
                self.dhcp.sync();
                serde_json::to_value(self.dhcp.status())
            }
            Request::Dhcp => serde_json::to_value(self.dhcp.status()),
            // Answered by the connection thread, which then ends the loop.
            Request::Stop => Ok(serde_json::Value::Null),
        };
        v.map_err(|e| Error::Protocol(format!("encoding the answer: {e}")))
    }

    fn link_status(&self, key: &str) -> Option<LinkStatus> {
        let e = self.desired.links.get(key)?;
        Some(LinkStatus {
            key: key.to_string(),
            a: e.target.a.clone(),
            b: e.target.b.clone(),
            driver: e.driver.clone(),
            state: e.state.clone(),
            schedule: e
                .schedule
                .as_ref()
                .map(|s| s.status(&self.clock, Instant::now())),
            last_error: e.last_error.clone(),
        })
    }

    fn status(&self) -> Status {
        Status {
            lab: self.lab.clone(),
            pid: std::process::id(),
            started_unix_ns: self.started_unix_ns,
            socket: paths::socket(&self.lab).display().to_string(),
            links: self
                .desired
                .links
                .keys()
                .filter_map(|k| self.link_status(k))
                .collect(),
            ra: self.ra.status(),
        }
    }
}
