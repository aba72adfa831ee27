//! The kernel's side of a trace: a real packet from the source port's
//! namespace (a TCP connect, a UDP datagram or an ICMP echo), and whether
//! what came back agrees with the model's verdict.

use super::{Proto, Verdict};
use crate::lab::Lab;
use crate::services::ping::{ping_pairs, PingHost, PingOpts};
use serde::Serialize;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// How long the probe waits for an answer.
pub const WAIT: Duration = Duration::from_secs(2);

/// What the probe saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// The destination answered: a connect, a reset, an echo reply, a
    /// port-unreachable: the packet got there.
    Answered(String),
    /// Something on the way said the destination cannot be reached.
    Unreachable(String),
    /// Nothing came back in time: dropped on the way (or, for UDP, taken
    /// by a server that does not answer).
    NoAnswer,
}

impl Outcome {
    /// Whether the kernel agrees with the model's verdict.
    pub fn agrees(&self, v: &Verdict) -> bool {
        match v {
            Verdict::Delivered { .. } => matches!(self, Outcome::Answered(_)),
            Verdict::Dropped { .. } => !matches!(self, Outcome::Answered(_)),
            // Beyond the world nothing is promised.
            Verdict::LeavesWorld { .. } => true,
        }
    }
}

/// Sends one probe from `node` of `lab`, from `src` to `dst`.
pub fn probe(
    lab: &str,
    node: &str,
    src: IpAddr,
    dst: IpAddr,
    proto: Proto,
    dport: Option<u16>,
) -> Result<Outcome, String> {
    let lab = Lab::open(lab).map_err(|e| format!("opening the virtual networks' lab: {e}"))?;
    if proto == Proto::Icmp {
        return echo(&lab, node, src, dst);
    }
    let port =
        dport.ok_or_else(|| format!("a {proto} probe needs a destination port (--dport)"))?;
    let to = SocketAddr::new(dst, port);
    let from = SocketAddr::new(src, 0);
    let n = lab.node(node).map_err(|e| e.to_string())?;
    let seen = n
        .run(move || match proto {
            Proto::Tcp => tcp(from, to),
            _ => udp(from, to),
        })
        .map_err(|e| format!("entering node {node}: {e}"))?;
    seen.map_err(|e| format!("probing {to} from {node}: {e}"))
}

fn tcp(from: SocketAddr, to: SocketAddr) -> std::io::Result<Outcome> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )?;
    sock.bind(&from.into())?;
    Ok(classify(
        sock.connect_timeout(&to.into(), WAIT),
        "connected",
    ))
}

fn udp(from: SocketAddr, to: SocketAddr) -> std::io::Result<Outcome> {
    let s = UdpSocket::bind(from)?;
    s.connect(to)?;
    s.set_read_timeout(Some(WAIT))?;
    s.send(b"nlab trace probe")?;
    let mut buf = [0u8; 64];
    Ok(classify(s.recv(&mut buf).map(|_| ()), "a reply came back"))
}

fn classify(r: std::io::Result<()>, ok: &str) -> Outcome {
    match r {
        Ok(()) => Outcome::Answered(ok.into()),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            Outcome::Answered("refused: it got there and nothing listens on that port".into())
        }
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            Outcome::NoAnswer
        }
        Err(e) => Outcome::Unreachable(e.to_string()),
    }
}

fn echo(lab: &Lab, node: &str, src: IpAddr, dst: IpAddr) -> Result<Outcome, String> {
    let ns = lab.namespace(node).map_err(|e| e.to_string())?;
    let hosts = [
        PingHost {
            name: node.into(),
            ns: ns.clone(),
            addr: src,
        },
        PingHost {
            name: dst.to_string(),
            ns,
            addr: dst,
        },
    ];
    let opts = PingOpts {
        timeout: WAIT,
        ..PingOpts::default()
    };
    let r = ping_pairs(&hosts, &[(0, 1)], &opts, &|_, _| {})
        .map_err(|e| format!("pinging {dst} from {node}: {e}"))?;
    Ok(match r.first().and_then(|p| p.rtt) {
        Some(rtt) => Outcome::Answered(format!("echo reply in {:.1} ms", rtt.as_secs_f64() * 1e3)),
        None => Outcome::NoAnswer,
    })
}
