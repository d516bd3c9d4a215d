//! Key families: `u32` for IPv4, `u128` for IPv6. The builder works on keys
//! left-aligned in a `u128` (bit 127 is the first address bit) so that one code
//! path serves both; lookups stay in the family's own width.

use std::hash::Hash;

pub(crate) trait Key:
    Copy + Ord + Hash + Default + Send + Sync + std::fmt::Debug + 'static
{
    /// Address width in bits.
    const BITS: u32;
    /// Left-aligned in a `u128`.
    fn to_wide(self) -> u128;
    /// Inverse of `to_wide` (low bits beyond `BITS` are dropped).
    fn from_wide(w: u128) -> Self;
    /// Bits `o .. o + t` as an index (`1 <= t`, `o + t <= BITS`).
    fn bits(self, o: u32, t: u32) -> usize;
    /// The key without its first `o` bits, top-aligned (`o < BITS`).
    fn tail(self, o: u32) -> Self;
    /// The first 8/16/32/128 bits of a left-aligned 128-bit view of `self`.
    fn top8(self) -> u8;
    fn top16(self) -> u16;
    fn top32(self) -> u32;
    fn top128(self) -> u128 {
        self.to_wide()
    }
    /// The keys as `u32`s when the family is IPv4 (for the vectorised lookup).
    fn as_u32s(keys: &[Self]) -> Option<&[u32]>;
}

impl Key for u32 {
    const BITS: u32 = 32;
    #[inline(always)]
    fn to_wide(self) -> u128 {
        u128::from(self) << 96
    }
    #[inline(always)]
    fn from_wide(w: u128) -> Self {
        (w >> 96) as u32
    }
    #[inline(always)]
    fn bits(self, o: u32, t: u32) -> usize {
        ((self << o) >> (32 - t)) as usize
    }
    #[inline(always)]
    fn tail(self, o: u32) -> Self {
        self << o
    }
    #[inline(always)]
    fn top8(self) -> u8 {
        (self >> 24) as u8
    }
    #[inline(always)]
    fn top16(self) -> u16 {
        (self >> 16) as u16
    }
    #[inline(always)]
    fn top32(self) -> u32 {
        self
    }
    fn as_u32s(keys: &[Self]) -> Option<&[u32]> {
        Some(keys)
    }
}

impl Key for u128 {
    const BITS: u32 = 128;
    #[inline(always)]
    fn to_wide(self) -> u128 {
        self
    }
    #[inline(always)]
    fn from_wide(w: u128) -> Self {
        w
    }
    #[inline(always)]
    fn bits(self, o: u32, t: u32) -> usize {
        ((self << o) >> (128 - t)) as usize
    }
    #[inline(always)]
    fn tail(self, o: u32) -> Self {
        self << o
    }
    #[inline(always)]
    fn top8(self) -> u8 {
        (self >> 120) as u8
    }
    #[inline(always)]
    fn top16(self) -> u16 {
        (self >> 112) as u16
    }
    #[inline(always)]
    fn top32(self) -> u32 {
        (self >> 96) as u32
    }
    fn as_u32s(_: &[Self]) -> Option<&[u32]> {
        None
    }
}

/// Left-aligned mask of the first `len` bits (`len <= 128`).
#[inline]
pub(crate) fn wide_mask(len: u32) -> u128 {
    u128::MAX.checked_shl(128 - len).unwrap_or(0)
}
