//! Which frames the express lane takes: the general path's L2 and IPv4 rules,
//! for the frames they let through unchanged to a route lookup.
use crate::frame::{Frame, RxChecksum};
use crate::tables::{DemuxSlot, PortDemux};
use crate::wire::{checksum, IpProtocol};

/// What `check` found of an express-worthy frame.
#[derive(Clone, Copy)]
pub(super) struct Candidate {
    /// Destination, host order: the lookup key.
    pub dst: u32,
    /// Where the IPv4 header starts (14, or 18 behind an 802.1Q tag).
    pub l3: u8,
    /// Where the IP packet ends.
    pub end: u16,
}

/// A frame for the express lane: its (port, VLAN) slot (owner, counters) and
/// what it needs of the frame;
/// `None` sends it down the general path, which counts and drops or answers
/// what this declines (and forwards the rest: headers with options, say).
///
/// The general path's L2 rules, for the frames they let through: an 802.1Q tag
/// in the frame, or none and the NIC's stripped one (or none at all), then
/// IPv4; QinQ and 802.3 lengths are left to it.
#[inline(always)]
pub(super) fn check<'t, F: Frame>(
    frame: &F,
    owners: PortDemux<'t>,
) -> Option<(&'t DemuxSlot, Candidate)> {
    let d = frame.data();
    let (s, l3) = l2(frame, d, owners, [0x08, 0x00])?;
    let h: &[u8; 20] = d.get(l3..)?.first_chunk()?;
    // Version 4 and a 20-byte header.
    if h[0] != 0x45 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // TTL 1 or 0 gets an ICMP error there.
    if total < 20 || total > d.len() - l3 || h[8] <= 1 {
        return None;
    }
    let good = match frame.rx_ipv4_checksum() {
        RxChecksum::Good => true,
        RxChecksum::Unknown => checksum::verifies_ipv4_header(h),
        RxChecksum::Bad => false,
    };
    let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    // Limited broadcast and multicast are not routed (the general path counts
    // them); with them the rest of 240/4 (reserved) goes there too: one compare.
    if !good || dst >= 0xe000_0000 {
        return None;
    }
    let c = Candidate {
        dst,
        l3: l3 as u8,
        // Frames are at most a few KB.
        end: (l3 + total) as u16,
    };
    Some((s, c))
}

/// The L2 half of `check` for `ethertype` (in the frame's second byte, 0x00
/// for IPv4, 0xdd for IPv6): the frame's (port, VLAN) slot when it is unicast to
/// the slot's interface, and the L3 offset.
#[inline(always)]
fn l2<'t, F: Frame>(
    frame: &F,
    d: &[u8],
    owners: PortDemux<'t>,
    ethertype: [u8; 2],
) -> Option<(&'t DemuxSlot, usize)> {
    let (vid, l3) = match d.get(12..14)? {
        t if t == ethertype => (frame.stripped_vlan().unwrap_or(0), 14),
        [0x81, 0x00] => {
            let tag = d.get(14..18)?;
            if tag[2..] != ethertype {
                return None;
            }
            // VID 0 (a priority tag) says nothing of the VLAN: then the NIC's
            // stripped tag, if any, as the general path reads it.
            let vid = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
            let vid = if vid == 0 {
                frame.stripped_vlan().unwrap_or(0)
            } else {
                vid
            };
            (vid, 18)
        }
        _ => return None,
    };
    // VID 4095 is no interface's: its slot has no owner.
    let s = owners.lookup((vid != 0).then_some(vid));
    // Unicast to the interface (the promiscuous port's other stations, and
    // broadcast or multicast frames, are the general path's).
    if s.owner.is_none() || !is_mac(d, &s.mac) {
        return None;
    }
    Some((s, l3))
}

/// Whether `d` (14 bytes or more: `l2` read its EtherType) is addressed to
/// `mac`: two compares of four and two bytes (as an array compare, the six
/// bytes of each side were assembled into one word first).
#[inline(always)]
fn is_mac(d: &[u8], mac: &[u8; 6]) -> bool {
    let Some(to) = d.first_chunk::<6>() else {
        return false;
    };
    let word = |m: &[u8; 6]| u32::from_ne_bytes([m[0], m[1], m[2], m[3]]);
    let tail = |m: &[u8; 6]| u16::from_ne_bytes([m[4], m[5]]);
    word(to) == word(mac) && tail(to) == tail(mac)
}

/// `check` for IPv6: a frame the general path would route without a word
/// (version 6, its length there, hop limit above 1, no ICMPv6 (neighbor
/// discovery, echo for the router), no multicast or link-local address): its
/// slot, destination (host order) and L3 offset and end.
#[inline(always)]
pub(super) fn check6<'t, F: Frame>(
    frame: &F,
    owners: PortDemux<'t>,
) -> Option<(&'t DemuxSlot, u128, u8, u16)> {
    let d = frame.data();
    let (s, l3) = l2(frame, d, owners, [0x86, 0xdd])?;
    let h: &[u8; 40] = d.get(l3..)?.first_chunk()?;
    let total = 40 + usize::from(u16::from_be_bytes([h[4], h[5]]));
    if h[0] >> 4 != 6 || total > d.len() - l3 || h[6] == IpProtocol::ICMPV6 || h[7] <= 1 {
        return None;
    }
    let src = u128::from_be_bytes(*h[8..].first_chunk::<16>()?);
    let dst = u128::from_be_bytes(*h[24..].first_chunk::<16>()?);
    let link_local = |a: u128| (a >> 118) == 0xfe80 >> 6;
    if dst >> 120 == 0xff || link_local(src) || link_local(dst) {
        return None;
    }
    // Frames are at most a few KB.
    Some((s, dst, l3 as u8, (l3 + total) as u16))
}

/// The (port, VLAN) slot of a frame with an 802.1Q tag, to prefetch it: with
/// many tenants on VLANs every frame's slot is likely another line (4,096
/// slots of 16 bytes a port, in L2 at best), and `check` would wait for each in
/// turn. `None` for a frame without a tag in it (untagged traffic finds its one
/// slot hot).
#[inline(always)]
pub(super) fn tagged_slot<'t, F: Frame>(frame: &F, owners: PortDemux<'t>) -> Option<&'t DemuxSlot> {
    let d = frame.data();
    match d.get(12..16)? {
        [0x81, 0x00, hi, lo] => Some(owners.lookup(Some(u16::from_be_bytes([*hi, *lo]) & 0x0fff))),
        _ => None,
    }
}

/// Whether a frame carries IPv6 (behind an 802.1Q tag or not).
#[inline(always)]
pub(super) fn is_ipv6<F: Frame>(frame: &F) -> bool {
    let d = frame.data();
    matches!(d.get(12..14), Some([0x86, 0xdd]))
        || matches!(d.get(12..18), Some([0x81, 0x00, _, _, 0x86, 0xdd]))
}
