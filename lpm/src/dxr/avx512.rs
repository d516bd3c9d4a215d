//! The IPv4 batch lookup with AVX-512 gathers, 16 lanes at a time: the top-level
//! entries, the bitmap head words (a 24-bit piece of the map and the rank before
//! it, `HEAD` in `mod.rs`) and the next hops are each read for 16 keys by one
//! gather, so the lanes' cache misses overlap without a branch; slots that are
//! range chunks of 32-bit starts (tables under 4096 routes) get a branch-free
//! binary search, a gather per step. A lane in a deep map's fine bucket (a /24
//! holding longer prefixes) continues on the scalar walk from the bucket's entry,
//! the hop the vector stages read (not from the top again: measured +4% random,
//! +9% hot keys on the full table); rarer chunks take the whole scalar walk.
//! (IPv6: `v6.rs`.) Used when the CPU has AVX-512F, BW and VPOPCNTDQ (checked at
//! run time); otherwise the portable batch lookup runs. Measured here (AMD EPYC):
//! a gather costs about a cycle per lane, masked-off lanes included, much as
//! scalar loads.

#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{
    Dxr, BITMAP, CHUNK, DEEP_HOP, DEEP_MAP, DESC, HEAD, INDEX_MASK, K_DIRECT, K_R16, K_R32, LANES,
    LINE, MAP_MASK, PIECE, PIECE_MASK, SUB, SUB_OFF_BITS, SUB_OFF_MASK,
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
            && self.maps.nodes.len() < i32::MAX as usize
            && self.direct.len() < i32::MAX as usize
            && self.descs.len() < (i32::MAX as usize) / 3
            && self.r32.starts.len() < i32::MAX as usize
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
        // Bitmap nodes, read as u32s (a node's index counts u64s: its head starts
        // at u32 2m).
        let hops = self.maps.nodes.as_ptr().cast::<i32>();
        let descs = self.descs.as_ptr().cast::<i32>();
        let starts = self.r32.starts.as_ptr().cast::<i32>();
        let r32_hops = self.r32.hops.as_ptr().cast::<i32>();
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
            // Lanes in a deep map's fine bucket: their answer so far (`os`) is the
            // bucket's entry, for the key's last bits.
            let mut fine = [0 as __mmask16; 2];
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
                // Node m, key byte x after the slot bits.
                let m = _mm512_maskz_and_epi32(is_map[v], e[v], _mm512_set1_epi32(MAP_MASK as i32));
                x[v] = _mm512_srli_epi32::<24>(_mm512_sll_epi32(k[v], slot_shift));
                m5[v] = m;
            }
            // Each map lane's head word (one 16-lane gather a vector): the 24-bit
            // piece of the map holding the key's byte, and in its top byte the
            // rank of the piece's first bit; the hop's index follows without
            // another read.
            let mut hidx = [zero; 2];
            for v in 0..2 {
                // j = x / 24 by a multiply (`piece`), the bit's place in the piece.
                let j = _mm512_srli_epi32::<16>(_mm512_mullo_epi32(x[v], _mm512_set1_epi32(2731)));
                let pos = _mm512_sub_epi32(x[v], _mm512_mullo_epi32(j, _mm512_set1_epi32(24)));
                let m2 = _mm512_add_epi32(m5[v], m5[v]);
                // SAFETY: live map lanes index head word j < HEAD of a node in `nodes`.
                let w = unsafe {
                    _mm512_mask_i32gather_epi32::<4>(zero, is_map[v], _mm512_add_epi32(m2, j), hops)
                };
                let bits = _mm512_and_si512(w, _mm512_set1_epi32(PIECE_MASK as i32));
                let upto = _mm512_sllv_epi32(bits, _mm512_sub_epi32(_mm512_set1_epi32(31), pos));
                let rank =
                    _mm512_add_epi32(_mm512_srli_epi32::<{ PIECE }>(w), _mm512_popcnt_epi32(upto));
                // The hop: rank - 1 after the head.
                hidx[v] = _mm512_add_epi32(
                    _mm512_add_epi32(m2, _mm512_set1_epi32(HEAD as i32 - 1)),
                    rank,
                );
            }
            for v in 0..2 {
                if live[v] == 0 {
                    continue;
                }
                // SAFETY: live map lanes index one of that node's next hops.
                let h = unsafe { _mm512_mask_i32gather_epi32::<4>(zero, is_map[v], hidx[v], hops) };
                let leaf = _mm512_sub_epi32(e[v], _mm512_set1_epi32(1));
                let res = _mm512_mask_blend_epi32(is_leaf[v], h, leaf);
                // A deep map's hop with its top bit set points further down: those
                // lanes finish on the scalar path.
                let deep = _mm512_mask_test_epi32_mask(
                    is_map[v],
                    e[v],
                    _mm512_set1_epi32(DEEP_MAP as i32),
                );
                fine[v] = _mm512_mask_cmplt_epi32_mask(deep, h, zero);
                // SAFETY: `live` covers exactly the output slots from `16 * v`.
                unsafe {
                    _mm512_mask_storeu_epi32(os.as_mut_ptr().add(16 * v).cast(), live[v], res)
                };
            }
            // Slots that are range chunks of 32-bit starts (most slots of a table
            // under 4096 routes): a branch-free binary search, 16 lanes a gather.
            for v in 0..2 {
                let d = _mm512_mask_cmpge_epu32_mask(slow[v], e[v], _mm512_set1_epi32(DESC as i32));
                let d = _mm512_mask_cmplt_epu32_mask(d, e[v], _mm512_set1_epi32(LINE as i32));
                if d == 0 {
                    continue;
                }
                // A `Desc` is 3 u32s: kind | bits << 8, count, off.
                let di = _mm512_and_si512(e[v], _mm512_set1_epi32(INDEX_MASK as i32));
                let d3 = _mm512_add_epi32(_mm512_slli_epi32::<1>(di), di);
                // SAFETY: live descriptor lanes index descriptors < descs.len().
                let w0 = unsafe { _mm512_mask_i32gather_epi32::<4>(zero, d, d3, descs) };
                let kind = _mm512_and_si512(w0, _mm512_set1_epi32(0xff));
                let r = _mm512_mask_cmpeq_epi32_mask(d, kind, _mm512_set1_epi32(i32::from(K_R32)));
                if r == 0 {
                    continue;
                }
                let one = _mm512_set1_epi32(1);
                // SAFETY: as above, the descriptor's second and third words.
                let (mut n, off) = unsafe {
                    (
                        _mm512_mask_i32gather_epi32::<4>(zero, r, _mm512_add_epi32(d3, one), descs),
                        _mm512_mask_i32gather_epi32::<4>(
                            zero,
                            r,
                            _mm512_add_epi32(d3, _mm512_set1_epi32(2)),
                            descs,
                        ),
                    )
                };
                let x = _mm512_sll_epi32(k[v], slot_shift);
                let mut base = off;
                loop {
                    // As `search`: while n > 1, step over half if its first start <= x.
                    let active = _mm512_mask_cmpgt_epu32_mask(r, n, one);
                    if active == 0 {
                        break;
                    }
                    let half = _mm512_srli_epi32::<1>(n);
                    // SAFETY: base + half < off + count, within the chunk's starts.
                    let st = unsafe {
                        _mm512_mask_i32gather_epi32::<4>(
                            zero,
                            active,
                            _mm512_add_epi32(base, half),
                            starts,
                        )
                    };
                    let le = _mm512_mask_cmple_epu32_mask(active, st, x);
                    base = _mm512_mask_add_epi32(base, le, base, half);
                    n = _mm512_mask_sub_epi32(n, active, n, half);
                }
                // SAFETY: base < off + count, within the chunk's next hops.
                let h = unsafe { _mm512_mask_i32gather_epi32::<4>(zero, r, base, r32_hops) };
                // SAFETY: `r` lanes are live: within the output slots from `16 * v`.
                unsafe { _mm512_mask_storeu_epi32(os.as_mut_ptr().add(16 * v).cast(), r, h) };
                slow[v] &= !r;
            }
            for v in 0..2 {
                while fine[v] != 0 {
                    let l = 16 * v + fine[v].trailing_zeros() as usize;
                    fine[v] &= fine[v] - 1;
                    os[l] = self.resolve_simd(os[l], K::from_wide(u128::from(ks[l]) << 96), s + 8);
                }
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
            match self.step_simd(e, key, o) {
                Ok(nh) => return nh,
                Err((ne, no)) => (e, o) = (ne, no),
            }
        }
    }

    /// One step of `resolve_simd`: the next hop, or the entry (and depth) one
    /// level further down.
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
    #[inline]
    fn step_simd(&self, e: u32, key: K, o: u32) -> Result<NextHop, (u32, u32)> {
        {
            if e < CHUNK {
                return Ok(e.wrapping_sub(1));
            }
            if (BITMAP..SUB).contains(&e) && o + 8 <= K::BITS {
                let x = key.tail(o).top8();
                let h = self.maps.hop(self.maps.index((e & MAP_MASK) as usize, x));
                if e & DEEP_MAP != 0 && h & DEEP_HOP != 0 {
                    return Err((h, o + 8));
                }
                return Ok(h);
            }
            if (SUB..DESC).contains(&e) && o < K::BITS {
                let t = ((e >> SUB_OFF_BITS) & 0xf) + 1;
                return Err((
                    self.direct[(e & SUB_OFF_MASK) as usize + key.bits(o, t)],
                    o + t,
                ));
            }
            if (DESC..LINE).contains(&e) && o < K::BITS {
                let d = self.descs[(e & INDEX_MASK) as usize];
                let (off, n) = (d.off as usize, d.count as usize);
                match d.kind {
                    K_DIRECT => {
                        let t = u32::from(d.bits);
                        return Err((self.direct[off + key.bits(o, t)], o + t));
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
                        return Ok(self.r32.hops[off + rank - 1]);
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
                        return Ok(self.r16.hops[off + rank - 1]);
                    }
                    _ => {}
                }
            }
            Ok(self.resolve(e, key, o))
        }
    }
}
