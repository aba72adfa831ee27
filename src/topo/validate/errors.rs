//! The error type of the model layer: one problem, where it is, and how to
//! fix it when that is obvious.

use crate::topo::model::Loc;
use std::fmt;

/// One problem in a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopoError {
    /// The file the topology came from, when it came from one.
    pub file: Option<String>,
    /// Where in the file; unknown (`line == 0`) for generated topologies.
    pub loc: Loc,
    /// What is wrong, in one sentence naming the node, link or key.
    pub msg: String,
    /// A suggested fix, printed on its own line.
    pub hint: Option<String>,
}

impl TopoError {
    /// A problem with no location, file or hint (add them with the
    /// `with_` methods).
    pub fn new(msg: impl Into<String>) -> Self {
        TopoError {
            file: None,
            loc: Loc::default(),
            msg: msg.into(),
            hint: None,
        }
    }

    /// A problem written at `loc` in the file.
    pub fn at(loc: Loc, msg: impl Into<String>) -> Self {
        TopoError {
            loc,
            ..TopoError::new(msg)
        }
    }

    /// Adds a suggested fix.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Names the file (printed before the location); `None` for none.
    pub fn with_file(mut self, file: Option<&str>) -> Self {
        self.file = file.map(str::to_string);
        self
    }
}

impl fmt::Display for TopoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Loc { line, column } = self.loc;
        match (&self.file, self.loc.is_known()) {
            (Some(file), true) => write!(f, "{file}:{line}:{column}: {}", self.msg)?,
            (None, true) => write!(f, "line {line}:{column}: {}", self.msg)?,
            (Some(file), false) => write!(f, "{file}: {}", self.msg)?,
            (None, false) => f.write_str(&self.msg)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TopoError {}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopoErrors(pub Vec<TopoError>);

impl TopoErrors {
    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when nothing was found (a valid topology).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The problems in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, TopoError> {
        self.0.iter()
    }
    /// Whether any error message contains `needle` (handy in tests and for
    /// callers that react to one kind of problem).
    pub fn mentions(&self, needle: &str) -> bool {
        self.0.iter().any(|e| e.msg.contains(needle))
    }
}

impl From<TopoError> for TopoErrors {
    fn from(e: TopoError) -> Self {
        TopoErrors(vec![e])
    }
}

impl IntoIterator for TopoErrors {
    type Item = TopoError;
    type IntoIter = std::vec::IntoIter<TopoError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a TopoErrors {
    type Item = &'a TopoError;
    type IntoIter = std::slice::Iter<'a, TopoError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for TopoErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        let n = self.0.len();
        let noun = if n == 1 { "error" } else { "errors" };
        match self.0.iter().find_map(|e| e.file.as_deref()) {
            Some(file) => write!(f, "{n} {noun} in {file}"),
            None => write!(f, "{n} {noun}"),
        }
    }
}

impl std::error::Error for TopoErrors {}
