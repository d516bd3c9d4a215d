//! The express lane: the IPv4 frames a router forwards without a second thought
//! (unicast to the receiving interface, a 20-byte header that checks out, hops
//! to spare, a tenant without a firewall or a running capture, a destination
//! routed to a resolved gateway) are checked, looked up, rewritten and queued
//! for TX in a few short passes over the burst, before any classification.
//! Every other frame, and a frame whose route turns out to be anything but a
//! resolved gateway, stays in its slot untouched and uncounted: the general
//! path (`burst`) then handles it exactly as if the express lane did not exist.
//!
//! Why a second path for what the general one does: scenario 1 of perf/README
//! (one tenant, a full table, no firewall) spent ~525 instructions a frame of its
//! own against l3fwd's 118 under callgrind, spread thin over generality every
//! frame paid for: the per-frame lanes (frame, vnet, counters, interface, offset,
//! tags, prepared header), the tenant memo, six counter updates, two capture
//! checks, the firewall hooks, the `Option`s of each. Here a frame carries only
//! its slot, owner, key, header offset and length.
//!
//! Two shapes of burst: one tenant's (`one`: its state is hot after the first
//! frame, one batched lookup, counted once), and many tenants' (`many`: their
//! state is cold, fetched in passes so the misses overlap). IPv6 (`six`), for
//! a burst of one tenant, after the IPv4 frames.
mod check;
mod filtered;
mod many;
mod one;
mod six;

use super::Output;
use super::PathCtx;
use crate::dpdk::BURST_MAX;
use crate::frame::Frame;
use crate::stats::sent::SENT_SLOTS;
use crate::stats::{self, bump, DropReason, VnetWorkerCounters};
use crate::tables::{DemuxEntry, DemuxSlot, GatewayEgress, PortDemux};
use crate::wire::{self, checksum, EtherType, Ipv4Packet, Ipv6Packet, MacAddr};
use check::check;

#[cfg(test)]
thread_local! {
    /// Tests turn the lane off to compare the general path's results with it.
    pub(super) static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Frames the lane forwarded on this thread, so tests can see it was taken:
    /// all, those of bursts over several tenants, IPv6 ones.
    pub(super) static TAKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    pub(super) static TAKEN_MANY: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    pub(super) static TAKEN_SIX: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The burst's express-worthy frames, in arrival order, a field per array (the
/// destinations are the batch lookup's keys as they are; a struct per frame was
/// packed into and out of registers).
struct Candidates<'t> {
    /// Each one's slot in the burst (at most BURST_MAX: `burst` hands over one chunk).
    slot: [u8; BURST_MAX],
    owner: [DemuxEntry; BURST_MAX],
    /// The owner's entry in this worker's array of sent frames, from its
    /// (port, VLAN) slot (`DemuxSlot::sent`; 0: none).
    sent: [u32; BURST_MAX],
    /// The first candidate's slot: a burst of one tenant counts into the
    /// counters beside it.
    first: &'t DemuxSlot,
    /// The port's slots.
    owners: PortDemux<'t>,
    /// `Candidate`'s fields.
    dst: [u32; BURST_MAX],
    l3: [u8; BURST_MAX],
    end: [u16; BURST_MAX],
    n: usize,
}

/// Forwards what it can of a burst that came in on a port whose owners are
/// `owners`; what it takes leaves its slot empty. Returns how many frames it
/// left, so that a burst it took whole is not looked over again (two scans of
/// empty slots were ~11 instructions a frame).
#[inline(always)]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    owners: PortDemux<'_>,
    frames: &mut [Option<F>],
) -> usize {
    #[cfg(test)]
    if OFF.with(std::cell::Cell::get) {
        return frames.iter().flatten().count();
    }
    // This worker's entries of the owners' sent frames.
    let sent = stats::sent::worker(ctx.worker);
    let mut cand = Candidates {
        slot: [0; BURST_MAX],
        owner: [DemuxEntry::NONE; BURST_MAX],
        sent: [0; BURST_MAX],
        first: &DemuxSlot::NONE,
        owners,
        dst: [0; BURST_MAX],
        l3: [0; BURST_MAX],
        end: [0; BURST_MAX],
        n: 0,
    };
    // Tagged traffic (many tenants on VLANs, most likely): the frames' slots
    // first, so that their misses overlap.
    let first = frames.iter().flatten().next();
    if first.is_some_and(|f| check::tagged_slot(f, owners).is_some()) {
        for f in frames.iter().flatten() {
            if let Some(s) = check::tagged_slot(f, owners) {
                super::ingress::prefetch(s);
            }
        }
    }
    let mut last = DemuxEntry::NONE;
    let mut owners_seen = 0u32;
    // The count in a register: as `cand.n` it went to memory twice a frame.
    let mut n = 0;
    for (i, f) in frames.iter().enumerate() {
        let Some((s, c)) = f.as_ref().and_then(|f| check(f, owners)) else {
            continue;
        };
        if s.owner != last {
            last = s.owner;
            owners_seen += 1;
            if owners_seen == 1 {
                cand.first = s;
            }
            // The owner's `Vnet` line and entry of sent frames, on their way
            // while the rest is checked (a burst of one tenant has them hot
            // after its first frame).
            super::ingress::prefetch(ctx.tables.vnets.as_ptr().wrapping_add(last.vnet()));
            if let Some(a) = sent {
                super::ingress::prefetch(&a[s.sent as usize & (SENT_SLOTS - 1)]);
            }
        }
        // (`frames` is one chunk of at most BURST_MAX: `n` stays in the arrays.)
        let k = n & (BURST_MAX - 1);
        cand.slot[k] = i as u8;
        cand.owner[k] = s.owner;
        cand.sent[k] = s.sent;
        cand.dst[k] = c.dst;
        cand.l3[k] = c.l3;
        cand.end[k] = c.end;
        n = k + 1;
    }
    cand.n = n;
    let mut taken = match owners_seen {
        0 => 0,
        1 => one::run(ctx, out, &cand, frames),
        _ => match sent {
            Some(sent) => many::run(ctx, out, &cand, sent, frames),
            // A worker without an array of sent frames: the general path's.
            None => 0,
        },
    };
    // IPv6, when the burst holds some (its keys are 16 bytes: their lanes are
    // zeroed only then). Slots are full as they come from RX: a burst the IPv4
    // lane took whole has none.
    if taken as usize != frames.len() && frames.iter().flatten().any(check::is_ipv6) {
        let six = six::run(ctx, out, owners, frames);
        #[cfg(test)]
        TAKEN_SIX.with(|t| t.set(t.get() + six));
        taken += six;
    }
    #[cfg(test)]
    {
        TAKEN.with(|t| t.set(t.get() + taken));
        if owners_seen > 1 {
            TAKEN_MANY.with(|t| t.set(t.get() + taken));
        }
    }
    if taken as usize == frames.len() {
        0
    } else {
        frames.iter().flatten().count()
    }
}

/// What became of a frame the lane took, for the counters: its size as
/// received, and whether it was sent (its size then), dropped for want of
/// headroom for a longer header (counted as forwarded, as the general path
/// does), or kept by the firewall (which counted it).
struct Sizes {
    rx: u64,
    fate: Fate,
}

enum Fate {
    Sent(u64),
    NoBuffer,
    Kept,
}

/// What the lane took of one tenant's frames, counted into its slot at once
/// (for a burst of one tenant: once for the burst).
#[derive(Default)]
struct Tally {
    taken: u64,
    forwarded: u64,
    sent: u64,
    rx_bytes: u64,
    tx_bytes: u64,
}

impl Tally {
    #[inline(always)]
    fn add(&mut self, s: Sizes, c: &VnetWorkerCounters) {
        self.taken += 1;
        self.rx_bytes += s.rx;
        match s.fate {
            Fate::Sent(tx) => {
                self.forwarded += 1;
                self.sent += 1;
                self.tx_bytes += tx;
            }
            Fate::NoBuffer => {
                self.forwarded += 1;
                c.drop(DropReason::NoBuffer);
            }
            Fate::Kept => {}
        }
    }

    /// Into `c`; returns the frames taken.
    #[inline(always)]
    fn count(self, c: &VnetWorkerCounters) -> u64 {
        if self.taken > 0 {
            bump(&c.rx_packets, self.taken);
            bump(&c.rx_bytes, self.rx_bytes);
            bump(&c.forwarded, self.forwarded);
            bump(&c.tx_packets, self.sent);
            bump(&c.tx_bytes, self.tx_bytes);
        }
        self.taken
    }
}

/// The IP packet of a frame the lane took (from `l3` to `end`, Ethernet padding
/// cut) one hop on, behind `g`'s Ethernet header, handed to TX. `V6`: an IPv6
/// packet (hop limit, no checksum), else IPv4 with a 20-byte header; `check`
/// saw the hops to spare either way.
#[inline(always)]
fn forward<const V6: bool, F: Frame, O: Output<F>>(
    out: &mut O,
    mut frame: F,
    l3: u8,
    end: u16,
    g: &GatewayEgress,
) -> Sizes {
    let rx = frame.data().len() as u64;
    // To what `check` measured (at most the frame).
    frame.shrink(usize::from(end));
    let fate = send::<V6, true, _, _>(out, frame, l3, g);
    Sizes { rx, fate }
}

/// `send`'s rewrite of a frame whose Ethernet header (`HL` bytes: 14, or 18
/// with a tag) keeps its shape: the addresses, the tag's VID (priority 0), and
/// with `DECREMENT` one hop less. Each header is reached through one length
/// check, and the hops need no test (`check` saw two or more): the general
/// writers' bounds checks and TTL test were a fifth of the forwarding loop of
/// scenario 1. The frame's length; `None` (nothing written) if it is shorter
/// than its headers.
#[inline(always)]
fn in_place<const V6: bool, const DECREMENT: bool, const HL: usize>(
    d: &mut [u8],
    g: &GatewayEgress,
    vid: u16,
) -> Option<u64> {
    let len = d.len() as u64;
    let (eth, ip) = d.split_first_chunk_mut::<HL>()?;
    if V6 {
        // The hop limit is byte 7 of the header.
        let h = ip.first_chunk_mut::<8>()?;
        if DECREMENT {
            h[7] -= 1;
        }
    } else {
        // TTL (byte 8) and the checksum's update (bytes 10 and 11), read and
        // written as one word with the protocol between them.
        let h = ip.first_chunk_mut::<12>()?;
        if DECREMENT {
            let w = h[8..].first_chunk_mut::<4>()?;
            let c = checksum::update_ttl_decrement_bytes([w[2], w[3]]);
            *w = [w[0] - 1, w[1], c[0], c[1]];
        }
    }
    *eth.first_chunk_mut::<12>()? = g.macs();
    if HL == 18 {
        eth[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    Some(len)
}

/// The L2 rewrite for `g` and the hand-off to TX of a frame whose IP packet
/// starts at `l3`; with `DECREMENT`, one hop less in its header on the way.
#[inline(always)]
fn send<const V6: bool, const DECREMENT: bool, F: Frame, O: Output<F>>(
    out: &mut O,
    mut frame: F,
    l3: u8,
    g: &GatewayEgress,
) -> Fate {
    let (l3, vlan) = (usize::from(l3), g.vlan());
    let hl = wire::ethernet::header_len(vlan.is_some());
    if l3 == hl {
        // The header keeps its shape (tagged or not, as it came): its TPID and
        // EtherType are what they must be (`check` read them), so only the
        // addresses and the tag's VID (priority 0) are written.
        let d = frame.data_mut();
        let done = match vlan {
            None => in_place::<V6, DECREMENT, 14>(d, g, 0),
            Some(vid) => in_place::<V6, DECREMENT, 18>(d, g, vid),
        };
        if let Some(tx) = done {
            frame.clear_offload_flags();
            out.tx(g.port, frame);
            return Fate::Sent(tx);
        }
    }
    let d = if l3 == hl {
        // (`in_place` found the frame shorter than `check` did: cannot happen.)
        frame.data_mut()
    } else {
        let room = if l3 > hl {
            frame.adj(l3 - hl)
        } else {
            frame.prepend(hl - l3)
        };
        if !room {
            return Fate::NoBuffer;
        }
        let d = frame.data_mut();
        let ethertype = if V6 { EtherType::IPV6 } else { EtherType::IPV4 };
        wire::emit_ethernet(d, MacAddr(g.dst_mac), MacAddr(g.src_mac), vlan, ethertype);
        d
    };
    if DECREMENT {
        if V6 {
            Ipv6Packet::new_unchecked(&mut d[hl..]).decrement_hop_limit();
        } else {
            Ipv4Packet::new_unchecked(&mut d[hl..]).decrement_ttl();
        }
    }
    let tx = d.len() as u64;
    frame.clear_offload_flags();
    out.tx(g.port, frame);
    Fate::Sent(tx)
}
