//! Reading `conditions:` and `schedule:` of a link (and `defaults:`) into
//! typed [`Directed`] conditions and [`Step`]s.
//!
//! ```yaml
//! conditions:
//!   preset: lte              # optional, applied first
//!   delay: 20ms              # keys outside an endpoint: both directions
//!   loss: 1%
//!   "h1:eth0": {rate: 1mbit} # packets *sent by* h1:eth0 only
//! schedule:
//!   - {at: 10s, loss: 30%}   # from 10 s: the link's conditions with loss 30%
//!   - {at: 20s, down: true}
//!   - at: 25s
//!     up: true
//! ```
//!
//! Map forms: `jitter: {amount: 2ms, distribution: normal, correlation: 25%}`,
//! `loss: {p: 1%, r: 30%, 1-h: 100%, 1-k: 0%}` (Gilbert-Elliott),
//! `reorder: {percent: 25%, gap: 5}`, `rate: {rate: 10mbit, burst: 32kb}`.

use super::reader::Reader;
use super::yaml::{YNode, YVal};
use crate::topo::conditions::{spec, Directed, Impairment, Step, StepAction};
use crate::topo::model::Loc;

/// One `key: text` to apply, with where it was written.
struct Op {
    key: &'static str,
    text: String,
    loc: Loc,
}

/// Keys of one conditions mapping: shared ones, and per sending end.
#[derive(Default)]
struct Ops {
    shared: Vec<Op>,
    per_end: Vec<(String, Loc, Vec<Op>)>,
}

const MAP_FORMS: &[(&str, &[&str])] = &[
    ("jitter", &["amount", "correlation", "distribution"]),
    ("loss", &["random", "p", "r", "1-h", "1-k"]),
    ("reorder", &["percent", "gap"]),
    ("rate", &["rate", "burst"]),
];

impl Reader<'_> {
    /// The text form of a condition value (a scalar, or one of the map forms).
    fn condition_text(&mut self, key: &str, v: &YNode) -> Option<String> {
        if let Some(t) = v.text(self.src) {
            return Some(t);
        }
        let allowed = MAP_FORMS.iter().find(|(k, _)| *k == key).map(|(_, a)| *a);
        let Some(allowed) = allowed else {
            return self.string(v, &format!("`{key}`"));
        };
        let f = self.fields(v, &format!("`{key}`"), allowed);
        let get = |k: &str| f.value(k).and_then(|n| n.text(self.src));
        let text = match key {
            "jitter" => {
                let parts = [get("amount"), get("correlation"), get("distribution")];
                if parts[0].is_none() {
                    self.err(
                        v.loc,
                        "`jitter` needs `amount`",
                        Some("e.g. {amount: 2ms, distribution: normal}".into()),
                    );
                    return None;
                }
                parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
            }
            "loss" => match (get("random"), get("p")) {
                (Some(r), None) => r,
                (None, Some(p)) => {
                    let mut s = format!("gemodel {p}");
                    // Later values are positional in the text form: fill in
                    // netem's defaults for the ones left out.
                    let rest = [("r", "100%"), ("1-h", "100%"), ("1-k", "0%")];
                    for (k, d) in rest {
                        s += " ";
                        s += &get(k).unwrap_or_else(|| d.to_string());
                    }
                    s
                }
                _ => {
                    self.err(
                        v.loc,
                        "`loss` as a mapping needs either `random` or Gilbert-Elliott's `p`",
                        Some("e.g. {p: 1%, r: 30%, 1-h: 100%, 1-k: 0%}".into()),
                    );
                    return None;
                }
            },
            "reorder" => {
                let p = get("percent").unwrap_or_default();
                match get("gap") {
                    Some(g) => format!("{p} gap {g}"),
                    None => p,
                }
            }
            _ => {
                let r = get("rate").unwrap_or_default();
                match get("burst") {
                    Some(b) => format!("{r} burst {b}"),
                    None => r,
                }
            }
        };
        Some(text)
    }

    /// Reads a conditions mapping. `ends` are the link's endpoint ids (empty
    /// under `defaults`); `extra` are keys allowed beside the conditions
    /// (a schedule step's `at`, `up`, `down`), returned as found.
    fn condition_ops<'n>(
        &mut self,
        n: &'n YNode,
        what: &str,
        ends: &[String],
        extra: &[&'static str],
    ) -> (Ops, Vec<(&'static str, &'n YNode)>) {
        let mut ops = Ops::default();
        let mut found = Vec::new();
        for (key, k, v) in self.entries(n, what) {
            if let Some(x) = extra.iter().find(|x| **x == key) {
                found.push((*x, v));
                continue;
            }
            if key.contains(':') {
                if !ends.contains(&key) {
                    let hint = if ends.is_empty() {
                        "per-direction conditions go on a link, not under `defaults`".to_string()
                    } else {
                        format!("an endpoint of this link: `{}` or `{}`", ends[0], ends[1])
                    };
                    self.err(
                        k.loc,
                        format!("`{key}` in {what} is not an end of this link"),
                        Some(hint),
                    );
                    continue;
                }
                let inner = self.plain_ops(v, &format!("`{key}` in {what}"));
                ops.per_end.push((key, k.loc, inner));
                continue;
            }
            match spec::KEYS.iter().find(|x| **x == key) {
                Some(known) => {
                    if let Some(text) = self.condition_text(known, v) {
                        ops.shared.push(Op {
                            key: known,
                            text,
                            loc: v.loc,
                        });
                    }
                }
                None => {
                    let all: Vec<&str> = spec::KEYS.iter().chain(extra).copied().collect();
                    let list = all
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let guess = crate::topo::suggest::closest(&key, all.iter().copied())
                        .map(|g| format!("did you mean `{g}`?"))
                        .or_else(|| Some("a per-direction entry is keyed by the sending end, e.g. `\"h1:eth0\": {rate: 1mbit}`".into()));
                    self.err(
                        k.loc,
                        format!(
                            "unknown key `{key}` in {what}; allowed here: {list}, or an endpoint"
                        ),
                        guess,
                    );
                }
            }
        }
        (ops, found)
    }

    /// Conditions of one direction (no endpoints inside).
    fn plain_ops(&mut self, n: &YNode, what: &str) -> Vec<Op> {
        let f = self.fields(n, what, spec::KEYS);
        let mut out = Vec::new();
        for key in spec::KEYS {
            if let Some(v) = f.value(key) {
                if let Some(text) = self.condition_text(key, v) {
                    out.push(Op {
                        key,
                        text,
                        loc: v.loc,
                    });
                }
            }
        }
        out
    }

    /// Applies `ops` to `imp`; `report` is false for the second direction
    /// of shared keys, so a mistake is reported once, not once per direction.
    fn apply_ops(&mut self, imp: &mut Impairment, ops: &[Op], report: bool) {
        // Key order, not file order: a preset first, a burst after its rate.
        for key in spec::KEYS {
            for op in ops.iter().filter(|o| o.key == *key) {
                if let Err(e) = spec::set(imp, op.key, &op.text) {
                    if report {
                        self.err(op.loc, e.msg, e.hint);
                    }
                }
            }
        }
    }

    fn resolve(&mut self, base: &Directed, ops: &Ops, ends: &[String], at: Loc) -> Directed {
        let mut d = base.clone();
        self.apply_ops(&mut d.a_to_b, &ops.shared, true);
        self.apply_ops(&mut d.b_to_a, &ops.shared, false);
        for (end, _, inner) in &ops.per_end {
            if ends.first() == Some(end) {
                self.apply_ops(&mut d.a_to_b, inner, true);
            } else {
                self.apply_ops(&mut d.b_to_a, inner, true);
            }
        }
        let mut said: Option<String> = None;
        for (imp, dir) in [(&d.a_to_b, 0usize), (&d.b_to_a, 1)] {
            if let Err(e) = spec::check(imp) {
                // The same problem both ways is one problem.
                if said.as_deref() == Some(e.msg.as_str()) {
                    continue;
                }
                said = Some(e.msg.clone());
                let msg = match ends.get(dir) {
                    Some(end) if d.a_to_b != d.b_to_a => {
                        format!("{} (packets sent by `{end}`)", e.msg)
                    }
                    _ => e.msg,
                };
                self.err(at, msg, e.hint);
            }
        }
        d
    }

    /// `defaults: conditions:`: the same conditions both ways on every link.
    pub fn default_conditions(&mut self, n: &YNode) -> Directed {
        let (ops, _) = self.condition_ops(n, "`defaults.conditions`", &[], &[]);
        self.resolve(&Directed::default(), &ops, &[], n.loc)
    }

    /// A link's `conditions:` on top of `base` (the defaults).
    pub fn link_conditions(&mut self, n: &YNode, base: &Directed, ends: &[String]) -> Directed {
        let (ops, _) = self.condition_ops(n, "`conditions`", ends, &[]);
        self.resolve(base, &ops, ends, n.loc)
    }

    /// A link's `schedule:`: each step resolved against the link's own
    /// conditions, in time order.
    pub fn schedule(&mut self, n: &YNode, base: &Directed, ends: &[String]) -> Vec<Step> {
        let mut steps: Vec<Step> = Vec::new();
        let mut last: Option<(std::time::Duration, String)> = None;
        for s in self.list(n, "`schedule`", false) {
            if !matches!(s.val, YVal::Map(_)) {
                self.err(
                    s.loc,
                    format!(
                        "a schedule step should be a mapping, found {}",
                        s.describe()
                    ),
                    Some("e.g. {at: 10s, loss: 30%} or {at: 20s, down: true}".into()),
                );
                continue;
            }
            let (ops, found) =
                self.condition_ops(s, "a schedule step", ends, &["at", "up", "down"]);
            let get = |k: &str| found.iter().find(|(x, _)| *x == k).map(|(_, v)| *v);
            let Some(at_node) = get("at") else {
                self.err(
                    s.loc,
                    "a schedule step needs `at`",
                    Some("e.g. `at: 10s` (from the start of the lab)".into()),
                );
                continue;
            };
            let Some(at_text) = self.string(at_node, "`at`") else {
                continue;
            };
            let at = match crate::topo::conditions::units::time("`at`", &at_text) {
                Ok(t) => t,
                Err(e) => {
                    self.err(at_node.loc, e.msg, e.hint);
                    continue;
                }
            };
            if let Some((prev, prev_text)) = &last {
                if at <= *prev {
                    self.err(
                        at_node.loc,
                        format!("schedule steps must be in time order: `at: {at_text}` comes after `at: {prev_text}`"),
                        Some("sort the steps by `at`; two steps at the same time are one step".into()),
                    );
                }
            }
            last = Some((at, at_text));
            let up = get("up").and_then(|v| self.bool(v, "`up`"));
            let down = get("down").and_then(|v| self.bool(v, "`down`"));
            let has_conditions = !ops.shared.is_empty() || !ops.per_end.is_empty();
            let state = match (up, down) {
                (Some(u), None) => Some(u),
                (None, Some(d)) => Some(!d),
                (None, None) => None,
                (Some(_), Some(_)) => {
                    self.err(
                        s.loc,
                        "a schedule step has both `up` and `down`",
                        Some("keep one".into()),
                    );
                    continue;
                }
            };
            let action = match (state, has_conditions) {
                (Some(_), true) => {
                    self.err(
                        s.loc,
                        "a schedule step either changes conditions or brings the link up/down, not both",
                        Some("split it into two steps a moment apart".into()),
                    );
                    continue;
                }
                (Some(true), false) => StepAction::Up,
                (Some(false), false) => StepAction::Down,
                (None, false) => {
                    self.err(
                        s.loc,
                        "this schedule step changes nothing",
                        Some("add a condition (`loss: 30%`) or `down: true`".into()),
                    );
                    continue;
                }
                (None, true) => StepAction::Set(Box::new(self.resolve(base, &ops, ends, s.loc))),
            };
            steps.push(Step { at, action });
        }
        steps
    }
}
