//! Handles for test authors: run Rust code inside a node
//! ([`Lab::node`], [`Node::run`]) and change a link at run time
//! ([`Lab::link`], [`LinkHandle`]), the library's side of `nlab exec` and
//! `nlab link set`.
//!
//! The handles hold no state of their own: every method delegates to the
//! functions the CLI calls ([`Lab::set_link_up`],
//! [`Lab::set_link_conditions`]), so the library and the CLI cannot drift
//! apart.

use super::{Error, Lab, Result};
use crate::kernel::netns::NetNs;
use crate::topo::conditions::{Backend, Directed};
use std::process::{Command, Output};

/// A node of a lab that is up, borrowed from its [`Lab`] (see
/// [`Lab::node`]).
#[derive(Debug, Clone)]
pub struct Node<'a> {
    lab: &'a Lab,
    name: String,
    ns_name: String,
}

impl Lab {
    /// The node `name`, to run code or commands in. Errors with
    /// [`Error::NoSuchNode`] (listing the lab's nodes) when the lab has no
    /// such node.
    ///
    /// ```
    /// use nlab::lab::{Lab, UpOptions};
    /// use nlab::topo::generate;
    /// use std::io::{Read, Write};
    /// use std::net::{TcpListener, TcpStream};
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let topo = generate::from_spec("single,2", &format!("node{}", std::process::id()), false)?;
    /// let opts = UpOptions { ephemeral: true, ..Default::default() };
    /// let (lab, _) = Lab::up(&topo, &opts)?;
    /// // The socket is made inside h1's namespace and works from any thread.
    /// let listener = lab.node("h1")?.run(|| TcpListener::bind("10.0.0.1:0"))??;
    /// let addr = listener.local_addr()?;
    /// let server = std::thread::spawn(move || -> std::io::Result<()> {
    ///     let (mut c, _) = listener.accept()?;
    ///     c.write_all(b"pong")
    /// });
    /// let reply = lab.node("h2")?.run(move || -> std::io::Result<String> {
    ///     let mut s = String::new();
    ///     TcpStream::connect(addr)?.read_to_string(&mut s)?;
    ///     Ok(s)
    /// })??;
    /// server.join().expect("server thread")?;
    /// assert_eq!(reply, "pong");
    /// assert!(lab.node("h9").is_err()); // the error lists h1, h2, s1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn node(&self, name: &str) -> Result<Node<'_>> {
        let ns_name = self.namespace(name)?;
        Ok(Node {
            lab: self,
            name: name.to_string(),
            ns_name,
        })
    }

    /// The link between nodes `a` and `b` (either order), to take down,
    /// bring up or give conditions. Errors with [`Error::NoSuchNode`] or
    /// [`Error::NoSuchLink`]. Parallel links between the two nodes are
    /// handled together, as `nlab link set --down` and the console do.
    ///
    /// ```
    /// use nlab::lab::Lab;
    /// use nlab::topo::conditions::{Directed, Impairment};
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::{Duration, Instant};
    /// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
    ///
    /// let mut lab = Lab::builder(&format!("link{}", std::process::id()))
    ///     .host("h1")
    ///     .host("h2")
    ///     .link("h1", "h2")
    ///     .addr("h1", "10.0.0.1/24")
    ///     .addr("h2", "10.0.0.2/24")
    ///     // A link of an ephemeral lab keeps the backend it started with
    ///     // (kernel or userspace), so give it conditions from the start.
    ///     .conditions(&[("delay", "1ms")])
    ///     .ephemeral()
    ///     .up()?;
    /// let ping = |lab: &Lab| -> Result<bool, nlab::lab::Error> {
    ///     let argv = ["ping", "-c2", "-i0.2", "-W1", "10.0.0.2"]; // any reply will do
    ///     Ok(lab.exec_output("h1", &argv)?.status.success())
    /// };
    /// assert!(ping(&lab)?);
    ///
    /// // Down: nothing gets through; up again: traffic flows.
    /// lab.link("h1", "h2")?.down()?;
    /// assert!(!ping(&lab)?);
    /// lab.link("h1", "h2")?.up()?;
    /// assert!(ping(&lab)?);
    ///
    /// // 25 ms each way, live: a TCP handshake now takes at least 50 ms.
    /// let slow = Impairment { delay: Duration::from_millis(25), ..Default::default() };
    /// lab.link("h1", "h2")?.set_conditions(Directed::symmetric(slow))?;
    /// let listener = lab.node("h2")?.run(|| TcpListener::bind("10.0.0.2:0"))??;
    /// let addr = listener.local_addr()?;
    /// let took = lab.node("h1")?.run(move || -> std::io::Result<Duration> {
    ///     let start = Instant::now();
    ///     TcpStream::connect(addr)?;
    ///     Ok(start.elapsed())
    /// })??;
    /// assert!(took >= Duration::from_millis(50), "{took:?}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn link(&mut self, a: &str, b: &str) -> Result<LinkHandle<'_>> {
        self.namespace(a)?;
        self.namespace(b)?;
        let links: Vec<(usize, bool)> = self
            .links()
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let (x, y) = (&l.endpoints[0].node, &l.endpoints[1].node);
                if x == a && y == b {
                    Some((i, false))
                } else if x == b && y == a {
                    Some((i, true))
                } else {
                    None
                }
            })
            .collect();
        if links.is_empty() {
            return Err(Error::NoSuchLink {
                lab: self.name().to_string(),
                a: a.to_string(),
                b: b.to_string(),
            });
        }
        Ok(LinkHandle {
            lab: self,
            a: a.to_string(),
            b: b.to_string(),
            links,
        })
    }
}

impl Node<'_> {
    /// The node's name in the topology.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the node's network namespace (under `/run/netns`).
    pub fn ns_name(&self) -> &str {
        &self.ns_name
    }

    /// Runs `f` on a fresh thread that entered the node's network
    /// namespace, and returns what `f` returned.
    ///
    /// The calling thread never changes namespace, so it cannot be left in
    /// the wrong one. Sockets made by `f` stay in the node's namespace
    /// wherever they are used afterwards (a listener bound in `h1` can be
    /// returned and accepted on from the test's thread).
    ///
    /// Only the network namespace is entered: the mount namespace is the
    /// caller's, so files such as `/etc/hosts` and `/etc/resolv.conf` are
    /// the host's, not the lab's (use [`Node::command`] for a process that
    /// sees the lab's `/etc/hosts`). Node names therefore do not resolve
    /// inside `f`: use addresses.
    ///
    /// A panic in `f` is resumed on the calling thread with its original
    /// payload, so an `assert!` inside `f` fails a test as if it were
    /// written outside. The error is for failing to enter the namespace
    /// (the lab went down, or the node's namespace was deleted).
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        // Opened on the caller's thread: a missing namespace fails before a
        // thread is spawned, with the node in the message.
        let ns = NetNs::open(&self.ns_name)?;
        let why = format!("to run code in node {}", self.name);
        std::thread::scope(|s| {
            let h = s.spawn(move || -> Result<R> {
                // The thread ends with `f`: no need to go back.
                ns.enter_for_good(&why)?;
                Ok(f())
            });
            match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// A command that runs inside the node, with the lab's `/etc/hosts` in
    /// place (see [`Lab::command`]).
    pub fn command(&self, program: &str, args: &[String]) -> Result<Command> {
        self.lab.command(&self.name, program, args)
    }

    /// Runs a command in the node and collects its output (see
    /// [`Lab::exec_output`]).
    pub fn exec_output(&self, argv: &[&str]) -> Result<Output> {
        self.lab.exec_output(&self.name, argv)
    }
}

/// Every link between two nodes of a lab, borrowed mutably from its
/// [`Lab`] (see [`Lab::link`]). Changes are live and recorded in the
/// lab's journal, as `nlab link set` records them.
#[derive(Debug)]
pub struct LinkHandle<'a> {
    lab: &'a mut Lab,
    a: String,
    b: String,
    /// Index in the topology's links, and whether its first end is `b`.
    links: Vec<(usize, bool)>,
}

impl LinkHandle<'_> {
    /// The two nodes, in the order given to [`Lab::link`].
    pub fn nodes(&self) -> (&str, &str) {
        (&self.a, &self.b)
    }

    /// Takes both ends of the link(s) administratively down, as the user's
    /// choice (a later `up` of the topology keeps them down). Returns the
    /// `node:iface` ends changed.
    pub fn down(&mut self) -> Result<Vec<String>> {
        self.lab.set_link_up(&self.a, &self.b, false)
    }

    /// Brings both ends up again, with the routes and addresses the kernel
    /// dropped while they were down. Returns the ends changed.
    pub fn up(&mut self) -> Result<Vec<String>> {
        self.lab.set_link_up(&self.a, &self.b, true)
    }

    /// Gives the link(s) exactly the conditions `c`, live (open
    /// connections survive). `c.a_to_b` is what the first node given to
    /// [`Lab::link`] sends, whichever end the topology lists first.
    /// Returns the backend that carries them.
    pub fn set_conditions(&mut self, c: Directed) -> Result<Backend> {
        let mut backend = Backend::None;
        for &(i, swapped) in &self.links {
            let c = if swapped { flip(&c) } else { c.clone() };
            backend = self.lab.set_link_conditions(i, c)?;
        }
        Ok(backend)
    }

    /// Removes the link's conditions (a plain veth again), as `nlab link
    /// reset`.
    pub fn reset(&mut self) -> Result<()> {
        self.set_conditions(Directed::default()).map(|_| ())
    }

    /// The conditions recorded for the (first) link, oriented as in
    /// [`LinkHandle::set_conditions`].
    pub fn conditions(&self) -> Directed {
        let (i, swapped) = self.links[0];
        let c = &self.lab.links()[i].conditions;
        if swapped {
            flip(c)
        } else {
            c.clone()
        }
    }
}

/// `c` seen from the other end.
fn flip(c: &Directed) -> Directed {
    let mut f = c.clone();
    std::mem::swap(&mut f.a_to_b, &mut f.b_to_a);
    f
}
