//! A stand-in host NIC for macvlan/macvtap tests: a veth end `nic` in the
//! (sandbox's) root namespace whose peer `eth0` sits in namespace `seg`
//! with 192.168.77.1/24, so the tests never touch a real NIC. Removed on
//! drop.

use std::process::{Command, Output};

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("ip")
}

fn run_ip(args: &[&str]) {
    let o = ip(args);
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub struct Segment {
    pub nic: String,
    pub seg: String,
}

impl Segment {
    /// `sn<tag>` in this namespace, its peer in namespace `seg<tag>`.
    pub fn new(tag: &str) -> Segment {
        let s = Segment {
            nic: format!("sn{tag}"),
            seg: format!("seg{tag}"),
        };
        run_ip(&["netns", "add", &s.seg]);
        run_ip(&[
            "link", "add", &s.nic, "type", "veth", "peer", "name", "eth0", "netns", &s.seg,
        ]);
        run_ip(&["link", "set", &s.nic, "up"]);
        run_ip(&[
            "-n",
            &s.seg,
            "addr",
            "add",
            "192.168.77.1/24",
            "dev",
            "eth0",
        ]);
        run_ip(&["-n", &s.seg, "link", "set", "eth0", "up"]);
        s
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.nic]);
        let _ = ip(&["netns", "del", &self.seg]);
    }
}
