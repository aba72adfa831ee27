//! "Did you mean …?" for misspelled keys, kinds and node names.

/// The candidate closest to `word`, when it is close enough to be an obvious
/// typo. Ties go to the earlier candidate so the answer is stable.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    closest_with(word, candidates, true)
}

/// Like [`closest`], but also for short words where one edit is a big
/// change (`s2` → `s1`): for names, where the user is asked to check rather
/// than told what they meant.
pub fn closest_name<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    closest_with(word, candidates, false)
}

fn closest_with<'a, I>(word: &str, candidates: I, strict: bool) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word_len = word.chars().count();
    // A third of the word may be wrong, at least one and at most three edits:
    // `endpoint` → `endpoints`, `gatway` → `gateway`, but not `ip` → `up`.
    let limit = (word_len / 3).clamp(1, 3);
    // Rank by distance, then by a longer shared start (`s2` is closer to
    // `s1` than to `h2`), then by order.
    let mut best: Option<(usize, usize, &str)> = None;
    for cand in candidates {
        if cand == word {
            continue;
        }
        if cand.eq_ignore_ascii_case(word) {
            return Some(cand);
        }
        let d = distance(word, cand);
        // Short words need a proportionally closer match: `ip` is not `up`.
        let longest = word_len.max(cand.chars().count());
        if d > limit || (strict && d * 3 > longest) {
            continue;
        }
        let shared = word
            .chars()
            .zip(cand.chars())
            .take_while(|(a, b)| a == b)
            .count();
        if best
            .is_none_or(|(bd, bs, _)| (d, std::cmp::Reverse(shared)) < (bd, std::cmp::Reverse(bs)))
        {
            best = Some((d, shared, cand));
        }
    }
    best.map(|(_, _, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus swapping two
/// neighbours, the commonest typo (`swtich`).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Keys and names are short; a full table is cheaper than cleverness.
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (i, row) in d.chunks_mut(w).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(w).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// `did you mean `x`?` for a hint, when there is an obvious candidate.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("endpoint", "endpoints"), 1);
        assert_eq!(distance("swtich", "switch"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_obvious_typos_only() {
        let keys = ["endpoints", "mtu", "up", "conditions"];
        assert_eq!(closest("endpoint", keys), Some("endpoints"));
        assert_eq!(closest("condition", keys), Some("conditions"));
        assert_eq!(closest("mut", keys), Some("mtu"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("ip", keys), None);
        assert_eq!(closest("up", keys), None, "exact match is no suggestion");
        assert_eq!(closest("h11", ["h1", "h2", "h10"]), Some("h1"));
        assert_eq!(closest("H2", ["h1", "h2"]), Some("h2"));
        assert_eq!(closest("h3", ["h1", "h2"]), None);
        assert_eq!(closest_name("h3", ["h1", "h2"]), Some("h1"));
        assert_eq!(closest_name("web", ["h1", "h2"]), None);
        assert_eq!(closest_name("s2", ["h1", "h2", "s1"]), Some("s1"));
    }
}
