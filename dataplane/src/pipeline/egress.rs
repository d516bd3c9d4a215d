//! L2 rewrite for the egress interface and hand-off to TX.
use super::Output;
use crate::capture::{Attachment, Direction};
use crate::dpdk::PortId;
use crate::frame::Frame;
use crate::stats::{bump, DropReason, VnetWorkerCounters};
use crate::tables::{GatewayEgress, Interface};
use crate::wire::{self, MacAddr};

/// Puts a fresh Ethernet header (with the egress interface's VLAN tag, if any)
/// in front of the L3 packet starting at `l3_off`, and queues the frame for TX.
#[inline(always)]
pub(super) fn send<F: Frame, O: Output<F>>(
    out: &mut O,
    c: &VnetWorkerCounters,
    frame: F,
    l3_off: usize,
    iface: &Interface,
    dst_mac: [u8; 6],
    ethertype: u16,
) {
    let l2 = L2Out {
        port: iface.port,
        vlan: iface.vlan,
        src_mac: iface.mac,
        dst_mac,
    };
    send_l2(out, c, frame, l3_off, l2, ethertype)
}

/// `send` towards a resolved gateway, from its entry alone (no interface read).
#[inline(always)]
pub(super) fn send_via<F: Frame, O: Output<F>>(
    out: &mut O,
    c: &VnetWorkerCounters,
    frame: F,
    l3_off: usize,
    g: &GatewayEgress,
    ethertype: u16,
) {
    let l2 = L2Out {
        port: g.port,
        vlan: g.vlan(),
        src_mac: g.src_mac,
        dst_mac: g.dst_mac,
    };
    send_l2(out, c, frame, l3_off, l2, ethertype)
}

/// Where a frame goes and the Ethernet header it gets.
#[derive(Clone, Copy)]
struct L2Out {
    port: PortId,
    vlan: Option<u16>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
}

/// Inlined: it is the last step of every forwarded frame, and as a call it
/// spilled and reloaded the frame's state around it.
#[inline(always)]
fn send_l2<F: Frame, O: Output<F>>(
    out: &mut O,
    c: &VnetWorkerCounters,
    mut frame: F,
    l3_off: usize,
    l2: L2Out,
    ethertype: u16,
) {
    let hl = wire::ethernet::header_len(l2.vlan.is_some());
    let ok = if l3_off >= hl {
        frame.adj(l3_off - hl)
    } else {
        frame.prepend(hl - l3_off)
    };
    if !ok {
        c.drop(DropReason::NoBuffer);
        return;
    }
    wire::emit_ethernet(
        frame.data_mut(),
        MacAddr(l2.dst_mac),
        MacAddr(l2.src_mac),
        l2.vlan,
        ethertype,
    );
    frame.clear_offload_flags();
    bump(&c.tx_packets, 1);
    bump(&c.tx_bytes, frame.data().len() as u64);
    let at = Attachment {
        port: l2.port.0,
        vlan: l2.vlan,
    };
    c.tap
        .record(c.worker, Direction::Sent, at, frame.data(), None);
    out.tx(l2.port, frame);
}
