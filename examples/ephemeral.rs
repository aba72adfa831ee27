//! A network test in an ephemeral lab: nothing is pinned or written to
//! disk, a TCP echo server runs as Rust code inside one node, a program
//! runs in another, and the kernel frees all of it when the process ends,
//! even if it is killed. Run as root: `cargo run --example ephemeral`.

use nlab::lab::Lab;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut lab = Lab::builder("ephex")
        .host("client")
        .host("server")
        .switch("s1")
        .link("client", "s1")
        .addr("client", "10.0.0.1/24")
        .conditions(&[("delay", "5ms")])
        .link("server", "s1")
        .addr("server", "10.0.0.2/24")
        .ephemeral()
        .up()?;

    // A listener made inside `server`; it works from any thread.
    let listener = lab
        .node("server")?
        .run(|| TcpListener::bind("10.0.0.2:7000"))??;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut c, _) = listener.accept()?;
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf)?;
        c.write_all(&buf)
    });
    let reply = lab.node("client")?.run(|| -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect("10.0.0.2:7000")?;
        s.write_all(b"ping")?;
        let mut buf = vec![0u8; 4];
        s.read_exact(&mut buf)?;
        Ok(buf)
    })??;
    echo.join().map_err(|_| "echo thread panicked")??;
    if reply != b"ping" {
        return Err("the echo server answered something else".into());
    }

    // Names resolve in programs started in nodes, too.
    let out = lab.exec_output("client", &["ping", "-c2", "-W2", "server"])?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        return Err("client could not ping server by name".into());
    }

    // A link taken down and brought back, as a test of failover would.
    lab.link("client", "s1")?.down()?;
    let down = lab.exec_output("client", &["ping", "-c1", "-W1", "server"])?;
    lab.link("client", "s1")?.up()?;
    if down.status.success() {
        return Err("ping went through a link that is down".into());
    }
    println!("ephemeral lab: echo, ping and link down/up all behaved");
    Ok(())
    // `lab` drops here: its namespaces, emulator and programs go with it.
}
