//! Multibit trie with stride 8 and controlled prefix expansion, shared by `Fib4` and
//! `Fib6` (generic over the key width).
//!
//! Layout: every node is 256 `u32` entries in one arena (`entries`), node `n` at
//! `n * 256`; node 0 is the root and exists only while the table is non-empty. An
//! entry is either
//! - a child: bit 31 set, bits 0..31 the child's node number, or
//! - a leaf: bit 31 clear, bits 27..31 the *relative* length `rel` of the route that
//!   produced it (`len - 8 * depth`, 1..=8; 0 = "inherited": the node's default, the
//!   best route of length `<= 8 * depth` covering the whole node), bits 0..27 a
//!   next-hop slot (0 = no route).
//!
//! Next hops are interned into slots so that a leaf fits in 32 bits whatever `u32` the
//! caller picks; the lookup maps the final slot through `NextHops::by_slot`, an array
//! as small as the number of distinct next hops (slot 0 reads `NO_ROUTE`).
//!
//! Routes are leaf-pushed: a route that covers a child entry becomes the child's
//! default and is written into the child's inherited entries, so a lookup is a walk
//! of dependent array reads that stops at the first leaf, with no "best so far".
//!
//! The authoritative route set (`routes`) answers `len`, `iter`, replace detection
//! and, on remove, which shorter prefix takes the removed one's place.

use std::collections::HashMap;
use std::hash::Hash;
use std::mem::size_of;

use crate::{LpmError, NextHop, NO_ROUTE};

/// A key family: `u32` for IPv4, `u128` for IPv6.
pub(crate) trait Key: Copy + Eq + Hash + Default {
    /// Key width in bits (a multiple of 8).
    const BITS: u8;
    /// The 8-bit chunk consumed at trie depth `depth` (0 = most significant byte).
    fn byte(self, depth: usize) -> usize;
    /// The key with all but its top `len` bits cleared.
    fn mask(self, len: u8) -> Self;
}

impl Key for u32 {
    const BITS: u8 = 32;
    #[inline(always)]
    fn byte(self, depth: usize) -> usize {
        ((self >> (24 - 8 * depth)) & 0xff) as usize
    }
    #[inline]
    fn mask(self, len: u8) -> Self {
        match u32::MAX.checked_shl(32 - u32::from(len)) {
            Some(m) => self & m,
            None => 0,
        }
    }
}

impl Key for u128 {
    const BITS: u8 = 128;
    #[inline(always)]
    fn byte(self, depth: usize) -> usize {
        ((self >> (120 - 8 * depth)) & 0xff) as usize
    }
    #[inline]
    fn mask(self, len: u8) -> Self {
        match u128::MAX.checked_shl(128 - u32::from(len)) {
            Some(m) => self & m,
            None => 0,
        }
    }
}

const STRIDE: u32 = 8;
const FANOUT: usize = 1 << STRIDE;
const CHILD: u32 = 1 << 31;
const INDEX_MASK: u32 = !CHILD;
const REL_SHIFT: u32 = 27;
const SLOT_BITS: u32 = 27;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;

#[inline(always)]
fn leaf(slot: u32, rel: u32) -> u32 {
    debug_assert!(slot <= SLOT_MASK && rel <= STRIDE);
    (rel << REL_SHIFT) | slot
}

#[inline(always)]
fn rel_of(entry: u32) -> u32 {
    (entry >> REL_SHIFT) & 0xf
}

#[inline(always)]
fn base(node: u32) -> usize {
    (node as usize) << STRIDE
}

/// Trie depth whose node holds the expansion of a prefix of length `len`.
#[inline]
fn target_depth(len: u8) -> usize {
    if len == 0 {
        0
    } else {
        (usize::from(len) - 1) / STRIDE as usize
    }
}

/// A route as seen from the trie: interned next hop and absolute prefix length.
/// `slot == 0` is "no route" (its `len` is 0 so that any real route beats it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Route {
    slot: u32,
    len: u8,
}

const NONE: Route = Route { slot: 0, len: 0 };

impl Route {
    /// The leaf entry this route becomes in a node at `depth`.
    fn entry_at(self, depth: usize) -> u32 {
        let floor = (depth * STRIDE as usize) as u8;
        if self.len > floor {
            leaf(self.slot, u32::from(self.len - floor))
        } else {
            leaf(self.slot, 0)
        }
    }
}

/// Interned next hops: slot 0 is reserved for "no route".
#[derive(Clone, Default)]
struct NextHops {
    by_slot: Vec<NextHop>,
    refs: Vec<u32>,
    slot_of: HashMap<NextHop, u32>,
    free: Vec<u32>,
}

impl NextHops {
    fn acquire(&mut self, nh: NextHop) -> u32 {
        if let Some(&slot) = self.slot_of.get(&nh) {
            self.refs[slot as usize] += 1;
            return slot;
        }
        if self.by_slot.is_empty() {
            self.by_slot.push(NO_ROUTE);
            self.refs.push(0);
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.by_slot[slot as usize] = nh;
                self.refs[slot as usize] = 1;
                slot
            }
            None => {
                let slot = self.by_slot.len() as u32;
                // 2^27 distinct next hops need as many routes: gigabytes of table.
                assert!(slot <= SLOT_MASK, "lpm: more than 2^27 distinct next hops");
                self.by_slot.push(nh);
                self.refs.push(1);
                slot
            }
        };
        self.slot_of.insert(nh, slot);
        slot
    }

    fn release(&mut self, nh: NextHop) {
        let slot = self.slot_of[&nh];
        let refs = &mut self.refs[slot as usize];
        *refs -= 1;
        if *refs == 0 {
            self.slot_of.remove(&nh);
            self.by_slot[slot as usize] = NO_ROUTE;
            self.free.push(slot);
        }
    }

    fn memory_bytes(&self) -> usize {
        vec_bytes(&self.by_slot)
            + vec_bytes(&self.refs)
            + vec_bytes(&self.free)
            + map_bytes(&self.slot_of)
    }
}

fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

/// Heap bytes of a std (hashbrown) map: buckets of `(K, V)` plus one control byte
/// per bucket and a 16-byte group tail.
fn map_bytes<K, V>(m: &HashMap<K, V>) -> usize {
    let cap = m.capacity();
    if cap == 0 {
        return 0;
    }
    let buckets = if cap < 8 {
        (cap + 1).next_power_of_two()
    } else {
        (cap * 8 / 7).next_power_of_two()
    };
    buckets * (size_of::<(K, V)>() + 1) + 16
}

/// Number of keys looked up together by `lookup_batch`.
const LANES: usize = 32;

#[derive(Clone, Default)]
pub(crate) struct Trie<K: Key> {
    /// Node arena, 256 entries per node; empty while the table is empty.
    entries: Vec<u32>,
    /// Per node: its default (best route of length `<= 8 * depth` covering it).
    defaults: Vec<Route>,
    /// Recycled node numbers.
    free_nodes: Vec<u32>,
    /// The authoritative route set.
    routes: HashMap<(K, u8), NextHop>,
    nexthops: NextHops,
}

impl<K: Key> Trie<K> {
    fn check(prefix: K, len: u8) -> Result<(), LpmError> {
        if len > K::BITS {
            Err(LpmError::PrefixTooLong)
        } else if prefix.mask(len) != prefix {
            Err(LpmError::HostBitsSet)
        } else {
            Ok(())
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    pub(crate) fn routes(&self) -> impl Iterator<Item = (K, u8, NextHop)> + '_ {
        self.routes.iter().map(|(&(k, l), &nh)| (k, l, nh))
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        vec_bytes(&self.entries)
            + vec_bytes(&self.defaults)
            + vec_bytes(&self.free_nodes)
            + map_bytes(&self.routes)
            + self.nexthops.memory_bytes()
    }

    pub(crate) fn insert(
        &mut self,
        prefix: K,
        len: u8,
        nh: NextHop,
    ) -> Result<Option<NextHop>, LpmError> {
        Self::check(prefix, len)?;
        let old = self.routes.insert((prefix, len), nh);
        if old == Some(nh) {
            return Ok(old);
        }
        let slot = self.nexthops.acquire(nh);
        if self.entries.is_empty() {
            self.alloc_node(NONE);
        }
        self.place(prefix, len, Route { slot, len });
        if let Some(old) = old {
            // Every entry and default that named the old next hop was overwritten.
            self.nexthops.release(old);
        }
        Ok(old)
    }

    pub(crate) fn remove(&mut self, prefix: K, len: u8) -> Result<Option<NextHop>, LpmError> {
        Self::check(prefix, len)?;
        let Some(nh) = self.routes.remove(&(prefix, len)) else {
            return Ok(None);
        };
        if self.routes.is_empty() {
            // Give all memory back: an empty table holds no heap.
            *self = Self::default();
            return Ok(Some(nh));
        }
        let target = target_depth(len);
        let mut path = [0u32; 16];
        let mut node = 0u32;
        for (d, step) in path.iter_mut().enumerate().take(target) {
            *step = node;
            let e = self.entries[base(node) + prefix.byte(d)];
            debug_assert!(e & CHILD != 0, "route present but its node is missing");
            node = e & INDEX_MASK;
        }
        path[target] = node;

        let floor = (target * STRIDE as usize) as u8;
        let replacement = if len == 0 {
            NONE
        } else {
            self.covering(prefix, len, floor)
                .unwrap_or(self.defaults[node as usize])
        };
        if len == 0 {
            self.defaults[0] = NONE;
        }
        let k = u32::from(len - floor);
        let repl_entry = replacement.entry_at(target);
        let start = base(node) + prefix.byte(target);
        for i in start..start + (1 << (STRIDE - k)) {
            let e = self.entries[i];
            if e & CHILD != 0 {
                let child = e & INDEX_MASK;
                if self.defaults[child as usize].len == len {
                    self.push_default(child, target + 1, replacement);
                }
            } else if rel_of(e) == k {
                self.entries[i] = repl_entry;
            }
        }

        // Fold nodes left with nothing but their default back into a parent leaf.
        let mut d = target;
        while d > 0 && self.only_default(path[d]) {
            let node = path[d];
            let parent = path[d - 1];
            self.entries[base(parent) + prefix.byte(d - 1)] =
                self.defaults[node as usize].entry_at(d - 1);
            self.free_nodes.push(node);
            d -= 1;
        }
        self.nexthops.release(nh);
        Ok(Some(nh))
    }

    /// The longest route covering `prefix/len` with a length in `floor+1 .. len`.
    fn covering(&self, prefix: K, len: u8, floor: u8) -> Option<Route> {
        (floor + 1..len).rev().find_map(|l| {
            let nh = self.routes.get(&(prefix.mask(l), l))?;
            Some(Route {
                slot: self.nexthops.slot_of[nh],
                len: l,
            })
        })
    }

    fn only_default(&self, node: u32) -> bool {
        self.entries[base(node)..base(node) + FANOUT]
            .iter()
            .all(|&e| e & CHILD == 0 && rel_of(e) == 0)
    }

    fn alloc_node(&mut self, default: Route) -> u32 {
        let fill = leaf(default.slot, 0);
        if let Some(node) = self.free_nodes.pop() {
            self.entries[base(node)..base(node) + FANOUT].fill(fill);
            self.defaults[node as usize] = default;
            node
        } else {
            let node = self.defaults.len() as u32;
            assert!(node <= INDEX_MASK, "lpm: node arena full");
            self.entries.resize(self.entries.len() + FANOUT, fill);
            self.defaults.push(default);
            node
        }
    }

    /// Writes `route` (already in `routes`) into the trie, creating nodes on its path.
    fn place(&mut self, prefix: K, len: u8, route: Route) {
        let target = target_depth(len);
        let mut node = 0u32;
        for d in 0..target {
            let i = base(node) + prefix.byte(d);
            let e = self.entries[i];
            node = if e & CHILD != 0 {
                e & INDEX_MASK
            } else {
                let rel = rel_of(e);
                let default = if rel == 0 {
                    self.defaults[node as usize]
                } else {
                    Route {
                        slot: e & SLOT_MASK,
                        len: (d * STRIDE as usize) as u8 + rel as u8,
                    }
                };
                let child = self.alloc_node(default);
                self.entries[i] = CHILD | child;
                child
            };
        }
        if len == 0 {
            self.defaults[0] = route;
        }
        let k = u32::from(len) - target as u32 * STRIDE;
        let new_entry = leaf(route.slot, k);
        let start = base(node) + prefix.byte(target);
        for i in start..start + (1 << (STRIDE - k)) {
            let e = self.entries[i];
            if e & CHILD != 0 {
                let child = e & INDEX_MASK;
                if self.defaults[child as usize].len <= len {
                    self.push_default(child, target + 1, route);
                }
            } else if rel_of(e) <= k {
                self.entries[i] = new_entry;
            }
        }
    }

    /// Makes `route` the default of `node` (at `depth`) and of every descendant that
    /// inherited the old default.
    fn push_default(&mut self, node: u32, depth: usize, route: Route) {
        self.defaults[node as usize] = route;
        let floor = (depth * STRIDE as usize) as u8;
        let inherited = leaf(route.slot, 0);
        for i in base(node)..base(node) + FANOUT {
            let e = self.entries[i];
            if e & CHILD != 0 {
                let child = e & INDEX_MASK;
                if self.defaults[child as usize].len <= floor {
                    self.push_default(child, depth + 1, route);
                }
            } else if rel_of(e) == 0 {
                self.entries[i] = inherited;
            }
        }
    }

    /// Next-hop slot for `key`; 0 on a miss.
    #[inline(always)]
    fn lookup_slot(&self, key: K) -> u32 {
        let Some(&first) = self.entries.get(key.byte(0)) else {
            return 0;
        };
        let mut e = first;
        let mut depth = 1;
        while e & CHILD != 0 {
            e = self.entries[base(e & INDEX_MASK) | key.byte(depth)];
            depth += 1;
        }
        e & SLOT_MASK
    }

    #[inline]
    pub(crate) fn lookup(&self, key: K) -> Option<NextHop> {
        match self.lookup_slot(key) {
            0 => None,
            slot => Some(self.nexthops.by_slot[slot as usize]),
        }
    }

    #[inline]
    pub(crate) fn lookup_nh(&self, key: K) -> NextHop {
        let slot = self.lookup_slot(key);
        self.nexthops
            .by_slot
            .get(slot as usize)
            .copied()
            .unwrap_or(NO_ROUTE)
    }

    /// Looks keys up `LANES` at a time, level by level, so that the lanes' memory
    /// reads overlap instead of waiting on one key's chain of dependent reads.
    pub(crate) fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        assert!(
            out.len() >= keys.len(),
            "lpm: lookup_batch output shorter than input"
        );
        let out = &mut out[..keys.len()];
        if self.entries.is_empty() {
            out.fill(NO_ROUTE);
            return;
        }
        for (ks, os) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            self.lookup_lanes(ks, os);
        }
    }

    /// One group of at most `LANES` keys.
    #[inline(always)]
    fn lookup_lanes(&self, keys: &[K], out: &mut [NextHop]) {
        let mut lanes = [0u32; LANES];
        let e = &mut lanes[..keys.len()];
        for (e, k) in e.iter_mut().zip(keys) {
            *e = self.entries[k.byte(0)];
        }
        let mut depth = 1;
        while e.iter().fold(0, |acc, &x| acc | x) & CHILD != 0 {
            for (e, k) in e.iter_mut().zip(keys) {
                if *e & CHILD != 0 {
                    *e = self.entries[base(*e & INDEX_MASK) | k.byte(depth)];
                }
            }
            depth += 1;
        }
        for (o, e) in out.iter_mut().zip(e.iter()) {
            *o = self.nexthops.by_slot[(e & SLOT_MASK) as usize];
        }
    }
}

#[cfg(test)]
impl<K: Key> Trie<K> {
    /// Live (reachable) nodes, counting the root.
    pub(crate) fn live_nodes(&self) -> usize {
        self.defaults.len() - self.free_nodes.len()
    }

    /// Checks the structural invariants; panics with a description on violation.
    pub(crate) fn check_invariants(&self) {
        if self.routes.is_empty() {
            assert!(
                self.entries.is_empty() && self.defaults.is_empty(),
                "empty table holds nodes"
            );
            return;
        }
        assert_eq!(self.entries.len(), self.defaults.len() * FANOUT);
        let mut seen = vec![false; self.defaults.len()];
        for &f in &self.free_nodes {
            assert!(!seen[f as usize], "node {f} freed twice");
            seen[f as usize] = true;
        }
        let mut reached = 0;
        let mut stack = vec![(0u32, 0usize)];
        while let Some((node, depth)) = stack.pop() {
            assert!(!seen[node as usize], "node {node} reachable twice or free");
            seen[node as usize] = true;
            reached += 1;
            assert!(depth < usize::from(K::BITS) / 8, "node too deep");
            let d = self.defaults[node as usize];
            let floor = (depth * STRIDE as usize) as u8;
            assert!(d.len <= floor, "default longer than the node's depth");
            if node != 0 {
                assert!(
                    !self.only_default(node),
                    "node {node} holds only its default"
                );
            }
            for i in 0..FANOUT {
                let e = self.entries[base(node) + i];
                if e & CHILD != 0 {
                    let child = e & INDEX_MASK;
                    let cd = self.defaults[child as usize];
                    assert!(cd.len <= floor + STRIDE as u8);
                    stack.push((child, depth + 1));
                } else if rel_of(e) == 0 {
                    assert_eq!(
                        e & SLOT_MASK,
                        d.slot,
                        "inherited entry differs from default"
                    );
                } else {
                    assert!(rel_of(e) <= STRIDE);
                }
            }
        }
        assert_eq!(reached, self.live_nodes(), "leaked nodes");
        let live_slots = self.nexthops.slot_of.len();
        assert_eq!(
            self.nexthops.by_slot.len(),
            live_slots + 1 + self.nexthops.free.len()
        );
        let refs: u64 = self.nexthops.refs.iter().map(|&r| u64::from(r)).sum();
        assert_eq!(refs, self.routes.len() as u64, "next-hop refcounts");
    }
}
