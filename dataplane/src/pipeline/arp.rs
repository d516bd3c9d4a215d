//! ARP: answer for our addresses, learn from requests and replies aimed at us.
use super::{egress, Ingress, Output, PathCtx};
use crate::frame::Frame;
use crate::stats::{bump, DropReason};
use crate::tables::NeighborEvent;
use crate::wire::{self, ArpOperation, ArpPacket, EtherType};
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn handle<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
) {
    let c = ing.counters;
    let (op, sender_mac, sender_ip, target_ip) =
        match ArpPacket::new_checked(&frame.data()[ing.l3_off..]) {
            Ok(a) => (a.operation(), a.sender_mac(), a.sender_ip(), a.target_ip()),
            Err(_) => return c.drop(DropReason::Malformed),
        };
    let sender_known = ing.vnet.neighbors.get4(sender_ip).is_some();
    let for_us = ing.iface().owns4(target_ip);
    // RFC 826: learn from packets aimed at us, refresh what we already know.
    // 0.0.0.0 is an address probe (RFC 5227), not a binding to learn.
    if (for_us || sender_known) && sender_ip != Ipv4Addr::UNSPECIFIED && !sender_mac.is_multicast()
    {
        out.learned(NeighborEvent {
            vnet_id: ing.vnet.fwd.id,
            addr: IpAddr::V4(sender_ip),
            mac: sender_mac.0,
            tsc: ctx.now,
        });
    }
    if !for_us {
        return c.drop(DropReason::NotForUs);
    }
    bump(&c.local, 1);
    if op != ArpOperation::Request {
        return; // a reply to our request: learned above, nothing to send
    }
    let l3 = ing.l3_off;
    if wire::arp::reply_in_place(&mut frame.data_mut()[l3..], wire::MacAddr(ing.iface().mac))
        .is_err()
    {
        return c.drop(DropReason::Malformed);
    }
    egress::send(out, c, frame, l3, ing.iface(), sender_mac.0, EtherType::ARP);
}
