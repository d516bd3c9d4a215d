//! Next-hop resolution: hold the frame, send ARP requests / neighbor
//! solicitations, release held frames when the MAC arrives, give up after a while.
use super::pending::Held;
use super::{egress, Output, PathCtx, Pending};
use crate::frame::Frame;
use crate::stats::DropReason;
use crate::tables::Vnet;
use crate::wire::{self, arp, icmpv6, ipv6, EtherType, MacAddr};
use std::net::IpAddr;

/// Seconds between solicitations for one neighbor, and before held frames are dropped.
const RETRY_SECS: u64 = 1;
const GIVE_UP_SECS: u64 = 3;

/// Holds a routed frame until `neighbor`'s MAC is known, soliciting it if nobody has lately.
#[allow(clippy::too_many_arguments)]
pub(super) fn hold<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    vnet: &Vnet,
    iface: u16,
    neighbor: IpAddr,
    frame: F,
    l3_off: usize,
    ethertype: u16,
) {
    let c = vnet.fwd.counters.worker(ctx.worker);
    let last = pending.last_solicit(vnet.fwd.id, neighbor);
    let held = Held {
        vnet_id: vnet.fwd.id,
        iface,
        neighbor,
        frame,
        l3_off: l3_off as u16,
        ethertype,
        since: ctx.now,
    };
    let slot = match pending.push(held) {
        Ok(slot) => slot,
        Err(_dropped) => return c.drop(DropReason::NeighborUnresolved),
    };
    let due = last.is_none_or(|t| ctx.now.saturating_sub(t) >= RETRY_SECS * ctx.hz);
    if due {
        solicit(ctx, out, vnet, iface, neighbor);
        pending.mark_solicited(slot, ctx.now);
    } else if let Some(t) = last {
        pending.mark_solicited(slot, t);
    }
}

/// Sends an ARP request or a neighbor solicitation for `neighbor` out of `iface`.
pub(super) fn solicit<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    vnet: &Vnet,
    iface: u16,
    neighbor: IpAddr,
) {
    let c = vnet.fwd.counters.worker(ctx.worker);
    let Some(ifc) = vnet.fwd.interfaces.get(iface as usize) else {
        return;
    };
    let Some(mut f) = out.alloc() else {
        return c.drop(DropReason::NoBuffer);
    };
    let l3 = wire::ethernet::header_len(ifc.vlan.is_some());
    let built = match neighbor {
        IpAddr::V4(ip) => {
            let Some(src) = ifc.source4_for(ip) else {
                return;
            };
            f.set_len(l3 + 28) && {
                arp::emit_request(&mut f.data_mut()[l3..], MacAddr(ifc.mac), src, ip);
                true
            }
        }
        IpAddr::V6(ip) => {
            let mut buf = [0u8; icmpv6::ND_PACKET_LEN];
            let n = icmpv6::emit_ns(&mut buf, MacAddr(ifc.mac), ifc.source6_for(ip), ip);
            f.set_len(l3 + n) && {
                f.data_mut()[l3..l3 + n].copy_from_slice(&buf[..n]);
                true
            }
        }
    };
    if !built {
        return c.drop(DropReason::NoBuffer);
    }
    let (dst, ethertype) = match neighbor {
        IpAddr::V4(_) => ([0xff; 6], EtherType::ARP),
        IpAddr::V6(ip) => (
            ipv6::multicast_mac(ipv6::solicited_node_multicast(ip)).0,
            EtherType::IPV6,
        ),
    };
    egress::send(out, c, f, l3, ifc, dst, ethertype);
}

/// Releases held frames whose neighbor became known, re-solicits the others
/// once a second, drops those older than a few seconds (or whose vnet is gone).
pub fn service_pending<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
) {
    if pending.is_empty() {
        return;
    }
    pending.retain(|h, solicited| {
        let Some((_, vnet)) = ctx.tables.vnet_by_id(h.vnet_id) else {
            return None; // vnet destroyed: the frame is freed here
        };
        let c = vnet.fwd.counters.worker(ctx.worker);
        let ifc = vnet.fwd.interfaces.get(h.iface as usize)?;
        if let Some(n) = vnet.neighbors.get(h.neighbor) {
            egress::send(out, c, h.frame, h.l3_off as usize, ifc, n.mac, h.ethertype);
            return None;
        }
        if ctx.now.saturating_sub(h.since) >= GIVE_UP_SECS * ctx.hz {
            c.drop(DropReason::NeighborUnresolved);
            return None;
        }
        if ctx.now.saturating_sub(solicited) >= RETRY_SECS * ctx.hz {
            solicit(ctx, out, vnet, h.iface, h.neighbor);
            return Some((h, ctx.now));
        }
        Some((h, solicited))
    });
}
