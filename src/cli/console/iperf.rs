//! `iperf`: TCP throughput between two hosts. iperf3 when it is installed
//! (server in the second host, client in the first, JSON read back), else
//! a built-in measurement: a listener in one namespace, a sender in the
//! other, counting the bytes that arrive.

use super::jobs;
use crate::kernel::netns::NetNs;
use crate::lab::Lab;
use anyhow::{anyhow, Context};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The tool that measured, and (server, client) rates in bits per second.
pub struct Measured {
    pub tool: &'static str,
    pub server_bps: f64,
    pub client_bps: f64,
}

/// iperf3 on the PATH, if any.
fn iperf3() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("iperf3"))
        .find(|p| p.is_file())
}

pub fn measure(lab: &Lab, client: &str, server: &str, secs: u64) -> anyhow::Result<Measured> {
    let addr = lab
        .topology()
        .primary_addr(server, false)
        .or_else(|| lab.topology().primary_addr(server, true))
        .ok_or_else(|| anyhow!("{server} has no address to connect to"))?;
    let forced = std::env::var("NLAB_IPERF").as_deref() == Ok("builtin");
    match iperf3() {
        Some(bin) if !forced => with_iperf3(
            lab,
            &bin.to_string_lossy(),
            (client, server, addr),
            secs,
            &[],
        ),
        found => {
            let mut m = builtin(lab, client, server, addr, secs)?;
            if found.is_none() {
                m.tool = "nlab's built-in TCP sender and receiver (iperf3 not found)";
            }
            Ok(m)
        }
    }
}

/// `iperfudp`: UDP at `bw` (iperf3's `-b`, e.g. `10M`) from `client` to
/// `server`, with iperf3 (nlab's built-in measure is TCP only).
pub fn measure_udp(
    lab: &Lab,
    client: &str,
    server: &str,
    secs: u64,
    bw: &str,
) -> anyhow::Result<Measured> {
    let addr = lab
        .topology()
        .primary_addr(server, false)
        .or_else(|| lab.topology().primary_addr(server, true))
        .ok_or_else(|| anyhow!("{server} has no address to send to"))?;
    let bin = iperf3().ok_or_else(|| {
        anyhow!("iperfudp needs iperf3 (nlab's built-in measure is TCP only): install the iperf3 package")
    })?;
    let bin = bin.to_string_lossy();
    with_iperf3(lab, &bin, (client, server, addr), secs, &["-u", "-b", bw])
}

fn with_iperf3(
    lab: &Lab,
    bin: &str,
    (client, server, addr): (&str, &str, IpAddr),
    secs: u64,
    extra: &[&str],
) -> anyhow::Result<Measured> {
    let port = "5201";
    let mut srv = lab
        .command(
            server,
            bin,
            &["-s".into(), "-1".into(), "-p".into(), port.into()],
        )?
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting iperf3 -s in {server}"))?;
    // Wait until the server listens. A probing connect would count as
    // `-1`'s one client, so read the namespace's listening sockets instead.
    let ns = NetNs::open(&lab.namespace(server)?)?;
    let deadline = Instant::now() + Duration::from_secs(3);
    while !ns.run(|| listening(5201))?? {
        if Instant::now() > deadline {
            let _ = srv.kill();
            let _ = srv.wait();
            return Err(anyhow!("iperf3 server in {server} did not start listening"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let args: Vec<String> = [
        "-c",
        &addr.to_string(),
        "-p",
        port,
        "-t",
        &secs.to_string(),
        "-J",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    let out = lab
        .command(client, bin, &args)?
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running iperf3 -c in {client}"));
    let _ = srv.kill();
    let _ = srv.wait();
    let out = out?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("reading iperf3's JSON from {client}"))?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(anyhow!("iperf3 in {client}: {e}"));
    }
    // UDP results of older iperf3 have only `end.sum`.
    let bps = |k: &str| {
        v.pointer(&format!("/end/{k}/bits_per_second"))
            .or_else(|| v.pointer("/end/sum/bits_per_second"))
            .and_then(|b| b.as_f64())
            .ok_or_else(|| anyhow!("iperf3's JSON has no end.{k}.bits_per_second"))
    };
    Ok(Measured {
        tool: "iperf3",
        server_bps: bps("sum_received")?,
        client_bps: bps("sum_sent")?,
    })
}

/// Whether something listens on TCP `port` in the calling thread's
/// namespace (/proc/net/tcp{,6} follow the reader's namespace).
fn listening(port: u16) -> anyhow::Result<bool> {
    let hex = format!(":{port:04X} ");
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        // Column 4 is the state; 0A is LISTEN.
        if text.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 3 && format!("{} ", cols[1]).ends_with(&hex) && cols[3] == "0A"
        }) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn builtin(
    lab: &Lab,
    client: &str,
    server: &str,
    addr: IpAddr,
    secs: u64,
) -> anyhow::Result<Measured> {
    let sns = NetNs::open(&lab.namespace(server)?)?;
    let cns = NetNs::open(&lab.namespace(client)?)?;
    // A socket stays in the namespace it was created in: make each one
    // inside its node, then use both from here.
    let listener = sns
        .run(|| TcpListener::bind(SocketAddr::new(addr, 0)))?
        .with_context(|| format!("listening on {addr} in {server}"))?;
    let port = listener
        .local_addr()
        .context("reading the listener's port")?
        .port();
    let receiver = std::thread::spawn(move || -> std::io::Result<(u64, Duration)> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        let start = Instant::now();
        loop {
            match s.read(&mut buf)? {
                0 => return Ok((total, start.elapsed())),
                n => total += n as u64,
            }
        }
    });
    let mut stream = cns
        .run(|| TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(3)))?
        .with_context(|| format!("connecting from {client} to {addr}:{port}"))?;
    let buf = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(secs) && !jobs::take_interrupt() {
        stream
            .write_all(&buf)
            .with_context(|| format!("sending from {client} to {server}"))?;
        sent += buf.len() as u64;
    }
    let client_time = start.elapsed();
    drop(stream);
    let (received, server_time) = receiver
        .join()
        .map_err(|_| anyhow!("the receiving thread panicked"))?
        .with_context(|| format!("receiving in {server}"))?;
    Ok(Measured {
        tool: "nlab's built-in TCP sender and receiver",
        server_bps: received as f64 * 8.0 / server_time.as_secs_f64().max(1e-9),
        client_bps: sent as f64 * 8.0 / client_time.as_secs_f64().max(1e-9),
    })
}

/// `25.3 Gbits/sec`, the way iperf prints a rate.
pub fn rate(bps: f64) -> String {
    let units = [("Gbits/sec", 1e9), ("Mbits/sec", 1e6), ("Kbits/sec", 1e3)];
    for (u, f) in units {
        if bps >= f {
            let v = bps / f;
            return if v >= 100.0 {
                format!("{v:.0} {u}")
            } else if v >= 10.0 {
                format!("{v:.1} {u}")
            } else {
                format!("{v:.2} {u}")
            };
        }
    }
    format!("{bps:.0} bits/sec")
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_read_like_iperf() {
        assert_eq!(super::rate(25.3e9), "25.3 Gbits/sec");
        assert_eq!(super::rate(9.87e6), "9.87 Mbits/sec");
        assert_eq!(super::rate(512e6), "512 Mbits/sec");
        assert_eq!(super::rate(12.0), "12 bits/sec");
    }
}
