//! Pieces of nftables' JSON rule language that several rule builders use
//! (the NAT's tables, the security groups'): plain values, no syscall.
//! The batches themselves go to the kernel through [`super::nft`].

use serde_json::{json, Value};

/// `left == right`.
pub fn eq(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

/// `left != right`.
pub fn ne(left: Value, right: Value) -> Value {
    json!({"match": {"op": "!=", "left": left, "right": right}})
}

/// `meta KEY` (`iifname`, `l4proto`, `nfproto`, …).
pub fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

/// A header field: `PROTO FIELD` (`ip saddr`, `tcp dport`, …).
pub fn field(proto: &str, f: &str) -> Value {
    json!({"payload": {"protocol": proto, "field": f}})
}

/// `ct KEY` (`state`, `status`, …).
pub fn ct(key: &str) -> Value {
    json!({"ct": {"key": key}})
}
