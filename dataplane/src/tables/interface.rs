//! A vnet interface: a (port, VLAN) pair with a MAC and addresses.
use crate::dpdk::PortId;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `repr(C, align(64))`: what the packet path reads (port, VLAN, MAC) sits at the
/// start of a line of its own, one prefetch per interface; Rust's own layout put
/// the MAC across a line boundary (two misses per frame with many tenants).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct Interface {
    pub port: PortId,
    pub vlan: Option<u16>,
    pub mac: [u8; 6],
    pub name: String,
    pub addrs4: Vec<(Ipv4Addr, u8)>,
    pub addrs6: Vec<(Ipv6Addr, u8)>,
    /// fe80::/64 address derived from the MAC (modified EUI-64), used for ND.
    pub link_local6: Ipv6Addr,
}

impl Interface {
    pub fn eui64_link_local(mac: [u8; 6]) -> Ipv6Addr {
        let m = mac;
        Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
            u16::from_be_bytes([m[2], 0xff]),
            u16::from_be_bytes([0xfe, m[3]]),
            u16::from_be_bytes([m[4], m[5]]),
        )
    }

    /// Our IPv4 address on the subnet holding `peer`, else our first one.
    pub fn source4_for(&self, peer: Ipv4Addr) -> Option<Ipv4Addr> {
        self.addrs4
            .iter()
            .find(|(a, l)| same_subnet4(*a, peer, *l))
            .or(self.addrs4.first())
            .map(|(a, _)| *a)
    }

    /// Our IPv6 address on the subnet holding `peer`; link-local for link-local peers.
    pub fn source6_for(&self, peer: Ipv6Addr) -> Ipv6Addr {
        if is_link_local6(peer) {
            return self.link_local6;
        }
        self.addrs6
            .iter()
            .find(|(a, l)| same_subnet6(*a, peer, *l))
            .or(self.addrs6.first())
            .map(|(a, _)| *a)
            .unwrap_or(self.link_local6)
    }

    pub fn owns4(&self, a: Ipv4Addr) -> bool {
        self.addrs4.iter().any(|(x, _)| *x == a)
    }

    pub fn owns6(&self, a: Ipv6Addr) -> bool {
        a == self.link_local6 || self.addrs6.iter().any(|(x, _)| *x == a)
    }
}

pub fn same_subnet4(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    };
    u32::from(a) & mask == u32::from(b) & mask
}

pub fn same_subnet6(a: Ipv6Addr, b: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    };
    u128::from(a) & mask == u128::from(b) & mask
}

pub fn is_link_local6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_link_local_flips_the_universal_bit() {
        let ll = Interface::eui64_link_local([0x02, 0x00, 0x00, 0x00, 0x01, 0x01]);
        assert_eq!(ll, "fe80::ff:fe00:101".parse::<Ipv6Addr>().unwrap());
        let ll = Interface::eui64_link_local([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(ll, "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn subnet_helpers() {
        assert!(same_subnet4(
            "10.0.1.1".parse().unwrap(),
            "10.0.1.200".parse().unwrap(),
            24
        ));
        assert!(!same_subnet4(
            "10.0.1.1".parse().unwrap(),
            "10.0.2.1".parse().unwrap(),
            24
        ));
        assert!(same_subnet4(
            "10.0.1.1".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
            0
        ));
        assert!(same_subnet6(
            "fd00:1::1".parse().unwrap(),
            "fd00:1::10".parse().unwrap(),
            64
        ));
        assert!(!same_subnet6(
            "fd00:1::1".parse().unwrap(),
            "fd00:2::10".parse().unwrap(),
            64
        ));
        assert!(is_link_local6("fe80::1".parse().unwrap()));
        assert!(!is_link_local6("fd00::1".parse().unwrap()));
    }
}
