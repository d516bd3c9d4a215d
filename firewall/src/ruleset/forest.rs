//! Several cutting trees per family, each over the rules of one wildcard
//! pattern (in the spirit of EffiCuts).
//!
//! One tree cannot separate rules that are wildcards in different fields:
//! `deny udp from any to any 2000` beside `deny ip from 100.64.0.0/16 to any`.
//! A cut on the source replicates every port rule into every child, a cut on
//! the port every prefix rule, so the builder stops with all of them in one
//! leaf and every packet scans them all. Here the rules are first grouped by
//! which of the four wide fields (source, destination, source port,
//! destination port) they are narrow in; groups that share a narrow field
//! share a tree (cut on what they have in common), the others get a tree of
//! their own, at most [`MAX_TREES`]. A packet walks every tree of its family
//! and gets one candidate list per tree; the evaluation merges them in rule
//! order ([`Cursor`]), so the walk sees exactly the candidates in ascending
//! rule index, as with one tree.
//!
//! The default rule (the last) is in no tree: it is every walk's last
//! candidate, supplied by the merge when the lists run out.

use super::region::{widths, Quick4, Region, D_DPORT, D_DST, D_SPORT, D_SRC};
use super::tree::{Key, Leaf, Link, Tree};
use crate::packet::Family;

/// Most trees per family: each costs every packet a walk.
pub(crate) const MAX_TREES: usize = 4;

/// The leaf reached in each tree of a family (the first `trees().len()`).
pub(crate) type Links = [Link; MAX_TREES];

/// Rule sets this small are one tree (one short leaf is cheaper than
/// several walks).
const ONE_TREE_RULES: usize = 8;

/// A field is narrow for a rule when its interval covers at most 1 / 2^this
/// of the field's range: the cuts of a tree on that field separate it.
const NARROW_SHIFT: u32 = 2;

/// The fields a grouping looks at (the protocol has too few values to
/// separate many rules).
const WIDE_FIELDS: [usize; 4] = [D_SRC, D_DST, D_SPORT, D_DPORT];

/// The trees of one family, held inline (the rule set holds the forests):
/// a packet's walk starts one load closer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Forest {
    trees: [Tree; MAX_TREES],
    n: usize,
}

/// Bit `k` set: the rule is narrow in `WIDE_FIELDS[k]`.
fn narrow_fields(r: &Region, f: Family) -> u8 {
    let Some(b) = &r.bounds else { return 0 };
    let w = widths(f);
    let mut m = 0u8;
    for (k, &d) in WIDE_FIELDS.iter().enumerate() {
        let full = if w[d] >= 128 {
            u128::MAX
        } else {
            (1u128 << w[d]) - 1
        };
        if b[d].1 - b[d].0 <= full >> NARROW_SHIFT {
            m |= 1 << k;
        }
    }
    m
}

/// Splits `rules` (ascending indexes) into at most [`MAX_TREES`] ascending
/// lists, by the fields the rules are narrow in.
fn partition(rules: Vec<u32>, regions: &[Region], f: Family) -> Vec<Vec<u32>> {
    if rules.len() <= ONE_TREE_RULES {
        return vec![rules];
    }
    let mut groups: Vec<(u8, Vec<u32>)> = (0..16u8).map(|m| (m, Vec::new())).collect();
    for r in rules {
        groups[narrow_fields(&regions[r as usize], f) as usize]
            .1
            .push(r);
    }
    groups.retain(|g| !g.1.is_empty());
    // Big groups choose first: they shape the trees.
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    // (narrow fields all its rules share, rules)
    let mut parts: Vec<(u8, Vec<u32>)> = Vec::new();
    for (m, rs) in groups {
        let shared = parts
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| c & m != 0)
            .max_by_key(|(_, (c, r))| ((c & m).count_ones(), r.len()))
            .map(|(k, _)| k);
        let k = match shared {
            Some(k) => k,
            None if parts.len() < MAX_TREES => {
                parts.push((m, Vec::new()));
                parts.len() - 1
            }
            // No tree left: with the wildcard rules if there is such a tree
            // (the new rules are one more thing it cannot cut), else with
            // the smallest.
            None => parts.iter().position(|(c, _)| *c == 0).unwrap_or_else(|| {
                (0..parts.len())
                    .min_by_key(|&k| parts[k].1.len())
                    .expect("MAX_TREES > 0")
            }),
        };
        parts[k].0 &= m;
        parts[k].1.extend(rs);
    }
    parts
        .into_iter()
        .map(|(_, mut rs)| {
            rs.sort_unstable();
            rs
        })
        .collect()
}

impl Forest {
    /// The trees over the rules of `regions` but the last (the default
    /// rule) whose region for `f` is not empty. `quick`: the rules' packed
    /// IPv4 regions (empty for IPv6).
    pub fn build(regions: &[Region], quick: &[Quick4], f: Family) -> Forest {
        let n = regions.len().saturating_sub(1) as u32;
        let rules: Vec<u32> = (0..n)
            .filter(|&i| regions[i as usize].bounds.is_some())
            .collect();
        if rules.is_empty() {
            return Forest::default();
        }
        let mut forest = Forest::default();
        for (t, rs) in partition(rules, regions, f).into_iter().enumerate() {
            forest.trees[t] = Tree::build(rs, regions, quick, f);
            forest.n = t + 1;
        }
        forest
    }

    #[inline]
    pub fn trees(&self) -> &[Tree] {
        &self.trees[..self.n]
    }

    /// The leaf a packet's fields reach in each tree.
    #[inline]
    pub fn leaves<const N: usize>(&self, k: &[u64; N]) -> Links {
        let mut links = [Link::default(); MAX_TREES];
        for (l, tree) in links.iter_mut().zip(self.trees()) {
            *l = tree.leaf_link(k);
        }
        links
    }

    /// Every tree's candidates for a packet's fields.
    pub fn candidates(&self, k: &Key) -> Cands<'_> {
        self.cands_of(&self.leaves(k))
    }

    /// The candidates of the leaves reached in each tree (see
    /// `RuleSet::leaves`).
    #[inline]
    pub fn cands_of(&self, links: &[Link; MAX_TREES]) -> Cands<'_> {
        let mut c = Cands::EMPTY;
        for (t, tree) in self.trees().iter().enumerate() {
            c.parts[t] = tree.leaf(links[t]);
        }
        c.n = self.n;
        c
    }

    pub fn memory_bytes(&self) -> usize {
        self.trees().iter().map(Tree::memory_bytes).sum()
    }

    /// (nodes, leaf entries) over all trees.
    pub fn size(&self) -> (usize, usize) {
        self.trees()
            .iter()
            .map(Tree::size)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

/// A packet's candidates: one ascending list per tree (the default rule in
/// none of them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cands<'a> {
    pub parts: [Leaf<'a>; MAX_TREES],
    pub n: usize,
}

impl<'a> Cands<'a> {
    pub const EMPTY: Cands<'static> = Cands {
        parts: [Leaf::EMPTY; MAX_TREES],
        n: 0,
    };

    /// One list holding every candidate (the linear evaluator's).
    pub fn one(rules: &'a [u32]) -> Self {
        let mut c = Cands::EMPTY;
        c.parts[0] = Leaf { rules, quick: &[] };
        c.n = 1;
        c
    }

    pub fn parts(&self) -> &[Leaf<'a>] {
        &self.parts[..self.n]
    }
}

/// No list: the candidate is the default rule.
pub(crate) const DEFAULT: usize = usize::MAX;

/// The merge of a packet's candidate lists in rule order: the walk's
/// position in each list.
///
/// It borrows the candidate lists: taken by value, the ~140-byte `Cands` was
/// copied into the walk and again into the cursor (two `memcpy` calls a pass,
/// ~30 instructions of each firewall pass in the router).
pub(crate) struct Cursor<'c, 'a> {
    c: &'c Cands<'a>,
    at: [usize; MAX_TREES],
    /// The default rule's index: the candidate when every list is done.
    last: usize,
}

impl<'c, 'a> Cursor<'c, 'a> {
    pub fn new(c: &'c Cands<'a>, last: usize) -> Self {
        Cursor {
            c,
            at: [0; MAX_TREES],
            last,
        }
    }

    /// The first candidate at or after rule index `pos`, taken: (rule
    /// index, list, position in the list), list [`DEFAULT`] for the default
    /// rule. Steps forward in each list (the walk only goes forward but for
    /// `return` and state hits, which [`Self::seek`]).
    #[inline]
    pub fn next(&mut self, pos: usize) -> (usize, usize, usize) {
        let mut best = (self.last, DEFAULT, 0);
        for t in 0..self.c.n {
            let l = self.c.parts[t].rules;
            let mut a = self.at[t];
            while a < l.len() && (l[a] as usize) < pos {
                a += 1;
            }
            self.at[t] = a;
            if a < l.len() && (l[a] as usize) < best.0 {
                best = (l[a] as usize, t, a);
            }
        }
        if best.1 != DEFAULT {
            self.at[best.1] += 1;
        }
        best
    }

    /// Places every list at the first candidate at or after `pos` (a jump
    /// backwards).
    pub fn seek(&mut self, pos: usize) {
        for t in 0..self.c.n {
            self.at[t] = self.c.parts[t]
                .rules
                .partition_point(|&c| (c as usize) < pos);
        }
    }

    /// The packed region of a candidate [`Self::next`] gave (not the
    /// default rule's).
    #[inline]
    pub fn quick(&self, list: usize, k: usize) -> &'a Quick4 {
        &self.c.parts[list].quick[k]
    }
}
