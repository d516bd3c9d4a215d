//! L2 parse and demux: (port, VLAN) → vnet and interface. The dispatch on
//! EtherType is the burst's (see `burst`).
use super::{Ingress, PathCtx};
use crate::capture::{Attachment, Direction};
use crate::dpdk::PortId;
use crate::frame::Frame;
use crate::stats::{bump, DropReason, PortDropReason};
use crate::wire;

/// Which vnet and interface `frame` arrived on, and its EtherType; `None` when it
/// was dropped (counted here; the caller frees it).
#[inline(always)]
pub(super) fn demux<'t, F: Frame>(
    ctx: &PathCtx<'t>,
    port: PortId,
    frame: &F,
) -> Option<(Ingress<'t>, u16)> {
    let t = ctx.tables;
    let data = frame.data();
    let l2 = match wire::parse_l2(data) {
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
    let e = t.demux.lookup(port, vlan);
    if e.is_none() {
        port_drop(ctx, port, PortDropReason::UnknownVlan);
        return None;
    }
    let vnet = &t.vnets[e.vnet()];
    let iface = &vnet.fwd.interfaces[e.iface()];
    let c = vnet.fwd.counters.worker(ctx.worker);
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
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&data[6..12]);
    // Ports are promiscuous: unicast frames for other stations are not ours.
    if dst != iface.mac && dst[0] & 1 == 0 {
        c.drop(DropReason::NotForUs);
        return None;
    }
    let ing = Ingress {
        vnet,
        iface,
        iface_index: e.iface() as u16,
        l3_off: l2.l3_offset,
        src_mac,
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
