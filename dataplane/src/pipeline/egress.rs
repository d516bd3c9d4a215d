//! L2 rewrite for the egress interface and hand-off to TX.
use super::Output;
use crate::capture::{Attachment, Direction};
use crate::frame::Frame;
use crate::stats::{bump, DropReason, VnetWorkerCounters};
use crate::tables::Interface;
use crate::wire::{self, MacAddr};

/// Puts a fresh Ethernet header (with the egress interface's VLAN tag, if any)
/// in front of the L3 packet starting at `l3_off`, and queues the frame for TX.
/// Inlined: it is the last step of every forwarded frame, and as a call it
/// spilled and reloaded the frame's state around it.
#[inline(always)]
pub(super) fn send<F: Frame, O: Output<F>>(
    out: &mut O,
    c: &VnetWorkerCounters,
    mut frame: F,
    l3_off: usize,
    iface: &Interface,
    dst_mac: [u8; 6],
    ethertype: u16,
) {
    let hl = wire::ethernet::header_len(iface.vlan.is_some());
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
        MacAddr(dst_mac),
        MacAddr(iface.mac),
        iface.vlan,
        ethertype,
    );
    frame.clear_offload_flags();
    bump(&c.tx_packets, 1);
    bump(&c.tx_bytes, frame.data().len() as u64);
    let at = Attachment {
        port: iface.port.0,
        vlan: iface.vlan,
    };
    c.tap
        .record(c.worker, Direction::Sent, at, frame.data(), None);
    out.tx(iface.port, frame);
}
