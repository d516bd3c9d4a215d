//! Ethernet II frames, single 802.1Q tags and MAC addresses.

use core::fmt;
use core::str::FromStr;

use super::{get_u16, put_u16, Error, Result};

/// A 48-bit IEEE MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Reads an address from the first six bytes of `bytes`.
    ///
    /// # Panics
    /// If `bytes` is shorter than six bytes; views call it on checked ranges only.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&bytes[..6]);
        MacAddr(a)
    }

    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    #[inline]
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }

    /// The group bit (I/G, lowest bit of the first octet); broadcast is multicast too.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    /// Parses exactly six colon-separated pairs of hex digits ("02:00:00:00:00:01").
    fn from_str(s: &str) -> Result<MacAddr> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or(Error::Malformed)?;
            // from_str_radix would also take "+f" or "f"; insist on two hex digits.
            if part.len() != 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(Error::Malformed);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| Error::Malformed)?;
        }
        if parts.next().is_some() {
            return Err(Error::Malformed);
        }
        Ok(MacAddr(out))
    }
}

/// EtherType values, as `u16` so they can be matched on directly.
pub enum EtherType {}

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer tag (TPID).
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
    /// 802.1ad service tag (TPID), the outer tag of QinQ.
    pub const QINQ: u16 = 0x88a8;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
    /// Within a tagged frame: the tag control information after the TPID.
    pub const VLAN_TCI: usize = 14;
    pub const VLAN_ETHERTYPE: usize = 16;
}

/// Untagged Ethernet header length.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of one 802.1Q tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// Smallest frame on the wire without FCS; shorter frames are padded.
pub const MIN_FRAME_LEN: usize = 60;

/// Ethernet header length with or without one 802.1Q tag.
#[inline]
pub const fn header_len(vlan: bool) -> usize {
    if vlan {
        HEADER_LEN + VLAN_TAG_LEN
    } else {
        HEADER_LEN
    }
}

/// A view of an Ethernet II frame (the outer header only; tags are in the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps without checking; accessors panic if the buffer is under 14 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::DST])
    }

    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SRC])
    }

    /// The outer EtherType (the TPID when the frame is tagged).
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    pub fn set_ethertype(&mut self, ethertype: u16) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// What the demultiplexer needs from layer 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Info {
    /// VID of the single 802.1Q tag in the frame; `None` when untagged or
    /// priority-tagged (VID 0 carries only a priority, 802.1Q 9.6).
    pub vlan: Option<u16>,
    /// The EtherType of the layer-3 payload (after the tag, if any).
    pub ethertype: u16,
    /// Where the layer-3 header starts.
    pub l3_offset: usize,
}

#[inline]
const fn is_tpid(ethertype: u16) -> bool {
    ethertype == EtherType::VLAN || ethertype == EtherType::QINQ
}

/// Parses the Ethernet header and at most one 802.1Q tag.
///
/// Rejects, as `Unsupported`: stacked tags (QinQ) and lone 802.1ad tags, since our
/// interfaces are (port, 802.1Q VID) pairs; and 802.3 frames whose type field is a
/// length (< 0x0600), which carry LLC (STP and the like), never IP. VID 4095 is
/// reserved by 802.1Q and rejected as `Malformed`.
pub fn parse_l2(frame: &[u8]) -> Result<L2Info> {
    let eth = EthernetFrame::new_checked(frame)?;
    let outer = eth.ethertype();
    let (vlan, ethertype, l3_offset) = if is_tpid(outer) {
        if outer == EtherType::QINQ {
            return Err(Error::Unsupported);
        }
        if frame.len() < header_len(true) {
            return Err(Error::Truncated);
        }
        let vid = get_u16(frame, field::VLAN_TCI) & 0x0fff;
        let inner = get_u16(frame, field::VLAN_ETHERTYPE);
        if is_tpid(inner) {
            return Err(Error::Unsupported);
        }
        if vid == 0x0fff {
            return Err(Error::Malformed);
        }
        ((vid != 0).then_some(vid), inner, header_len(true))
    } else {
        (None, outer, HEADER_LEN)
    };
    if ethertype < 0x0600 {
        return Err(Error::Unsupported);
    }
    Ok(L2Info {
        vlan,
        ethertype,
        l3_offset,
    })
}

/// Writes an Ethernet header, with one 802.1Q tag (priority 0) when `vlan` is set,
/// and returns its length (14 or 18).
///
/// # Panics
/// If `buf` is shorter than [`header_len`]`(vlan.is_some())`.
pub fn emit_ethernet(
    buf: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
    vlan: Option<u16>,
    ethertype: u16,
) -> usize {
    let len = header_len(vlan.is_some());
    let buf = &mut buf[..len];
    buf[field::DST].copy_from_slice(&dst.0);
    buf[field::SRC].copy_from_slice(&src.0);
    match vlan {
        Some(vid) => {
            debug_assert!(vid < 0x0fff, "VID {vid} out of range");
            put_u16(buf, field::ETHERTYPE, EtherType::VLAN);
            put_u16(buf, field::VLAN_TCI, vid & 0x0fff);
            put_u16(buf, field::VLAN_ETHERTYPE, ethertype);
        }
        None => put_u16(buf, field::ETHERTYPE, ethertype),
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Broadcast ARP request from 02:00:00:00:00:02, padded to 60 bytes.
    const ARP_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00,
        0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// The first 22 bytes of an IPv6 frame tagged VID 100, priority 5 (TCI 0xa064).
    const TAGGED_IPV6: [u8; 22] = [
        0x33, 0x33, 0xff, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x81, 0x00, 0xa0,
        0x64, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00,
    ];

    /// QinQ: 802.1ad S-tag 10, then 802.1Q C-tag 100, then IPv4.
    const QINQ: [u8; 22] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x88, 0xa8, 0x00,
        0x0a, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00,
    ];

    #[test]
    fn parse_untagged() {
        let eth = EthernetFrame::new_checked(&ARP_FRAME[..]).unwrap();
        assert!(eth.dst_addr().is_broadcast());
        assert_eq!(eth.src_addr(), "02:00:00:00:00:02".parse().unwrap());
        assert_eq!(eth.ethertype(), EtherType::ARP);
        assert_eq!(eth.payload().len(), 46);
        let l2 = parse_l2(&ARP_FRAME).unwrap();
        assert_eq!(
            l2,
            L2Info {
                vlan: None,
                ethertype: EtherType::ARP,
                l3_offset: 14
            }
        );
    }

    #[test]
    fn parse_tagged() {
        let l2 = parse_l2(&TAGGED_IPV6).unwrap();
        assert_eq!(l2.vlan, Some(100));
        assert_eq!(l2.ethertype, EtherType::IPV6);
        assert_eq!(l2.l3_offset, 18);
        assert_eq!(TAGGED_IPV6[l2.l3_offset] >> 4, 6);
    }

    #[test]
    fn priority_tag_is_untagged() {
        let mut f = TAGGED_IPV6;
        f[14] = 0xa0;
        f[15] = 0x00;
        let l2 = parse_l2(&f).unwrap();
        assert_eq!((l2.vlan, l2.l3_offset), (None, 18));
    }

    #[test]
    fn rejects() {
        assert_eq!(parse_l2(&QINQ), Err(Error::Unsupported));
        // A C-tag inside a C-tag is also a double tag.
        let mut cc = QINQ;
        cc[12] = 0x81;
        cc[13] = 0x00;
        assert_eq!(parse_l2(&cc), Err(Error::Unsupported));
        let mut reserved = TAGGED_IPV6;
        reserved[14] = 0x0f;
        reserved[15] = 0xff;
        assert_eq!(parse_l2(&reserved), Err(Error::Malformed));
        // 802.3 length field (an STP BPDU would have 0x0026 here).
        let mut llc = ARP_FRAME;
        llc[12] = 0x00;
        llc[13] = 0x26;
        assert_eq!(parse_l2(&llc), Err(Error::Unsupported));
    }

    #[test]
    fn rejects_truncated() {
        for n in 0..14 {
            assert_eq!(parse_l2(&ARP_FRAME[..n]), Err(Error::Truncated), "len {n}");
            assert_eq!(
                EthernetFrame::new_checked(&ARP_FRAME[..n]),
                Err(Error::Truncated)
            );
        }
        for n in 14..18 {
            assert_eq!(
                parse_l2(&TAGGED_IPV6[..n]),
                Err(Error::Truncated),
                "len {n}"
            );
        }
        assert!(parse_l2(&TAGGED_IPV6[..18]).is_ok());
    }

    #[test]
    fn emit_matches_fixtures() {
        let dst = MacAddr::BROADCAST;
        let src = MacAddr([2, 0, 0, 0, 0, 2]);
        let mut buf = [0u8; 18];
        assert_eq!(emit_ethernet(&mut buf, dst, src, None, EtherType::ARP), 14);
        assert_eq!(buf[..14], ARP_FRAME[..14]);

        let dst = MacAddr([0x33, 0x33, 0xff, 0, 0, 1]);
        assert_eq!(
            emit_ethernet(&mut buf, dst, src, Some(100), EtherType::IPV6),
            18
        );
        // Our tag carries priority 0; the fixture's carries 5.
        let mut want = TAGGED_IPV6;
        want[14] &= 0x0f;
        assert_eq!(buf, want[..18]);
        assert_eq!(parse_l2(&buf).unwrap().vlan, Some(100));
    }

    #[test]
    fn setters_round_trip() {
        let mut f = ARP_FRAME;
        let mut eth = EthernetFrame::new_checked(&mut f[..]).unwrap();
        eth.set_dst_addr(MacAddr([2, 0, 0, 0, 0, 9]));
        eth.set_src_addr(MacAddr([2, 0, 0, 0, 0, 1]));
        eth.set_ethertype(EtherType::IPV4);
        eth.payload_mut()[0] = 0x45;
        assert_eq!(eth.dst_addr().to_string(), "02:00:00:00:00:09");
        assert_eq!(&f[6..15], &[2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45]);
    }

    #[test]
    fn header_lengths() {
        assert_eq!(header_len(false), 14);
        assert_eq!(header_len(true), 18);
    }

    #[test]
    fn mac_display_parse_and_kinds() {
        let m: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        assert_eq!(m, MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(m.to_string(), "02:00:00:00:00:01");
        assert_eq!(format!("{m:?}"), "02:00:00:00:00:01");
        assert_eq!(
            "AA:bb:0C:dd:ee:FF".parse::<MacAddr>().unwrap().to_string(),
            "aa:bb:0c:dd:ee:ff"
        );
        assert!(m.is_unicast() && !m.is_multicast() && !m.is_broadcast());
        assert!(MacAddr([0x33, 0x33, 0, 0, 0, 1]).is_multicast());
        assert!(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:00:00:00:00:01",
            "+2:00:00:00:00:01",
            "02:00:00:00:00:0g",
            "02-00-00-00-00-01",
            "02:00:00:00:00:01:",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(Error::Malformed), "{bad:?}");
        }
    }
}
