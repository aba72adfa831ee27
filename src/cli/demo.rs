//! `nlab demo`: the tour that strings `up`, `pingall` and `inspect`
//! together. It sits on top of those command files; none of them imports
//! another.

use super::lifecycle::print_up;
use super::root::require_root;
use super::{run, show};
use crate::lab::{Lab, UpOptions};
use crate::topo;
use anyhow::Context;

pub fn demo() -> anyhow::Result<i32> {
    require_root()?;
    println!("*** Creating lab `demo`: Mininet's tree,depth=2,fanout=2 (3 switches, 4 hosts)");
    let t = topo::generate::from_spec("tree,2,2", "demo", true)?;
    let (lab, report) = Lab::up(&t, &UpOptions::default()).context("bringing up the demo lab")?;
    print_up(&t, &report);
    println!();
    let code = run::pingall_lab(&lab, 2.0, false, false)?;
    println!();
    println!("*** What the kernel holds (nlab inspect demo):");
    show::print_inspect(&lab.inspect()?);
    println!();
    println!("The lab stays up. Try:");
    println!("  nlab exec demo h1 -- ping -c1 h4     # names resolve inside the lab");
    println!("  nlab shell demo h1                   # a shell inside h1");
    println!("  ip netns exec nlab-demo-h1 ip addr   # the classic tools work too");
    println!("  nlab down demo                       # remove it, nothing left behind");
    Ok(code)
}
