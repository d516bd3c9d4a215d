//! The compiled classifier: a cutting decision tree (in the spirit of HiCuts).
//!
//! Each inner node cuts its box of header space into 2^b equal slices along
//! one field (the next b bits of the source or destination address, a port,
//! or the protocol); each leaf holds the indexes, in rule order, of the rules
//! whose region ([`super::region`]) overlaps the leaf's box. A packet walks
//! from the root by shifting and masking its fields (a few steps) and gets a
//! short candidate list; the rule-order walk then only asks those rules.
//!
//! Correctness does not depend on the heuristics: a rule that can match a
//! packet has a region containing the packet's fields, so it is in the
//! packet's leaf. The heuristics (which field, how many cuts) only decide how
//! short leaves are and how much memory the tree takes; a global budget on
//! leaf entries bounds the memory whatever the rules.

use std::collections::HashMap;

use super::region::{widths, Region, DIMS};
use crate::packet::Family;

/// A leaf may hold this many rules without being cut further.
const LEAF_RULES: usize = 4;
/// Most cuts of one node: 2^MAX_BITS children (and at most 16 per rule of the
/// node, so that a small rule set gets a small tree: a big set of prefix
/// rules gets a wide, shallow one, few dependent loads per packet).
const MAX_BITS: u32 = 16;
const SLICES_PER_RULE: usize = 16;
/// A cut may replicate rules up to this factor (plus one entry per child).
const SPACE_FACTOR: usize = 4;
const MAX_DEPTH: u32 = 24;

#[derive(Debug, Clone, Copy)]
enum Node {
    Cut {
        dim: u8,
        shift: u8,
        bits: u8,
        first_child: u32,
    },
    Leaf {
        start: u32,
        len: u32,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    children: Vec<u32>,
    lists: Vec<u32>,
}

struct Builder<'a> {
    regions: &'a [Region],
    tree: Tree,
    leaves: HashMap<Vec<u32>, u32>,
    /// Leaf entries still allowed; at zero every node becomes a leaf.
    budget: usize,
}

/// The part of a node's box along one field: `base` with `rem` free low bits.
#[derive(Clone, Copy)]
struct Span {
    base: u128,
    rem: u32,
}

impl Span {
    fn hi(&self) -> u128 {
        if self.rem >= 128 {
            u128::MAX
        } else {
            self.base | ((1u128 << self.rem) - 1)
        }
    }
}

impl Builder<'_> {
    /// Children `rule` covers when cutting `span` at `shift`.
    fn covered(&self, rule: u32, d: usize, span: Span, shift: u32) -> (usize, usize) {
        let (lo, hi) = self.regions[rule as usize]
            .bounds
            .expect("only possible rules are placed")[d];
        let lo = lo.max(span.base);
        let hi = hi.min(span.hi());
        (
            ((lo - span.base) >> shift) as usize,
            ((hi - span.base) >> shift) as usize,
        )
    }

    fn leaf(&mut self, rules: Vec<u32>) -> u32 {
        if let Some(&n) = self.leaves.get(&rules) {
            return n;
        }
        let n = self.tree.nodes.len() as u32;
        self.tree.nodes.push(Node::Leaf {
            start: self.tree.lists.len() as u32,
            len: rules.len() as u32,
        });
        self.budget = self.budget.saturating_sub(rules.len());
        self.tree.lists.extend_from_slice(&rules);
        self.leaves.insert(rules, n);
        n
    }

    fn build(&mut self, rules: Vec<u32>, spans: [Span; DIMS], depth: u32) -> u32 {
        let n = rules.len();
        if n <= LEAF_RULES || depth >= MAX_DEPTH || self.budget < n * SPACE_FACTOR {
            return self.leaf(rules);
        }
        // Pick the cut with the smallest largest child (then least replication).
        let mut best: Option<(usize, usize, usize, u32)> = None; // (max child, total, dim, bits)
        for (d, span) in spans.iter().enumerate() {
            let rem = span.rem;
            let mut dim_best = None;
            for b in 1..=rem.min(MAX_BITS) {
                let shift = rem - b;
                let slices = 1usize << b;
                if slices > (SLICES_PER_RULE * n).max(16) {
                    break;
                }
                let mut diff = vec![0i64; slices + 1];
                let mut total = 0usize;
                for &r in &rules {
                    let (c0, c1) = self.covered(r, d, *span, shift);
                    diff[c0] += 1;
                    diff[c1 + 1] -= 1;
                    total += c1 - c0 + 1;
                }
                if total > SPACE_FACTOR * n + slices {
                    break;
                }
                let mut run = 0i64;
                let mut max = 0i64;
                for v in &diff[..slices] {
                    run += v;
                    max = max.max(run);
                }
                dim_best = Some((max as usize, total, d, b));
            }
            if let Some(c) = dim_best {
                if best.is_none_or(|x| (c.0, c.1) < (x.0, x.1)) {
                    best = Some(c);
                }
            }
        }
        let Some((max, _, d, b)) = best else {
            return self.leaf(rules);
        };
        if max >= n {
            return self.leaf(rules);
        }
        let shift = spans[d].rem - b;
        let slices = 1usize << b;
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); slices];
        for &r in &rules {
            let (c0, c1) = self.covered(r, d, spans[d], shift);
            for l in &mut lists[c0..=c1] {
                l.push(r);
            }
        }
        drop(rules);
        let me = self.tree.nodes.len();
        let first_child = self.tree.children.len() as u32;
        self.tree.nodes.push(Node::Cut {
            dim: d as u8,
            shift: shift as u8,
            bits: b as u8,
            first_child,
        });
        self.tree
            .children
            .resize(self.tree.children.len() + slices, 0);
        for (c, list) in lists.into_iter().enumerate() {
            let mut sp = spans;
            sp[d] = Span {
                base: spans[d].base | (c as u128) << shift,
                rem: shift,
            };
            let child = self.build(list, sp, depth + 1);
            self.tree.children[first_child as usize + c] = child;
        }
        me as u32
    }
}

impl Tree {
    /// Builds the tree over the rules whose region for `f` is not empty.
    pub fn build(regions: &[Region], f: Family) -> Tree {
        let rules: Vec<u32> = (0..regions.len() as u32)
            .filter(|&i| regions[i as usize].bounds.is_some())
            .collect();
        let w = widths(f);
        let spans = w.map(|rem| Span { base: 0, rem });
        let budget = (rules.len() * 64).max(1 << 20);
        let mut b = Builder {
            regions,
            tree: Tree::default(),
            leaves: HashMap::new(),
            budget,
        };
        let root = b.build(rules, spans, 0);
        // The first node pushed is the root, where the walk starts.
        debug_assert_eq!(root, 0);
        b.tree
    }

    /// The candidate rules (indexes, ascending) for a packet's fields.
    #[inline]
    pub fn candidates(&self, k: &[u128; DIMS]) -> &[u32] {
        let mut n = 0usize;
        loop {
            match self.nodes[n] {
                Node::Cut {
                    dim,
                    shift,
                    bits,
                    first_child,
                } => {
                    let c = (k[dim as usize] >> shift) as usize & ((1usize << bits) - 1);
                    n = self.children[first_child as usize + c] as usize;
                }
                Node::Leaf { start, len } => {
                    return &self.lists[start as usize..(start + len) as usize]
                }
            }
        }
    }

    /// One step of the walk from node `n`: the child the packet goes to, or
    /// the leaf's candidates. Lets a burst walk level by level (see
    /// `RuleSet::leaves`), so that the packets' loads overlap.
    #[inline]
    pub fn step(&self, n: u32, k: &[u128; DIMS]) -> Result<u32, &[u32]> {
        match self.nodes[n as usize] {
            Node::Cut {
                dim,
                shift,
                bits,
                first_child,
            } => {
                let c = (k[dim as usize] >> shift) as usize & ((1usize << bits) - 1);
                Ok(self.children[first_child as usize + c])
            }
            Node::Leaf { start, len } => Err(&self.lists[start as usize..(start + len) as usize]),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Node>()
            + self.children.len() * 4
            + self.lists.len() * 4
    }

    /// (nodes, leaf entries) for reports.
    pub fn size(&self) -> (usize, usize) {
        (self.nodes.len(), self.lists.len())
    }
}
