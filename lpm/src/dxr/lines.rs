//! Line chunks: the range chunks under a big IPv6 table's sub-direct tables. A
//! chunk of `n` intervals (2..=32) whose starts fit the next 16 bits, or (2..=16)
//! whose starts fit the next 32, is one node starting on a cache line: the starts
//! (relative to the span), then the next hops. The starts are one aligned 64-byte
//! load that the batch lookup compares with the key in one instruction (AVX-512:
//! 32 16-bit or 16 32-bit lanes); the count of starts `<=` the key is the hop's
//! rank. A chunk of up to 8 intervals is one cache line, starts and hops together.
//! The entry names the node directly (no descriptor to read first).

use super::{LINE, LINE_N_SHIFT, LINE_OFF_MASK, LINE_WIDE};
use crate::NextHop;

/// Most intervals of a chunk with 16-bit starts (one line of starts).
pub(super) const MAX16: usize = 32;
/// Most intervals of a chunk with 32-bit starts.
pub(super) const MAX32: usize = 16;

/// One cache line; nodes start on one.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(super) struct Line(pub(super) [u32; 16]);

#[derive(Clone, Debug, Default)]
pub(super) struct Lines {
    pub(super) v: Vec<Line>,
}

/// A line chunk's entry decoded: first line, interval count, 32-bit starts.
#[inline(always)]
pub(super) fn decode(e: u32) -> (usize, usize, bool) {
    (
        (e & LINE_OFF_MASK) as usize,
        ((e >> LINE_N_SHIFT) & 0x1f) as usize + 1,
        e & LINE_WIDE != 0,
    )
}

/// Word (`u32`) of a node where its next hops begin.
#[inline(always)]
fn hop_word(n: usize, wide: bool) -> usize {
    if wide {
        n
    } else {
        n.div_ceil(2)
    }
}

/// Lines of a node of `n` intervals.
pub(super) fn node_lines(n: usize, wide: bool) -> usize {
    (hop_word(n, wide) + n).div_ceil(16)
}

impl Lines {
    /// Whether `n` more intervals still fit the entry's offset field.
    pub(super) fn has_room(&self, n: usize, wide: bool) -> bool {
        self.v.len() + node_lines(n, wide) <= LINE_OFF_MASK as usize + 1
    }

    /// Appends a node for `iv` (starts relative to a span of `o` fixed bits, within
    /// the next 16 or, `wide`, 32 bits) and returns its entry.
    pub(super) fn push(&mut self, iv: &[(u128, NextHop)], o: u32, wide: bool) -> u32 {
        let n = iv.len();
        debug_assert!((2..=if wide { MAX32 } else { MAX16 }).contains(&n));
        let at = self.v.len();
        self.v.resize(at + node_lines(n, wide), Line::default());
        let hw = hop_word(n, wide);
        for (i, &(start, nh)) in iv.iter().enumerate() {
            let rel = if i == 0 { 0 } else { start << o };
            if wide {
                *self.word_mut(at, i) = (rel >> 96) as u32;
            } else {
                *self.word_mut(at, i / 2) |= ((rel >> 112) as u32) << (16 * (i % 2));
            }
            *self.word_mut(at, hw + i) = nh;
        }
        LINE | if wide { LINE_WIDE } else { 0 } | ((n as u32 - 1) << LINE_N_SHIFT) | at as u32
    }

    fn word_mut(&mut self, at: usize, w: usize) -> &mut u32 {
        &mut self.v[at + w / 16].0[w % 16]
    }

    #[inline(always)]
    fn word(&self, at: usize, w: usize) -> u32 {
        self.v[at + w / 16].0[w % 16]
    }

    /// Start `i` of the node at `at`.
    #[inline(always)]
    fn start(&self, at: usize, i: usize, wide: bool) -> u32 {
        if wide {
            self.word(at, i)
        } else {
            (self.word(at, i / 2) >> (16 * (i % 2))) & 0xffff
        }
    }

    /// The next hop for `x` (the key's next 16 or 32 bits, as the node's starts)
    /// in the node of entry `e`: the portable rank, a binary search without
    /// branches (as `super::search`; the first start is 0, so there is one).
    #[inline(always)]
    pub(super) fn find(&self, e: u32, x: u32) -> NextHop {
        let (at, n, wide) = decode(e);
        let mut base = 0;
        let mut len = n;
        while len > 1 {
            let half = len / 2;
            base += half * usize::from(self.start(at, base + half, wide) <= x);
            len -= half;
        }
        self.word(at, hop_word(n, wide) + base)
    }

    /// The lines of the node of entry `e` (copying and accounting).
    pub(super) fn node(&self, e: u32) -> &[Line] {
        let (at, n, wide) = decode(e);
        &self.v[at..at + node_lines(n, wide)]
    }
}
