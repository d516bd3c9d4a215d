//! The express lane: in a burst of one tenant that has no firewall and no capture
//! running, the IPv4 frames a router forwards without a second thought (unicast
//! to the receiving interface, a 20-byte header that checks out, hops to spare,
//! a destination routed to a resolved gateway) are checked, looked up in one
//! batch, rewritten and queued for TX in two short loops, and counted once for
//! the burst. Every other frame, and a frame whose route turns out to be anything
//! but a resolved gateway, stays in its slot untouched and uncounted: the general
//! path (`burst`) then handles it exactly as if the express lane did not exist.
//!
//! Why a second path for what the general one does: scenario 1 of perf/README
//! (one tenant, a full table, no firewall) spent ~525 instructions a frame of its
//! own against l3fwd's 118 under callgrind, spread thin over generality every
//! frame paid for: the per-frame lanes (frame, vnet, counters, interface, offset,
//! tags, prepared header), the tenant memo, six counter updates, two capture
//! checks, the firewall hooks, the `Option`s of each. Here the burst's facts are
//! decided once (one tenant, no firewall, no capture) and a frame carries only
//! its slot, its key and its length.
use super::{Output, PathCtx};
use crate::dpdk::BURST_MAX;
use crate::frame::{Frame, RxChecksum};
use crate::stats::{bump, DropReason};
use crate::tables::{DemuxEntry, PortDemux};
use crate::wire::{self, checksum, EtherType, Ipv4Packet, MacAddr};

#[cfg(test)]
thread_local! {
    /// Tests turn the lane off to compare the general path's results with it.
    pub(super) static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Frames the lane forwarded on this thread, so tests can see it was taken.
    pub(super) static TAKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Forwards what it can of a burst that came in on a port whose owners are
/// `owners`: the frames of the first express-worthy frame's owner, when no
/// other owner's frame is express-worthy too (a burst over many tenants is the
/// general path's, which warms their state in passes). What it takes leaves its
/// slot empty.
#[inline(always)]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    owners: PortDemux<'_>,
    frames: &mut [Option<F>],
) {
    #[cfg(test)]
    if OFF.with(std::cell::Cell::get) {
        return;
    }
    // The candidates: slot, lookup key, L3 offset, frame length without Ethernet
    // padding.
    let mut slot = [0u8; BURST_MAX];
    let mut keys = [0u32; BURST_MAX];
    let mut l3s = [0u8; BURST_MAX];
    let mut ends = [0u16; BURST_MAX];
    let mut n = 0;
    let mut owner = DemuxEntry::NONE;
    for (i, f) in frames.iter().enumerate() {
        let Some(f) = f else {
            continue;
        };
        let Some((o, c)) = check(f, owners) else {
            continue;
        };
        if o != owner {
            if n > 0 {
                return;
            }
            owner = o;
        }
        // At most BURST_MAX slots (`burst` hands over one chunk).
        slot[n] = i as u8;
        keys[n] = c.dst;
        l3s[n] = c.l3;
        ends[n] = c.end;
        n += 1;
    }
    let Some(vnet) = ctx.tables.vnets.get(owner.vnet()).filter(|_| n > 0) else {
        return;
    };
    let c = vnet.counters(ctx.worker);
    if vnet.firewall().is_some() || c.tap.is_active() {
        return;
    }
    let mut hops = [lpm::NO_ROUTE; BURST_MAX];
    let fib = &vnet.fwd.fib4;
    if n == 1 {
        // A batch's set-up costs more than it saves for one key.
        hops[0] = fib.lookup_u32(keys[0]);
    } else {
        fib.lookup_batch(&keys[..n], &mut hops[..n]);
    }

    let (mut taken, mut sent, mut rx_bytes, mut tx_bytes) = (0u64, 0u64, 0u64, 0u64);
    for k in 0..n {
        let Some(g) = vnet.gateway(hops[k]) else {
            // A connected destination, an unresolved gateway, the router's own
            // address, no route: the general path's.
            continue;
        };
        let Some(mut frame) = frames[usize::from(slot[k])].take() else {
            continue;
        };
        taken += 1;
        rx_bytes += frame.data().len() as u64;
        // Shrinking to what `check` measured: cannot fail.
        frame.set_len(usize::from(ends[k]));
        let (l3, vlan) = (usize::from(l3s[k]), g.vlan());
        let hl = wire::ethernet::header_len(vlan.is_some());
        let room = if l3 >= hl {
            frame.adj(l3 - hl)
        } else {
            frame.prepend(hl - l3)
        };
        if !room {
            c.drop(DropReason::NoBuffer);
            continue;
        }
        let d = frame.data_mut();
        let hl = wire::emit_ethernet(
            d,
            MacAddr(g.dst_mac),
            MacAddr(g.src_mac),
            vlan,
            EtherType::IPV4,
        );
        Ipv4Packet::new_unchecked(&mut d[hl..]).decrement_ttl();
        tx_bytes += d.len() as u64;
        frame.clear_offload_flags();
        out.tx(g.port, frame);
        sent += 1;
    }
    if taken > 0 {
        bump(&c.rx_packets, taken);
        bump(&c.rx_bytes, rx_bytes);
        bump(&c.forwarded, taken);
        bump(&c.tx_packets, sent);
        bump(&c.tx_bytes, tx_bytes);
    }
    #[cfg(test)]
    TAKEN.with(|t| t.set(t.get() + taken));
}

/// What `check` found of an express-worthy frame.
struct Candidate {
    /// Destination, host order: the lookup key.
    dst: u32,
    /// Where the IPv4 header starts (14, or 18 behind an 802.1Q tag).
    l3: u8,
    /// Where the IP packet ends.
    end: u16,
}

/// A frame for the express lane: its owner and what it needs of the frame;
/// `None` sends it down the general path, which counts and drops or answers
/// what this declines (and forwards the rest: headers with options, say).
///
/// The general path's L2 rules, for the frames they let through: an 802.1Q tag
/// in the frame, or none and the NIC's stripped one (or none at all), then
/// IPv4; QinQ and 802.3 lengths are left to it.
#[inline(always)]
fn check<F: Frame>(frame: &F, owners: PortDemux<'_>) -> Option<(DemuxEntry, Candidate)> {
    let d = frame.data();
    let (vid, l3) = match d.get(12..14)? {
        [0x08, 0x00] => (frame.stripped_vlan().unwrap_or(0), 14),
        [0x81, 0x00] => {
            let tag = d.get(14..18)?;
            let vid = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
            if tag[2..] != [0x08, 0x00] {
                return None;
            }
            // VID 0 (a priority tag) is untagged, as below.
            (vid, 18)
        }
        _ => return None,
    };
    // VID 4095 is no interface's: its slot has no owner.
    let s = owners.lookup((vid != 0).then_some(vid));
    // Unicast to the interface (the promiscuous port's other stations, and
    // broadcast or multicast frames, are the general path's).
    if s.owner.is_none() || d[..6] != s.mac {
        return None;
    }
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
    // Limited broadcast and multicast are not routed (the general path counts them).
    if !good || dst == u32::MAX || dst >> 28 == 0xe {
        return None;
    }
    let c = Candidate {
        dst,
        l3: l3 as u8,
        // Frames are at most a few KB.
        end: (l3 + total) as u16,
    };
    Some((s.owner, c))
}
