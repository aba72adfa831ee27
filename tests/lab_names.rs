//! Lab names with `-` (issue 11, item 17) and the generator flags given
//! with a file (item 14), through the real binary, with `ip`, `tc` and
//! `ping` as witnesses.
mod common;
use common::*;

/// Two hosts `a` and `b` on one link, 10.<net>.0.1/24 and .2/24.
fn two_hosts(name: Option<&str>, a: &str, b: &str, net: u8) -> String {
    let head = name.map(|n| format!("name: {n}\n")).unwrap_or_default();
    format!(
        "{head}topology:\n  nodes:\n    {a}: {{}}\n    {b}: {{}}\n  links:\n    - endpoints: \
         [{{node: {a}, iface: eth0, ip: 10.{net}.0.1/24}}, {{node: {b}, iface: eth0, ip: 10.{net}.0.2/24}}]\n"
    )
}

fn pinned() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn up(file: &std::path::Path) {
    nlab().arg("up").arg(file).assert().success();
}

/// Lab `X` with nodes `b-h1`, `b-h2` and lab `X-b` with nodes `h1`, `h2`:
/// with the old `nlab-<lab>-<node>` for every lab both would own
/// `nlab-X-b-h1`. Both run at once, and each `down` leaves the other be.
#[test]
fn a_dashed_lab_and_a_dashed_node_never_share_a_namespace() {
    require_root!();
    let plain = lab_name("n");
    let dashed = format!("{plain}-b");
    let _g1 = LabGuard(plain.clone());
    let _g2 = LabGuard(dashed.clone());
    let dir = tempfile::tempdir().unwrap();
    let (fp, fd) = (dir.path().join("p.yml"), dir.path().join("d.yml"));
    std::fs::write(&fp, two_hosts(Some(&plain), "b-h1", "b-h2", 21)).unwrap();
    std::fs::write(&fd, two_hosts(Some(&dashed), "h1", "h2", 22)).unwrap();
    up(&fd);
    up(&fp);
    let (p1, d1) = (ns(&plain, "b-h1"), ns(&dashed, "h1"));
    assert_eq!(
        p1,
        format!("nlab-{plain}-b-h1"),
        "dash-free labs keep their names"
    );
    assert_eq!(d1, format!("nlab-{plain}-b:h1"));
    let all = pinned();
    for n in [&p1, &ns(&plain, "b-h2"), &d1, &ns(&dashed, "h2")] {
        assert!(all.contains(n), "{n} not in ip netns list: {all:?}");
    }
    assert!(ping(&p1, "10.21.0.2"), "lab {plain} does not ping");
    assert!(ping(&d1, "10.22.0.2"), "lab {dashed} does not ping");

    nlab().args(["down", &plain]).assert().success();
    assert_no_trace(&plain);
    let all = pinned();
    assert!(
        all.contains(&d1) && all.contains(&ns(&dashed, "h2")),
        "down {plain} removed namespaces of {dashed}: {all:?}"
    );
    assert!(ping(&d1, "10.22.0.2"), "down {plain} damaged {dashed}");
    let listed = nlab().args(["list", "--json"]).assert().success();
    let listed = String::from_utf8_lossy(&listed.get_output().stdout).to_string();
    assert!(listed.contains(&format!("\"{dashed}\"")), "{listed}");

    up(&fp);
    nlab().args(["down", &dashed]).assert().success();
    assert_no_trace(&dashed);
    let all = pinned();
    assert!(
        all.contains(&p1) && all.contains(&ns(&plain, "b-h2")),
        "down {dashed} removed namespaces of {plain}: {all:?}"
    );
    assert!(ping(&p1, "10.21.0.2"), "down {dashed} damaged {plain}");
    nlab().args(["down", &plain]).assert().success();
    assert_no_trace(&plain);
    assert_no_trace(&dashed);
}

/// `--name` wins over the file's `name:`, a file without `name:` works
/// with `--name`, and with neither the error says what to do.
#[test]
fn the_name_on_the_command_line_wins() {
    require_root!();
    let name = lab_name("nm");
    let file_name = lab_name("nf");
    let _g = LabGuard(name.clone());
    let _g2 = LabGuard(file_name.clone());
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("named.yml");
    std::fs::write(&named, two_hosts(Some(&file_name), "h1", "h2", 23)).unwrap();
    nlab()
        .arg("up")
        .arg(&named)
        .args(["--name", &name])
        .assert()
        .success();
    assert!(pinned().contains(&ns(&name, "h1")));
    assert_no_trace(&file_name);
    nlab().args(["down", &name]).assert().success();

    let unnamed = dir.path().join("unnamed.yml");
    std::fs::write(&unnamed, two_hosts(None, "h1", "h2", 23)).unwrap();
    nlab()
        .arg("up")
        .arg(&unnamed)
        .args(["--name", &name])
        .assert()
        .success();
    assert!(ping(&ns(&name, "h1"), "10.23.0.2"));
    nlab().args(["down", &name]).assert().success();

    let out = nlab().arg("up").arg(&unnamed).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the lab name is missing")
            && err.contains("add `name: <lab>`")
            && err.contains("--name"),
        "{err}"
    );
}

/// `up FILE --link tc,bw=10 --mac`: links the file gives no conditions get
/// the 10 Mbit/s rate (a `tbf` qdisc, seen by `tc`), the link with its own
/// conditions keeps them; interfaces without a MAC get sequential ones,
/// the file's own MAC stays.
#[test]
fn link_and_mac_apply_to_a_file_under_what_it_says() {
    require_root!();
    let name = lab_name("lm");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.yml");
    std::fs::write(
        &path,
        format!(
            "name: {name}\ntopology:\n  nodes:\n    h1: {{}}\n    h2: {{}}\n    h3: {{}}\n  links:\n\
             \x20   - endpoints: [{{node: h1, iface: eth0, ip: 10.24.0.1/24}}, {{node: h2, iface: eth0, ip: 10.24.0.2/24}}]\n\
             \x20   - endpoints: [{{node: h2, iface: eth1, ip: 10.25.0.2/24}}, {{node: h3, iface: eth0, ip: 10.25.0.3/24, mac: \"02:00:00:00:00:33\"}}]\n\
             \x20     conditions: {{rate: 1mbit}}\n"
        ),
    )
    .unwrap();
    nlab()
        .arg("up")
        .arg(&path)
        .args(["--link", "tc,bw=10", "--mac"])
        .assert()
        .success();
    let qdisc = |node: &str, dev: &str| {
        let out = std::process::Command::new("tc")
            .args(["-n", &ns(&name, node), "qdisc", "show", "dev", dev])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let q = qdisc("h1", "eth0");
    assert!(
        q.contains("tbf") && q.contains("rate 10Mbit"),
        "h1 eth0: {q}"
    );
    let q = qdisc("h3", "eth0");
    assert!(
        q.contains("tbf") && q.contains("rate 1Mbit"),
        "the file's own rate stays: {q}"
    );
    let mac = |node: &str, dev: &str| {
        ip_json(&ns(&name, node), &["link", "show", dev])[0]["address"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    assert_eq!(mac("h1", "eth0"), "00:00:00:00:00:01");
    assert_eq!(mac("h2", "eth0"), "00:00:00:00:00:02");
    assert_eq!(mac("h2", "eth1"), "00:00:00:00:00:03");
    assert_eq!(mac("h3", "eth0"), "02:00:00:00:00:33");
    assert!(ping(&ns(&name, "h1"), "10.24.0.2"));
    // Applying the same file with the same flags again changes nothing.
    let out = nlab()
        .arg("up")
        .arg(&path)
        .args(["--link", "tc,bw=10", "--mac"])
        .assert()
        .success();
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(s.contains("0 changes"), "{s}");
}
