//! L2 parse and demux: (port, VLAN) → vnet and interface. The dispatch on
//! EtherType is the burst's (see `burst`).
use super::{Ingress, PathCtx};
use crate::capture::{Attachment, Direction};
use crate::dpdk::PortId;
use crate::dpdk::BURST_MAX;
use crate::frame::Frame;
use crate::stats::VnetWorkerCounters;
use crate::stats::{bump, DropReason, PortDropReason};
use crate::tables::{DemuxEntry, Interface, PortDemux, Vnet};
use crate::wire;
use std::sync::Arc;

/// A frame's layer-2 facts and its owner, from `classify`.
#[derive(Clone, Copy)]
pub(super) struct Classified {
    pub l2: wire::L2Info,
    /// The VID the frame carried, in its header or in the NIC's metadata.
    pub vlan: Option<u16>,
    pub owner: DemuxEntry,
}

/// L2 parse and the (port, VLAN) demux of one frame that came in on `port`, whose
/// owners are `owners`; `None` when it is dropped (counted here; the caller frees it).
#[inline(always)]
pub(super) fn classify<F: Frame>(
    ctx: &PathCtx<'_>,
    port: PortId,
    owners: PortDemux<'_>,
    frame: &F,
) -> Option<Classified> {
    let l2 = match wire::parse_l2(frame.data()) {
        Ok(l2) => l2,
        Err(_) => {
            port_drop(ctx, port, PortDropReason::BadL2);
            return None;
        }
    };
    // The tag is in the frame, or in metadata when the PMD stripped it. VID 0
    // (priority-tagged) means untagged.
    let vlan = l2
        .vlan
        .or_else(|| frame.stripped_vlan())
        .filter(|v| *v != 0);
    let owner = owners.lookup(vlan);
    if owner.is_none() {
        port_drop(ctx, port, PortDropReason::UnknownVlan);
        return None;
    }
    Some(Classified { l2, vlan, owner })
}

/// Brings the tenant state the burst's frames will touch into cache, one pointer
/// level per pass over the burst's owners, so that the cache misses of all frames
/// overlap instead of queueing one behind the other: the `Vnet` line names the
/// forwarding part's hot line, the gateway MACs, the compact IPv4 table's root and
/// this worker's counter slot; the forwarding part names the receiving interface
/// and the next hops. With 10,000 tenants nearly every frame belongs to another
/// vnet and each level is a miss; a burst of one tenant skips this (its state is
/// hot after the first frame).
///
/// Two levels, not four: `Vnet`, `VnetFwd` and `Interface` are laid out so that
/// what a frame reads is in the first line of each (see their definitions), and
/// the counter slots hang off the `Vnet` itself.
///
/// The caller skips it for a burst of one tenant (`burst` counts the runs of
/// frames of one vnet as it classifies them).
#[inline(always)]
pub(super) fn warm(ctx: &PathCtx<'_>, frames: &[Option<Classified>]) {
    let t = ctx.tables;
    let mut owners = [DemuxEntry::NONE; BURST_MAX];
    let mut n = 0;
    for c in frames.iter().flatten() {
        if n > 0 && owners[n - 1].vnet() == c.owner.vnet() {
            continue;
        }
        if n == BURST_MAX {
            break;
        }
        owners[n] = c.owner;
        n += 1;
    }
    let owners = &owners[..n];
    let vnet = |e: &DemuxEntry| t.vnets.get(e.vnet());
    for v in owners.iter().filter_map(vnet) {
        // Addresses: computing them reads only the `Vnet` line.
        prefetch(Arc::as_ptr(&v.fwd));
        prefetch(v.gateway_slot(0));
        prefetch(v.counters(ctx.worker));
        // The root of a small IPv4 table, the lookup stage's first level.
        if let Some(c) = &v.compact4 {
            prefetch(c.root_ptr());
        }
    }
    for (e, v) in owners.iter().filter_map(|e| Some((e, vnet(e)?))) {
        if let Some(i) = v.fwd.interfaces.get(e.iface()) {
            prefetch(i);
        }
        // Most tenants have a few next hops (20 bytes each): the lookup stage's
        // next read. The capture tap is not fetched: `Tap::record` looks at it
        // only while some capture runs.
        let nh = v.fwd.nexthops.as_ptr();
        prefetch(nh);
        if v.fwd.nexthops.len() > 3 {
            prefetch(nh.wrapping_add(3));
        }
    }
}

/// A hint to load the cache line at `p`; never faults, whatever `p` is.
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCH reads nothing architecturally and cannot fault.
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The tenant state of the last frame's (port, VLAN) owner, for the next frame of
/// the same owner (most of a burst, usually): finding it again is a chain of
/// dependent loads per frame (vnet → forwarding part → interfaces, counters →
/// this worker's slot) that a frame of the same tenant can skip.
#[derive(Clone, Copy)]
pub(super) struct TenantMemo<'t> {
    owner: DemuxEntry,
    vnet: &'t Vnet,
    iface: &'t Interface,
    counters: &'t VnetWorkerCounters,
}

impl<'t> TenantMemo<'t> {
    /// The state of `owner`, from the memo when it is the last frame's owner.
    #[inline(always)]
    fn get(memo: &mut Option<Self>, ctx: &PathCtx<'t>, owner: DemuxEntry) -> Self {
        match *memo {
            Some(m) if m.owner == owner => m,
            _ => {
                let vnet = &ctx.tables.vnets[owner.vnet()];
                let m = TenantMemo {
                    owner,
                    vnet,
                    iface: &vnet.fwd.interfaces[owner.iface()],
                    counters: vnet.counters(ctx.worker),
                };
                *memo = Some(m);
                m
            }
        }
    }
}

/// The vnet and interface of a classified frame, its counters and capture, and
/// the check that it is for us; `None` when it was dropped (counted here).
#[inline(always)]
pub(super) fn demux<'t, F: Frame>(
    ctx: &PathCtx<'t>,
    memo: &mut Option<TenantMemo<'t>>,
    port: PortId,
    frame: &F,
    c: Classified,
) -> Option<(Ingress<'t>, u16)> {
    let data = frame.data();
    let (l2, vlan, e) = (c.l2, c.vlan, c.owner);
    let TenantMemo {
        vnet,
        iface,
        counters: c,
        ..
    } = TenantMemo::get(memo, ctx, e);
    bump(&c.rx_packets, 1);
    bump(&c.rx_bytes, data.len() as u64);
    let at = Attachment {
        port: port.0,
        vlan: iface.vlan,
    };
    let stripped = if l2.vlan.is_none() { vlan } else { None };
    c.tap
        .record(ctx.worker, Direction::Received, at, data, stripped);

    // parse_l2 checked the Ethernet header is there.
    let mut dst = [0u8; 6];
    dst.copy_from_slice(&data[0..6]);
    // Ports are promiscuous: unicast frames for other stations are not ours.
    if dst != iface.mac && dst[0] & 1 == 0 {
        c.drop(DropReason::NotForUs);
        return None;
    }
    let ing = Ingress {
        vnet,
        iface,
        counters: c,
        iface_index: e.iface() as u16,
        l3_off: l2.l3_offset,
        from_pipe: false,
    };
    Some((ing, l2.ethertype))
}

#[cold]
fn port_drop(ctx: &PathCtx<'_>, port: PortId, r: PortDropReason) {
    if let Some(p) = ctx.tables.port(port) {
        bump(&p.counters.worker(ctx.worker).dropped[r as usize], 1);
    }
}

/// A frame of an EtherType vnetd does not handle.
#[cold]
pub(super) fn unsupported(ctx: &PathCtx<'_>, ing: &Ingress<'_>) {
    ing.vnet
        .fwd
        .counters
        .worker(ctx.worker)
        .drop(DropReason::UnsupportedEthertype);
}
