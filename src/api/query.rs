//! Neutron's list query string: filters on any field (a repeated key is an
//! OR), `fields=`, `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse`
//! with `<collection>_links`.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use crate::vnet::ops::Fault;

/// A parsed list query.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Query {
    pub filters: Vec<(String, Vec<String>)>,
    pub fields: Vec<String>,
    pub sort: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub page_reverse: bool,
}

fn truthy(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

impl Query {
    /// Parses `raw` (without the `?`).
    pub(crate) fn parse(raw: &str) -> Result<Query, Fault> {
        let mut q = Query::default();
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            match k.as_str() {
                "fields" => q
                    .fields
                    .extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string)),
                "sort_key" => keys.push(v),
                "sort_dir" => match v.as_str() {
                    "asc" => dirs.push(true),
                    "desc" => dirs.push(false),
                    _ => {
                        return Err(Fault::bad_request(format!(
                            "{v} is an invalid attribute for sort_dir; use asc or desc"
                        )))
                    }
                },
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        Fault::bad_request(format!(
                            "Limit must be an integer 0 or greater and not '{v}'"
                        ))
                    })?;
                    if n < 0 {
                        return Err(Fault::bad_request(format!(
                            "Limit must be an integer 0 or greater and not '{v}'"
                        )));
                    }
                    q.limit = (n > 0).then_some(n as usize);
                }
                "marker" => q.marker = Some(v),
                "page_reverse" => q.page_reverse = truthy(&v).unwrap_or(false),
                _ => match q.filters.iter_mut().find(|(f, _)| *f == k) {
                    Some((_, vals)) => vals.push(v),
                    None => q.filters.push((k, vec![v])),
                },
            }
        }
        if keys.len() != dirs.len() {
            return Err(Fault::bad_request(
                "The number of sort_keys and sort_dirs must be same",
            ));
        }
        q.sort = keys.into_iter().zip(dirs).collect();
        Ok(q)
    }

    /// Whether the resource `r` passes every filter.
    pub(crate) fn matches(&self, r: &Map<String, Value>) -> bool {
        self.filters.iter().all(|(k, vals)| match r.get(k) {
            None => true,
            Some(v) => vals.iter().any(|want| value_matches(v, want)),
        })
    }

    /// Applies filters, sort, pagination and `fields` to `items`, as the
    /// body of a list answer (`{collection: [...], collection_links?}`).
    pub(crate) fn apply(
        &self,
        collection: &str,
        base: &str,
        items: Vec<Map<String, Value>>,
    ) -> Value {
        let mut items: Vec<_> = items.into_iter().filter(|r| self.matches(r)).collect();
        if !self.sort.is_empty() || self.limit.is_some() {
            let mut keys = self.sort.clone();
            keys.push(("id".into(), keys.first().is_none_or(|k| k.1)));
            items.sort_by(|a, b| {
                keys.iter()
                    .map(|(k, asc)| {
                        let o = cmp(a.get(k), b.get(k));
                        if *asc {
                            o
                        } else {
                            o.reverse()
                        }
                    })
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            });
        }
        let mut links = Vec::new();
        if let Some(limit) = self.limit {
            let at = self.marker.as_ref().and_then(|m| {
                items
                    .iter()
                    .position(|r| r.get("id").and_then(Value::as_str) == Some(m))
            });
            let page: Vec<_> = if self.page_reverse {
                let end = at.unwrap_or(items.len());
                items[end.saturating_sub(limit)..end].to_vec()
            } else {
                let start = at.map_or(0, |i| i + 1);
                items.iter().skip(start).take(limit).cloned().collect()
            };
            let more = if self.page_reverse {
                at.unwrap_or(items.len()) > limit
            } else {
                at.map_or(0, |i| i + 1) + limit < items.len()
            };
            let id = |r: Option<&Map<String, Value>>| {
                r.and_then(|r| r.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let (first, last) = (id(page.first()), id(page.last()));
            let mut link = |rel: &str, marker: Option<String>, reverse: bool| {
                if let Some(m) = marker {
                    let mut q = form_urlencoded::Serializer::new(String::new());
                    q.append_pair("limit", &limit.to_string())
                        .append_pair("marker", &m);
                    for (k, asc) in &self.sort {
                        q.append_pair("sort_key", k)
                            .append_pair("sort_dir", if *asc { "asc" } else { "desc" });
                    }
                    if reverse {
                        q.append_pair("page_reverse", "True");
                    }
                    links.push(json!({"rel": rel, "href": format!("{base}?{}", q.finish())}));
                }
            };
            let (next_more, prev_more) = if self.page_reverse {
                (self.marker.is_some(), more)
            } else {
                (more, self.marker.is_some())
            };
            if next_more && page.len() == limit || next_more && self.page_reverse {
                link("next", last, false);
            }
            if prev_more {
                link("previous", first, true);
            }
            items = page;
        }
        let items: Vec<Value> = items
            .into_iter()
            .map(|r| Value::Object(self.select(r)))
            .collect();
        let mut out = Map::new();
        out.insert(collection.to_string(), Value::Array(items));
        if !links.is_empty() {
            out.insert(format!("{collection}_links"), Value::Array(links));
        }
        Value::Object(out)
    }

    /// `r` cut down to the `fields` asked for (all when none).
    pub(crate) fn select(&self, r: Map<String, Value>) -> Map<String, Value> {
        if self.fields.is_empty() {
            return r;
        }
        r.into_iter()
            .filter(|(k, _)| self.fields.contains(k))
            .collect()
    }
}

fn value_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => truthy(want) == Some(*b),
        Value::Number(n) => n.to_string() == want,
        Value::Null => want.is_empty() || want == "None" || want == "null",
        Value::Array(a) => {
            // `fixed_ips=ip_address=10.0.0.5` / `fixed_ips=subnet_id=X`.
            if let Some((k, w)) = want.split_once('=') {
                return a
                    .iter()
                    .any(|e| e.get(k).and_then(Value::as_str) == Some(w));
            }
            a.iter().any(|e| value_matches(e, want))
        }
        Value::Object(_) => false,
    }
}

fn cmp(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Map<String, Value>> {
        (1..=5)
            .map(|i| {
                let v = json!({"id": format!("id{i}"), "name": format!("n{}", 6 - i), "shared": i % 2 == 0, "mtu": 1400 + i});
                v.as_object().cloned().unwrap_or_default()
            })
            .collect()
    }

    fn ids(v: &Value) -> Vec<String> {
        v["networks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn filters_repeated_keys_are_or() {
        let q = Query::parse("name=n1&name=n2&shared=True").expect("parse");
        assert_eq!(ids(&q.apply("networks", "/b", items())), ["id4"]);
        let q = Query::parse("name=n1&name=n2").expect("parse");
        assert_eq!(ids(&q.apply("networks", "/b", items())), ["id4", "id5"]);
    }

    #[test]
    fn fields_sort_and_pages() {
        let q = Query::parse("fields=id&fields=mtu&sort_key=name&sort_dir=asc").expect("parse");
        let v = q.apply("networks", "/b", items());
        assert_eq!(ids(&v), ["id5", "id4", "id3", "id2", "id1"]);
        assert_eq!(v["networks"][0].as_object().map(|o| o.len()), Some(2));
        let q = Query::parse("limit=2&sort_key=mtu&sort_dir=desc").expect("parse");
        let v = q.apply("networks", "/b", items());
        assert_eq!(ids(&v), ["id5", "id4"]);
        let next = v["networks_links"][0]["href"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(next.contains("marker=id4"), "{next}");
        let q = Query::parse(next.trim_start_matches("/b?")).expect("parse");
        let v = q.apply("networks", "/b", items());
        assert_eq!(ids(&v), ["id3", "id2"]);
        let rels: Vec<&str> = v["networks_links"]
            .as_array()
            .map(|a| a.iter().filter_map(|l| l["rel"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(rels, ["next", "previous"]);
        assert!(Query::parse("limit=x").is_err());
        assert!(Query::parse("sort_key=name").is_err());
    }
}
