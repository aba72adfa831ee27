//! Joining interfaces across namespaces, from what each namespace's own
//! dump says (no syscalls here).
//!
//! A veth end reports its peer's index (`IFLA_LINK`) and, when the peer
//! is elsewhere, an id for the peer's namespace (`IFLA_LINK_NETNSID`) that
//! only its own namespace understands. So a cross-namespace peer is found
//! by what it looks like: while reading a namespace we ask the kernel for
//! the far link through that id (its name, MAC and own peer index), then
//! look that up among every interface of the host, keyed by (index, name).
//! A veth's peer must also point back (its peer index is ours). When the
//! far link could not be read, the mutual (index, peer index) pair alone
//! is the key. What still matches more than once (cloned names and MACs)
//! is a tie the caller breaks with `RTM_GETNSID`. Each lookup is a hash
//! probe: O(links), never one comparison per pair of namespaces.

use crate::topo::MacAddr;
use std::collections::HashMap;

/// One interface as its namespace reported it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iface {
    pub index: u32,
    pub name: String,
    pub mac: Option<MacAddr>,
    /// A veth (its peer points back at it).
    pub veth: bool,
    /// `IFLA_LINK`: the peer (veth) or lower device (macvlan, vlan, …).
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: set when `link` is in another namespace.
    pub link_nsid: Option<i32>,
    /// The far link as read through `link_nsid`, when it could be.
    pub far: Option<Far>,
}

/// The far end of a cross-namespace link, as the kernel showed it to the
/// near end's namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Far {
    pub name: String,
    pub mac: Option<MacAddr>,
}

/// (namespace, interface) positions in the input.
pub type At = (usize, usize);

/// What an interface is joined to through `IFLA_LINK`.
#[derive(Debug, Clone, PartialEq)]
pub enum Joined {
    /// Nothing (no `IFLA_LINK`, or it names the interface itself).
    Nothing,
    Found(At),
    /// Several interfaces fit: broken by asking the kernel for ids.
    Tie(Vec<At>),
    /// In a namespace that was not read (gone, or held where no scan
    /// looks), or in this one but no longer there.
    Unseen,
}

/// What every interface of every namespace is joined to, same shape as
/// the input.
pub fn pair(nss: &[Vec<Iface>]) -> Vec<Vec<Joined>> {
    let mut by_name: HashMap<(u32, &str), Vec<At>> = HashMap::new();
    let mut by_pair: HashMap<(u32, u32), Vec<At>> = HashMap::new();
    let mut by_index: Vec<HashMap<u32, usize>> = Vec::with_capacity(nss.len());
    for (n, ifaces) in nss.iter().enumerate() {
        let mut here = HashMap::with_capacity(ifaces.len());
        for (i, f) in ifaces.iter().enumerate() {
            by_name.entry((f.index, &f.name)).or_default().push((n, i));
            if let (Some(l), Some(_)) = (f.link, f.link_nsid) {
                by_pair.entry((f.index, l)).or_default().push((n, i));
            }
            here.insert(f.index, i);
        }
        by_index.push(here);
    }
    let lookup = Lookup {
        nss,
        by_name,
        by_pair,
        by_index,
    };
    nss.iter()
        .enumerate()
        .map(|(n, ifaces)| ifaces.iter().map(|f| lookup.joined(n, f)).collect())
        .collect()
}

struct Lookup<'a> {
    nss: &'a [Vec<Iface>],
    by_name: HashMap<(u32, &'a str), Vec<At>>,
    by_pair: HashMap<(u32, u32), Vec<At>>,
    by_index: Vec<HashMap<u32, usize>>,
}

impl Lookup<'_> {
    fn get(&self, at: At) -> &Iface {
        &self.nss[at.0][at.1]
    }

    fn joined(&self, n: usize, f: &Iface) -> Joined {
        let Some(link) = f
            .link
            .filter(|l| (*l != 0 && *l != f.index) || f.link_nsid.is_some())
        else {
            return Joined::Nothing;
        };
        if f.link_nsid.is_none() {
            return match self.by_index[n].get(&link) {
                Some(i) => Joined::Found((n, *i)),
                None => Joined::Unseen,
            };
        }
        let points_back = |c: &Iface| !f.veth || (c.link == Some(f.index) && c.link_nsid.is_some());
        let cands: Vec<At> = match &f.far {
            Some(far) => self
                .by_name
                .get(&(link, far.name.as_str()))
                .into_iter()
                .flatten()
                .copied()
                .filter(|at| at.0 != n)
                .filter(|at| {
                    let c = self.get(*at);
                    (far.mac.is_none() || c.mac.is_none() || c.mac == far.mac) && points_back(c)
                })
                .collect(),
            None if f.veth => self
                .by_pair
                .get(&(link, f.index))
                .into_iter()
                .flatten()
                .copied()
                .filter(|at| at.0 != n)
                .collect(),
            None => Vec::new(),
        };
        match cands.len() {
            0 => Joined::Unseen,
            1 => Joined::Found(cands[0]),
            _ => Joined::Tie(cands),
        }
    }
}

/// Breaks a tie: of the candidates, the one whose namespace the near
/// end's namespace gives the id `want` (`ids`: what `RTM_GETNSID` said
/// there for each candidate's namespace).
pub fn break_tie(cands: &[At], ids: &HashMap<usize, Option<i32>>, want: i32) -> Option<At> {
    let fit: Vec<At> = cands
        .iter()
        .copied()
        .filter(|at| ids.get(&at.0).copied().flatten() == Some(want))
        .collect();
    (fit.len() == 1).then(|| fit[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> Option<MacAddr> {
        Some(MacAddr([2, 0, 0, 0, 0, last]))
    }

    fn veth(index: u32, name: &str, m: u8, peer: u32, far: Option<(&str, u8)>) -> Iface {
        Iface {
            index,
            name: name.into(),
            mac: mac(m),
            veth: true,
            link: Some(peer),
            link_nsid: Some(0),
            far: far.map(|(n, m)| Far {
                name: n.into(),
                mac: mac(m),
            }),
        }
    }

    fn plain(index: u32, name: &str) -> Iface {
        Iface {
            index,
            name: name.into(),
            ..Iface::default()
        }
    }

    /// linear,N as nlab builds it: every host's eth0 is index 2 with peer
    /// 3, every switch's port to its host is index 3 with peer 2, so
    /// indexes alone tie N ways; names and MACs of the far ends do not.
    #[test]
    fn same_index_pairs_in_many_namespaces_are_told_apart_by_the_far_end() {
        let n = 50;
        let mut nss = Vec::new();
        for k in 0..n {
            let (h, s) = (format!("h{k}-eth0"), format!("s{k}-eth1"));
            let (hm, sm) = (2 * k as u8, 2 * k as u8 + 1);
            nss.push(vec![plain(1, "lo"), veth(2, &h, hm, 3, Some((&s, sm)))]);
            nss.push(vec![plain(1, "lo"), veth(3, &s, sm, 2, Some((&h, hm)))]);
        }
        let joined = pair(&nss);
        for k in 0..n {
            assert_eq!(joined[2 * k][1], Joined::Found((2 * k + 1, 1)));
            assert_eq!(joined[2 * k + 1][1], Joined::Found((2 * k, 1)));
            assert_eq!(joined[2 * k][0], Joined::Nothing);
        }
    }

    #[test]
    fn without_the_far_end_mutual_indexes_pair_or_tie() {
        let mut a = veth(2, "eth0", 1, 7, None);
        let b = veth(7, "veth1", 2, 2, None);
        a.far = None;
        let joined = pair(&[vec![a.clone()], vec![b.clone()]]);
        assert_eq!(joined[0][0], Joined::Found((1, 0)));
        assert_eq!(joined[1][0], Joined::Found((0, 0)));
        // A second namespace with the same pair of indexes: a tie.
        let joined = pair(&[vec![a], vec![b.clone()], vec![b]]);
        assert_eq!(joined[0][0], Joined::Tie(vec![(1, 0), (2, 0)]));
    }

    #[test]
    fn same_namespace_peers_parents_and_vanished_peers() {
        let mut p = veth(5, "a", 1, 6, None);
        p.link_nsid = None;
        let mut q = veth(6, "b", 2, 5, None);
        q.link_nsid = None;
        // A macvlan in another namespace on the root's eth0 (index 2):
        // no way back from the parent, the far end names it.
        let mut mv = plain(3, "mv0");
        mv.link = Some(2);
        mv.link_nsid = Some(0);
        mv.far = Some(Far {
            name: "eth0".into(),
            mac: mac(9),
        });
        let mut eth0 = plain(2, "eth0");
        eth0.mac = mac(9);
        let gone = veth(4, "lonely", 3, 9, Some(("elsewhere", 4)));
        let joined = pair(&[vec![p, q], vec![mv, gone], vec![eth0]]);
        assert_eq!(joined[0][0], Joined::Found((0, 1)));
        assert_eq!(joined[0][1], Joined::Found((0, 0)));
        assert_eq!(joined[1][0], Joined::Found((2, 0)));
        assert_eq!(joined[1][1], Joined::Unseen);
        assert_eq!(joined[2][0], Joined::Nothing);
    }

    #[test]
    fn a_tie_is_broken_by_the_id_the_near_namespace_gives() {
        let cands = vec![(1, 0), (2, 0), (3, 0)];
        let ids = HashMap::from([(1, Some(0)), (2, Some(4)), (3, None)]);
        assert_eq!(break_tie(&cands, &ids, 4), Some((2, 0)));
        assert_eq!(break_tie(&cands, &ids, 7), None);
    }
}
