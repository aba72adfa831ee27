//! The library's handles for test authors (issue 12): `Lab::node(..).run`
//! runs Rust code inside a node's network namespace on a thread of its
//! own, and `Lab::link(..)` changes a link at run time as `nlab link set`
//! does. `ip`, `tc`, `ping` and /proc are the witnesses.
mod common;
use common::*;
use nlab::lab::{Error, Lab, UpOptions};
use nlab::topo::conditions::{Backend, Directed, Impairment, Rate};
use nlab::topo::generate;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// The inode of the calling thread's network namespace.
fn thread_netns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net")
        .expect("/proc/thread-self/ns/net")
        .ino()
}

/// A listener bound in h1 (an address only h1 has) takes a connection
/// from code running in h2; the test's thread stays where it was.
#[test]
fn run_binds_in_the_node_and_leaves_the_callers_thread_alone() {
    require_root!();
    let name = lab_name("la");
    let guard = LabGuard(name.clone());
    let topo = generate::from_spec("single,2", &name, false).unwrap();
    let (lab, _) = Lab::up(&topo, &UpOptions::default()).unwrap();
    let before = thread_netns();

    let h1 = lab.node("h1").unwrap();
    assert_eq!(h1.name(), "h1");
    assert_eq!(h1.ns_name(), ns(&name, "h1"));
    assert!(
        TcpListener::bind("10.0.0.1:0").is_err(),
        "the test's namespace has h1's address: the witness proves nothing"
    );
    let listener = h1
        .run(|| TcpListener::bind("10.0.0.1:0"))
        .unwrap()
        .expect("bind in h1");
    let addr = listener.local_addr().unwrap();
    // The run thread is another thread, in h1: its namespace differs.
    let inside = h1.run(thread_netns).unwrap();
    assert_ne!(inside, before, "run did not enter h1's namespace");
    assert_eq!(thread_netns(), before, "run moved the caller's thread");

    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
        c.write_all(b"pong").unwrap();
        b
    });
    let reply = lab
        .node("h2")
        .unwrap()
        .run(move || -> std::io::Result<String> {
            let mut c = TcpStream::connect(addr)?;
            c.write_all(b"ping")?;
            let mut s = String::new();
            c.read_to_string(&mut s)?;
            Ok(s)
        })
        .unwrap()
        .expect("connect from h2");
    assert_eq!(reply, "pong");
    assert_eq!(&server.join().unwrap(), b"ping");
    assert_eq!(thread_netns(), before);

    // A panic in the closure comes back as the same panic.
    let p = std::panic::catch_unwind(|| h1.run(|| panic!("boom in h1")))
        .expect_err("the panic was swallowed");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"boom in h1"));
    assert_eq!(thread_netns(), before);

    match lab.node("nope") {
        Err(e @ Error::NoSuchNode { .. }) => {
            assert!(e.to_string().contains("no node `nope`"), "{e}")
        }
        other => panic!("expected NoSuchNode, got {other:?}"),
    }
    lab.down().unwrap();
    assert_no_trace(&name);
    drop(guard);
}

fn pings(lab: &Lab) -> bool {
    lab.exec_output("h1", &["ping", "-c1", "-W1", "-q", "10.0.0.2"])
        .unwrap()
        .status
        .success()
}

/// `link(..).down()` / `.up()` stop and restore traffic; conditions set
/// through the handle are oriented from the first node named.
#[test]
fn link_handle_downs_ups_and_shapes() {
    require_root!();
    let name = lab_name("lk");
    let guard = LabGuard(name.clone());
    let topo = generate::from_spec("single,2", &name, false).unwrap();
    let (mut lab, _) = Lab::up(&topo, &UpOptions::default()).unwrap();
    assert!(pings(&lab));

    let ends = lab.link("h1", "s1").unwrap().down().unwrap();
    assert_eq!(ends.len(), 2, "{ends:?}");
    assert!(!pings(&lab), "ping passed over a link set down");
    lab.link("s1", "h1").unwrap().up().unwrap();
    assert!(pings(&lab), "ping failed after the link came up");

    // s1 named first: a_to_b is what s1 sends, so the rate is on s1's end.
    let rate = Impairment {
        rate: Some(Rate {
            bits_per_sec: 10_000_000,
            burst_bytes: None,
        }),
        ..Impairment::default()
    };
    let c = Directed {
        a_to_b: rate,
        b_to_a: Impairment::default(),
    };
    let mut l = lab.link("s1", "h1").unwrap();
    let backend = l.set_conditions(c.clone()).unwrap();
    assert_eq!(l.conditions(), c);
    let link = lab
        .links()
        .iter()
        .find(|l| l.endpoints.iter().any(|e| e.node == "h1"))
        .unwrap()
        .clone();
    let end = |n: &str| link.endpoints.iter().find(|e| e.node == n).unwrap().clone();
    let (s1_end, h1_end) = (end("s1"), end("h1"));
    if backend == Backend::Kernel {
        assert_eq!(root_qdisc(&ns(&name, "s1"), &s1_end.iface)["kind"], "tbf");
        assert!(root_qdisc(&ns(&name, "h1"), &h1_end.iface)["kind"] != "tbf");
    }
    let mut l = lab.link("h1", "s1").unwrap();
    assert_eq!(l.conditions().b_to_a, c.a_to_b, "seen from h1");
    l.reset().unwrap();
    assert_eq!(
        lab.link("h1", "s1").unwrap().conditions(),
        Directed::default()
    );
    assert!(pings(&lab));

    assert!(matches!(
        lab.link("h1", "h2"),
        Err(Error::NoSuchLink { .. })
    ));
    assert!(matches!(
        lab.link("h1", "h9"),
        Err(Error::NoSuchNode { .. })
    ));
    lab.down().unwrap();
    assert_no_trace(&name);
    drop(guard);
}
