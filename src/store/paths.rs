//! Where a lab's files live: `/run/nlab/<lab>/`, root's alone.

use super::{Error, Result};
use crate::kernel::files;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Root of every lab's runtime files.
pub const RUN_DIR: &str = "/run/nlab";
/// A lab's directory and everything in it is root's alone: the journals,
/// the supervisor's socket and pid file, and `etc/`, whose files `exec`
/// binds over a node's `/etc`. Bind mounts do not check the source's path,
/// so nodes still read their `hosts` file through the mount.
pub(crate) const LAB_DIR_MODE: u32 = 0o700;
pub(crate) const PRIVATE_FILE_MODE: u32 = 0o600;

pub fn lab_dir(lab: &str) -> PathBuf {
    Path::new(RUN_DIR).join(lab)
}

/// Creates (or corrects the modes of) `/run/nlab` (0755) and the lab's
/// directory (0700, root's), whatever the umask.
pub fn ensure_lab_dir(lab: &str) -> Result<PathBuf> {
    let dir = lab_dir(lab);
    for (d, mode) in [(Path::new(RUN_DIR), 0o755), (dir.as_path(), LAB_DIR_MODE)] {
        files::ensure_dir(d, mode)
            .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
    }
    Ok(dir)
}

/// Creates `dir` (0700) inside an existing lab directory.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    files::ensure_dir(dir, LAB_DIR_MODE)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Creates (or empties) a file only root may read or write.
pub fn create_private_file(path: &Path) -> Result<File> {
    files::open_file(path, PRIVATE_FILE_MODE, true)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))
}

/// Labs that have a runtime directory (not `.locks`).
pub fn list_lab_dirs() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(RUN_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}
