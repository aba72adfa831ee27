use super::*;
use crate::topo::{file, generate};

fn two_hosts() -> LabBuilder {
    Lab::builder("b")
        .switch("s1")
        .host("h1")
        .host("h2")
        .link("h1", "s1")
        .addr("h1", "10.0.0.1/8")
        .link("h2", "s1")
        .addr("h2", "10.0.0.2/8")
}

fn errors(b: LabBuilder) -> String {
    b.build()
        .expect_err("the builder accepted bad input")
        .to_string()
}

#[test]
fn a_built_lab_equals_the_generators() {
    let built = two_hosts().build().unwrap();
    let generated = generate::valid_from_spec("single,2", "b", false).unwrap();
    assert_eq!(built, generated);
    assert_eq!(built.links[0].endpoints[1].iface, "s1-eth1");
    assert_eq!(built.links[1].endpoints[0].iface, "h2-eth0");
}

#[test]
fn a_built_lab_equals_the_file() {
    let yaml = r#"
name: r
topology:
  nodes:
    h1: {kind: host, gateway: 10.0.1.254}
    r1: {kind: router}
    h2: {kind: host, gateway: 10.0.2.254}
  links:
    - endpoints:
        - {node: h1, iface: h1-eth0, ip: 10.0.1.1/24}
        - {node: r1, iface: r1-eth0, ip: 10.0.1.254/24}
      conditions: {delay: 10ms, loss: 1%}
    - endpoints:
        - {node: r1, iface: r1-eth1, ip: 10.0.2.254/24}
        - {node: h2, iface: h2-eth0, ip: 10.0.2.1/24}
"#;
    let from_file = file::parse_valid(yaml, None, None).unwrap();
    let built = Lab::builder("r")
        .host("h1")
        .router("r1")
        .host("h2")
        .link("h1", "r1")
        .addr("h1", "10.0.1.1/24")
        .addr("r1", "10.0.1.254/24")
        .conditions(&[("delay", "10ms"), ("loss", "1%")])
        .link("r1", "h2")
        .addr("r1", "10.0.2.254/24")
        .addr("h2", "10.0.2.1/24")
        .gateway("h1", "10.0.1.254")
        .gateway("h2", "10.0.2.254")
        .build()
        .unwrap();
    assert_eq!(built, from_file);
}

#[test]
fn a_link_to_an_unknown_node_is_an_error_naming_it() {
    let e = errors(two_hosts().link("h3", "s1"));
    assert!(e.contains("`h3`") && e.contains("does not exist"), "{e}");
}

#[test]
fn a_duplicate_address_is_an_error_naming_it() {
    let e = errors(
        two_hosts()
            .host("h3")
            .link("h3", "s1")
            .addr("h3", "10.0.0.2/8"),
    );
    assert!(e.contains("10.0.0.2"), "{e}");
}

#[test]
fn the_builders_own_mistakes_are_errors_not_panics() {
    let e = errors(
        two_hosts()
            .host("h1")
            .addr("h1", "10.0.0.9")
            .addr("ghost", "10.0.0.9/8")
            .gateway("ghost", "10.0.0.1")
            .gateway("h1", "ten")
            .conditions(&[("delay", "fast"), ("colour", "red")]),
    );
    for needle in [
        "node `h1` is declared twice",
        "needs a prefix length",
        "`ghost` has no interface yet",
        "there is no node `ghost`",
        "`ten` is not an IP address",
        "`delay: fast`",
        "`colour: red`",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
    let e = errors(Lab::builder("b").host("h1").conditions(&[("delay", "1ms")]));
    assert!(e.contains("there is no link yet"), "{e}");
    let e = errors(Lab::builder("Bad/Name").host("h1"));
    assert!(e.contains("Bad/Name"), "{e}");
}

/// `Lab::up` checks what it is given before anything exists: no lock, no
/// directory, no namespace (so this runs without root).
#[test]
fn up_refuses_an_unvalidated_topology_before_touching_anything() {
    let mut t = two_hosts().build().unwrap().into_inner();
    t.name = "nlab-unit-never-made".into();
    t.links.push(Link::new(
        Endpoint::new("h1", "h1-eth1"),
        Endpoint::new("nowhere", "x0"),
    ));
    let e = Lab::up(&t, &UpOptions::default()).expect_err("up accepted a bad topology");
    assert!(matches!(&e, super::super::Error::Invalid(_)), "{e:?}");
    assert!(e.to_string().contains("`nowhere`"), "{e}");
    assert!(!crate::store::lab_dir(&t.name).exists());
}
