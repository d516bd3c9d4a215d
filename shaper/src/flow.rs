//! The flow key the dataplane fills for each packet it sends to a pipe, and dummynet's
//! flow masks (`mask src-ip 0xffffff00 dst-port 0xffff ...`) that turn one pipe or
//! queue into many dynamic ones.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Address family of a [`FlowKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Family {
    /// Not IP (or not parsed): masks see only zeros.
    #[default]
    Other,
    V4,
    V6,
}

/// The header fields dummynet masks look at. IPv4 addresses live in the low 32 bits
/// of `src` / `dst`. `Copy` and 48 bytes: the dataplane fills one per packet on the
/// stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub family: Family,
    pub proto: u8,
    /// The packet's ECN code point (`crate::ecn`), for FQ-CoDel's `ecn` marking.
    /// Not part of the flow: masks clear it and the hash ignores it.
    pub ecn: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub src: u128,
    pub dst: u128,
}

impl FlowKey {
    pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, src_port: u16, dst_port: u16) -> Self {
        FlowKey {
            family: Family::V4,
            proto,
            ecn: 0,
            src_port,
            dst_port,
            src: u128::from(u32::from(src)),
            dst: u128::from(u32::from(dst)),
        }
    }

    pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, src_port: u16, dst_port: u16) -> Self {
        FlowKey {
            family: Family::V6,
            proto,
            ecn: 0,
            src_port,
            dst_port,
            src: u128::from(src),
            dst: u128::from(dst),
        }
    }

    /// The same key carrying the packet's ECN code point.
    pub fn with_ecn(mut self, ecn: u8) -> Self {
        self.ecn = ecn & 0b11;
        self
    }

    /// A well-mixed 64-bit hash (not DoS-resistant on its own: `seed` it per set).
    pub fn hash_with(&self, seed: u64) -> u64 {
        let fam = match self.family {
            Family::Other => 0u64,
            Family::V4 => 1,
            Family::V6 => 2,
        };
        let mut h = seed ^ 0x243f_6a88_85a3_08d3;
        h = mix(
            h,
            fam | u64::from(self.proto) << 8
                | u64::from(self.src_port) << 16
                | u64::from(self.dst_port) << 32,
        );
        h = mix(h, self.src as u64);
        h = mix(h, (self.src >> 64) as u64);
        h = mix(h, self.dst as u64);
        h = mix(h, (self.dst >> 64) as u64);
        fmix(h)
    }
}

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31)
}

#[inline]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// dummynet's flow mask: which bits of a [`FlowKey`] tell flows apart. IPv4 and IPv6
/// addresses have separate masks, as in `ipfw` (`src-ip` vs `src-ip6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowMask {
    pub src_ip: u32,
    pub dst_ip: u32,
    pub src_ip6: u128,
    pub dst_ip6: u128,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
}

impl FlowMask {
    /// No mask: every packet belongs to the same flow.
    pub const NONE: FlowMask = FlowMask {
        src_ip: 0,
        dst_ip: 0,
        src_ip6: 0,
        dst_ip6: 0,
        src_port: 0,
        dst_port: 0,
        proto: 0,
    };

    /// `mask all`: every field, every bit.
    pub const ALL: FlowMask = FlowMask {
        src_ip: u32::MAX,
        dst_ip: u32::MAX,
        src_ip6: u128::MAX,
        dst_ip6: u128::MAX,
        src_port: u16::MAX,
        dst_port: u16::MAX,
        proto: u8::MAX,
    };

    pub fn is_none(&self) -> bool {
        *self == FlowMask::NONE
    }

    /// The key with unmasked bits cleared: equal results = same dynamic flow.
    #[inline]
    pub fn apply(&self, k: &FlowKey) -> FlowKey {
        if self.is_none() {
            return FlowKey::default();
        }
        self.apply_some(k)
    }

    /// `apply` for a mask known not to be `NONE` (the caller keeps that fact).
    #[inline]
    pub(crate) fn apply_some(&self, k: &FlowKey) -> FlowKey {
        let (src, dst) = match k.family {
            Family::V4 => (
                k.src & u128::from(self.src_ip),
                k.dst & u128::from(self.dst_ip),
            ),
            Family::V6 => (k.src & self.src_ip6, k.dst & self.dst_ip6),
            Family::Other => (0, 0),
        };
        FlowKey {
            family: k.family,
            proto: k.proto & self.proto,
            ecn: 0,
            src_port: k.src_port & self.src_port,
            dst_port: k.dst_port & self.dst_port,
            src,
            dst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_groups_hosts() {
        let m = FlowMask {
            src_ip: 0xffff_ff00,
            ..FlowMask::NONE
        };
        let a = FlowKey::v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(1, 1, 1, 1),
            6,
            1000,
            80,
        );
        let b = FlowKey::v4(
            Ipv4Addr::new(10, 0, 0, 77),
            Ipv4Addr::new(8, 8, 8, 8),
            17,
            5,
            53,
        );
        let c = FlowKey::v4(
            Ipv4Addr::new(10, 0, 1, 1),
            Ipv4Addr::new(1, 1, 1, 1),
            6,
            1000,
            80,
        );
        assert_eq!(m.apply(&a), m.apply(&b));
        assert_ne!(m.apply(&a), m.apply(&c));
        assert_eq!(FlowMask::NONE.apply(&a), FlowMask::NONE.apply(&c));
        assert_eq!(FlowMask::ALL.apply(&a), a);
        assert_ne!(a.hash_with(1), c.hash_with(1));
    }

    #[test]
    fn v6_mask_uses_v6_bits() {
        let m = FlowMask {
            src_ip: u32::MAX,
            ..FlowMask::NONE
        };
        let a = FlowKey::v6(
            "fd00::1".parse().unwrap(),
            "fd00::2".parse().unwrap(),
            6,
            1,
            2,
        );
        let b = FlowKey::v6(
            "fd00::9".parse().unwrap(),
            "fd00::2".parse().unwrap(),
            6,
            1,
            2,
        );
        assert_eq!(m.apply(&a), m.apply(&b), "a v4 mask ignores v6 addresses");
    }
}
