//! Tab completion: commands and node names first, then node names,
//! interface names and `up`/`down` in the arguments.

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

pub struct Complete {
    /// Console commands followed by node names.
    pub first: Vec<String>,
    /// Node names and interface names.
    pub words: Vec<String>,
}

impl Complete {
    /// Candidates for the word at `pos` of `line`: (start, candidates).
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let head = &line[..pos];
        // Words also break at `/` and `:` so `/sys/class/net/h1-<Tab>` and
        // `user@h2:<Tab>` complete too.
        let start = head
            .rfind(|c: char| c.is_whitespace() || "/:=,@".contains(c))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &head[start..];
        let first_word = !head[..start].contains(|c: char| !c.is_whitespace());
        let pool: Vec<&String> = if first_word {
            self.first.iter().collect()
        } else {
            self.words.iter().collect()
        };
        let mut out: Vec<String> = pool
            .into_iter()
            .filter(|c| c.starts_with(word))
            .cloned()
            .collect();
        if !first_word && head.trim_start().starts_with("link ") {
            out.extend(
                ["up", "down"]
                    .iter()
                    .filter(|s| s.starts_with(word))
                    .map(|s| s.to_string()),
            );
        }
        out.sort_by(|a, b| crate::topo::natural_cmp(a, b));
        out.dedup();
        (start, out)
    }
}

impl Completer for Complete {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, c) = self.candidates(line, pos);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for Complete {
    type Hint = String;
}
impl Highlighter for Complete {}
impl Validator for Complete {}
impl Helper for Complete {}

#[cfg(test)]
mod tests {
    use super::*;

    fn c() -> Complete {
        Complete {
            first: ["help", "pingall", "pingpair", "h1", "h2", "s1"]
                .map(String::from)
                .to_vec(),
            words: ["h1", "h2", "s1", "h1-eth0", "s1-eth1"]
                .map(String::from)
                .to_vec(),
        }
    }

    #[test]
    fn completes_commands_nodes_and_interfaces() {
        assert_eq!(
            c().candidates("pi", 2),
            (0, vec!["pingall".into(), "pingpair".into()])
        );
        assert_eq!(
            c().candidates("h1 ping h", 9).1,
            vec!["h1", "h1-eth0", "h2"]
        );
        assert_eq!(
            c().candidates("h1 ip link show s1-", 19),
            (16, vec!["s1-eth1".into()])
        );
        assert_eq!(c().candidates("link s1 h1 d", 12).1, vec!["down"]);
        let l = "h1 cat /sys/class/net/s1-e";
        assert_eq!(c().candidates(l, l.len()), (22, vec!["s1-eth1".into()]));
    }
}
