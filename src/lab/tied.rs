//! Programs in a node that live only as long as this process: the
//! console's node shells.

use super::{node_run, Lab, Result};
use crate::{kernel, store};
use std::process::Command;

impl Lab {
    /// Like [`Lab::command`] (the node's namespace, limits and isolation,
    /// environment), but the program gets `SIGKILL` when the thread that
    /// spawns it ends, also by `kill -9`: for a helper process that must
    /// not outlive its caller (the console's shell per node).
    pub fn command_tied(&self, node: &str, program: &str, args: &[String]) -> Result<Command> {
        if self.held.is_some() {
            // An ephemeral lab's programs die with this process already.
            return self.command(node, program, args);
        }
        let ns = self.namespace(node)?;
        let n = self.topology.nodes.get(node);
        let dir = store::lab_dir(&self.name);
        let spec = n
            .map(|n| node_run::spec(&self.name, n))
            .transpose()?
            .flatten();
        let mut c =
            kernel::exec::command_in_lab_tied(&ns, Some(&dir), spec.as_ref(), program, args)?;
        if let Some(n) = n {
            c.envs(&n.run.env);
        }
        c.env("NLAB_LAB", &self.name).env("NLAB_NODE", node);
        Ok(c)
    }
}
