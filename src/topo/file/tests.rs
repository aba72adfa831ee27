use super::*;
use crate::topo::generate::from_spec;
use crate::topo::model::{IpNet, Loc, MacAddr, NodeKind};
use proptest::prelude::*;

/// Bad input: each case checks the message and where it points.
mod bad_input;
mod capture;
mod dhcp;
mod external;
mod flags;
mod parse_conditions;
mod reading;

const DEMO: &str = r#"name: demo                      # lab name
topology:
  defaults:
    kind: host
    gateway: 10.0.1.254
    gateway6: fd00:1::fe
    mtu: 1500
  nodes:
    h1:
      kind: host
      gateway: 10.0.1.254
      routes:
        - {dst: 10.9.0.0/16, via: 10.0.1.254}
      interfaces:
        eth0: {ip: [10.0.1.1/24, "fd00:1::1/64"], mac: "02:00:00:00:00:01", mtu: 9000}
    h2: {}
    s1: {kind: switch, stp: true}
    r1: {kind: router}
  links:
    - endpoints: ["h1:eth0", "s1:p1"]
    - endpoints:
        - {node: r1, iface: eth0, ip: [10.0.1.254/24, "fd00:1::fe/64"]}
        - s1:p2
      mtu: 1400
      up: false
      conditions: {delay: 10ms, loss: 1%}
    - endpoints: [{node: h2, iface: eth0, ip: [10.0.1.2/24, "fd00:1::2/64"]}, "s1:p3"]
"#;

fn demo() -> Topology {
    match parse(DEMO, Some("demo.yaml")) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test address")
}

/// Parse `text` expecting failure; the errors as displayed.
fn fail(text: &str) -> TopoErrors {
    match parse(text, Some("t.yaml")) {
        Ok(t) => panic!("expected an error, parsed {t:#?}"),
        Err(e) => e,
    }
}

/// The first error containing `needle`, with its line checked.
fn expect(text: &str, line: u32, needle: &str) -> TopoError {
    let errs = fail(text);
    let Some(e) = errs.iter().find(|e| e.msg.contains(needle)) else {
        panic!("no error containing {needle:?} in:\n{errs}");
    };
    assert_eq!(e.loc.line, line, "wrong line for {needle:?}:\n{errs}");
    assert_eq!(e.file.as_deref(), Some("t.yaml"));
    e.clone()
}

/// A valid two-host lab to break in tests, one change at a time.
const BASE: &str = "\
name: lab
topology:
  nodes:
    h1: {}
    h2: {}
    s1: {kind: switch}
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 10.0.0.1/24}, \"s1:p1\"]
    - endpoints: [{node: h2, iface: eth0, ip: 10.0.0.2/24}, \"s1:p2\"]
";

fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    BASE.replacen(from, to, 1)
}

#[test]
fn base_is_valid() {
    let t = parse(BASE, None).unwrap();
    assert_eq!(t.nodes.len(), 3);
    assert_eq!(t.source, None);
}

#[test]
fn demo_reads_every_key() {
    let t = demo();
    assert_eq!(t.name, "demo");
    assert_eq!(t.source.as_deref(), Some("demo.yaml"));
    let h1 = &t.nodes["h1"];
    assert_eq!(h1.loc, Loc::new(9, 5));
    assert_eq!(h1.kind, NodeKind::Host);
    assert_eq!(h1.routes.len(), 1);
    assert_eq!(h1.routes[0].dst, net("10.9.0.0/16"));
    assert_eq!(h1.routes[0].loc, Loc::new(13, 11));
    // Defaults reach hosts without their own setting, not routers.
    let h2 = &t.nodes["h2"];
    assert_eq!(h2.gateway, Some("10.0.1.254".parse().unwrap()));
    assert_eq!(h2.gateway6, Some("fd00:1::fe".parse().unwrap()));
    assert_eq!(t.nodes["r1"].gateway, None);
    // A host opts out of the default.
    let text = DEMO.replace("    h2: {}", "    h2: {gateway: none, gateway6: ~}");
    let t2 = parse(&text, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (t2.nodes["h2"].gateway, t2.nodes["h2"].gateway6),
        (None, None)
    );
    assert_eq!(t.nodes["r1"].kind, NodeKind::Router);
    assert_eq!(t.nodes["s1"].stp, Some(true));

    let [a, b] = &t.links[0].endpoints;
    assert_eq!((a.id(), b.id()), ("h1:eth0".into(), "s1:p1".into()));
    // `interfaces:` settings land on the link endpoint.
    assert_eq!(a.addrs, vec![net("10.0.1.1/24"), net("fd00:1::1/64")]);
    assert_eq!(a.mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
    assert_eq!(a.mtu, Some(9000));
    assert_eq!(a.loc, Loc::new(20, 19));
    assert_eq!(t.links[0].loc, Loc::new(20, 7));
    assert_eq!(t.links[0].mtu, Some(1500), "from defaults");
    assert!(t.links[0].up);

    let l = &t.links[1];
    assert_eq!(l.mtu, Some(1400));
    assert!(!l.up);
    let c = &l.conditions;
    assert_eq!(c.a_to_b, c.b_to_a, "both directions by default");
    assert_eq!(c.a_to_b.delay, std::time::Duration::from_millis(10));
    assert_eq!(
        c.a_to_b.loss,
        Some(crate::topo::conditions::Loss::Random { percent: 1.0 })
    );
    assert_eq!(c.a_to_b.rate, None);
    assert_eq!(l.endpoints[0].addrs.len(), 2);
    assert_eq!(l.endpoints[1].id(), "s1:p2");
}

#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../file.rs");
    let example: String = doc
        .lines()
        .skip_while(|l| !l.contains("```yaml"))
        .skip(1)
        .take_while(|l| !l.contains("```"))
        .map(|l| {
            format!(
                "{}\n",
                l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")
            )
        })
        .collect();
    assert!(example.starts_with("name: demo"), "{example}");
    let t = parse(&example, None).unwrap_or_else(|e| panic!("{e}\n{example}"));
    assert_eq!(t.nodes["h1"].gateway, None);
    assert_eq!(
        t.links[1].conditions.b_to_a.rate.map(|r| r.bits_per_sec),
        Some(10_000_000)
    );
    assert_eq!(t.links[1].schedule.len(), 2);
    assert!(t.links[1].capture.is_some());
}

#[test]
fn reparsing_gives_an_equal_topology() {
    let t = demo();
    assert_eq!(t, demo());
    // Comments, blank lines and another file name move every location but
    // change nothing that would be built.
    let moved = format!(
        "# a comment\n\n{}",
        DEMO.replace("    h2: {}\n", "    # h2 is plain\n    h2: {}\n")
    );
    let u = parse(&moved, Some("./other/demo.yaml")).unwrap();
    assert_ne!(u.nodes["h2"].loc, t.nodes["h2"].loc);
    assert_eq!(t, u);
    // Written out and read back.
    let back = parse(&to_yaml(&t), None).unwrap_or_else(|e| panic!("{e}\n{}", to_yaml(&t)));
    assert_eq!(t, back);
    // Through the journal's JSON.
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(t, serde_json::from_str::<Topology>(&json).unwrap());
}

#[test]
fn generated_topologies_round_trip_through_files() {
    for spec in [
        "minimal",
        "linear,3,2",
        "tree,2,3",
        "torus,3,4",
        "reversed,4",
    ] {
        let t = from_spec(spec, "rt", true).unwrap();
        let text = to_yaml(&t);
        let back = parse(&text, Some("rt.yaml")).unwrap_or_else(|e| panic!("{spec}: {e}\n{text}"));
        assert_eq!(t, back, "{spec}");
    }
}

#[test]
fn shapes_and_spellings() {
    let text = "\
name: shapes
topology:
  nodes:
    on: {kind: linux}
    \"10\": {kind: bridge}
    gw: &router {kind: router, routes: [{dst: default, via: \"fd00::1\"}, {dst: 0.0.0.0/0, via: 10.0.0.1}]}
    gw2: *router
    x: ~
  links:
    - endpoints: [\"on:eth0\", \"10:1\"]
    - endpoints:
      - {node: gw, iface: e0, ip: [10.0.0.2/24, \"fd00::2/64\"]}
      - {node: \"10\", iface: \"2\"}
    - {endpoints: [{node: gw2, iface: e0, ip: [10.0.0.3/24, \"fd00::3/64\"]}, \"10:3\"]}
    - {endpoints: [\"x:e0\", \"10:4\"], up: true}
    - endpoints: [x:e1, 10:5]
";
    let t = parse(text, None).unwrap_or_else(|e| panic!("{e}"));
    // `on` would be a boolean and 10 a number to a YAML reader: names stay text.
    assert_eq!(t.nodes["on"].kind, NodeKind::Host);
    assert_eq!(t.nodes["10"].kind, NodeKind::Switch);
    assert_eq!(t.links[0].endpoints[1].iface, "1");
    // `default` follows the gateway's family.
    let r = &t.nodes["gw"].routes;
    assert_eq!(r[0].dst, net("::/0"));
    assert_eq!(r[1].dst, net("0.0.0.0/0"));
    assert_eq!(
        t.nodes["gw2"].routes, t.nodes["gw"].routes,
        "anchors and aliases work"
    );
    assert_eq!(t.nodes["x"].kind, NodeKind::Host, "an empty node is a host");
    assert_eq!(
        t.links[4].key(),
        "10:5--x:e1",
        "plain `node:iface` in a flow list"
    );
}

#[test]
fn load_reads_files_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.yaml");
    std::fs::write(&path, DEMO).unwrap();
    let t = load(&path).unwrap();
    assert_eq!(
        t.source.as_deref(),
        Some(path.display().to_string().as_str())
    );
    assert_eq!(t, demo());

    std::fs::write(&path, "name: x\ntopology:\n  nodez: {}\n").unwrap();
    let shown = load(&path).unwrap_err().to_string();
    assert!(
        shown.starts_with(&format!("{}:3:3: unknown key `nodez`", path.display())),
        "{shown}"
    );

    let missing = dir.path().join("nope.yaml");
    let e = load(&missing).unwrap_err();
    assert!(
        e.0[0].msg.starts_with("cannot read the topology file"),
        "{e}"
    );
    assert_eq!(
        e.0[0].file.as_deref(),
        Some(missing.display().to_string().as_str())
    );
}

/// Pieces to assemble plausible, often broken, topology files from.
fn yamlish() -> impl Strategy<Value = String> {
    let atom = prop::sample::select(vec![
        "name",
        "topology",
        "nodes",
        "links",
        "defaults",
        "kind",
        "endpoints",
        "iface",
        "node",
        "ip",
        "mac",
        "mtu",
        "up",
        "gateway",
        "gateway6",
        "routes",
        "dst",
        "via",
        "dev",
        "interfaces",
        "stp",
        "conditions",
        "delay",
        "h1",
        "s1",
        "r1",
        "switch",
        "host",
        "router",
        "h1:eth0",
        "s1:p1",
        "10.0.0.1/24",
        "10.0.0.1",
        "fd00::1/64",
        "default",
        "02:00:00:00:00:01",
        "1500",
        "true",
        "no",
        "~",
        "",
        "-",
        ":",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a",
        "*a",
        "<<",
        "'",
        "\"",
        "#",
        "!!str",
        "\t",
        "?",
        "|",
        ">",
    ]);
    let token = prop_oneof![
        4 => atom.prop_map(str::to_string),
        1 => "[ -~]{0,6}",
    ];
    let line = (0..4usize, prop::collection::vec(token, 0..6))
        .prop_map(|(indent, parts)| format!("{}{}", "  ".repeat(indent), parts.join(" ")));
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text, Some("p.yaml"));
    }

    #[test]
    fn yamlish_documents_never_panic(text in yamlish()) {
        if let Err(e) = parse(&text, None) {
            prop_assert!(!e.is_empty());
        }
    }

    /// Damaging a valid file anywhere gives errors with a place in the
    /// file, or a topology that validates; never a panic.
    #[test]
    fn damaged_files_never_panic(at in 0..DEMO.len(), cut in 0usize..12, insert in "[ -~\\n]{0,8}") {
        let mut text = DEMO.to_string();
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text.replace_range(at..end, &insert);
        match parse(&text, Some("d.yaml")) {
            Ok(t) => prop_assert!(crate::topo::validate::validate(&t).is_ok()),
            Err(e) => prop_assert!(e.iter().all(|e| e.file.as_deref() == Some("d.yaml"))),
        }
    }
}
