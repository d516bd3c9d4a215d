//! Parsing of the small textual values in a config: prefixes, MACs, names, devargs.
//!
//! Each parser returns the reason as a message saying what was expected; callers add
//! the location. Parsers used by the routes-file loader allocate only on error.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::model::{mask4, mask6};

/// An address with a prefix length: an interface address (host bits set) or a route
/// prefix (host bits clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

impl Prefix {
    /// The same prefix with host bits cleared.
    pub(crate) fn network(self) -> Prefix {
        match self {
            Prefix::V4(a, len) => Prefix::V4(Ipv4Addr::from(u32::from(a) & mask4(len)), len),
            Prefix::V6(a, len) => Prefix::V6(Ipv6Addr::from(u128::from(a) & mask6(len)), len),
        }
    }

    pub(crate) fn family(self) -> &'static str {
        match self {
            Prefix::V4(..) => "IPv4",
            Prefix::V6(..) => "IPv6",
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(a, len) => write!(f, "{a}/{len}"),
            Prefix::V6(a, len) => write!(f, "{a}/{len}"),
        }
    }
}

pub(crate) fn family(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

/// Parses `ADDR/LEN` (IPv4 or IPv6) with `LEN >= min_len`; host bits may be set.
/// `example` is shown in the error, e.g. `"10.0.1.1/24"`.
pub(crate) fn parse_prefix_any(s: &str, example: &str, min_len: u8) -> Result<Prefix, String> {
    let Some((addr, len)) = s.split_once('/') else {
        return Err(format!(
            "expected an address with a prefix length like {example}, found \"{s}\""
        ));
    };
    let v6 = addr.contains(':');
    let max = if v6 { 128 } else { 32 };
    let len = match parse_len(len) {
        Some(len) if (min_len..=max).contains(&len) => len,
        _ => {
            let family = if v6 { "IPv6" } else { "IPv4" };
            return Err(format!(
                "expected a prefix length {min_len}..={max} for {family} after \"/\", found \"{s}\""
            ));
        }
    };
    let parsed = if v6 {
        addr.parse::<Ipv6Addr>().ok().map(|a| Prefix::V6(a, len))
    } else {
        addr.parse::<Ipv4Addr>().ok().map(|a| Prefix::V4(a, len))
    };
    parsed.ok_or_else(|| format!("expected an IPv4 or IPv6 address like {example}, found \"{s}\""))
}

/// A prefix length: 1 to 3 decimal digits.
fn parse_len(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().and_then(|n| u8::try_from(n).ok())
}

/// Parses a route prefix: `ADDR/LEN` with all host bits clear.
pub(crate) fn parse_route_prefix(s: &str) -> Result<Prefix, String> {
    let p = parse_prefix_any(s, "\"10.0.0.0/8\" or \"2001:db8::/32\"", 0)?;
    let net = p.network();
    if net != p {
        return Err(format!(
            "prefix {p} has host bits set (did you mean {net}?)"
        ));
    }
    Ok(p)
}

/// Parses an interface address: `ADDR/LEN` with a non-zero length.
pub(crate) fn parse_interface_address(s: &str) -> Result<Prefix, String> {
    parse_prefix_any(s, "\"10.0.1.1/24\" or \"fd00:1::1/64\"", 1)
}

/// Parses a MAC address `02:00:00:00:01:fe` (or with `-`); any kind of MAC.
pub(crate) fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("expected a MAC address like \"02:00:00:00:01:fe\", found \"{s}\"");
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = s.split(sep);
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

/// Parses a MAC that may be used as a station address: not multicast/broadcast, not zero.
pub(crate) fn parse_unicast_mac(s: &str) -> Result<[u8; 6], String> {
    let mac = parse_mac(s)?;
    if mac[0] & 1 != 0 {
        return Err(format!(
            "expected a unicast MAC address (least significant bit of the first byte clear), found multicast \"{s}\""
        ));
    }
    if mac == [0; 6] {
        return Err(format!(
            "expected a unicast MAC address, found the all-zero \"{s}\""
        ));
    }
    Ok(mac)
}

/// Checks a port, vnet or interface name: `[A-Za-z0-9_.-]{1,32}`.
pub(crate) fn check_name(s: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected a name of 1 to 32 characters A-Z a-z 0-9 _ . -, found \"{s}\""
        ))
    }
}

/// What identifies a DPDK device, to find two ports on the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceId {
    /// A virtual device's name (`net_af_packet0`).
    Vdev(String),
    /// PCI domain, bus, device, function.
    Pci(u32, u8, u8, u8),
}

/// Checks DPDK devargs: `net_NAME[,args]` (also the old `eth_` prefix) or a PCI address
/// `DDDD:BB:DD.F` / `BB:DD.F` with optional `,args`.
pub(crate) fn parse_device(s: &str) -> Result<DeviceId, String> {
    let name = s.split(',').next().unwrap_or("");
    if let Some(pci) = parse_pci(name) {
        return Ok(pci);
    }
    let vdev = ["net_", "eth_"].iter().any(|p| {
        name.strip_prefix(p).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    });
    if vdev && !s.bytes().any(|b| b.is_ascii_whitespace()) {
        return Ok(DeviceId::Vdev(name.to_string()));
    }
    if s.is_empty() {
        return Err(
            "expected DPDK devargs: a virtual device like \"net_af_packet0,iface=veth0\" or a PCI address like \"0000:03:00.0\", found an empty string"
                .to_string(),
        );
    }
    Err(format!(
        "expected DPDK devargs: a virtual device like \"net_af_packet0,iface=veth0\" or a PCI address like \"0000:03:00.0\", found \"{s}\""
    ))
}

fn parse_pci(s: &str) -> Option<DeviceId> {
    let hex = |t: &str, digits: usize| -> Option<u32> {
        if t.len() != digits || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(t, 16).ok()
    };
    let (rest, func) = s.rsplit_once('.')?;
    let func = u8::try_from(hex(func, 1)?).ok().filter(|&f| f <= 7)?;
    let mut parts = rest.rsplitn(3, ':');
    let dev = u8::try_from(hex(parts.next()?, 2)?)
        .ok()
        .filter(|&d| d <= 0x1f)?;
    let bus = u8::try_from(hex(parts.next()?, 2)?).ok()?;
    let domain = match parts.next() {
        Some(d) => hex(d, 4)?,
        None => 0,
    };
    Some(DeviceId::Pci(domain, bus, dev, func))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_route_prefix("10.0.0.0/8"),
            Ok(Prefix::V4(Ipv4Addr::new(10, 0, 0, 0), 8))
        );
        assert_eq!(
            parse_route_prefix("0.0.0.0/0"),
            Ok(Prefix::V4(Ipv4Addr::UNSPECIFIED, 0))
        );
        assert_eq!(
            parse_route_prefix("::/0"),
            Ok(Prefix::V6(Ipv6Addr::UNSPECIFIED, 0))
        );
        let e = parse_route_prefix("10.0.1.1/24").unwrap_err();
        assert!(e.contains("did you mean 10.0.1.0/24?"), "{e}");
        let e = parse_route_prefix("fd00:1::1/64").unwrap_err();
        assert!(e.contains("did you mean fd00:1::/64?"), "{e}");
        assert!(parse_route_prefix("10.0.0.0")
            .unwrap_err()
            .contains("prefix length"));
        assert!(parse_route_prefix("10.0.0.0/33")
            .unwrap_err()
            .contains("0..=32"));
        assert!(parse_route_prefix("::/129")
            .unwrap_err()
            .contains("0..=128"));
        assert!(parse_route_prefix("10.0.0.0/+8").is_err());
        assert!(parse_route_prefix("10.0.0.256/8")
            .unwrap_err()
            .contains("address"));
        assert!(parse_interface_address("10.0.0.1/0")
            .unwrap_err()
            .contains("1..=32"));
        assert_eq!(
            parse_interface_address("10.0.1.1/24"),
            Ok(Prefix::V4(Ipv4Addr::new(10, 0, 1, 1), 24))
        );
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:00:00:01:fe"), Ok([2, 0, 0, 0, 1, 0xfe]));
        assert_eq!(parse_mac("02-00-00-00-01-FE"), Ok([2, 0, 0, 0, 1, 0xfe]));
        assert!(parse_mac("02:00:00:00:01").is_err());
        assert!(parse_mac("02:00:00:00:01:fe:00").is_err());
        assert!(parse_mac("2:0:0:0:1:fe").is_err());
        assert!(parse_mac("02:00:00:00:01:+f").is_err());
        assert!(parse_unicast_mac("01:00:5e:00:00:01")
            .unwrap_err()
            .contains("multicast"));
        assert!(parse_unicast_mac("ff:ff:ff:ff:ff:ff")
            .unwrap_err()
            .contains("multicast"));
        assert!(parse_unicast_mac("00:00:00:00:00:00")
            .unwrap_err()
            .contains("all-zero"));
    }

    #[test]
    fn names() {
        assert!(check_name("trunk0").is_ok());
        assert!(check_name("a.b-c_d").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name(&"x".repeat(33)).is_err());
    }

    #[test]
    fn devices() {
        assert_eq!(
            parse_device("net_af_packet0,iface=veth-trunk"),
            Ok(DeviceId::Vdev("net_af_packet0".into()))
        );
        assert_eq!(
            parse_device("net_null0"),
            Ok(DeviceId::Vdev("net_null0".into()))
        );
        assert_eq!(parse_device("0000:03:00.0"), Ok(DeviceId::Pci(0, 3, 0, 0)));
        assert_eq!(
            parse_device("03:00.1,txq_inline=128"),
            Ok(DeviceId::Pci(0, 3, 0, 1))
        );
        assert!(parse_device("").unwrap_err().contains("empty"));
        assert!(parse_device("eth0").is_err());
        assert!(parse_device("net_").is_err());
        assert!(parse_device("0000:03:00.8").is_err());
        assert!(parse_device("0000:03:20.0").is_err());
    }
}
