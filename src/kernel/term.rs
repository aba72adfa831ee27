//! The terminal of `nlab console`: raw mode while attached to a guest's
//! serial console (every key, Ctrl-C included, goes to the guest), and
//! the terminal as it was afterwards, also when the attach fails.

use super::{Error, Result};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::IsTerminal;

/// Raw mode on stdin until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Switches stdin to raw mode; `Ok(None)` when stdin is no terminal
    /// (a script feeding the console), which needs none.
    pub fn enter() -> Result<Option<RawMode>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(&stdin)
            .map_err(|e| Error::sys("reading the terminal's settings", e))?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)
            .map_err(|e| Error::sys("setting the terminal to raw mode", e))?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}
