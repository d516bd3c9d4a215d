//! The IPv4 batch lookup with AVX-512 gathers, 16 lanes at a time: the top-level
//! entries, the bitmap words, the bitmaps' bases and the next hops are each read
//! for 16 keys by one gather, so the lanes' cache misses overlap without a branch.
//! Lanes whose slot is neither a leaf nor a bitmap (a few percent on a real table)
//! finish on the scalar path. Used when the CPU has AVX-512F and VPOPCNTDQ (checked
//! at run time); otherwise the scalar batch lookup runs.

#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{
    Dxr, BITMAP, CHUNK, DESC, INDEX_MASK, K_DIRECT, K_R16, K_R32, LANES, SUB, SUB_OFF_BITS,
    SUB_OFF_MASK,
};
use crate::key::Key;
use crate::NextHop;

impl<K: Key> Dxr<K> {
    /// Whether `lookup_v4_avx512` may run: the CPU has the features, and every
    /// index it computes fits a gather's signed 32-bit lane. (A table without
    /// bitmaps is fine: gathers read only the lanes their mask selects.)
    #[inline]
    pub(super) fn avx512_usable(&self) -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            && self.maps.maps.len() < (i32::MAX as usize) / 5
            && self.maps.hops.len() < i32::MAX as usize
            && self.direct.len() < i32::MAX as usize
    }

    /// `out[i] = lookup(keys[i])` for an IPv4 table (`K` is `u32`).
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX512-VPOPCNTDQ, and `avx512_usable` must
    /// hold; `out` is at least as long as `keys`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
    #[allow(clippy::needless_range_loop)] // one lane index across several arrays
    pub(super) unsafe fn lookup_v4_avx512(&self, keys: &[u32], out: &mut [NextHop]) {
        assert!(out.len() >= keys.len() && K::BITS == 32);
        let s = self.s;
        let direct = self.direct.as_ptr().cast::<i32>();
        let maps = self.maps.maps.as_ptr().cast::<i64>();
        let hops = self.maps.hops.as_ptr().cast::<i32>();
        let top_shift = _mm_cvtsi32_si128((32 - s) as i32);
        let slot_shift = _mm_cvtsi32_si128(s as i32);
        let zero = _mm512_setzero_si512();
        // Two vectors of 16 keys go through each stage together, so that twice as
        // many reads are in flight.
        for (ks, os) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let mut live = [0 as __mmask16; 2];
            let mut k = [zero; 2];
            let mut e = [zero; 2];
            let mut is_map = [0 as __mmask16; 2];
            let mut is_leaf = [0 as __mmask16; 2];
            let mut slow = [0 as __mmask16; 2];
            let mut x = [zero; 2];
            let mut m5 = [zero; 2];
            for v in 0..2 {
                let n = ks.len().saturating_sub(16 * v).min(16);
                live[v] = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
                if n == 0 {
                    continue;
                }
                // SAFETY: `live` covers exactly the `n` keys from `16 * v`.
                k[v] = unsafe { _mm512_maskz_loadu_epi32(live[v], ks.as_ptr().add(16 * v).cast()) };
                // Top level: direct[k >> (32 - s)], always within the top table.
                let idx = _mm512_srl_epi32(k[v], top_shift);
                // SAFETY: every live index is below 2^s <= direct.len().
                e[v] = unsafe { _mm512_mask_i32gather_epi32::<4>(zero, live[v], idx, direct) };
            }
            for v in 0..2 {
                let kind = _mm512_and_si512(e[v], _mm512_set1_epi32(0xE000_0000_u32 as i32));
                is_map[v] =
                    _mm512_mask_cmpeq_epi32_mask(live[v], kind, _mm512_set1_epi32(BITMAP as i32));
                is_leaf[v] = _mm512_cmplt_epu32_mask(e[v], _mm512_set1_epi32(CHUNK as i32));
                slow[v] = live[v] & !is_map[v] & !is_leaf[v];
                // Map m, key byte x after the slot bits.
                let m =
                    _mm512_maskz_and_epi32(is_map[v], e[v], _mm512_set1_epi32(INDEX_MASK as i32));
                x[v] = _mm512_srli_epi32::<24>(_mm512_sll_epi32(k[v], slot_shift));
                // A Map is 5 u64s: bits[0..4], then base_m1 | before << 32.
                m5[v] = _mm512_add_epi32(_mm512_slli_epi32::<2>(m), m);
            }
            let mut hidx = [zero; 4];
            for q in 0..4 {
                let (v, half) = (q / 2, q % 2);
                let lanes = (is_map[v] >> (8 * half)) as __mmask8;
                let w = _mm512_srli_epi32::<6>(x[v]);
                let widx = _mm512_add_epi32(m5[v], w);
                let bidx = _mm512_add_epi32(m5[v], _mm512_set1_epi32(4));
                let (wi, bi, xi, wv) = if half == 0 {
                    (
                        _mm512_castsi512_si256(widx),
                        _mm512_castsi512_si256(bidx),
                        _mm512_castsi512_si256(x[v]),
                        _mm512_castsi512_si256(w),
                    )
                } else {
                    (
                        _mm512_extracti64x4_epi64::<1>(widx),
                        _mm512_extracti64x4_epi64::<1>(bidx),
                        _mm512_extracti64x4_epi64::<1>(x[v]),
                        _mm512_extracti64x4_epi64::<1>(w),
                    )
                };
                // SAFETY: live map lanes index words of a map < maps.len().
                let word = unsafe { _mm512_mask_i32gather_epi64::<8>(zero, lanes, wi, maps) };
                // SAFETY: as above, the map's fifth word.
                let bw = unsafe { _mm512_mask_i32gather_epi64::<8>(zero, lanes, bi, maps) };
                // Bits 0..=x % 64 of the word, shifted to the top, counted.
                let x64 = _mm512_cvtepu32_epi64(xi);
                let cnt = _mm512_andnot_si512(x64, _mm512_set1_epi64(63));
                let pop = _mm512_popcnt_epi64(_mm512_sllv_epi64(word, cnt));
                // before[w]: byte w of the high half of the fifth word.
                let bsh = _mm512_add_epi64(
                    _mm512_slli_epi64::<3>(_mm512_cvtepu32_epi64(wv)),
                    _mm512_set1_epi64(32),
                );
                let before = _mm512_and_si512(_mm512_srlv_epi64(bw, bsh), _mm512_set1_epi64(0xff));
                // base_m1 + before + pop, modulo 2^32 (the low halves suffice).
                hidx[q] = _mm512_add_epi64(_mm512_add_epi64(bw, before), pop);
            }
            for v in 0..2 {
                if live[v] == 0 {
                    continue;
                }
                let hi = _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm512_cvtepi64_epi32(hidx[2 * v])),
                    _mm512_cvtepi64_epi32(hidx[2 * v + 1]),
                );
                // SAFETY: live map lanes index that map's next hops, < hops.len().
                let h = unsafe { _mm512_mask_i32gather_epi32::<4>(zero, is_map[v], hi, hops) };
                let leaf = _mm512_sub_epi32(e[v], _mm512_set1_epi32(1));
                let res = _mm512_mask_blend_epi32(is_leaf[v], h, leaf);
                // SAFETY: `live` covers exactly the output slots from `16 * v`.
                unsafe {
                    _mm512_mask_storeu_epi32(os.as_mut_ptr().add(16 * v).cast(), live[v], res)
                };
            }
            for v in 0..2 {
                while slow[v] != 0 {
                    let l = 16 * v + slow[v].trailing_zeros() as usize;
                    slow[v] &= slow[v] - 1;
                    let ent = self.direct[(ks[l] >> (32 - s)) as usize];
                    os[l] = self.resolve_simd(ent, K::from_wide(u128::from(ks[l]) << 96), s);
                }
            }
        }
    }

    /// The scalar walk for the lanes the vector stages leave (tables under 4096
    /// routes, prefixes longer than /24, and IPv6): sub-tables followed, and the
    /// range chunks of 16- and 32-bit starts ranked with one vector compare per 32
    /// or 16 starts instead of a binary search whose branches mispredict.
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
    fn resolve_simd(&self, mut e: u32, key: K, mut o: u32) -> NextHop {
        loop {
            if e < CHUNK {
                return e.wrapping_sub(1);
            }
            if (BITMAP..SUB).contains(&e) && o + 8 <= K::BITS {
                let x = key.tail(o).top8();
                return self.maps.hops[self.maps.index((e & INDEX_MASK) as usize, x)];
            }
            if (SUB..DESC).contains(&e) && o < K::BITS {
                let t = ((e >> SUB_OFF_BITS) & 0xf) + 1;
                e = self.direct[(e & SUB_OFF_MASK) as usize + key.bits(o, t)];
                o += t;
                continue;
            }
            if e >= DESC && o < K::BITS {
                let d = self.descs[(e & INDEX_MASK) as usize];
                let (off, n) = (d.off as usize, d.count as usize);
                match d.kind {
                    K_DIRECT => {
                        let t = u32::from(d.bits);
                        e = self.direct[off + key.bits(o, t)];
                        o += t;
                        continue;
                    }
                    K_R32 => {
                        let starts = &self.r32.starts[off..off + n];
                        let x = _mm512_set1_epi32(key.tail(o).top32() as i32);
                        let mut rank = 0;
                        for c in starts.chunks(16) {
                            let live: __mmask16 = if c.len() == 16 {
                                0xffff
                            } else {
                                (1u16 << c.len()) - 1
                            };
                            // SAFETY: `live` covers exactly the starts of `c`.
                            let v = unsafe { _mm512_maskz_loadu_epi32(live, c.as_ptr().cast()) };
                            let le = _mm512_mask_cmple_epu32_mask(live, v, x);
                            rank += le.count_ones() as usize;
                            if le != live {
                                break; // sorted: the rest start after x
                            }
                        }
                        return self.r32.hops[off + rank - 1];
                    }
                    K_R16 => {
                        let starts = &self.r16.starts[off..off + n];
                        let x = _mm512_set1_epi16(key.tail(o).top16() as i16);
                        let mut rank = 0;
                        for c in starts.chunks(32) {
                            let live: __mmask32 = if c.len() == 32 {
                                u32::MAX
                            } else {
                                (1u32 << c.len()) - 1
                            };
                            // SAFETY: `live` covers exactly the starts of `c`.
                            let v = unsafe { _mm512_maskz_loadu_epi16(live, c.as_ptr().cast()) };
                            let le = _mm512_mask_cmple_epu16_mask(live, v, x);
                            rank += le.count_ones() as usize;
                            if le != live {
                                break;
                            }
                        }
                        return self.r16.hops[off + rank - 1];
                    }
                    _ => {}
                }
            }
            return self.resolve(e, key, o);
        }
    }

    /// The batch lookup of other families (IPv6): all lanes' top-level reads, then
    /// each lane's walk with vector ranks (`resolve_simd`).
    ///
    /// # Safety
    /// The CPU must have the features `avx512_usable` checks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
    pub(super) unsafe fn lookup_any_avx512(&self, keys: &[K], out: &mut [NextHop]) {
        let s = self.s;
        for (ks, os) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let mut ent = [0u32; LANES];
            for (e, &k) in ent.iter_mut().zip(ks) {
                *e = self.direct[k.bits(0, s)];
            }
            for ((o, &k), &e) in os.iter_mut().zip(ks).zip(&ent) {
                *o = self.resolve_simd(e, k, s);
            }
        }
    }
}
