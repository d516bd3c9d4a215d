//! L2 parse and demux: (port, VLAN) → vnet and interface, then dispatch on EtherType.
use super::{arp, ipv4, ipv6, Ingress, Output, PathCtx, Pending};
use crate::capture::{Attachment, Direction};
use crate::dpdk::PortId;
use crate::frame::Frame;
use crate::stats::{bump, DropReason, PortDropReason};
use crate::wire::{self, EtherType};

#[inline]
pub(super) fn handle<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    port: PortId,
    frame: F,
) {
    let t = ctx.tables;
    let data = frame.data();
    let l2 = match wire::parse_l2(data) {
        Ok(l2) => l2,
        Err(_) => return port_drop(ctx, port, PortDropReason::BadL2),
    };
    // The tag is in the frame, or in metadata when the PMD stripped it. VID 0
    // (priority-tagged) means untagged.
    let vlan = l2
        .vlan
        .or_else(|| frame.stripped_vlan())
        .filter(|v| *v != 0);
    let e = t.demux.lookup(port, vlan);
    if e.is_none() {
        return port_drop(ctx, port, PortDropReason::UnknownVlan);
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

    let mut dst = [0u8; 6];
    dst.copy_from_slice(&data[0..6]);
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&data[6..12]);
    // Ports are promiscuous: unicast frames for other stations are not ours.
    if dst != iface.mac && dst[0] & 1 == 0 {
        c.drop(DropReason::NotForUs);
        return;
    }
    let ing = Ingress {
        vnet,
        iface,
        l3_off: l2.l3_offset,
        src_mac,
    };
    match l2.ethertype {
        EtherType::IPV4 => ipv4::handle(ctx, pending, out, &ing, frame),
        EtherType::IPV6 => ipv6::handle(ctx, pending, out, &ing, frame),
        EtherType::ARP => arp::handle(ctx, out, &ing, frame),
        _ => c.drop(DropReason::UnsupportedEthertype),
    }
}

#[cold]
fn port_drop(ctx: &PathCtx<'_>, port: PortId, r: PortDropReason) {
    if let Some(p) = ctx.tables.port(port) {
        bump(&p.counters.worker(ctx.worker).dropped[r as usize], 1);
    }
}
