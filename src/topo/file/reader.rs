//! Typed reading of YAML nodes: each accessor reports a problem at the
//! node's own line and returns `None`, so reading carries on and every
//! mistake in a file is reported in one go.

use super::yaml::{YNode, YVal};
use crate::topo::model::{IpNet, Loc, MacAddr};
use crate::topo::suggest::closest;
use crate::topo::validate::TopoError;
use std::collections::HashMap;
use std::net::IpAddr;

pub(super) struct Reader<'s> {
    pub src: &'s str,
    pub errs: Vec<TopoError>,
}

/// The known keys of one mapping, checked.
pub(super) struct Fields<'n> {
    entries: Vec<(&'static str, &'n YNode, &'n YNode)>,
    /// Known keys that an unknown key looked like a typo of.
    typos: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n YNode> {
        self.entries.iter().find(|e| e.0 == key).map(|e| e.2)
    }
    /// The value, unless it is absent or null (`key:` with nothing after it
    /// means "not set", as most YAML tools read it).
    pub fn value(&self, key: &str) -> Option<&'n YNode> {
        self.get(key).filter(|n| !matches!(n.val, YVal::Null))
    }
    /// Whether `key` is missing because it was misspelled (and reported
    /// as such already), so "`key` is missing" would only repeat it.
    pub fn misspelled(&self, key: &str) -> bool {
        self.typos.contains(&key)
    }
}

impl<'s> Reader<'s> {
    pub fn new(src: &'s str) -> Self {
        Reader {
            src,
            errs: Vec::new(),
        }
    }

    pub fn err(&mut self, loc: Loc, msg: impl Into<String>, hint: Option<String>) {
        let mut e = TopoError::at(loc, msg);
        e.hint = hint;
        self.errs.push(e);
    }

    /// Entries of a mapping as (key text, key node, value node). `what`
    /// names the place for messages ("a link", "node `h1`"). A null value
    /// reads as an empty mapping (`h1:` with nothing under it).
    pub fn entries<'n>(&mut self, n: &'n YNode, what: &str) -> Vec<(String, &'n YNode, &'n YNode)> {
        let map = match &n.val {
            YVal::Map(m) => m,
            YVal::Null => return Vec::new(),
            _ => {
                self.err(
                    n.loc,
                    format!(
                        "{what} should be a mapping (`key: value`), found {}",
                        n.describe()
                    ),
                    None,
                );
                return Vec::new();
            }
        };
        let mut seen: HashMap<String, Loc> = HashMap::new();
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(key) = k.text(self.src) else {
                self.err(
                    k.loc,
                    format!("a key in {what} is {}; keys are plain names", k.describe()),
                    None,
                );
                continue;
            };
            if let Some(first) = seen.get(&key) {
                let msg = format!(
                    "duplicate key `{key}` in {what} (the first on line {})",
                    first.line
                );
                self.err(k.loc, msg, Some("remove one of them".into()));
                continue;
            }
            seen.insert(key.clone(), k.loc);
            out.push((key, k, v));
        }
        out
    }

    /// A mapping whose keys must all be in `allowed`.
    pub fn fields<'n>(&mut self, n: &'n YNode, what: &str, allowed: &[&'static str]) -> Fields<'n> {
        let mut entries = Vec::new();
        let mut typos = Vec::new();
        for (key, k, v) in self.entries(n, what) {
            if let Some(a) = allowed.iter().find(|a| **a == key) {
                entries.push((*a, k, v));
                continue;
            }
            let list = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let msg = format!("unknown key `{key}` in {what}; allowed here: {list}");
            let guess = allowed
                .iter()
                .find(|a| Some(**a) == closest(&key, allowed.iter().copied()));
            typos.extend(guess);
            self.err(k.loc, msg, guess.map(|g| format!("did you mean `{g}`?")));
        }
        Fields { entries, typos }
    }

    /// A list; a single value reads as a list of one when `one_ok`.
    pub fn list<'n>(&mut self, n: &'n YNode, what: &str, one_ok: bool) -> Vec<&'n YNode> {
        match &n.val {
            YVal::Seq(v) => v.iter().collect(),
            YVal::Null => Vec::new(),
            _ if one_ok => vec![n],
            _ => {
                self.err(
                    n.loc,
                    format!("{what} should be a list, found {}", n.describe()),
                    None,
                );
                Vec::new()
            }
        }
    }

    pub fn string(&mut self, n: &YNode, what: &str) -> Option<String> {
        let s = n.text(self.src);
        if s.is_none() {
            self.err(
                n.loc,
                format!("{what} should be a single value, found {}", n.describe()),
                None,
            );
        }
        s
    }

    pub fn bool(&mut self, n: &YNode, what: &str) -> Option<bool> {
        match n.val {
            YVal::Bool(b) => Some(b),
            _ => {
                let found = n.text(self.src).map(|s| format!("`{s}`"));
                let found = found.unwrap_or_else(|| n.describe().into());
                self.err(
                    n.loc,
                    format!("{what} should be true or false, found {found}"),
                    None,
                );
                None
            }
        }
    }

    pub fn mtu(&mut self, n: &YNode, what: &str) -> Option<u32> {
        let text = self.string(n, what)?;
        let v = match n.val {
            YVal::Int(i) => u32::try_from(i).ok(),
            _ => text.trim().parse::<u32>().ok(),
        };
        match v {
            Some(m) if (68..=65535).contains(&m) => Some(m),
            Some(m) => {
                self.err(
                    n.loc,
                    format!("{what} {m} is out of range 68..=65535"),
                    None,
                );
                None
            }
            None => {
                self.err(
                    n.loc,
                    format!("{what} should be a whole number, found `{text}`"),
                    None,
                );
                None
            }
        }
    }

    /// An address without prefix length (a gateway).
    pub fn ip(&mut self, n: &YNode, what: &str) -> Option<IpAddr> {
        let text = self.string(n, what)?;
        match text.trim().parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                let hint = text
                    .split_once('/')
                    .filter(|(a, _)| a.parse::<IpAddr>().is_ok())
                    .map(|(a, _)| {
                        format!("{what} takes a plain address, without prefix length: `{a}`")
                    });
                self.err(
                    n.loc,
                    format!("{what} `{text}` is not an IPv4 or IPv6 address"),
                    hint,
                );
                None
            }
        }
    }

    /// An address with prefix length (an interface address, a route).
    pub fn net(&mut self, n: &YNode, what: &str) -> Option<IpNet> {
        let text = self.string(n, what)?;
        match text.trim().parse::<IpNet>() {
            Ok(a) => Some(a),
            Err(e) => {
                self.err(n.loc, format!("{what}: {e}"), None);
                None
            }
        }
    }

    pub fn mac(&mut self, n: &YNode, what: &str) -> Option<MacAddr> {
        let text = self.string(n, what)?;
        match text.trim().parse::<MacAddr>() {
            Ok(m) => Some(m),
            Err(e) => {
                self.err(n.loc, format!("{what}: {e}"), None);
                None
            }
        }
    }
}
