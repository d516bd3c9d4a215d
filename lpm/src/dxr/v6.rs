//! The IPv6 batch lookups. The structure under a big IPv6 table's top level is
//! sub-direct tables and line chunks (`Dxr::emit_v6`): a key walks the top level,
//! one to three sub-direct tables, and at most one line chunk.
//!
//! `lookup_v6_rounds` (any CPU): 32 keys walked level by level. Every round sorts
//! the lanes still walking by what their entry is (a leaf: done; a sub-direct
//! table; a line chunk of 16- or 32-bit starts; anything else: the scalar walk at
//! the end) into lists, without a branch per lane (the kind is a coin toss the
//! predictor cannot learn), then runs each list's step for all of its lanes: their
//! reads are independent, so their cache misses overlap. Line chunks end a walk;
//! sub-direct lanes go round again.
//!
//! `lookup_v6_avx512`: the same rounds, 16 lanes a vector (see there).

use super::{
    Dxr, CHUNK, LANES, LINE_N_SHIFT, LINE_OFF_MASK, LINE_WIDE, SUB_OFF_BITS, SUB_OFF_MASK,
};
use crate::key::Key;
use crate::NextHop;

/// Lane lists by kind.
const DONE: usize = 0;
const SUBS: usize = 1;
const LINE16: usize = 2;
const LINE32: usize = 3;
const SLOW: usize = 4;

/// Sub-direct steps the AVX-512 batch lookup takes in vectors. Every step is a
/// round of gathers that the whole batch waits for, and on the real table a
/// third step is taken by 1.7% of random keys (the lanes under six sub-direct
/// tables at /42../46, one of them on the way to the crowd of prefixes past /64)
/// but by a lane in 43% of the batches: those lanes go on on the scalar walk
/// instead, while the line lanes' nodes load.
const VECTOR_STEPS: u32 = 2;

impl<K: Key> Dxr<K> {
    /// `out[i] = lookup(keys[i])` for an IPv6 table (`K` is `u128`): the steps
    /// within the keys' first 64 bits here, the rest on the scalar walk.
    #[inline(always)]
    pub(super) fn lookup_v6_rounds(&self, keys: &[K], out: &mut [NextHop]) {
        debug_assert!(K::BITS == 128 && self.s < 64);
        let s = self.s;
        for (ks, os) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let mut hi = [0u64; LANES];
            let mut e = [0u32; LANES];
            let mut o = [0u32; LANES];
            let mut lists = [[0u8; LANES]; 5];
            let mut cnt = [0usize; 5];
            for (l, &k) in ks.iter().enumerate() {
                hi[l] = (k.to_wide() >> 64) as u64;
                e[l] = self.direct[(hi[l] >> (64 - s)) as usize];
                o[l] = s;
                lists[SUBS][l] = l as u8;
            }
            let mut walking = ks.len();
            while walking > 0 {
                // Sort the walking lanes (in `lists[SUBS]`) by their entries.
                let cur = lists[SUBS];
                cnt[DONE] = 0;
                cnt[SUBS] = 0;
                cnt[LINE16] = 0;
                cnt[LINE32] = 0;
                for &l in &cur[..walking] {
                    let l = usize::from(l);
                    let (e, o) = (e[l], o[l]);
                    // A leaf's answer; overwritten later when `e` is not one.
                    os[l] = e.wrapping_sub(1);
                    let t = ((e >> SUB_OFF_BITS) & 0xf) + 1;
                    let sub = u32::from(e >> 29 == 6 && o + t <= 64);
                    let wide = (e & LINE_WIDE) >> 27;
                    let line = u32::from(e >> 28 == 0xf && o + (16 << wide) <= 64);
                    let kind = u32::from(e >= CHUNK) * (4 - 3 * sub - (2 - wide) * line);
                    let kind = kind as usize;
                    lists[kind][cnt[kind]] = l as u8;
                    cnt[kind] += 1;
                }
                for &l in &lists[LINE16][..cnt[LINE16]] {
                    let l = usize::from(l);
                    let x = ((hi[l] << o[l]) >> 48) as u32;
                    os[l] = self.lines.find(e[l], x);
                }
                for &l in &lists[LINE32][..cnt[LINE32]] {
                    let l = usize::from(l);
                    let x = ((hi[l] << o[l]) >> 32) as u32;
                    os[l] = self.lines.find(e[l], x);
                }
                for &l in &lists[SUBS][..cnt[SUBS]] {
                    let l = usize::from(l);
                    let t = ((e[l] >> SUB_OFF_BITS) & 0xf) + 1;
                    let i = (e[l] & SUB_OFF_MASK) as usize + ((hi[l] << o[l]) >> (64 - t)) as usize;
                    e[l] = self.direct[i];
                    o[l] += t;
                }
                walking = cnt[SUBS];
            }
            for &l in &lists[SLOW][..cnt[SLOW]] {
                let l = usize::from(l);
                os[l] = self.resolve(e[l], ks[l], o[l]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
impl<K: Key> Dxr<K> {
    /// The IPv6 batch lookup with AVX-512, 16 lanes a vector, two vectors a group:
    /// the top level and up to `VECTOR_STEPS` sub-direct steps by gathers, a
    /// fixed number of rounds, the leaves' answers by a masked store, then each
    /// lane on a line chunk ranked on its own (one load, one compare), and the
    /// rare lanes left (prefixes past /64, other chunks, a third sub-direct step)
    /// on the scalar walk. The line lanes' node, hop and mask offsets are worked
    /// out in the vectors (the line step was most of a random-key batch's time:
    /// random 124 -> 137, hot 182 -> 190 M/s when that came in). Their nodes are
    /// not prefetched before the ranks: with the fixed rounds, the prefetch loop
    /// (one more loop over a varying number of lanes) no longer paid, measured
    /// in one process with both variants alternating on the real table, random
    /// keys +3-6% and hot keys +2% without it. The key's bits at depth `o`:
    /// `key_bits`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and BW.
    #[target_feature(enable = "avx512f,avx512bw,popcnt,bmi1")]
    #[allow(clippy::needless_range_loop)] // one lane index across several arrays
    pub(super) unsafe fn lookup_v6_avx512(&self, keys: &[K], out: &mut [NextHop]) {
        use std::arch::x86_64::*;
        debug_assert!(K::BITS == 128 && self.s <= 16);
        let direct = self.direct.as_ptr().cast::<i32>();
        let zero = _mm512_setzero_si512();
        let c32 = _mm512_set1_epi32(32);
        for (ks, os) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let mut e = [zero; 2];
            let mut o = [zero; 2];
            let mut hv = [zero; 2];
            let mut lv = [zero; 2];
            let mut pend = [0u16; 2];
            let (mut leaf, mut l16, mut l32, mut slow) =
                ([0u16; 2], [0u16; 2], [0u16; 2], [0u16; 2]);
            let words = ks.as_ptr().cast::<i32>();
            for v in 0..2 {
                let n = ks.len().saturating_sub(16 * v).min(16);
                pend[v] = ((1u32 << n) - 1) as u16;
                // The keys' two high 32-bit words (3 and 2 of each little-endian
                // u128), 4 keys a load, sorted into lanes by permutes.
                let mut q = [zero; 4];
                for (j, q) in q.iter_mut().enumerate() {
                    let keys_here = n.saturating_sub(4 * j).min(4);
                    let m = ((1u32 << (4 * keys_here)) - 1) as u16;
                    // SAFETY: `m` covers the words of keys 16v + 4j.. that exist.
                    *q = unsafe { _mm512_maskz_loadu_epi32(m, words.add(64 * v + 16 * j)) };
                }
                let pick =
                    _mm512_set_epi32(30, 26, 22, 18, 14, 10, 6, 2, 31, 27, 23, 19, 15, 11, 7, 3);
                let p0 = _mm512_permutex2var_epi32(q[0], pick, q[1]);
                let p1 = _mm512_permutex2var_epi32(q[2], pick, q[3]);
                hv[v] = _mm512_permutex2var_epi32(
                    p0,
                    _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0),
                    p1,
                );
                lv[v] = _mm512_permutex2var_epi32(
                    p0,
                    _mm512_set_epi32(31, 30, 29, 28, 27, 26, 25, 24, 15, 14, 13, 12, 11, 10, 9, 8),
                    p1,
                );
                let idx = _mm512_srlv_epi32(hv[v], _mm512_set1_epi32(32 - self.s as i32));
                // SAFETY: every index is below 2^s <= direct.len().
                e[v] = unsafe { _mm512_mask_i32gather_epi32::<4>(zero, pend[v], idx, direct) };
                o[v] = _mm512_set1_epi32(self.s as i32);
            }
            // The rounds, a fixed number of them: each sorts the lanes it walks by
            // their entries, and every round but the last gathers the sub-direct
            // lanes' next entries (both vectors' gathers, even one with no lane
            // left: the real table's batches all have sub-direct lanes in both
            // rounds, and a branch per vector and per round is one more
            // mispredicted branch on random keys).
            for step in 0..=VECTOR_STEPS {
                let mut sub = [0u16; 2];
                let mut t = [zero; 2];
                for v in 0..2 {
                    let ev = e[v];
                    let lf =
                        _mm512_mask_cmplt_epu32_mask(pend[v], ev, _mm512_set1_epi32(CHUNK as i32));
                    t[v] = _mm512_add_epi32(
                        _mm512_and_si512(_mm512_srli_epi32::<25>(ev), _mm512_set1_epi32(0xf)),
                        _mm512_set1_epi32(1),
                    );
                    let is_sub = _mm512_mask_cmpeq_epi32_mask(
                        pend[v],
                        _mm512_srli_epi32::<29>(ev),
                        _mm512_set1_epi32(6),
                    );
                    sub[v] = _mm512_mask_cmple_epu32_mask(
                        is_sub,
                        _mm512_add_epi32(o[v], t[v]),
                        _mm512_set1_epi32(64),
                    );
                    let line = _mm512_mask_cmpeq_epi32_mask(
                        pend[v],
                        _mm512_srli_epi32::<28>(ev),
                        _mm512_set1_epi32(0xf),
                    );
                    let wide =
                        _mm512_mask_test_epi32_mask(line, ev, _mm512_set1_epi32(LINE_WIDE as i32));
                    leaf[v] |= lf;
                    l16[v] |= line & !wide;
                    l32[v] |= wide;
                    slow[v] |= pend[v] & !lf & !sub[v] & !line;
                }
                if step == VECTOR_STEPS {
                    // The few lanes still on a sub-direct table walk on alone.
                    slow[0] |= sub[0];
                    slow[1] |= sub[1];
                    break;
                }
                if sub == [0; 2] {
                    // Small tables; the real one's batches all take every round.
                    break;
                }
                for v in 0..2 {
                    let bits = _mm512_srlv_epi32(
                        key_bits(hv[v], lv[v], o[v]),
                        _mm512_sub_epi32(c32, t[v]),
                    );
                    let off = _mm512_and_si512(e[v], _mm512_set1_epi32(SUB_OFF_MASK as i32));
                    // SAFETY: a sub-direct table's 2^t entries lie in `direct`.
                    let ne = unsafe {
                        _mm512_mask_i32gather_epi32::<4>(
                            zero,
                            sub[v],
                            _mm512_add_epi32(off, bits),
                            direct,
                        )
                    };
                    e[v] = _mm512_mask_mov_epi32(e[v], sub[v], ne);
                    o[v] = _mm512_mask_add_epi32(o[v], sub[v], o[v], t[v]);
                    pend[v] = sub[v];
                }
            }
            // Each line lane's key bits at its depth (16 for a chunk of 16-bit
            // starts, 32 else), by the same shifts as the sub-direct step; lanes
            // whose bits lie past the first 64 (rare) get theirs from the full key.
            let mut ea = [0u32; LANES];
            let mut oa = [0u32; LANES];
            let mut xa = [0u32; LANES];
            // Per line lane, worked out 16 lanes at a time: the word where its
            // node starts, the word before its first hop (the rank, at least 1,
            // is added), and the compare mask of its live starts.
            let mut wa = [0u32; LANES];
            let mut ha = [0u32; LANES];
            let mut ma = [0u32; LANES];
            let mut far = 0u32;
            for v in 0..2 {
                let x = key_bits(hv[v], lv[v], o[v]);
                let x = _mm512_mask_srli_epi32::<16>(x, l16[v], x);
                let near = _mm512_mask_cmple_epu32_mask(l16[v], o[v], _mm512_set1_epi32(48))
                    | _mm512_mask_cmple_epu32_mask(l32[v], o[v], c32);
                far |= u32::from((l16[v] | l32[v]) & !near) << (16 * v);
                // As `decode`: first line, interval count - 1; hops after the
                // starts (n / 2 words of 16-bit starts rounded up, n of 32-bit).
                let w0 = _mm512_slli_epi32::<4>(_mm512_and_si512(
                    e[v],
                    _mm512_set1_epi32(LINE_OFF_MASK as i32),
                ));
                let n1 = _mm512_and_si512(
                    _mm512_srli_epi32::<{ LINE_N_SHIFT }>(e[v]),
                    _mm512_set1_epi32(0x1f),
                );
                let one = _mm512_set1_epi32(1);
                let half = _mm512_srli_epi32::<1>(_mm512_add_epi32(n1, _mm512_set1_epi32(2)));
                let hw = _mm512_mask_mov_epi32(half, l32[v], _mm512_add_epi32(n1, one));
                let hb = _mm512_sub_epi32(_mm512_add_epi32(w0, hw), one);
                let live = _mm512_srlv_epi32(
                    _mm512_set1_epi32(-1),
                    _mm512_sub_epi32(_mm512_set1_epi32(31), n1),
                );
                // SAFETY: 16 lanes from 16 * v < LANES; leaf lanes are live, within `os`.
                unsafe {
                    _mm512_storeu_si512(ea.as_mut_ptr().add(16 * v).cast(), e[v]);
                    _mm512_storeu_si512(oa.as_mut_ptr().add(16 * v).cast(), o[v]);
                    _mm512_storeu_si512(xa.as_mut_ptr().add(16 * v).cast(), x);
                    _mm512_storeu_si512(wa.as_mut_ptr().add(16 * v).cast(), w0);
                    _mm512_storeu_si512(ha.as_mut_ptr().add(16 * v).cast(), hb);
                    _mm512_storeu_si512(ma.as_mut_ptr().add(16 * v).cast(), live);
                    _mm512_mask_storeu_epi32(
                        os.as_mut_ptr().add(16 * v).cast(),
                        leaf[v],
                        _mm512_sub_epi32(e[v], _mm512_set1_epi32(1)),
                    );
                }
            }
            while far != 0 {
                let l = far.trailing_zeros() as usize;
                far &= far - 1;
                // Line chunks come after at least the top level: o < 128.
                let x = ks[l].to_wide() << oa[l];
                xa[l] = if ea[l] & LINE_WIDE != 0 {
                    (x >> 96) as u32
                } else {
                    (x >> 112) as u32
                };
            }
            let join = |m: [u16; 2]| u32::from(m[0]) | (u32::from(m[1]) << 16);
            let (mut m16, mut m32, mut ms) = (join(l16), join(l32), join(slow));
            let words = self.lines.v.as_ptr().cast::<u32>();
            // One aligned load of a node's starts, one compare, its hop by rank.
            // SAFETY (both loops): a line chunk's entry names a node of `lines`,
            // whose first line holds its starts and whose hops follow them.
            while m16 != 0 {
                let l = m16.trailing_zeros() as usize;
                m16 &= m16 - 1;
                let rank = unsafe {
                    let v = _mm512_load_si512(words.add(wa[l] as usize).cast());
                    _mm512_mask_cmple_epu16_mask(ma[l], v, _mm512_set1_epi16(xa[l] as u16 as i16))
                }
                .count_ones() as usize;
                os[l] = unsafe { *words.add(ha[l] as usize + rank) };
            }
            while m32 != 0 {
                let l = m32.trailing_zeros() as usize;
                m32 &= m32 - 1;
                let rank = unsafe {
                    let v = _mm512_load_si512(words.add(wa[l] as usize).cast());
                    _mm512_mask_cmple_epu32_mask(ma[l] as u16, v, _mm512_set1_epi32(xa[l] as i32))
                }
                .count_ones() as usize;
                os[l] = unsafe { *words.add(ha[l] as usize + rank) };
            }
            while ms != 0 {
                let l = ms.trailing_zeros() as usize;
                ms &= ms - 1;
                os[l] = self.resolve(ea[l], ks[l], oa[l]);
            }
        }
    }
}

/// The key's 32 bits from depth `o` (`o` < 64; bits past 64 read as 0) from its
/// first 64 bits held as two 32-bit halves: the high half shifted left by `o`,
/// the low half right by 32 - `o` or left by `o` - 32 (a variable shift by 32 or
/// more gives 0), so any depth takes three shifts and no branch.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn key_bits(
    hv: std::arch::x86_64::__m512i,
    lv: std::arch::x86_64::__m512i,
    o: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    let c32 = _mm512_set1_epi32(32);
    _mm512_or_si512(
        _mm512_or_si512(
            _mm512_sllv_epi32(hv, o),
            _mm512_srlv_epi32(lv, _mm512_sub_epi32(c32, o)),
        ),
        _mm512_sllv_epi32(lv, _mm512_sub_epi32(o, c32)),
    )
}
