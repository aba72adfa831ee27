//! A YAML document as a tree of nodes that each know their line and column.
//!
//! Reading into a generic tree first (instead of straight into structs) lets
//! the builder report every problem of a file at once, each at its place,
//! where serde's derive would stop at the first.

use crate::topo::model::Loc;
use crate::topo::validate::TopoError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};
use std::fmt;

#[derive(Debug, Clone)]
pub(super) struct YNode {
    /// Where the value is used (for an alias: the `*name`).
    pub loc: Loc,
    /// Byte range of the scalar's text where it is defined, to recover the
    /// spelling of plain scalars YAML turned into numbers or booleans.
    span: Option<(usize, usize)>,
    pub val: YVal,
}

#[derive(Debug, Clone)]
pub(super) enum YVal {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<YNode>),
    Map(Vec<(YNode, YNode)>),
}

impl YNode {
    /// A value made by the reader itself (containerlab's forms rewritten
    /// into nlab's), reported at `loc`, where it was written.
    pub fn made(loc: Loc, val: YVal) -> Self {
        YNode {
            loc,
            span: None,
            val,
        }
    }

    /// What it is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self.val {
            YVal::Null => "nothing",
            YVal::Bool(_) => "a boolean",
            YVal::Int(_) => "a number",
            YVal::Float(_) => "a number",
            YVal::Str(_) => "a string",
            YVal::Seq(_) => "a list",
            YVal::Map(_) => "a mapping",
        }
    }

    /// A scalar as the text the user wrote: `1.10` stays `1.10`, `on` stays
    /// `on`. `None` for lists and mappings.
    pub fn text(&self, src: &str) -> Option<String> {
        let raw = || {
            self.span
                .and_then(|(a, len)| src.get(a..a.checked_add(len)?))
                .map(str::to_string)
        };
        match &self.val {
            YVal::Str(s) => Some(s.clone()),
            YVal::Bool(b) => raw().or_else(|| Some(b.to_string())),
            YVal::Int(i) => raw().or_else(|| Some(i.to_string())),
            YVal::Float(f) => raw().or_else(|| Some(f.to_string())),
            YVal::Null => raw().or_else(|| Some(String::new())),
            YVal::Seq(_) | YVal::Map(_) => None,
        }
    }
}

pub(super) fn loc_of(l: &Location) -> Loc {
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    Loc::new(clamp(l.line()), clamp(l.column()))
}

impl<'de> Deserialize<'de> for YNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<YVal>::deserialize(d)?;
        let span = s.defined.span();
        let span = match (span.byte_offset(), span.byte_len()) {
            (Some(a), Some(n)) => usize::try_from(a).ok().zip(usize::try_from(n).ok()),
            _ => None,
        };
        Ok(YNode {
            loc: loc_of(&s.referenced),
            span,
            val: s.value,
        })
    }
}

impl<'de> Deserialize<'de> for YVal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = YVal;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<YVal, E> {
        Ok(YVal::Null)
    }
    fn visit_none<E>(self) -> Result<YVal, E> {
        Ok(YVal::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YVal, D::Error> {
        YVal::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<YVal, D::Error> {
        YVal::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<YVal, E> {
        Ok(YVal::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<YVal, E> {
        Ok(YVal::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<YVal, E> {
        Ok(YVal::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<YVal, E> {
        Ok(YVal::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<YVal, E> {
        // Beyond i128 no field of ours could use it anyway.
        Ok(YVal::Int(i128::try_from(v).unwrap_or(i128::MAX)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<YVal, E> {
        Ok(YVal::Float(v))
    }
    fn visit_char<E>(self, v: char) -> Result<YVal, E> {
        Ok(YVal::Str(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<YVal, E> {
        Ok(YVal::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<YVal, E> {
        Ok(YVal::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<YVal, E> {
        Ok(YVal::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<YVal, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<YNode>()? {
            v.push(x);
        }
        Ok(YVal::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<YVal, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = a.next_key::<YNode>()? {
            let val = a.next_value::<YNode>()?;
            v.push((k, val));
        }
        Ok(YVal::Map(v))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _a: A) -> Result<YVal, A::Error> {
        Err(de::Error::custom("tagged values are not supported here"))
    }
}

/// Parse one YAML document. Syntax errors come back with their line.
pub(super) fn read(text: &str) -> Result<YNode, TopoError> {
    let mut opts = serde_saphyr::Options::default();
    // We report duplicate keys ourselves, with both lines and in our words.
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    opts.with_snippet = false;
    serde_saphyr::from_str_with_options::<YNode>(text, opts).map_err(|e| syntax_error(&e))
}

fn syntax_error(e: &serde_saphyr::Error) -> TopoError {
    let e = e.without_snippet();
    let loc = e.location().map(|l| loc_of(&l)).unwrap_or_default();
    let mut msg = e.to_string();
    // The library appends the position; ours goes in front instead.
    for suffix in [
        format!(" at line {}, column {}", loc.line, loc.column),
        format!(" at line {} column {}", loc.line, loc.column),
    ] {
        if let Some(stripped) = msg.strip_suffix(&suffix) {
            msg = stripped.to_string();
        }
    }
    TopoError::at(loc, format!("invalid YAML: {msg}"))
}
