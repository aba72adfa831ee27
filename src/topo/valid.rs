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
/// let t = generate::from_spec("single,2", "doc", false).unwrap();
/// let v = ValidTopology::new(t).unwrap();
/// assert_eq!(v.nodes.len(), 3);
///
/// let mut bad = v.into_inner();
/// bad.name = "no/slash".into();
/// assert!(ValidTopology::try_from(bad).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTopology(Topology);

impl ValidTopology {
    /// Checks `t` with [`validate`]; every problem found is in the error.
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
