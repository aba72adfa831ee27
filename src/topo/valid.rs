//! [`ValidTopology`]: a [`Topology`] that has passed [`validate`], as a
//! type. `Lab::up_valid` takes one, so input nobody checked cannot reach
//! the kernel; every way to make one runs the checks.

use super::model::Topology;
use super::validate::{validate, TopoErrors};
use std::ops::Deref;

/// A topology [`validate`] accepted. Read it through `Deref`; to change
/// it, take it apart with [`into_inner`](Self::into_inner) and validate
/// the result again.
///
/// ```
/// use nlab::topo::{generate, ValidTopology};
/// let t = generate::from_spec("single,2", "doc", false)?;
/// let v = ValidTopology::new(t)?;
/// assert_eq!(v.nodes.len(), 3);
///
/// let mut bad = v.into_inner();
/// bad.name = "no/slash".into();
/// assert!(ValidTopology::try_from(bad).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTopology(Topology);

impl ValidTopology {
    /// Checks `t` with [`validate`]; every problem found is in the error.
    ///
    /// ```
    /// use nlab::topo::{Endpoint, Link, Node, NodeKind, Topology, ValidTopology};
    ///
    /// let mut t = Topology::new("pair");
    /// for n in ["a", "b"] {
    ///     t.nodes.insert(n.into(), Node::new(n, NodeKind::Host));
    /// }
    /// let mut a = Endpoint::new("a", "eth0");
    /// a.addrs.push("10.0.0.1/24".parse()?);
    /// let mut b = Endpoint::new("b", "eth0");
    /// b.addrs.push("10.0.0.1/24".parse()?); // the same address twice
    /// t.links.push(Link::new(a, b));
    ///
    /// let errs = ValidTopology::new(t.clone()).unwrap_err();
    /// assert!(errs.mentions("10.0.0.1"), "{errs}");
    /// t.links[0].endpoints[1].addrs[0] = "10.0.0.2/24".parse()?;
    /// assert_eq!(ValidTopology::new(t)?.links.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(t: Topology) -> Result<Self, TopoErrors> {
        validate(&t)?;
        Ok(ValidTopology(t))
    }

    /// For the loaders of this module tree, which have just run
    /// `validate_with` (the same checks, with file locations), and for
    /// the command line, when a change it offered to make changed nothing.
    pub(crate) fn checked(t: Topology) -> Self {
        ValidTopology(t)
    }

    /// The topology, to change it (and validate it again).
    pub fn into_inner(self) -> Topology {
        self.0
    }

    /// The topology, read-only (also reachable through `Deref`).
    pub fn as_topology(&self) -> &Topology {
        &self.0
    }
}

impl Deref for ValidTopology {
    type Target = Topology;
    fn deref(&self) -> &Topology {
        &self.0
    }
}

impl AsRef<Topology> for ValidTopology {
    fn as_ref(&self) -> &Topology {
        &self.0
    }
}

impl TryFrom<Topology> for ValidTopology {
    type Error = TopoErrors;
    fn try_from(t: Topology) -> Result<Self, TopoErrors> {
        ValidTopology::new(t)
    }
}

impl From<ValidTopology> for Topology {
    fn from(v: ValidTopology) -> Topology {
        v.0
    }
}
