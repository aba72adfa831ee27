//! The privilege check every command that touches the kernel makes first.
//! It sits apart so the command files depend on it, not on each other.

use super::output::BadInput;

/// nlab creates namespaces and mounts: it needs root's capabilities.
pub fn require_root() -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(BadInput(
            "nlab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create namespaces and links; \
             run it with sudo"
                .into(),
        )
        .into())
    }
}
