//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Partial sums are `u16` ones'-complement sums, not yet complemented, so pieces
//! summed separately (pseudo-header, header, payload) combine with [`add`] before
//! [`finish`] complements the total. Summing a piece on its own is only correct when
//! everything before it has even length, because the sum runs over 16-bit words.
//!
//! A buffer that contains its own checksum field verifies when [`sum`] over it is
//! `0xffff` (negative zero).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator to 16 bits with end-around carry.
///
/// Four fixed steps rather than a loop until it fits: the loop's branch and its
/// one-to-three rounds were ~20 instructions per forwarded IPv4 packet (header
/// verify plus TTL update). Bounds: 64 → 33 bits, → 32 bits (a carry out of the
/// low half leaves it at most 2^32 - 2), → 17 bits (at most 0x1fffe), → 16.
#[inline(always)]
const fn fold(acc: u64) -> u16 {
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Whether a 20-byte IPv4 header (one without options, nearly every one) holds a
/// correct checksum: [`sum`] over it is 0xffff.
///
/// Why not `sum`: the general loop, its remainder handling and the big-endian
/// byte swaps cost ~25 instructions per packet on the forwarding path. A
/// ones'-complement sum taken over native-order words is the byte swap of the
/// big-endian one (RFC 1071 section 2(B)), and 0xffff is its own swap, so five
/// native loads decide it.
///
/// And no fold: the folded sum is the plain sum's residue modulo 0xffff (2^16 ≡ 1),
/// except that a non-zero sum never folds to 0 but to 0xffff. So the fold is
/// 0xffff exactly when the plain sum is a non-zero multiple of 0xffff, which a
/// multiply by 0xffff's inverse modulo 2^64 tests (a multiple maps to at most
/// (2^64 - 1) / 0xffff, anything else above it): two instructions where the four
/// folding steps were twelve.
///
/// And three loads, not five: two 64-bit words and a 32-bit one, added with
/// end-around carry (2^64 ≡ 1 modulo 0xffff too, so the carry keeps the residue;
/// and a carry out leaves a non-zero sum, so zero stays "all zero").
#[inline(always)]
pub fn verifies_ipv4_header(h: &[u8; 20]) -> bool {
    let (a, b) = (h.first_chunk::<8>(), h[8..].first_chunk::<8>());
    let (Some(a), Some(b)) = (a, b) else {
        return false; // unreachable: 20 bytes hold both
    };
    let c = u32::from_ne_bytes([h[16], h[17], h[18], h[19]]);
    let (s, carry) = u64::from_ne_bytes(*a).overflowing_add(u64::from_ne_bytes(*b));
    // s + carry cannot overflow (s <= 2^64 - 2 when a carry went out);
    // + c can, so once more with the carry.
    let (s, carry2) = (s + u64::from(carry)).overflowing_add(u64::from(c));
    let s = s + u64::from(carry2);
    s != 0 && s.wrapping_mul(INVERSE_OF_FFFF) <= u64::MAX / 0xffff
}

/// 0xffff's multiplicative inverse modulo 2^64 (0xffff is odd, so it has one).
const INVERSE_OF_FFFF: u64 = {
    // Newton's iteration doubles the correct low bits each step: 1 -> 64 in six.
    let mut x: u64 = 1;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(0xffff_u64.wrapping_mul(x)));
        i += 1;
    }
    x
};
const _: () = assert!(INVERSE_OF_FFFF.wrapping_mul(0xffff) == 1);

/// Ones'-complement sum of `data` read as big-endian 16-bit words; an odd last byte
/// is padded with a zero byte, as RFC 1071 says.
pub fn sum(data: &[u8]) -> u16 {
    // 2^16 ≡ 1 (mod 0xffff), so adding 32-bit big-endian words gives the same
    // ones'-complement sum as adding 16-bit ones, with half the additions and no
    // carry handling in the loop. Each step adds < 2^33, so a u64 cannot overflow
    // before 2^31 steps (16 GiB of data).
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = words.remainder().chunks_exact(2);
    for w in &mut rest {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = rest.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

/// Ones'-complement addition of two partial sums.
#[inline]
pub const fn add(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// Ones'-complement sum of several partial sums.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// Turns a partial sum into the value stored in a checksum field.
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// The checksum of `data` (its checksum field, if any, must hold zero).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// Partial sum of the IPv4 pseudo-header used by TCP, UDP (RFC 768, RFC 793).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let (s, d) = (src.octets(), dst.octets());
    let acc = u64::from(u32::from_be_bytes(s))
        + u64::from(u32::from_be_bytes(d))
        + u64::from(protocol)
        + u64::from(length);
    fold(acc)
}

/// Partial sum of the IPv6 pseudo-header used by ICMPv6, TCP, UDP (RFC 8200 8.1).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let acc = u64::from(sum(&src.octets()))
        + u64::from(sum(&dst.octets()))
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
        + u64::from(next_header);
    fold(acc)
}

/// RFC 1624 incremental update: the checksum after a 16-bit word of the covered data
/// changes from `old` to `new`.
///
/// Uses eqn. 3, HC' = ~(~HC + ~m + m'), which unlike eqn. 2 never turns a checksum
/// that full recomputation gives as 0x0000 into 0xffff (RFC 1624 section 4). It
/// equals full recomputation whenever the covered data is not all zeroes, which no
/// IP header can be.
#[inline]
pub const fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(!csum as u64 + !old as u64 + new as u64)
}

/// [`update16`] for the IPv4 TTL/protocol word losing 0x0100 (a TTL decrement),
/// whatever the word was: ~old + new is then always 0xfeff, so the update is one
/// addition and one end-around carry (~6 instructions instead of ~17 on every
/// forwarded IPv4 packet). The sum is below 0x1fffe, so one fold step suffices.
#[inline(always)]
pub const fn update_ttl_decrement(csum: u16) -> u16 {
    let acc = (!csum) as u32 + 0xfeff;
    !(((acc & 0xffff) + (acc >> 16)) as u16)
}

/// [`update_ttl_decrement`] on the checksum field's two bytes as they lie in the
/// header: the ones'-complement sum commutes with swapping bytes (RFC 1071
/// section 2(B)), so on a little-endian host the field loads as it is and the
/// constant is swapped instead (0xfeff → 0xfffe): no byte swap in and out, three
/// instructions fewer per forwarded packet.
#[inline(always)]
pub const fn update_ttl_decrement_bytes(field: [u8; 2]) -> [u8; 2] {
    let acc = (!u16::from_le_bytes(field)) as u32 + 0xfffe;
    (!(((acc & 0xffff) + (acc >> 16)) as u16)).to_le_bytes()
}

/// Incremental update for a 32-bit field (an IPv4 address), as two word updates.
#[inline]
pub const fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let csum = update16(csum, (old >> 16) as u16, (new >> 16) as u16);
    update16(csum, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ttl_decrement_on_bytes_equals_the_big_endian_update() {
        for csum in 0..=u16::MAX {
            let want = update_ttl_decrement(csum).to_be_bytes();
            assert_eq!(
                update_ttl_decrement_bytes(csum.to_be_bytes()),
                want,
                "{csum:#06x}"
            );
        }
    }

    /// The IPv4 header from RFC 1071-style worked examples: 45 00 00 73 ... checksum b861.
    const IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    /// Word-at-a-time reference, the way RFC 1071 writes it.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            acc += hi | lo;
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn known_ipv4_header_verifies_and_recomputes() {
        assert_eq!(sum(&IPV4_HEADER), 0xffff);
        let mut h = IPV4_HEADER;
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(
            sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn combine_equals_whole() {
        let data: [u8; 37] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        let whole = sum(&data);
        assert_eq!(add(sum(&data[..16]), sum(&data[16..])), whole);
        assert_eq!(
            combine(&[sum(&data[..8]), sum(&data[8..24]), sum(&data[24..])]),
            whole
        );
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let (s, d) = (Ipv4Addr::new(10, 0, 1, 2), Ipv4Addr::new(192, 0, 2, 10));
        let mut ph = [0u8; 12];
        ph[..4].copy_from_slice(&s.octets());
        ph[4..8].copy_from_slice(&d.octets());
        ph[9] = 17;
        ph[10..].copy_from_slice(&20u16.to_be_bytes());
        assert_eq!(pseudo_header_v4(s, d, 17, 20), sum(&ph));

        let s6: Ipv6Addr = "fd00:1::2".parse().unwrap();
        let d6: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
        let mut ph6 = [0u8; 40];
        ph6[..16].copy_from_slice(&s6.octets());
        ph6[16..32].copy_from_slice(&d6.octets());
        ph6[32..36].copy_from_slice(&0x0001_0020u32.to_be_bytes());
        ph6[39] = 58;
        assert_eq!(pseudo_header_v6(s6, d6, 58, 0x0001_0020), sum(&ph6));
    }

    #[test]
    fn rfc1624_corner_case_to_zero_and_back() {
        // RFC 1624 section 4: the other words sum to 0xcd7a, m = 0x5555 -> 0x3285.
        let hc = finish(add(0xcd7a, 0x5555));
        assert_eq!(hc, 0xdd2f);
        let full = finish(add(0xcd7a, 0x3285));
        assert_eq!(full, 0x0000);
        assert_eq!(
            update16(hc, 0x5555, 0x3285),
            full,
            "eqn. 3 must give 0x0000"
        );
        // And back from 0x0000 to the original.
        assert_eq!(update16(0x0000, 0x3285, 0x5555), 0xdd2f);
    }

    #[test]
    fn update_around_0xffff() {
        // Data [0x0001, m]: checksum of m = 0xfffe is ~0xffff = 0x0000; of m = 0 it is 0xfffe.
        let full = |m: u16| checksum(&[0x00, 0x01, (m >> 8) as u8, m as u8]);
        assert_eq!(full(0xfffe), 0x0000);
        assert_eq!(update16(full(0x0000), 0x0000, 0xfffe), 0x0000);
        assert_eq!(update16(full(0xfffe), 0xfffe, 0x0000), full(0x0000));
        // 0xffff and 0x0000 are both zero in ones' complement: swapping them is a no-op.
        assert_eq!(update16(full(0xffff), 0xffff, 0x0000), full(0x0000));
        assert_eq!(full(0xffff), full(0x0000));
        // A no-op change leaves the checksum alone, 0x0000 included.
        for hc in [0x0000, 0x1234, 0xfffe] {
            assert_eq!(update16(hc, 0xabcd, 0xabcd), hc);
        }
        // 0xffff is never a computed checksum of data that is not all zero (the sum
        // of such data is never +0), so eqn. 3 need not preserve it; it yields 0x0000,
        // the other representation of the same value.
        assert_eq!(checksum(&[0, 0, 0, 0]), 0xffff);
        assert_eq!(update16(0xffff, 0xabcd, 0xabcd), 0x0000);
    }

    #[test]
    fn ttl_word_update_matches_recompute() {
        let mut h = IPV4_HEADER;
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let inc = update16(0xb861, old, new);
        h[10] = 0;
        h[11] = 0;
        assert_eq!(inc, checksum(&h));
    }

    #[test]
    fn fold_handles_every_carry_chain() {
        // The widest sums the fold sees, and the ones whose carries ripple through
        // every step: the result is the sum mod 0xffff, with 0xffff for a nonzero
        // multiple (ones' complement has no +0 for nonzero data).
        for acc in [
            0,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_ffff_fffe,
            u64::MAX,
            5 * 0xffff_ffff,
        ] {
            let want = match acc % 0xffff {
                0 if acc != 0 => 0xffff,
                r => r as u16,
            };
            assert_eq!(fold(acc), want, "fold({acc:#x})");
        }
    }

    #[test]
    fn ipv4_header_verify_at_the_edges_of_the_divisibility_test() {
        // Sum 0 (never folds to 0xffff), the largest sum (5 * 0xffffffff, a
        // multiple), and sums one either side of multiples of 0xffff.
        let mut h = [0u8; 20];
        assert!(!verifies_ipv4_header(&h));
        assert!(verifies_ipv4_header(&[0xff; 20]));
        for k in [1u32, 2, 0x1_0001, 0xfffe] {
            for delta in [-1i64, 0, 1] {
                let target = i64::from(k) * 0xffff + delta;
                // Spread over the first two words (each < 2^32).
                let lo = target.min(0xffff_ffff) as u32;
                let hi = (target - i64::from(lo)) as u32;
                h[..4].copy_from_slice(&lo.to_ne_bytes());
                h[4..8].copy_from_slice(&hi.to_ne_bytes());
                assert_eq!(
                    verifies_ipv4_header(&h),
                    sum(&h) == 0xffff,
                    "k {k} delta {delta}"
                );
                assert_eq!(verifies_ipv4_header(&h), delta == 0, "k {k} delta {delta}");
            }
        }
    }

    #[test]
    fn ttl_decrement_update_equals_update16() {
        // Every checksum, against the general update with TTL/protocol words
        // spread over the range (the result must not depend on the word).
        for csum in 0..=u16::MAX {
            for old in [0x0100, 0x0111, 0x4006, 0x8001, 0xff11, 0xffff] {
                assert_eq!(
                    update_ttl_decrement(csum),
                    update16(csum, old, old - 0x0100),
                    "csum {csum:#06x} word {old:#06x}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn ipv4_header_verify_equals_sum(mut h in any::<[u8; 20]>(), fix in any::<bool>()) {
            if fix {
                // Half the cases carry a correct checksum, so both answers are tried.
                h[10] = 0;
                h[11] = 0;
                let c = checksum(&h).to_be_bytes();
                h[10] = c[0];
                h[11] = c[1];
            }
            prop_assert_eq!(verifies_ipv4_header(&h), sum(&h) == 0xffff);
        }

        #[test]
        fn fold_equals_loop(acc in any::<u64>()) {
            let mut slow = acc;
            while slow > 0xffff {
                slow = (slow & 0xffff) + (slow >> 16);
            }
            prop_assert_eq!(u64::from(fold(acc)), slow);
        }

        #[test]
        fn fast_sum_equals_naive(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(sum(&data), naive_sum(&data));
        }

        #[test]
        fn update16_equals_recompute(
            mut words in proptest::collection::vec(any::<u16>(), 2..30),
            at in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            // Word 0 stands for the IPv4 version/IHL word: never zero in a real header.
            words[0] |= 0x4500;
            let i = 1 + at.index(words.len() - 1);
            let bytes = |w: &[u16]| -> Vec<u8> { w.iter().flat_map(|x| x.to_be_bytes()).collect() };
            let before = checksum(&bytes(&words));
            let old = words[i];
            words[i] = new;
            prop_assert_eq!(update16(before, old, new), checksum(&bytes(&words)));
        }

        #[test]
        fn update32_equals_recompute(a in any::<u32>(), b in any::<u32>(), other in any::<u32>()) {
            let data = |x: u32| -> [u8; 12] {
                let mut d = [0x45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                d[4..8].copy_from_slice(&x.to_be_bytes());
                d[8..].copy_from_slice(&other.to_be_bytes());
                d
            };
            prop_assert_eq!(update32(checksum(&data(a)), a, b), checksum(&data(b)));
        }
    }
}
