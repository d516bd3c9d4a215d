//! `lookup_each4` with AVX-512: a line of 16 starts against the key is one
//! compare into a mask and a POPCNT, instead of the portable path's vector
//! compares, subtractions and horizontal sum.

#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{prefetch, Compact4, Line, GROUP, W};
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
            let lines = &ts[l].lines;
            let key = _mm512_set1_epi32(ks[l] as i32);
            // SAFETY: the caller's CPU has the features.
            let seps = unsafe { le_mask(&lines[0], key) } & !1;
            let j = seps.count_ones().min(lines[0].0[0]) as usize;
            leaf[l] = 1 + 2 * j;
            prefetch(&lines[leaf[l]]);
            prefetch(&lines[leaf[l] + 1]);
        }
        for l in 0..ks.len() {
            let lines = &ts[l].lines;
            let key = _mm512_set1_epi32(ks[l] as i32);
            // SAFETY: as above.
            let n = unsafe { le_mask(&lines[leaf[l]], key) }.count_ones() as usize;
            // The leaf's first start is <= key: n >= 1.
            os[l] = lines[leaf[l] + 1].0[n.wrapping_sub(1) & (W - 1)];
        }
    }
}
