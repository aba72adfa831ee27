//! The test side of nlab's pause points (`src/pause.rs`): a directory the
//! paused command signals into, so a race test acts only once the window is
//! open, and proves it was.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Pause {
    pub dir: PathBuf,
    steps: String,
}

impl Pause {
    /// A fresh signal directory for the comma-separated `steps`.
    pub fn new(steps: &str) -> Pause {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Pids repeat across pid namespaces (sandboxed suites), nanoseconds do not.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("nlab-pause-{}-{n}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the pause directory");
        Pause {
            dir,
            steps: steps.to_string(),
        }
    }

    /// Makes `cmd` stop at this pause's steps.
    pub fn arm<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("NLAB_TEST_PAUSE", &self.steps)
            .env("NLAB_TEST_PAUSE_DIR", &self.dir)
    }

    /// Waits until some process reached `step`; panics after `max`, since a
    /// race test that never opened its window proves nothing.
    pub fn wait_reached(&self, step: &str, max: Duration) -> u32 {
        let path = self.dir.join(format!("{step}.reached"));
        let start = Instant::now();
        loop {
            if let Ok(pid) = std::fs::read_to_string(&path) {
                if let Ok(pid) = pid.trim().parse() {
                    return pid;
                }
            }
            assert!(
                start.elapsed() < max,
                "nlab never reached pause point {step} within {max:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn reached(&self, step: &str) -> bool {
        self.dir.join(format!("{step}.reached")).exists()
    }

    /// Lets the process waiting at `step` go on.
    pub fn go(&self, step: &str) {
        std::fs::write(self.dir.join(format!("{step}.go")), b"").expect("writing the go marker");
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        // Release anything still paused before removing the directory.
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(step) = name.strip_suffix(".reached") {
                let _ = std::fs::write(self.dir.join(format!("{step}.go")), b"");
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
