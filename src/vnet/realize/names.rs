//! Lab node and interface names from resource UUIDs (`docs/vnet.md`):
//! the first hex digits of the id, more when two ids share them.

use std::collections::{BTreeSet, HashMap};

/// Short, unique forms of a set of ids: the shortest prefix of each id's
/// hex digits (dashes dropped, lowercased) of at least `min` digits that
/// no other id of the set shares.
#[derive(Debug, Clone, Default)]
pub struct ShortIds {
    short: HashMap<String, String>,
}

impl ShortIds {
    /// Names every id of `ids` with at least `min` digits.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>, min: usize) -> Self {
        let all: BTreeSet<String> = ids.into_iter().map(hex).collect();
        let v: Vec<&String> = all.iter().collect();
        let mut short = HashMap::new();
        for (i, id) in v.iter().enumerate() {
            // In sorted order the longest shared prefix is with a neighbour.
            let shared = |o: Option<&&String>| o.map_or(0, |o| common(id, o));
            let need =
                shared(i.checked_sub(1).and_then(|j| v.get(j))).max(shared(v.get(i + 1))) + 1;
            let n = need.max(min).min(id.len());
            short.insert((*id).clone(), id[..n].to_string());
        }
        ShortIds { short }
    }

    /// The short form of `id` (its digits, as given, when unknown).
    pub fn of(&self, id: &str) -> String {
        let h = hex(id);
        self.short.get(&h).cloned().unwrap_or(h)
    }
}

fn hex(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn common(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_get_eight_digits_and_more_only_when_they_share_them() {
        let ids = [
            "3f2a9c1e-0000-4000-8000-000000000001",
            "3f2a9c1e-7700-4000-8000-000000000002",
            "aa000000-0000-4000-8000-000000000003",
        ];
        let s = ShortIds::new(ids, 8);
        assert_eq!(s.of(ids[0]), "3f2a9c1e0");
        assert_eq!(s.of(ids[1]), "3f2a9c1e7");
        assert_eq!(s.of(ids[2]), "aa000000");
        assert_eq!(s.of("AA000000-0000-4000-8000-000000000003"), "aa000000");
    }
}
