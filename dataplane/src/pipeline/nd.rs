//! IPv6 neighbor discovery (RFC 4861): answer solicitations for our addresses,
//! learn from solicitations and advertisements.
use super::{egress, sender_mac, Ingress, Output, PathCtx};
use crate::frame::Frame;
use crate::stats::{bump, DropReason};
use crate::tables::NeighborEvent;
use crate::wire::{icmpv6, ipv6, EtherType, Ipv6Packet};
use std::net::{IpAddr, Ipv6Addr};

pub(super) fn handle<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    icmp_type: u8,
) {
    let c = ing.counters;
    let l3 = ing.l3_off;
    let vnet_id = ing.vnet.fwd.id;
    match icmp_type {
        icmpv6::NS => {
            let (src, target, slla) = match (
                icmpv6::parse_ns(&frame.data()[l3..]),
                Ipv6Packet::new_checked(&frame.data()[l3..]),
            ) {
                (Ok(ns), Ok(ip)) => (ip.src_addr(), ns.target, ns.source_mac),
                _ => return c.drop(DropReason::Malformed),
            };
            if !ing.iface().owns6(target) {
                return c.drop(DropReason::NotForUs);
            }
            bump(&c.local, 1);
            let unspecified = src == Ipv6Addr::UNSPECIFIED;
            if let (false, Some(mac)) = (unspecified, slla) {
                out.learned(NeighborEvent {
                    vnet_id,
                    addr: IpAddr::V6(src),
                    mac: mac.0,
                    tsc: ctx.now,
                });
            }
            // DAD probes (from ::) are answered to all-nodes, unsolicited.
            let (dst_ip, dst_mac) = if unspecified {
                let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                (all_nodes, ipv6::multicast_mac(all_nodes).0)
            } else {
                (src, slla.map(|m| m.0).unwrap_or(sender_mac(frame.data())))
            };
            let mut buf = [0u8; icmpv6::ND_PACKET_LEN];
            let n = icmpv6::emit_na(
                &mut buf,
                target,
                dst_ip,
                target,
                crate::wire::MacAddr(ing.iface().mac),
                !unspecified,
            );
            if !frame.set_len(l3 + n) {
                return c.drop(DropReason::NoBuffer);
            }
            frame.data_mut()[l3..l3 + n].copy_from_slice(&buf[..n]);
            egress::send(out, c, frame, l3, ing.iface(), dst_mac, EtherType::IPV6);
        }
        icmpv6::NA => match icmpv6::parse_na(&frame.data()[l3..]) {
            Ok(na) => {
                let mac = (na.target_mac.map(|m| m.0)).unwrap_or(sender_mac(frame.data()));
                out.learned(NeighborEvent {
                    vnet_id,
                    addr: IpAddr::V6(na.target),
                    mac,
                    tsc: ctx.now,
                });
                bump(&c.local, 1);
            }
            Err(_) => c.drop(DropReason::Malformed),
        },
        // Router solicitations/advertisements: vnetd sends no RAs (yet); hosts
        // are configured statically.
        _ => c.drop(DropReason::LocalUnhandled),
    }
}
