//! Classifying a burst (up to 32 packets at a time) in passes over it, each
//! a short loop whose packets are independent, so that their loads overlap
//! instead of queueing one packet after another: every packet's key; the
//! walks down each tree, level by level (a packet's leaf, once reached, is
//! prefetched for the next pass); then per packet the first candidate whose
//! region holds it and, when that is a plain allow/deny matched exactly, the
//! verdict and its count (what the walk would do: candidates before it
//! cannot match); any other packet takes the walk.
//!
//! Bursts of IPv4 packets (the common case) take a lean path: one 32-byte
//! key per packet serves the trees' cuts and the leaves' region tests
//! alike, the counters are resolved once per burst. Measured with
//! `perf/src/bin/firewall_bench.rs`: each pass, each array and each
//! instruction per packet shows at 10 rules, where everything is in L1.

use super::eval::AtOnce;
use super::forest::{Links, MAX_TREES};
use super::region::{self, key4, Key4, FAST_BANKS};
use super::tree::{self, Key, Link, Tree};
use super::{Ctx, Outcome, RAction, RuleSet};
use crate::counters::WorkerCells;
use crate::packet::{Family, PacketMeta};

/// Packets classified together.
const CHUNK: usize = 32;

impl RuleSet {
    /// Classifies a burst: `out[i]` is for `pkts[i]`, the same outcomes,
    /// counters and states as [`RuleSet::evaluate`] packet by packet.
    pub fn classify_batch(&self, pkts: &mut [PacketMeta], out: &mut [Outcome], ctx: &Ctx) {
        let cells = self.worker_cells(ctx.worker);
        for (ps, os) in pkts.chunks_mut(CHUNK).zip(out.chunks_mut(CHUNK)) {
            if ps.iter().all(|p| p.family == Family::V4) {
                self.burst4(ps, os, ctx, &cells);
                continue;
            }
            let mut leaves = [[Link::default(); MAX_TREES]; CHUNK];
            self.leaves(ps, &mut leaves);
            for ((p, o), l) in ps.iter_mut().zip(os.iter_mut()).zip(&leaves) {
                if p.family == Family::V4 {
                    let k = key4(p);
                    if let Some(d) = self.decide4(l, &k, p, ctx, &cells) {
                        *o = d;
                        continue;
                    }
                }
                let c = self.trees[p.family as usize].cands_of(l);
                *o = self.walk(&c, true, p, ctx, &mut AtOnce);
            }
        }
    }

    /// [`Self::classify_batch`] for up to [`CHUNK`] IPv4 packets.
    fn burst4(
        &self,
        ps: &mut [PacketMeta],
        os: &mut [Outcome],
        ctx: &Ctx,
        cells: &[WorkerCells<'_>; FAST_BANKS],
    ) {
        let n = ps.len().min(CHUNK);
        let mut keys = [[0u64; 4]; CHUNK];
        for (k, p) in keys.iter_mut().zip(ps.iter()) {
            *k = key4(p);
        }
        let mut links = [[Link::default(); MAX_TREES]; CHUNK];
        for (t, tree) in self.trees[0].trees().iter().enumerate() {
            walk_down(tree, t, &keys[..n], &mut links);
        }
        for (((p, o), k), l) in ps.iter_mut().zip(os.iter_mut()).zip(&keys).zip(&links) {
            *o = match self.decide4(l, k, p, ctx, cells) {
                Some(d) => d,
                None => self.walk(&self.trees[0].cands_of(l), true, p, ctx, &mut AtOnce),
            };
        }
    }

    /// The outcome of an IPv4 packet, counted, when its first candidate
    /// holding it (in rule order over its leaves `l`) is a plain allow/deny
    /// that matches it exactly; `None`: take the walk.
    #[inline(always)]
    fn decide4(
        &self,
        l: &Links,
        k: &Key4,
        p: &PacketMeta,
        ctx: &Ctx,
        cells: &[WorkerCells<'_>; FAST_BANKS],
    ) -> Option<Outcome> {
        let q = self.first_holding(l, k);
        if !q.decides() {
            return None;
        }
        let (b, slot) = q.place();
        cells[b as usize].add(slot, p.ip_len as u64, ctx.now_ms);
        Some(self.quick_outcome(q))
    }

    /// The first rule whose *patterns* match each packet, as an index (no
    /// state lookup, no counting, actions ignored): what DPDK's rte_acl
    /// computes, for comparisons. `check-state` rules do not match here.
    pub fn first_match_batch(&self, pkts: &[PacketMeta], out: &mut [u32]) {
        for (ps, os) in pkts.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let mut leaves = [[Link::default(); MAX_TREES]; CHUNK];
            self.leaves(ps, &mut leaves);
            for ((p, o), l) in ps.iter().zip(os.iter_mut()).zip(&leaves) {
                *o = self.first_match(p, l);
            }
        }
    }

    /// The leaves of up to 32 packets of either family in each tree of
    /// their family, walking the trees level by level.
    fn leaves(&self, ps: &[PacketMeta], out: &mut [[Link; MAX_TREES]; CHUNK]) {
        let n = ps.len().min(CHUNK);
        let forests = [self.trees[0].trees(), self.trees[1].trees()];
        let most = forests[0].len().max(forests[1].len());
        let mut keys: [Key; CHUNK] = [[0; 8]; CHUNK];
        let mut fam = [0u8; CHUNK];
        for i in 0..n {
            keys[i] = tree::key(&ps[i]);
            fam[i] = ps[i].family as u8;
        }
        // One tree at a time; its walks still open, packet by packet, each
        // pass one level further.
        for t in 0..most {
            let mut open = [0u8; CHUNK];
            let mut m = 0;
            // The first level directly (every packet starts at the root):
            // a shallow tree is then done in this one loop.
            for i in 0..n {
                if let Some(tree) = forests[fam[i] as usize].get(t) {
                    let mut l = tree.root();
                    if !l.is_leaf() {
                        l = tree.step(l, &keys[i]);
                    }
                    if l.is_leaf() {
                        tree.prefetch_leaf(l);
                    }
                    out[i][t] = l;
                    open[m] = i as u8;
                    m += !l.is_leaf() as usize;
                }
            }
            while m > 0 {
                let mut j = 0;
                while j < m {
                    let i = open[j] as usize;
                    let tree = &forests[fam[i] as usize][t];
                    let child = tree.step(out[i][t], &keys[i]);
                    out[i][t] = child;
                    if child.is_leaf() {
                        tree.prefetch_leaf(child);
                        m -= 1;
                        open[j] = open[m];
                    } else {
                        j += 1;
                    }
                }
            }
        }
    }

    /// The first candidate whose patterns match `p` (the default rule's
    /// index if none): each list read only up to the best found so far.
    fn first_match(&self, p: &PacketMeta, links: &Links) -> u32 {
        let mut best = (self.rules.len() - 1) as u32;
        let k = key4(p);
        for (tree, &l) in self.trees[p.family as usize].trees().iter().zip(links) {
            let part = tree.leaf(l);
            for (j, &i) in part.rules.iter().enumerate() {
                if i >= best {
                    break;
                }
                let hit = if p.family == Family::V4 {
                    // From the leaf's packed copy; the rule is read only when
                    // its region is not its whole pattern.
                    let q = &part.quick[j];
                    !q.check_state()
                        && q.holds(&k)
                        && (q.exact()
                            || self.rules[i as usize]
                                .body
                                .matches(p, &self.tables)
                                .is_some())
                } else {
                    let r = &self.rules[i as usize];
                    !matches!(r.action, RAction::CheckState)
                        && r.regions[1].contains(&region::key(p))
                        && r.body.matches(p, &self.tables).is_some()
                };
                if hit {
                    best = i;
                    break;
                }
            }
        }
        best
    }
}

/// Walks the IPv4 packets of `keys` down `tree` (tree `t` of the forest)
/// level by level: `links[i][t]` becomes packet `i`'s leaf, prefetched.
fn walk_down(tree: &Tree, t: usize, keys: &[Key4], links: &mut [[Link; MAX_TREES]; CHUNK]) {
    let root = tree.root();
    if root.is_leaf() {
        tree.prefetch_leaf(root);
        for l in links.iter_mut().take(keys.len()) {
            l[t] = root;
        }
        return;
    }
    let mut open = [0u8; CHUNK];
    let mut m = 0;
    for (i, k) in keys.iter().enumerate() {
        let l = tree.step(root, k);
        links[i][t] = l;
        if l.is_leaf() {
            tree.prefetch_leaf(l);
        }
        open[m] = i as u8;
        m += !l.is_leaf() as usize;
    }
    while m > 0 {
        let mut j = 0;
        while j < m {
            let i = open[j] as usize;
            let child = tree.step(links[i][t], &keys[i]);
            links[i][t] = child;
            if child.is_leaf() {
                tree.prefetch_leaf(child);
                m -= 1;
                open[j] = open[m];
            } else {
                j += 1;
            }
        }
    }
}
