//! A network test written with the builder: two hosts on a switch, a
//! lossy, slow link, and a check that traffic still gets through. Run as
//! root: `cargo run --example builder`.

use nlab::lab::Lab;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Mistakes here (a typo in a node name, a duplicate address) come
    // back from `up()` as one error listing all of them, before anything
    // is built.
    let lab = Lab::builder("builder")
        .host("client")
        .host("server")
        .switch("s1")
        .link("client", "s1") // client-eth0 -- s1-eth1
        .addr("client", "10.0.0.1/24")
        .conditions(&[("delay", "20ms"), ("loss", "5%")])
        .link("server", "s1") // server-eth0 -- s1-eth2
        .addr("server", "10.0.0.2/24")
        .up()?;

    // The test body: node names resolve inside the lab.
    let out = lab.exec_output("client", &["ping", "-c5", "-i0.2", "-W2", "server"]);
    // Down even when the body failed, so the test leaves nothing behind.
    lab.down()?;
    let out = out?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        return Err("client could not reach server through the lossy link".into());
    }
    Ok(())
}
