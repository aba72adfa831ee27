//! `nlab instance`: binds a port to a namespace nlab makes for it (as a
//! booting VM would be plugged in), waits until the kernel has it, and
//! shows where it is.

use super::client::Client;
use super::resource::{find, print_list, print_one, Kind};
use anyhow::{anyhow, Result};
use clap::Subcommand;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum InstanceCmd {
    /// Make an instance namespace for a port and plug the port in: its
    /// `eth0` has the port's MAC and gets the port's fixed address by
    /// DHCP (or statically on a subnet without DHCP).
    Create {
        /// The port (name or ID).
        #[arg(long)]
        port: String,
        /// Seconds to wait for the port to become ACTIVE (0: do not wait).
        #[arg(long, default_value = "30")]
        timeout: u64,
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Unplug a port's instance and remove its namespace (the port stays).
    Delete {
        /// The port (name or ID).
        #[arg(long)]
        port: String,
    },
    /// List the ports that have an instance.
    #[command(visible_alias = "ls")]
    List {
        /// Print the result (or the error) as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

fn is_instance(p: &Value) -> bool {
    p["binding:profile"]["nlab"] == "instance"
}

pub fn dispatch(c: &Client, cmd: InstanceCmd) -> Result<()> {
    match cmd {
        InstanceCmd::Create {
            port,
            timeout,
            json,
        } => {
            let p = find(c, Kind::Port, &port)?;
            let id = p["id"].as_str().unwrap_or_default().to_string();
            let path = format!("{}/{id}", Kind::Port.path());
            c.put(
                &path,
                &json!({"port": {"binding:profile": {"nlab": "instance"}}}),
            )?;
            let now = wait_active(c, &path, Duration::from_secs(timeout))?;
            print_one(&now, json)
        }
        InstanceCmd::Delete { port } => {
            let p = find(c, Kind::Port, &port)?;
            if !is_instance(&p) {
                return Err(super::super::output::BadInput(format!(
                    "port {port} has no instance (see `nlab instance list`)"
                ))
                .into());
            }
            let path = format!(
                "{}/{}",
                Kind::Port.path(),
                p["id"].as_str().unwrap_or_default()
            );
            c.put(&path, &json!({"port": {"binding:profile": {}}}))?;
            println!("port {port} is unplugged; its instance namespace is removed");
            Ok(())
        }
        InstanceCmd::List { json } => {
            let all = c.get(&Kind::Port.path())?;
            let mine: Vec<Value> = all["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| is_instance(p))
                .cloned()
                .collect();
            print_list(Kind::Port, &Value::Array(mine), json)
        }
    }
}

/// Polls the port until the server reports it ACTIVE (its namespace and
/// veth exist), or says how it stands when the time is up.
fn wait_active(c: &Client, path: &str, limit: Duration) -> Result<Value> {
    let start = Instant::now();
    loop {
        let p = c.get(path)?["port"].clone();
        if p["status"] == "ACTIVE" || limit.is_zero() {
            return Ok(p);
        }
        if start.elapsed() >= limit {
            return Err(anyhow!(
                "port {} is still {} after {} s: the server has not built its instance yet \
                 (see `nlab serve`'s log, or wait longer with --timeout)",
                p["id"].as_str().unwrap_or("?"),
                p["status"].as_str().unwrap_or("?"),
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
