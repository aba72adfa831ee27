//! One recorded link: its rings, read by a thread of its own into a
//! [`RotatingSink`] until the supervisor stops it (or the link goes).

use super::sink::{Layout, Live, RotatingSink};
use super::{files, Entry, RecordingStatus};
use crate::kernel::netns;
use crate::services::capture::{Capture, Ended, Error, Limits, Target};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The kernel ring per recorded interface: a lab's links carry little
/// between bursts, and a ring lives as long as the lab.
pub const RING_BYTES: usize = 2 << 20;

pub struct Recorder {
    pub entry: Entry,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    live: Arc<Mutex<Live>>,
}

impl Recorder {
    /// Opens the rings (so packets queue from here on), takes over the
    /// link's files and starts the thread that writes them.
    pub fn start(lab: &str, entry: &Entry) -> Result<Recorder, Error> {
        let rec = &entry.rec;
        let targets: Vec<Target> = rec
            .ends
            .iter()
            .map(|e| Target {
                node: e.node.clone(),
                iface: e.iface.clone(),
                ns: netns::ns_name(lab, &e.node),
            })
            .collect();
        let cap = Capture::open(&targets, None, RING_BYTES)?;
        let layout = Layout {
            dir: files::dir(lab),
            link: rec.link.clone(),
            labels: targets.iter().map(Target::label).collect(),
            description: lab.to_string(),
            max_size: rec.max_size,
            keep: rec.files,
        };
        let live = Arc::new(Mutex::new(Live {
            running: true,
            ..Live::default()
        }));
        let mut sink = RotatingSink::start(layout, live.clone()).map_err(|e| Error::Io {
            what: format!(
                "starting the files of link {} in {}",
                rec.link,
                files::dir(lab).display()
            ),
            source: e,
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, live2) = (stop.clone(), live.clone());
        let thread = std::thread::Builder::new()
            .name("nlab-record".into())
            .spawn(move || {
                let r = cap.run_until(&mut sink, &Limits::default(), &|| {
                    stop2.load(Ordering::Relaxed)
                });
                let error = match r {
                    Ok((_, Ended::Stopped)) => None,
                    Ok((_, why)) => Some(format!("recording ended: {why}")),
                    Err(e) => Some(format!("recording failed: {e}")),
                };
                if let Ok(mut l) = live2.lock() {
                    l.running = false;
                    l.error = error;
                }
            })
            .map_err(|e| Error::Io {
                what: format!("starting the recorder thread of link {}", rec.link),
                source: e,
            })?;
        Ok(Recorder {
            entry: entry.clone(),
            stop,
            thread: Some(thread),
            live,
        })
    }

    /// Asks the thread to end, without waiting.
    pub fn flag(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn running(&self) -> bool {
        self.live.lock().map(|l| l.running).unwrap_or(false)
    }

    /// Ends the recording: the last packets are written and the file
    /// closed with the kernel's counts.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn status(&self) -> RecordingStatus {
        let live = self.live.lock().map(|l| l.clone()).unwrap_or_default();
        RecordingStatus::new(&self.entry, live)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
