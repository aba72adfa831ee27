//! `--topo` spellings, parsed the way Mininet's `splitArgs` does: a name,
//! then positional and `key=value` parameters separated by commas.

use crate::topo::suggest::did_you_mean;
use crate::topo::validate::TopoError;
use std::collections::BTreeMap;

/// Refuse specs that would build more nodes than this: `tree,10,10` is a
/// typo, not a lab, and should fail before allocating 11 billion nodes.
pub const MAX_GENERATED_NODES: u64 = 100_000;

pub(super) const SPELLINGS: &str = "\
minimal                                  one switch, two hosts
single,N     single,k=N                  one switch, N hosts
reversed,N   reversed,k=N                like single, hosts on the switch's ports in reverse
linear,N     linear,k=N,n=M              N switches in a chain, M hosts on each (default 1)
tree,D,F     tree,depth=D,fanout=F       switches D levels deep, F children each, hosts at the leaves
torus,X,Y    torus,x=X,y=Y,n=M           an X by Y torus of switches, X and Y >= 3 (it loops: STP runs)";

const ONE_LINE: &str = "minimal, single,N, single,k=N, reversed,N, linear,N, linear,k=N,n=M, \
                        tree,D,F, tree,depth=D,fanout=F, torus,X,Y, torus,x=X,y=Y,n=M";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gen {
    Minimal,
    Single,
    Reversed,
    Linear,
    Tree,
    Torus,
}

/// A parameter: name, default (None = required), smallest value.
type Param = (&'static str, Option<u64>, u64);

impl Gen {
    pub const ALL: [(&'static str, Gen); 6] = [
        ("minimal", Gen::Minimal),
        ("single", Gen::Single),
        ("reversed", Gen::Reversed),
        ("linear", Gen::Linear),
        ("tree", Gen::Tree),
        ("torus", Gen::Torus),
    ];

    /// Parameters in Mininet's positional order, with Mininet's defaults.
    fn params(self) -> &'static [Param] {
        match self {
            Gen::Minimal => &[],
            Gen::Single | Gen::Reversed => &[("k", Some(2), 1)],
            Gen::Linear => &[("k", Some(2), 1), ("n", Some(1), 1)],
            Gen::Tree => &[("depth", Some(1), 1), ("fanout", Some(2), 1)],
            Gen::Torus => &[("x", None, 3), ("y", None, 3), ("n", Some(1), 1)],
        }
    }

    /// How many nodes the parameters make, saturating.
    fn nodes(self, p: &BTreeMap<&str, u64>) -> u128 {
        let g = |k: &str| u128::from(p.get(k).copied().unwrap_or(0));
        match self {
            Gen::Minimal => 3,
            Gen::Single | Gen::Reversed => g("k") + 1,
            Gen::Linear => g("k").saturating_mul(g("n") + 1),
            Gen::Tree => {
                let (mut level, mut total) = (1u128, 1u128);
                for _ in 0..g("depth").min(200) {
                    level = level.saturating_mul(g("fanout"));
                    total = total.saturating_add(level);
                }
                total
            }
            Gen::Torus => g("x").saturating_mul(g("y")).saturating_mul(g("n") + 1),
        }
    }
}

#[derive(Debug)]
pub(super) struct Spec {
    pub gen: Gen,
    params: BTreeMap<&'static str, u64>,
}

impl Spec {
    /// A parameter's value (every parameter has one after `parse`).
    pub fn get(&self, name: &str) -> u64 {
        self.params.get(name).copied().unwrap_or(0)
    }

    pub fn parse(spec: &str) -> Result<Spec, TopoError> {
        let mut parts = spec.split(',').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let gen = Gen::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, g)| *g)
            .ok_or_else(|| {
                let names = Gen::ALL.iter().map(|(n, _)| *n);
                let msg = if name.is_empty() {
                    "no topology given".to_string()
                } else {
                    format!("unknown topology `{name}`")
                };
                let hint = match did_you_mean(name, names) {
                    Some(dym) => format!("{dym} valid spellings: {ONE_LINE}"),
                    None => format!("valid spellings: {ONE_LINE}"),
                };
                TopoError::new(msg).with_hint(hint)
            })?;
        let defs = gen.params();
        let takes = || format!("{name} takes {}", usage(gen));
        let mut given: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut positional = 0;
        for part in parts {
            let (def, value) = match part.split_once('=') {
                Some((key, value)) => {
                    let key = key.trim();
                    let Some(def) = defs.iter().find(|d| d.0 == key) else {
                        let hint = did_you_mean(key, defs.iter().map(|d| d.0))
                            .map(|d| format!("{d} {}", takes()))
                            .unwrap_or_else(takes);
                        return Err(TopoError::new(format!("`{name}` has no parameter `{key}`"))
                            .with_hint(hint));
                    };
                    (def, value.trim())
                }
                None => {
                    let Some(def) = defs.get(positional) else {
                        return Err(TopoError::new(format!(
                            "too many parameters for `{name}` in `{spec}`"
                        ))
                        .with_hint(takes()));
                    };
                    positional += 1;
                    (def, part)
                }
            };
            let (key, _, min) = *def;
            let n: u64 = value.parse().map_err(|_| {
                TopoError::new(format!(
                    "`{name}` parameter `{key}` must be a whole number, not `{value}`"
                ))
                .with_hint(takes())
            })?;
            if n < min {
                return Err(TopoError::new(format!(
                    "`{name}` parameter `{key}` is {n}; it must be at least {min}"
                ))
                .with_hint(takes()));
            }
            if given.insert(key, n).is_some() {
                return Err(
                    TopoError::new(format!("`{name}` parameter `{key}` is given twice"))
                        .with_hint(takes()),
                );
            }
        }
        for (key, default, _) in defs {
            if given.contains_key(key) {
                continue;
            }
            match default {
                Some(d) => {
                    given.insert(key, *d);
                }
                None => {
                    return Err(TopoError::new(format!("`{name}` needs parameter `{key}`"))
                        .with_hint(takes()));
                }
            }
        }
        let nodes = gen.nodes(&given);
        if nodes > u128::from(MAX_GENERATED_NODES) {
            return Err(TopoError::new(format!(
                "`{spec}` would make {nodes} nodes; the limit is {MAX_GENERATED_NODES}"
            ))
            .with_hint(format!("choose smaller parameters: {}", takes())));
        }
        Ok(Spec { gen, params: given })
    }
}

/// `single,N or single,k=N`-style help for one generator.
fn usage(gen: Gen) -> String {
    match gen {
        Gen::Minimal => "no parameters".into(),
        Gen::Single => "`single,N` or `single,k=N` (N hosts, at least 1)".into(),
        Gen::Reversed => "`reversed,N` or `reversed,k=N` (N hosts, at least 1)".into(),
        Gen::Linear => {
            "`linear,N`, `linear,N,M` or `linear,k=N,n=M` (N switches, M hosts each)".into()
        }
        Gen::Tree => "`tree,D,F` or `tree,depth=D,fanout=F` (depth and fanout at least 1)".into(),
        Gen::Torus => "`torus,X,Y` or `torus,x=X,y=Y,n=M` (X and Y at least 3)".into(),
    }
}
