//! The compiled classifier: a cutting decision tree (in the spirit of HiCuts).
//!
//! Each inner node cuts its box of header space into 2^b equal slices along
//! one field (the next b bits of the source or destination address, a port,
//! or the protocol); each leaf holds the indexes, in rule order, of the rules
//! whose region ([`super::region`]) overlaps the leaf's box. A packet walks
//! from the root by shifting and masking its fields (a few steps) and gets a
//! short candidate list; the rule-order walk then only asks those rules.
//! A tree holds the rules of one wildcard pattern (see [`super::forest`]);
//! a packet walks every tree of its family.
//!
//! Correctness does not depend on the heuristics: a rule that can match a
//! packet has a region containing the packet's fields, so it is in the
//! packet's leaf. The heuristics (which field, how many cuts) only decide how
//! short leaves are and how much memory the tree takes; a global budget on
//! leaf entries bounds the memory whatever the rules.
//!
//! Layout, for the packet path: a node is an 8-byte [`Link`] held by its
//! parent (the root by the tree), so each level of the walk is one load; an
//! IPv4 leaf also holds a copy of each candidate's packed region
//! ([`Quick4`]) next to the others, so rejecting candidates reads one
//! contiguous block instead of one random line per candidate.

use std::collections::HashMap;

use super::region::{key4, widths, word4, Key4, Quick4, Region, DIMS};
use crate::packet::{Family, PacketMeta};
use crate::prefetch::prefetch;

/// Entries after the last IPv4 leaf (see `Tree::first_holding`).
const PAD: usize = 1;

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

/// The packet's classified fields as 64-bit words, as the cuts read them.
/// IPv6: an address is two words (high, low), then the source port, the
/// destination port and the protocol. IPv4: the [`Key4`] layout (source,
/// destination, ports and protocol in one word), so that the burst path
/// builds one key per packet for the walk and the leaf tests alike.
pub(crate) type Key = [u64; WORDS];
const WORDS: usize = 8;

#[inline]
pub(crate) fn key(p: &PacketMeta) -> Key {
    match p.family {
        Family::V4 => {
            let k = key4(p);
            [k[0], k[1], k[2], k[3], 0, 0, 0, 0]
        }
        Family::V6 => [
            (p.src >> 64) as u64,
            p.src as u64,
            (p.dst >> 64) as u64,
            p.dst as u64,
            p.sport as u64,
            p.dport as u64,
            p.proto as u64,
            0,
        ],
    }
}

/// The word and shift a cut of field `d` at bit `shift` (of the field)
/// reads, for family `f` (see [`Key`]). An IPv6 cut reads one word: above
/// bit 64 of an address it stays above it.
fn cut_word(f: Family, d: usize, shift: u32) -> (usize, u32) {
    match f {
        Family::V4 => {
            let (w, at) = word4(d);
            (w, shift + at)
        }
        Family::V6 => {
            let low = match d {
                0 => 1,
                1 => 3,
                _ => d + 2,
            };
            if shift >= 64 {
                (low - 1, shift - 64)
            } else {
                (low, shift)
            }
        }
    }
}

const LEAF: u32 = 1 << 31;

/// A node as its parent holds it. Cut: `a` = first child (in `children`),
/// `b` = word | shift << 3 | mask << 9, the mask of the child's index
/// (2^bits - 1, at most [`MAX_BITS`] bits: below LEAF) kept rather than its
/// width, so that a step of the walk decodes it with one shift (a width
/// cost a shift, a shift by it and a complement more, on every level of
/// every packet). Leaf: `a` = start (in `lists`), `b` = LEAF | length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Link {
    a: u32,
    b: u32,
}

impl Link {
    #[inline]
    pub fn is_leaf(self) -> bool {
        self.b & LEAF != 0
    }

    fn cut(word: usize, shift: u32, bits: u32, first_child: u32) -> Self {
        debug_assert!(word < WORDS && shift < 64 && (1..=MAX_BITS).contains(&bits));
        Link {
            a: first_child,
            b: word as u32 | shift << 3 | ((1 << bits) - 1) << 9,
        }
    }

    fn leaf(start: u32, len: u32) -> Self {
        Link {
            a: start,
            b: LEAF | len,
        }
    }
}

/// A tree's root as [`Tree::leaf_link4`] reads it: the link, and for a
/// cut its key word, shift and mask, decoded.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Root {
    link: Link,
    word: usize,
    shift: u32,
    mask: usize,
}

/// A leaf's candidates: rule indexes in rule order and, for IPv4, each one's
/// packed region at the same position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leaf<'a> {
    pub rules: &'a [u32],
    pub quick: &'a [Quick4],
}

impl Leaf<'_> {
    pub const EMPTY: Leaf<'static> = Leaf {
        rules: &[],
        quick: &[],
    };
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    root: Link,
    children: Vec<Link>,
    lists: Vec<u32>,
    /// Parallel to `lists` for an IPv4 tree; empty for IPv6.
    quick: Vec<Quick4>,
    cuts: usize,
    leaves: usize,
}

struct Builder<'a> {
    family: Family,
    regions: &'a [Region],
    quick: &'a [Quick4],
    tree: Tree,
    leaves: HashMap<Vec<u32>, Link>,
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

    fn leaf(&mut self, rules: Vec<u32>) -> Link {
        if let Some(&l) = self.leaves.get(&rules) {
            return l;
        }
        let l = Link::leaf(self.tree.lists.len() as u32, rules.len() as u32);
        self.tree.leaves += 1;
        self.budget = self.budget.saturating_sub(rules.len());
        self.tree.lists.extend_from_slice(&rules);
        if !self.quick.is_empty() {
            self.tree
                .quick
                .extend(rules.iter().map(|&r| self.quick[r as usize]));
        }
        self.leaves.insert(rules, l);
        l
    }

    fn build(&mut self, rules: Vec<u32>, spans: [Span; DIMS], depth: u32) -> Link {
        let n = rules.len();
        if n <= LEAF_RULES || depth >= MAX_DEPTH || self.budget < n * SPACE_FACTOR {
            return self.leaf(rules);
        }
        // Pick the cut with the smallest largest child (then least replication).
        let mut best: Option<(usize, usize, usize, u32)> = None; // (max child, total, dim, bits)
        let mut diff = Vec::new();
        for (d, span) in spans.iter().enumerate() {
            let rem = span.rem;
            // A cut reads one 64-bit word: above bit 64 it stays above it.
            let most = if rem > 64 { rem - 64 } else { rem };
            let mut dim_best = None;
            for b in 1..=most.min(MAX_BITS) {
                let shift = rem - b;
                let slices = 1usize << b;
                if slices > (SLICES_PER_RULE * n).max(16) {
                    break;
                }
                diff.clear();
                diff.resize(slices + 1, 0i64);
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
        let (word, wshift) = cut_word(self.family, d, shift);
        let first_child = self.tree.children.len() as u32;
        self.tree.cuts += 1;
        self.tree
            .children
            .resize(self.tree.children.len() + slices, Link::default());
        for (c, list) in lists.into_iter().enumerate() {
            let mut sp = spans;
            sp[d] = Span {
                base: spans[d].base | (c as u128) << shift,
                rem: shift,
            };
            let child = self.build(list, sp, depth + 1);
            self.tree.children[first_child as usize + c] = child;
        }
        Link::cut(word, wshift, b, first_child)
    }
}

impl Tree {
    /// Builds the tree over `rules` (ascending indexes of rules whose
    /// region for `f` is not empty). `quick`: the rules' packed IPv4
    /// regions, copied into the leaves (empty for IPv6).
    pub fn build(rules: Vec<u32>, regions: &[Region], quick: &[Quick4], f: Family) -> Tree {
        let w = widths(f);
        let spans = w.map(|rem| Span { base: 0, rem });
        let budget = (rules.len() * 16).max(1 << 16);
        let mut b = Builder {
            family: f,
            regions,
            quick,
            tree: Tree::default(),
            leaves: HashMap::new(),
            budget,
        };
        let root = b.build(rules, spans, 0);
        b.tree.root = root;
        // A first candidate to read at any leaf's start (see `first_holding`).
        if !b.tree.quick.is_empty() {
            let n = b.tree.quick.len() + PAD;
            b.tree.quick.resize(n, Quick4::default());
        }
        b.tree
    }

    pub fn root(&self) -> Link {
        self.root
    }

    /// The candidates of leaf `l`.
    #[inline]
    pub fn leaf(&self, l: Link) -> Leaf<'_> {
        debug_assert!(l.is_leaf());
        let (s, n) = (l.a as usize, (l.b & !LEAF) as usize);
        Leaf {
            rules: &self.lists[s..s + n],
            quick: if self.quick.is_empty() {
                &[]
            } else {
                &self.quick[s..s + n]
            },
        }
    }

    /// The first of leaf `l`'s candidates (IPv4 trees) whose region holds
    /// `k`, else `none`. The first candidate is tested whether the leaf has
    /// one or not (the array is padded: the read stays inside it) and
    /// chosen without a branch on the test: which leaf a packet reaches and
    /// whether its candidate holds it vary from packet to packet, and a
    /// mispredicted branch there cost more than the test. Only leaves of
    /// several candidates whose first does not hold take a loop.
    #[inline(always)]
    pub fn first_holding<'a>(&'a self, l: Link, k: &Key4, none: &'a Quick4) -> &'a Quick4 {
        debug_assert!(l.is_leaf());
        let (s, n) = (l.a as usize, (l.b & !LEAF) as usize);
        let first = &self.quick[s];
        let hit = (n != 0) & first.holds(k);
        let mut best = if hit { first } else { none };
        if !hit & (n > 1) {
            if let Some(q) = self.quick[s + 1..s + n].iter().find(|q| q.holds(k)) {
                best = q;
            }
        }
        best
    }

    /// Hints the CPU to load the first line of leaf `l`'s packed regions,
    /// which a later pass over the burst reads.
    #[inline(always)]
    pub fn prefetch_leaf(&self, l: Link) {
        prefetch(self.quick.as_ptr().wrapping_add(l.a as usize));
    }

    /// One step of the walk from inner node `l`: the child the packet goes
    /// to. Lets a burst walk level by level (see `RuleSet::leaves`), so that
    /// the packets' loads overlap.
    #[inline]
    pub fn step<const N: usize>(&self, l: Link, k: &[u64; N]) -> Link {
        debug_assert!(!l.is_leaf() && N.is_power_of_two());
        let word = (l.b & 7) as usize;
        let shift = (l.b >> 3) & 63;
        // A cut's `b` has LEAF clear: the mask is all that is above bit 9.
        let mask = (l.b >> 9) as usize;
        let c = (k[word & (N - 1)] >> shift) as usize & mask;
        self.children[l.a as usize + c]
    }

    /// Its root decoded for [`Self::leaf_link4`] (once per burst).
    pub fn root4(&self) -> Root {
        let l = self.root;
        Root {
            link: l,
            word: (l.b & 3) as usize,
            shift: (l.b >> 3) & 63,
            mask: if l.is_leaf() { 0 } else { (l.b >> 9) as usize },
        }
    }

    /// [`Self::leaf_link`] of an IPv4 key from the root `r` decoded by
    /// [`Self::root4`]: the root's step without loading and decoding it
    /// (a realistic ACL's tree is a wide root cut and leaves: that step is
    /// most of the walk).
    #[inline(always)]
    pub fn leaf_link4(&self, r: &Root, k: &Key4) -> Link {
        let mut l = r.link;
        if !l.is_leaf() {
            l = self.children[l.a as usize + ((k[r.word & 3] >> r.shift) as usize & r.mask)];
            while !l.is_leaf() {
                l = self.step(l, k);
            }
        }
        l
    }

    /// The leaf a packet's fields reach.
    #[inline]
    pub fn leaf_link<const N: usize>(&self, k: &[u64; N]) -> Link {
        let mut l = self.root;
        while !l.is_leaf() {
            l = self.step(l, k);
        }
        l
    }

    pub fn memory_bytes(&self) -> usize {
        self.children.len() * std::mem::size_of::<Link>()
            + self.lists.len() * 4
            + self.quick.len() * std::mem::size_of::<Quick4>()
    }

    /// (nodes, leaf entries) for reports.
    pub fn size(&self) -> (usize, usize) {
        (self.cuts + self.leaves, self.lists.len())
    }
}
