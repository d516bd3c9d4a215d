//! L2 parse and demux: (port, VLAN) → vnet and interface. The dispatch on
//! EtherType is the burst's (see `burst`).
use super::{Ingress, PathCtx};
use crate::capture::{Attachment, Direction};
use crate::dpdk::PortId;
use crate::dpdk::BURST_MAX;
use crate::frame::Frame;
use crate::stats::VnetWorkerCounters;
use crate::stats::{bump, DropReason, PortDropReason};
use crate::tables::{DemuxEntry, DemuxSlot, PortDemux, Vnet};
use crate::wire;
use std::sync::Arc;

/// A frame's layer-2 facts and its owner, from `classify`.
#[derive(Clone, Copy)]
pub(super) struct Classified<'t> {
    pub l2: wire::L2Info,
    /// The VID the frame carried, in its header or in the NIC's metadata.
    pub vlan: Option<u16>,
    /// Its (port, VLAN) slot: the owner and the owning interface's MAC.
    pub slot: &'t DemuxSlot,
    /// This worker's counters of the owner, from beside the slot (`None`: the
    /// owner has none for this worker, which `demux` drops).
    pub counters: Option<&'t VnetWorkerCounters>,
}

impl Classified<'_> {
    #[inline(always)]
    pub fn owner(&self) -> DemuxEntry {
        self.slot.owner
    }
}

/// L2 parse and the (port, VLAN) demux of one frame that came in on `port`, whose
/// owners are `owners`; `None` when it is dropped (counted here; the caller frees it).
#[inline(always)]
pub(super) fn classify<'t, F: Frame>(
    ctx: &PathCtx<'_>,
    port: PortId,
    owners: PortDemux<'t>,
    frame: &F,
) -> Option<Classified<'t>> {
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
    let slot = owners.lookup(vlan);
    if slot.owner.is_none() {
        port_drop(ctx, port, PortDropReason::UnknownVlan);
        return None;
    }
    let counters = owners.counters(slot, ctx.worker);
    Some(Classified {
        l2,
        vlan,
        slot,
        counters,
    })
}

/// Brings the tenant state the burst's frames will touch into cache in a pass
/// over the burst's owners, so that the cache misses of all frames overlap
/// instead of queueing one behind the other: the `Vnet` line (prefetched as each
/// frame is classified, with this worker's counter slot) names the compact IPv4
/// table and holds its root (most tables) and the egress entry of the vnet's
/// first gateway. With
/// 10,000 tenants nearly every frame belongs to another vnet and each of these is
/// a miss; a burst of one tenant skips this (its state is hot after the first
/// frame).
///
/// One level after the `Vnet`, and the fewest lines: what the forwarding path
/// reads of the receiving interface (its MAC) is in the demux slot, of the next
/// hop (a resolved gateway's egress entry) in the `Vnet` line for its first
/// gateway, and whether there is a firewall in the `Vnet` itself, so an IPv4
/// frame of a vnet with a compact table and no firewall routed to that gateway
/// reads neither the `Vnet`'s second line, nor the forwarding part, nor the
/// interface, nor the next hops, nor a line of gateway entries. Runs that need
/// more (IPv6, ARP, a firewall, no compact table: the forwarding part; other
/// gateways: their entries) get the `Vnet`'s second line here (for frames other
/// than IPv4, `burst` prefetched it as it classified them) and what it points
/// to in a second pass.
///
/// The caller skips it for a burst of one tenant (`burst` counts the runs of
/// frames of one vnet as it classifies them).
#[inline(always)]
pub(super) fn warm(ctx: &PathCtx<'_>, frames: &[Option<Classified<'_>>]) {
    let t = ctx.tables;
    let mut owners = [DemuxEntry::NONE; BURST_MAX];
    // A run holding other frames than IPv4 (IPv6 looks up through the
    // forwarding part; ARP reads the interfaces).
    let mut not_v4 = [false; BURST_MAX];
    let mut n = 0;
    for c in frames.iter().flatten() {
        let v4 = c.l2.ethertype == wire::EtherType::IPV4;
        if n > 0 && owners[n - 1].vnet() == c.owner().vnet() {
            not_v4[n - 1] |= !v4;
            continue;
        }
        if n == BURST_MAX {
            break;
        }
        owners[n] = c.owner();
        not_v4[n] = !v4;
        n += 1;
    }
    // Owners whose second line is wanted, a bit each.
    const _: () = assert!(BURST_MAX <= 32, "a mask of owners is a u32");
    let mut second = 0u32;
    for (k, (e, &not_v4)) in owners[..n].iter().zip(&not_v4).enumerate() {
        let Some(v) = t.vnets.get(e.vnet()) else {
            continue;
        };
        // The root of a small IPv4 table, the lookup stage's first level, when
        // it is not in the `Vnet` line (the address reads only that line).
        if let Some(root) = v.compact_root_line() {
            prefetch(root);
        }
        if not_v4 || v.compact4.is_none() || v.has_firewall() || v.cold_gateways4() {
            prefetch(Vnet::second_line(v));
            second |= 1 << k;
        }
    }
    while second != 0 {
        let k = second.trailing_zeros() as usize;
        second &= second - 1;
        let v = &t.vnets[owners[k].vnet()];
        // The forwarding part's hot line and the first gateways' entries.
        prefetch(Arc::as_ptr(&v.fwd));
        prefetch(v.gateway_slot(0));
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
/// dependent loads per frame (vnet → this worker's counter slot) that a frame of
/// the same tenant can skip.
#[derive(Clone, Copy)]
pub(super) struct TenantMemo<'t> {
    owner: DemuxEntry,
    vnet: &'t Vnet,
    counters: &'t VnetWorkerCounters,
}

impl<'t> TenantMemo<'t> {
    /// The state of the owner of `c`, from the memo when it is the last
    /// frame's owner; `None` for a frame without counters for this worker
    /// (none that `classify` lets through).
    #[inline(always)]
    fn get(memo: &mut Option<Self>, ctx: &PathCtx<'t>, c: &Classified<'t>) -> Option<Self> {
        let owner = c.slot.owner;
        match *memo {
            Some(m) if m.owner == owner => Some(m),
            _ => {
                let m = TenantMemo {
                    owner,
                    vnet: &ctx.tables.vnets[owner.vnet()],
                    counters: c.counters?,
                };
                *memo = Some(m);
                Some(m)
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
    c: Classified<'t>,
) -> Option<(Ingress<'t>, u16)> {
    let data = frame.data();
    let (l2, vlan, e, iface_mac) = (c.l2, c.vlan, c.owner(), c.slot.mac);
    let Some(TenantMemo {
        vnet, counters: c, ..
    }) = TenantMemo::get(memo, ctx, &c)
    else {
        port_drop(ctx, port, PortDropReason::UnknownVlan);
        return None;
    };
    bump(&c.rx_packets, 1);
    bump(&c.rx_bytes, data.len() as u64);
    // The frame's VID is its interface's (that is how it was demuxed): the
    // interface's own line is not read.
    let at = Attachment { port: port.0, vlan };
    let stripped = if l2.vlan.is_none() { vlan } else { None };
    c.tap
        .record(ctx.worker, Direction::Received, at, data, stripped);

    // parse_l2 checked the Ethernet header is there.
    let mut dst = [0u8; 6];
    dst.copy_from_slice(&data[0..6]);
    // Ports are promiscuous: unicast frames for other stations are not ours.
    if dst != iface_mac && dst[0] & 1 == 0 {
        c.drop(DropReason::NotForUs);
        return None;
    }
    let ing = Ingress {
        vnet,
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
