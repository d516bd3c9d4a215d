//! ICMP / ICMPv6 errors (time exceeded, unreachable), built in place of the
//! offending packet and sent back where it came from, under a per-vnet,
//! per-worker token bucket.
use super::{egress, sender_mac, Ingress, Output, PathCtx};
use crate::frame::Frame;
use crate::stats::{bump, VnetWorkerCounters};
use crate::wire::{self, EtherType};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering::Relaxed;

/// Errors per second each worker may send for one vnet, and the burst.
const RATE_PER_SEC: u64 = 100;
const BURST: u64 = 20;

/// Takes one token from the vnet's bucket on this worker.
fn allow(ctx: &PathCtx<'_>, c: &VnetWorkerCounters) -> bool {
    let last = c.icmp_refill_tsc.load(Relaxed);
    let mut tokens = c.icmp_tokens.load(Relaxed);
    let per_token = (ctx.hz / RATE_PER_SEC).max(1);
    if last == 0 {
        tokens = BURST;
        c.icmp_refill_tsc.store(ctx.now, Relaxed);
    } else if ctx.now > last {
        let add = (ctx.now - last) / per_token;
        if add > 0 {
            tokens = (tokens + add).min(BURST);
            c.icmp_refill_tsc.store(last + add * per_token, Relaxed);
        }
    }
    if tokens == 0 {
        bump(&c.icmp_errors_suppressed, 1);
        return false;
    }
    c.icmp_tokens.store(tokens - 1, Relaxed);
    true
}

/// Replaces the IPv4 packet in `frame` with an ICMP error about it, sent back
/// to the previous hop on the ingress interface. The original is consumed.
pub(super) fn send4<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    icmp_type: u8,
    code: u8,
) {
    let c = ing.counters;
    let l3 = ing.l3_off;
    let orig = &frame.data()[l3..];
    if !wire::icmpv4::may_send_error_about(orig) || !allow(ctx, c) {
        return;
    }
    let orig_src = wire::Ipv4Packet::new_checked(orig)
        .map(|p| p.src_addr())
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    let Some(src) = ing.iface().source4_for(orig_src) else {
        return;
    };
    let mut buf = [0u8; 576];
    let Ok(n) = wire::icmpv4::emit_error(&mut buf, src, orig, icmp_type, code) else {
        return;
    };
    if !frame.set_len(l3 + n) {
        return;
    }
    frame.data_mut()[l3..l3 + n].copy_from_slice(&buf[..n]);
    bump(&c.icmp_errors_sent, 1);
    let mac = sender_mac(frame.data());
    egress::send(out, c, frame, l3, ing.iface(), mac, EtherType::IPV4);
}

/// The IPv6 counterpart (RFC 4443): quotes as much as fits in 1280 bytes.
pub(super) fn send6<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    icmp_type: u8,
    code: u8,
) {
    let c = ing.counters;
    let l3 = ing.l3_off;
    let orig = &frame.data()[l3..];
    if !wire::icmpv6::may_send_error_about(orig) || !allow(ctx, c) {
        return;
    }
    let orig_src = wire::Ipv6Packet::new_checked(orig)
        .map(|p| p.src_addr())
        .unwrap_or(Ipv6Addr::UNSPECIFIED);
    let src = ing.iface().source6_for(orig_src);
    let mut buf = [0u8; 1280];
    let Ok(n) = wire::icmpv6::emit_error(&mut buf, src, orig, icmp_type, code) else {
        return;
    };
    if !frame.set_len(l3 + n) {
        return;
    }
    frame.data_mut()[l3..l3 + n].copy_from_slice(&buf[..n]);
    bump(&c.icmp_errors_sent, 1);
    let mac = sender_mac(frame.data());
    egress::send(out, c, frame, l3, ing.iface(), mac, EtherType::IPV6);
}
