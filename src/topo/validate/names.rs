//! Names the kernel and our own naming scheme accept.

use crate::topo::model::MAX_IFNAME;

/// Longest lab name: the lab name is part of every namespace name and is
/// printed in every table, so it stays short.
pub const MAX_LAB_NAME: usize = 24;
/// Longest node name.
pub const MAX_NODE_NAME: usize = 32;

/// A lab name is 1–24 of `[a-z0-9_-]`, not starting or ending with `-`
/// (containerlab's own examples use names like `srl-ceos01`; a leading `-`
/// would read as an option on the command line). A `-` is safe because
/// namespace names of labs with a `-` use another separator before the
/// node (see `kernel::netns::ns_name`), and nothing else of a lab carries
/// its name in a length-limited kernel name.
/// On error: the message and a suggested name.
pub fn check_lab_name(name: &str) -> Result<(), (String, Option<String>)> {
    let suggestion = || {
        let s: String = name
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_LAB_NAME)
            .collect();
        let s = s.trim_matches('-');
        format!("try `{}`", if s.is_empty() { "lab" } else { s })
    };
    if name.is_empty() {
        return Err(("the lab name is empty".into(), Some("try `lab`".into())));
    }
    let len = name.chars().count();
    if len > MAX_LAB_NAME {
        return Err((
            format!("lab name `{name}` is {len} characters; the limit is {MAX_LAB_NAME}"),
            Some(suggestion()),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
    {
        return Err((
            format!(
                "lab name `{name}` contains {}; a lab name uses only lowercase letters, digits, `_` and `-` \
                 (it is part of namespace names `nlab-<lab>-<node>`)",
                describe_char(bad)
            ),
            Some(suggestion()),
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err((
            format!("lab name `{name}` starts or ends with `-`"),
            Some(suggestion()),
        ));
    }
    Ok(())
}

/// A node name is 1–32 of `[A-Za-z0-9_.-]`, not starting with `-` or `.`
/// (it becomes a file name under `/run/netns` and an argument to tools).
/// Never `:`: namespace names of labs with a `-` separate lab and node
/// with it, which keeps the (lab, node) → namespace mapping injective.
pub fn check_node_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a node name is empty".into());
    }
    let len = name.chars().count();
    if len > MAX_NODE_NAME {
        return Err(format!(
            "node name `{name}` is {len} characters; the limit is {MAX_NODE_NAME}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "node name `{name}` contains {}; node names use letters, digits, `_`, `.` and `-`",
            describe_char(bad)
        ));
    }
    if name.starts_with('-') || name.starts_with('.') {
        return Err(format!("node name `{name}` may not start with `-` or `.`"));
    }
    Ok(())
}

/// What the kernel's `dev_valid_name` accepts, minus `lo`, which every
/// namespace already has.
pub fn check_iface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the interface name is empty".into());
    }
    if name.len() > MAX_IFNAME {
        return Err(format!(
            "interface name `{name}` is {} bytes; the kernel's limit is {MAX_IFNAME}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a valid interface name"));
    }
    if name == "lo" {
        return Err("`lo` is the loopback interface every node already has".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace())
    {
        return Err(format!(
            "interface name `{name}` contains {}, which the kernel refuses",
            describe_char(bad)
        ));
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    if c.is_whitespace() || c.is_control() {
        format!("the character {c:?}")
    } else {
        format!("`{c}`")
    }
}
