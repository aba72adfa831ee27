//! Capture filters in tcpdump's language, compiled to classic BPF by
//! `tcpdump -dd` (an allowed helper: it keeps `cargo build` free of
//! libpcap, and the filter means exactly what it means to tcpdump).

use super::Error;
use crate::kernel::packet::BpfInsn;
use std::process::Command;

/// Compiles `expr` for Ethernet links with `snaplen` bytes kept per packet.
pub fn compile(expr: &str, snaplen: u32) -> Result<Vec<BpfInsn>, Error> {
    // -y EN10MB: compile for Ethernet without opening any interface.
    let out = Command::new("tcpdump")
        .args([
            "-y",
            "EN10MB",
            "-s",
            &snaplen.to_string(),
            "-dd",
            "--",
            expr,
        ])
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NoTcpdump,
            _ => Error::Io {
                what: "running `tcpdump -dd` to compile the filter".into(),
                source: e,
            },
        })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let msg = msg
            .lines()
            .filter(|l| !l.starts_with("Warning:"))
            .map(|l| l.trim_start_matches("tcpdump: "))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::BadFilter {
            expr: expr.to_string(),
            msg,
        });
    }
    parse_dd(&String::from_utf8_lossy(&out.stdout)).map_err(|msg| Error::BadFilter {
        expr: expr.to_string(),
        msg: format!("could not read `tcpdump -dd` output: {msg}"),
    })
}

/// Parses `tcpdump -dd` output: one `{ 0x28, 0, 0, 0x0000000c },` a line.
pub fn parse_dd(text: &str) -> Result<Vec<BpfInsn>, String> {
    let mut prog = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let inner = line
            .trim_end_matches(',')
            .strip_prefix('{')
            .and_then(|l| l.strip_suffix('}'))
            .ok_or_else(|| format!("unexpected line `{line}`"))?;
        let f: Vec<u64> = inner
            .split(',')
            .map(|w| {
                let w = w.trim();
                match w.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => w.parse(),
                }
                .map_err(|_| format!("bad number `{w}` in `{line}`"))
            })
            .collect::<Result<_, _>>()?;
        let [code, jt, jf, k] = f[..] else {
            return Err(format!("`{line}` does not have four fields"));
        };
        let field = |v: u64, max: u64| {
            if v <= max {
                Ok(v)
            } else {
                Err(format!("`{line}`: {v} out of range"))
            }
        };
        prog.push(BpfInsn {
            code: field(code, 0xffff)? as u16,
            jt: field(jt, 0xff)? as u8,
            jf: field(jf, 0xff)? as u8,
            k: field(k, 0xffff_ffff)? as u32,
        });
    }
    if prog.is_empty() || prog.len() > 4096 {
        return Err(format!("{} instructions (want 1 to 4096)", prog.len()));
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tcpdump_dd_output() {
        let text = "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 3, 0x00000800 },\n\
                    { 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n";
        let p = parse_dd(text).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[1],
            BpfInsn {
                code: 0x15,
                jt: 0,
                jf: 3,
                k: 0x800
            }
        );
        assert!(parse_dd("").is_err());
        assert!(parse_dd("{ 0x28, 0, 0 },").is_err());
        assert!(parse_dd("{ 0x28, 0, 300, 0 },").is_err());
    }

    #[test]
    fn compiles_with_tcpdump_or_says_it_is_missing() {
        match compile("icmp", 262_144) {
            Ok(p) => assert!(p.len() > 2, "{p:?}"),
            Err(Error::NoTcpdump) => eprintln!("skipping: no tcpdump on PATH"),
            Err(e) => panic!("{e}"),
        }
        match compile("icmp and", 262_144) {
            Err(Error::BadFilter { msg, .. }) => assert!(msg.contains("syntax error"), "{msg}"),
            Err(Error::NoTcpdump) => {}
            other => panic!("{other:?}"),
        }
    }
}
