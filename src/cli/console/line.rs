//! Parsing console input: splitting `-c` scripts, spotting a trailing `&`,
//! and Mininet's node-name substitution. Pure functions, tested without root.

use std::collections::HashMap;
use std::net::IpAddr;

/// Splits a `-c` argument into commands at `;` and newlines outside quotes.
/// Interactive lines are not split: `h1 cd /tmp; ls` goes to the node's
/// shell whole, as in Mininet.
pub fn split_script(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', _) => {
                escaped = true;
                cur.push(c);
            }
            ('\'' | '"', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (q, Some(open)) if q == open => {
                quote = None;
                cur.push(c);
            }
            (';' | '\n', None) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// A command line with a trailing lone `&` (not `&&`) runs in the
/// background: returns the line without it and whether it was there.
pub fn strip_background(line: &str) -> (&str, bool) {
    let t = line.trim_end();
    if let Some(rest) = t.strip_suffix('&') {
        if !rest.ends_with('&') {
            return (rest.trim_end(), true);
        }
    }
    (t, false)
}

/// The first word and the rest (leading blanks of the rest removed), as
/// Python's `cmd.parseline` splits them.
pub fn first_word(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim_start()),
        None => (line, ""),
    }
}

/// Mininet's substitution: the arguments are split on single spaces and
/// every word that is exactly a node name becomes that node's address;
/// a node without an address keeps its name.
pub fn substitute(args: &str, addrs: &HashMap<String, IpAddr>) -> String {
    args.split(' ')
        .map(|w| match addrs.get(w) {
            Some(ip) => ip.to_string(),
            None => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A comment or a blank line does nothing (script files use both).
pub fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> HashMap<String, IpAddr> {
        [("h1", "10.0.0.1"), ("h2", "10.0.0.2")]
            .into_iter()
            .map(|(n, a)| (n.to_string(), a.parse().unwrap()))
            .collect()
    }

    #[test]
    fn names_become_addresses_only_as_whole_words() {
        let a = addrs();
        assert_eq!(substitute("ping -c1 h2", &a), "ping -c1 10.0.0.2");
        assert_eq!(substitute("curl h2:8000/h2", &a), "curl h2:8000/h2");
        assert_eq!(
            substitute("echo h1  h22 h2", &a),
            "echo 10.0.0.1  h22 10.0.0.2"
        );
        assert_eq!(substitute("ping s1", &a), "ping s1");
    }

    #[test]
    fn scripts_split_at_semicolons_outside_quotes() {
        assert_eq!(
            split_script("pingall; h1 ping -c1 h2\nnodes;;"),
            vec!["pingall", "h1 ping -c1 h2", "nodes"]
        );
        assert_eq!(
            split_script("h1 sh -c 'echo a; echo b'; net"),
            vec!["h1 sh -c 'echo a; echo b'", "net"]
        );
        assert_eq!(split_script(r"h1 echo a\; b"), vec![r"h1 echo a\; b"]);
    }

    #[test]
    fn trailing_ampersand_means_background() {
        assert_eq!(
            strip_background("h2 python3 -m http.server 80 &"),
            ("h2 python3 -m http.server 80", true)
        );
        assert_eq!(
            strip_background("h1 true && echo ok"),
            ("h1 true && echo ok", false)
        );
        assert_eq!(strip_background("h1 sleep 1&  "), ("h1 sleep 1", true));
        assert_eq!(strip_background("h1 a &&"), ("h1 a &&", false));
    }

    #[test]
    fn first_word_splits_like_parseline() {
        assert_eq!(first_word("  h1   ping -c1 h2 "), ("h1", "ping -c1 h2"));
        assert_eq!(first_word("net"), ("net", ""));
        assert!(is_blank("  # comment") && is_blank("") && !is_blank("net"));
    }
}
