//! Lab names. A lab's namespaces are found by parsing their names
//! (`kernel::netns::parse_ns_name`) and its files live at
//! `/run/nlab/<lab>/`, so a name is checked before it becomes either.

use super::{Error, Result};

/// Refuses names that are not lab names. Matters beyond tidiness: a lab's
/// namespaces are found by parsing their names (`netns::parse_ns_name`),
/// which is exact only for valid lab and node names.
pub fn check_lab_name(name: &str) -> Result<()> {
    crate::topo::validate::check_lab_name(name).map_err(|(msg, hint)| {
        let msg = match hint {
            Some(h) => format!("{msg} ({h})"),
            None => msg,
        };
        Error::BadLabName(name.to_string(), msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_not_lab_names() {
        assert!(check_lab_name("demo").is_ok());
        for bad in ["../x", "a/b", "", ".locks"] {
            assert!(
                matches!(check_lab_name(bad), Err(Error::BadLabName(..))),
                "{bad:?} passed"
            );
        }
    }
}
