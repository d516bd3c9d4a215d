//! `lookup_each4` with AVX-512: a line of starts against the key is one compare
//! into a mask and a POPCNT, instead of the portable path's vector compares,
//! subtractions and horizontal sum.

#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{hop_at, prefetch, Compact4, Line, GROUP, STARTS};
use crate::NextHop;

/// Lanes of `line` holding a value `<= key`, as a mask.
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn le_mask(line: &Line, key: __m512i) -> u16 {
    // SAFETY: `line` is 64 readable bytes, 64-aligned.
    let v = unsafe { _mm512_load_si512(line.0.as_ptr().cast()) };
    _mm512_cmple_epu32_mask(v, key)
}

/// # Safety
/// The CPU must have AVX-512F and POPCNT; lengths as `lookup_each4` checked.
#[target_feature(enable = "avx512f,popcnt")]
#[allow(clippy::needless_range_loop)] // one lane index across several arrays
pub(super) unsafe fn lookup_each(tables: &[&Compact4], keys: &[u32], out: &mut [NextHop]) {
    for ((ts, ks), os) in tables
        .chunks(GROUP)
        .zip(keys.chunks(GROUP))
        .zip(out.chunks_mut(GROUP))
    {
        let mut leaf = [0usize; GROUP];
        for l in 0..ks.len() {
            let lines = &ts[l].lines.0;
            let key = _mm512_set1_epi32(ks[l] as i32);
            // SAFETY: the caller's CPU has the features.
            let seps = unsafe { le_mask(&lines[0], key) };
            // Lines past the last leaf copy it (see `leaf_of`).
            leaf[l] = 1 + seps.count_ones() as usize;
            prefetch(&lines[leaf[l]]);
        }
        for l in 0..ks.len() {
            let line = &ts[l].lines.0[leaf[l]];
            let key = _mm512_set1_epi32(ks[l] as i32);
            // SAFETY: as above. Lanes past the starts hold the hop bytes.
            let n = unsafe { le_mask(line, key) } & ((1 << STARTS) - 1);
            os[l] = hop_at(line, n.count_ones() as usize);
        }
    }
}
