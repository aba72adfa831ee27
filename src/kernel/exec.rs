//! TEMPORARY (replaced by the probe branch).
use super::{Error, Result};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

pub fn command_in(ns_name: &str, program: &str, args: &[String]) -> Result<Command> {
    let f = std::fs::File::open(super::netns::ns_path(ns_name))
        .map_err(|e| Error::io(format!("opening namespace {ns_name}"), e))?;
    let mut c = Command::new(program);
    c.args(args);
    unsafe {
        c.pre_exec(move || {
            if libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(c)
}
