//! Talking to a lab's supervisor. Each call opens its own connection, so a
//! `Client` stays usable across a supervisor restart.

use super::protocol::{LinkState, LinkStatus, Request, Response, Status};
use super::{paths, process, Error, Result};
use crate::topo::conditions::Step;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// How long a request may take, including a driver applying a change: a
/// supervisor silent for longer is not answering (stopped, wedged), and
/// no command waits on it for longer than this.
pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Client {
    lab: String,
    socket: PathBuf,
}

impl Client {
    pub fn new(lab: &str) -> Client {
        Client {
            lab: lab.to_string(),
            socket: paths::socket(lab),
        }
    }

    pub fn lab(&self) -> &str {
        &self.lab
    }

    /// Sends one request and returns the `ok` value, or the supervisor's
    /// error as [`Error::Remote`].
    pub fn call(&self, req: &Request) -> Result<serde_json::Value> {
        self.call_with(req, TIMEOUT)
    }

    pub fn call_with(&self, req: &Request, timeout: Duration) -> Result<serde_json::Value> {
        let what = format!(
            "talking to the supervisor of {} ({})",
            self.lab,
            self.socket.display()
        );
        let io = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                super::not_answering(&self.lab, process::from_pid_file(&self.lab), timeout)
            }
            _ => Error::io(what.clone(), e),
        };
        // A stopped supervisor would only let us wait out the timeout.
        if let Some(sup) = process::from_pid_file(&self.lab).filter(|s| s.stopped()) {
            return Err(super::not_answering(&self.lab, Some(sup), timeout));
        }
        let mut s = UnixStream::connect(&self.socket).map_err(io)?;
        s.set_read_timeout(Some(timeout)).map_err(io)?;
        s.set_write_timeout(Some(timeout)).map_err(io)?;
        let mut line = serde_json::to_vec(req)
            .map_err(|e| Error::Protocol(format!("{what}: encoding the request: {e}")))?;
        line.push(b'\n');
        s.write_all(&line).map_err(io)?;
        let mut answer = String::new();
        BufReader::new(&s).read_line(&mut answer).map_err(io)?;
        if answer.is_empty() {
            return Err(Error::Protocol(format!(
                "{what}: no answer (it closed the connection)"
            )));
        }
        match serde_json::from_str::<Response>(&answer)
            .map_err(|e| Error::Protocol(format!("{what}: unreadable answer ({e}): {answer}")))?
        {
            Response::Ok(v) => Ok(v),
            Response::Error(e) => Err(Error::Remote {
                lab: self.lab.clone(),
                kind: e.kind,
                message: e.message,
            }),
        }
    }

    fn typed<T: serde::de::DeserializeOwned>(&self, req: &Request) -> Result<T> {
        let v = self.call(req)?;
        serde_json::from_value(v).map_err(|e| {
            Error::Protocol(format!(
                "supervisor of {}: unexpected answer: {e}",
                self.lab
            ))
        })
    }

    pub fn status(&self) -> Result<Status> {
        self.typed(&Request::Status)
    }

    /// Makes the supervisor run the DHCP servers, relays and clients the
    /// lab's journal asks for.
    pub fn dhcp_sync(&self) -> Result<crate::services::dhcp::service::Status> {
        self.typed(&Request::DhcpSync)
    }

    /// The DHCP service's status.
    pub fn dhcp_status(&self) -> Result<crate::services::dhcp::service::Status> {
        self.typed(&Request::Dhcp)
    }

    /// True when the supervisor answers at all (within [`TIMEOUT`]).
    pub fn answers(&self) -> bool {
        self.call_with(&Request::Status, TIMEOUT).is_ok()
    }

    pub fn set_link(&self, key: &str, state: LinkState) -> Result<LinkStatus> {
        self.set_link_via(key, state, None)
    }

    /// [`Client::set_link`] through a chosen driver (`None`: the link's
    /// current one, `kernel-state` for a link not driven yet).
    pub fn set_link_via(
        &self,
        key: &str,
        state: LinkState,
        driver: Option<&str>,
    ) -> Result<LinkStatus> {
        self.typed(&Request::SetLink {
            key: key.to_string(),
            state: Box::new(state),
            driver: driver.map(str::to_string),
        })
    }

    /// Runs `steps` on the link, timed from `start_unix_ns` (now if
    /// `None`), replacing any schedule it had.
    pub fn set_schedule(
        &self,
        key: &str,
        steps: Vec<Step>,
        start_unix_ns: Option<u64>,
    ) -> Result<LinkStatus> {
        self.set_schedule_via(key, steps, start_unix_ns, None)
    }

    /// [`Client::set_schedule`] through a chosen driver.
    pub fn set_schedule_via(
        &self,
        key: &str,
        steps: Vec<Step>,
        start_unix_ns: Option<u64>,
        driver: Option<&str>,
    ) -> Result<LinkStatus> {
        self.typed(&Request::SetSchedule {
            key: key.to_string(),
            steps,
            start_unix_ns,
            driver: driver.map(str::to_string),
        })
    }

    pub fn remove_link(&self, key: &str) -> Result<()> {
        self.call(&Request::RemoveLink {
            key: key.to_string(),
        })
        .map(|_| ())
    }

    /// Makes `adverts` the router advertisements the supervisor sends;
    /// answers with their status.
    pub fn set_ra(
        &self,
        adverts: Vec<crate::topo::ra::Advert>,
    ) -> Result<Vec<crate::services::ra::RaStatus>> {
        self.typed(&Request::SetRa { adverts })
    }

    /// Records exactly `recordings` (starting and stopping recorders);
    /// the links in `fresh` were just made again and are recorded anew.
    pub fn set_capture(
        &self,
        recordings: Vec<crate::topo::capture::Recording>,
        fresh: Vec<String>,
    ) -> Result<Vec<crate::services::capture::record::RecordingStatus>> {
        self.typed(&Request::SetCapture { recordings, fresh })
    }

    /// What the supervisor records.
    pub fn capture(&self) -> Result<Vec<crate::services::capture::record::RecordingStatus>> {
        self.typed(&Request::Capture)
    }

    pub fn stats(&self) -> Result<serde_json::Value> {
        self.call(&Request::Stats)
    }

    /// Asks the supervisor to end; it answers first.
    pub fn stop(&self) -> Result<()> {
        self.call_with(&Request::Stop, Duration::from_secs(2))
            .map(|_| ())
    }
}
