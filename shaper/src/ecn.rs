//! ECN (RFC 3168) on the IP header, for FQ-CoDel's `ecn` option (RFC 8290 §4.1.1):
//! where CoDel would drop an ECN-capable packet it sets Congestion Experienced
//! instead. The shaper never sees packet bytes while it holds them; it only records
//! the decision, and the dataplane calls [`set_ce`] on the header when the packet
//! leaves its pipe.

/// The ECN field's code points (the low two bits of IPv4's TOS / IPv6's traffic class).
pub const NOT_ECT: u8 = 0b00;
pub const ECT1: u8 = 0b01;
pub const ECT0: u8 = 0b10;
pub const CE: u8 = 0b11;

/// The ECN code point of the IPv4 or IPv6 header at the start of `ip` (its version
/// nibble says which); `NOT_ECT` when too short or neither.
pub fn codepoint(ip: &[u8]) -> u8 {
    match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => ip[1] & 0b11,
        // Traffic class is bits 4..12 of the first word: ECN is bits 10..12.
        Some(6) if ip.len() >= 40 => (ip[1] >> 4) & 0b11,
        _ => NOT_ECT,
    }
}

/// Sets CE on the IPv4 or IPv6 header at the start of `ip` if the packet is
/// ECN-capable (ECT(0), ECT(1) or already CE); returns whether it now carries CE.
/// IPv4's header checksum is updated incrementally (RFC 1624, eqn. 3), so a header
/// with a correct checksum keeps one; the bytes are unchanged when it returns false.
pub fn set_ce(ip: &mut [u8]) -> bool {
    match codepoint(ip) {
        NOT_ECT => false,
        CE => true,
        _ if ip[0] >> 4 == 4 => {
            // The 16-bit word holding TOS is bytes 0-1 (version/IHL, TOS).
            let old = u16::from_be_bytes([ip[0], ip[1]]);
            ip[1] |= CE;
            let new = u16::from_be_bytes([ip[0], ip[1]]);
            let hc = u16::from_be_bytes([ip[10], ip[11]]);
            // HC' = ~(~HC + ~m + m'), one's complement sums with end-around carry.
            let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
            sum = (sum & 0xffff) + (sum >> 16);
            sum = (sum & 0xffff) + (sum >> 16);
            ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            true
        }
        _ => {
            ip[1] |= CE << 4;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 header checksum computed from scratch (what a receiver checks).
    fn checksum(h: &[u8]) -> u16 {
        let mut sum = 0u32;
        for (i, w) in h.chunks(2).enumerate() {
            if i != 5 {
                sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
            }
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// 10.0.1.10 -> 10.0.2.10, TCP, 60 bytes, TTL 64, DF, the given TOS, with a
    /// correct checksum.
    fn v4(tos: u8) -> [u8; 20] {
        let mut h = [
            0x45, tos, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0, 0, 10, 0, 1, 10, 10, 0,
            2, 10,
        ];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    #[test]
    fn v4_ect0_becomes_ce_with_a_correct_checksum() {
        let mut h = v4(0xb8 | ECT0); // DSCP EF, ECT(0)
        assert_eq!(codepoint(&h), ECT0);
        assert!(set_ce(&mut h));
        assert_eq!(h[1], 0xb8 | CE, "DSCP kept");
        assert_eq!(codepoint(&h), CE);
        assert_eq!(u16::from_be_bytes([h[10], h[11]]), checksum(&h));
        assert_eq!(&h[12..], &v4(0)[12..], "addresses untouched");
    }

    #[test]
    fn v4_every_tos_and_checksum_edge() {
        // Every TOS value, and headers whose checksum field sits at 0x0000/0xffff
        // boundaries after the change (varying the id field): the incremental
        // update must always equal a full recomputation.
        for tos in 0..=255u8 {
            for id in [0u16, 1, 0x7fff, 0xfffe, 0xffff, 0xb9c7] {
                let mut h = v4(tos);
                h[4..6].copy_from_slice(&id.to_be_bytes());
                let c = checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                let before = h;
                let marked = set_ce(&mut h);
                assert_eq!(marked, tos & 3 != 0, "tos {tos:#x}");
                if marked {
                    assert_eq!(h[1], tos | 3);
                    let got = u16::from_be_bytes([h[10], h[11]]);
                    // 0x0000 and 0xffff are the same one's complement value.
                    let want = checksum(&h);
                    assert!(
                        got == want || (got | want) == 0xffff && (got & want) == 0,
                        "tos {tos:#x} id {id:#x}: {got:#06x} vs {want:#06x}"
                    );
                } else {
                    assert_eq!(h, before, "not ECN-capable: unchanged");
                }
            }
        }
    }

    #[test]
    fn v6_traffic_class() {
        // Version 6, traffic class 0x2e (DSCP 11, ECT(0)... low bits 10), flow 0x12345.
        let mut h = [0u8; 40];
        h[0] = 0x62;
        h[1] = 0xe1;
        h[2] = 0x23;
        h[3] = 0x45;
        assert_eq!(codepoint(&h), ECT0);
        assert!(set_ce(&mut h));
        assert_eq!([h[0], h[1], h[2], h[3]], [0x62, 0xf1, 0x23, 0x45]);
        assert_eq!(codepoint(&h), CE);
        // Not-ECT is left alone.
        h[1] = 0xc1;
        assert!(!set_ce(&mut h));
        assert_eq!(h[1], 0xc1);
    }

    #[test]
    fn short_or_unknown_headers_are_left_alone() {
        let mut short = [0x45, 0x02, 0, 0];
        assert!(!set_ce(&mut short));
        assert_eq!(short, [0x45, 0x02, 0, 0]);
        let mut arp = [0u8; 40];
        arp[1] = 0x03;
        assert!(!set_ce(&mut arp));
        assert!(!set_ce(&mut []));
    }
}
