//! The firewall on the packet path: the "in" pass on the receiving interface
//! (before the router's own services and routing) and the "out" pass on the
//! transmitting one (after the TTL decrement, as the packet leaves), for
//! forwarded and local traffic. ARP and neighbor discovery are not filtered
//! (a default-deny vnet must still resolve its neighbors); ICMP errors the
//! router itself sends are not filtered either.
use super::{egress, icmp_error, sender_mac, shaped, Ingress, Output, PathCtx};
use crate::firewall::{meta, reset, VnetFirewall};
use crate::frame::Frame;
use crate::shaping::{Resume, Target};
use crate::stats::DropReason;
use crate::wire::{icmpv4, icmpv6, EtherType, Ipv4Packet, Ipv6Packet};
use ::firewall::{
    Ctx, DenyCause, Direction, Family, FlowKey, Outcome, Reject, Tags, Verdict, NO_IFACE,
};
use std::net::IpAddr;

/// Which pass.
#[derive(Clone, Copy)]
pub(super) enum Pass {
    /// Received on the ingress interface.
    In,
    /// Forwarded, leaving by interface `tx` towards `neighbor` (the next hop).
    Out { tx: u16, neighbor: std::net::IpAddr },
    /// Sent by the router itself (an echo reply), leaving by `tx`.
    LocalOut { tx: u16 },
}

/// For a burst of one tenant whose firewall holds states: starts loading the
/// state bucket of every IPv4 frame, so that the "in" passes' lookups (a miss
/// to memory each when tens of thousands of flows are live) overlap instead of
/// waiting one after another. Reads only the frames' headers (`meta::head4`);
/// a frame it misreads costs a useless prefetch, never a wrong verdict. Out of
/// line: once a burst, and inlined it cost scenario 1 (no firewall) ~9
/// instructions a packet in the code around it.
#[inline(never)]
pub(super) fn prefetch_states<F: Frame>(
    vnet: &crate::tables::Vnet,
    frames: &[Option<F>],
    classified: &[Option<super::ingress::Classified<'_>>],
) {
    let Some(fw) = vnet.firewall().filter(|f| !f.states.is_empty()) else {
        return;
    };
    for (f, c) in frames.iter().zip(classified) {
        if let (Some(f), Some(c)) = (f, c) {
            if c.l2.ethertype == EtherType::IPV4 {
                if let Some(ip) = f.data().get(c.l2.l3_offset..) {
                    fw.states.prefetch(&FlowKey::of_head4(&meta::head4(ip)));
                }
            }
        }
    }
}

/// The head of the forwarded IPv4 packet of `frame` (a 20-byte header from
/// `l3` to `end`, as the express lane checked it), for
/// `Forwarded4::dispatch` (`RuleSet::allow_forwarded4`); `None` for a
/// frame too short to hold it. `dst`: its destination, which the lane read
/// (host order).
#[inline(always)]
pub(super) fn head4_express<F: Frame>(
    frame: &F,
    l3: u8,
    end: u16,
    dst: u32,
) -> Option<::firewall::Head4> {
    let (l3, end) = (usize::from(l3), usize::from(end));
    let d = frame.data();
    // 24 bytes from the header: a frame is at least 60 (Ethernet's minimum);
    // a shorter one takes the general reading.
    match d.get(l3..).and_then(|d| d.first_chunk()) {
        Some(ip) => Some(meta::head4_plain(ip, end - l3, dst)),
        None => d.get(l3..end).map(meta::head4),
    }
}

/// Runs one firewall pass over the IP packet at `ing.l3_off`. Returns the
/// frame when it may go on (its DSCP rewritten if a rule said so); otherwise
/// the frame is consumed: dropped and counted, or answered with an ICMP error
/// or a TCP reset. `tags` carries ipfw tags from the "in" to the "out" pass:
/// the "in" pass starts from none and leaves its tags there.
///
/// Inlined down to the check for a firewall, so a vnet without one builds
/// neither the pass nor the tags (per-vnet features cost nothing when unused):
/// `which` is called only then (an `IpAddr` copied into a `Pass::Out` that was
/// never read cost a store-forwarding stall per forwarded frame).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn pass<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    frame: F,
    v6: bool,
    which: impl FnOnce() -> Pass,
    tags: &mut Tags,
) -> Option<F> {
    match ing.vnet.firewall() {
        None => Some(frame),
        Some(fw) => run(fw, ctx, out, ing, frame, v6, which(), tags),
    }
}

/// The "out" pass of a forwarded packet: [`pass`], but where the rule set
/// decides alike on both passes (`RuleSet::same_both_passes`) and the "in"
/// pass allowed the packet, the allowing rule counts it again and it goes
/// on: the verdict and counts of the walk, without the walk, the metadata
/// or the call.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn pass_forwarded<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    frame: F,
    v6: bool,
    which: impl FnOnce() -> Pass,
    tags: &mut Tags,
) -> Option<F> {
    match ing.vnet.firewall() {
        None => Some(frame),
        Some(fw) => {
            if fw.rules.same_both_passes() {
                let fctx = Ctx {
                    states: &fw.states,
                    now_ms: ctx.now_ms,
                    worker: ctx.worker,
                };
                if fw.rules.replay(tags, &fctx).is_some() {
                    return Some(frame);
                }
            }
            run(fw, ctx, out, ing, frame, v6, which(), tags)
        }
    }
}

/// The "out" pass of a frame to `dst` that next hop `nh` of `ing`'s vnet
/// forwards: for the fast path of a resolved gateway, which reads the next hop
/// only when the firewall walks its rules.
#[cold]
pub(super) fn out_pass(ing: &Ingress<'_>, nh: lpm::NextHop, dst: IpAddr) -> Pass {
    let (tx, neighbor) = (ing.vnet.fwd.nexthops.get(nh as usize))
        .and_then(|n| n.egress(dst))
        // Not taken: a gateway entry exists only for a gateway next hop.
        .unwrap_or((ing.iface_index, dst));
    Pass::Out { tx, neighbor }
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn run<F: Frame, O: Output<F>>(
    fw: &VnetFirewall,
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    v6: bool,
    which: Pass,
    tags: &mut Tags,
) -> Option<F> {
    // ipfw's one_pass: a packet coming back from a pipe on input is not
    // checked by the input rules again. (With one_pass off ipfw would resume
    // after the pipe rule; vnetd always behaves as one_pass.)
    if ing.from_pipe && matches!(which, Pass::In) {
        *tags = Tags::EMPTY;
        return Some(frame);
    }
    let l3 = ing.l3_off;
    let fctx = Ctx {
        states: &fw.states,
        now_ms: ctx.now_ms,
        worker: ctx.worker,
    };
    // The rule set's shortcuts first: they read the length and, for IPv4
    // where the pass is not fixed, a few header fields (the head), where
    // the full metadata is 80 bytes written and read back.
    let ip = &frame.data()[l3..];
    let (family, ip_len) = if v6 {
        (Family::V6, meta::len6(ip) as u16)
    } else {
        (Family::V4, meta::len4(ip))
    };
    let dir = match which {
        Pass::In => Direction::In,
        _ => Direction::Out,
    };
    let decided = fw
        .rules
        .decide(family, dir, ip_len, || meta::head4(ip), &fctx);
    let (o, new_tos, l4_off) = match decided {
        // A shortcut's rule is a plain one: no tags or DSCP changed, never
        // a reject. The "in" pass starts from no tags (the slot holds
        // another frame's) and leaves them so.
        Some(o) => {
            if let Pass::In = which {
                *tags = Tags::EMPTY;
                fw.rules.remember(&o, ip_len, tags);
            }
            (o, None, 0)
        }
        None => walk(fw, ctx, &fctx, ing, &frame, v6, which, tags),
    };
    let c = ing.counters;
    match o.verdict {
        Verdict::Allow => {
            if let Some(tos) = new_tos {
                let ip = &mut frame.data_mut()[l3..];
                if v6 {
                    Ipv6Packet::new_unchecked(ip).set_traffic_class(tos);
                } else {
                    let mut p = Ipv4Packet::new_unchecked(ip);
                    p.set_tos(tos);
                    p.fill_checksum();
                }
            }
            Some(frame)
        }
        Verdict::Deny => {
            c.drop(match o.cause {
                DenyCause::Rule => DropReason::FirewallDeny,
                DenyCause::StatesFull => DropReason::FirewallStatesFull,
                DenyCause::Limit => DropReason::FirewallLimit,
            });
            None
        }
        Verdict::Reject(r) => {
            c.drop(DropReason::FirewallReject);
            match r {
                Reject::Icmp4(code) => {
                    icmp_error::send4(ctx, out, ing, frame, icmpv4::DEST_UNREACHABLE, code)
                }
                Reject::Icmp6(code) => {
                    icmp_error::send6(ctx, out, ing, frame, icmpv6::DEST_UNREACHABLE, code)
                }
                Reject::TcpReset => send_reset(out, ing, frame, v6, l4_off, c),
            }
            None
        }
        // To the shaper; the packet continues from this very point when it leaves
        // its pipe, without this pass again (one_pass).
        Verdict::Pipe(n) | Verdict::Queue(n) => {
            let target = match o.verdict {
                Verdict::Pipe(_) => Target::Pipe(n),
                _ => Target::Queue(n),
            };
            let l3_off = l3 as u16;
            let ethertype = if v6 { EtherType::IPV6 } else { EtherType::IPV4 };
            let resume = match which {
                Pass::In => Resume::Route {
                    iface: ing.iface_index,
                    l3_off,
                },
                Pass::Out { tx, neighbor } => Resume::Transmit {
                    iface: tx,
                    neighbor,
                    l3_off,
                    ethertype,
                },
                Pass::LocalOut { tx } => Resume::Reply {
                    iface: tx,
                    mac: sender_mac(frame.data()),
                    l3_off,
                    ethertype,
                },
            };
            shaped::divert(out, ing.vnet, target, frame, resume);
            None
        }
    }
}

/// The pass as the rule set's full evaluation: the packet's metadata read
/// from its header, the walk, the tags carried. Returns the outcome, the
/// packet's new TOS byte if a rule changed it, and where its upper-layer
/// header starts (IPv6; for a reset).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn walk<F: Frame>(
    fw: &VnetFirewall,
    ctx: &PathCtx<'_>,
    fctx: &Ctx<'_>,
    ing: &Ingress<'_>,
    frame: &F,
    v6: bool,
    which: Pass,
    tags: &mut Tags,
) -> (Outcome, Option<u8>, usize) {
    let (mut m, l4_off) = if v6 {
        meta::meta6_at(&frame.data()[ing.l3_off..])
    } else {
        (meta::meta4(&frame.data()[ing.l3_off..]), 0)
    };
    // The "in" pass starts from no tags (the slot holds another frame's).
    m.tags = match which {
        Pass::In => Tags::EMPTY,
        _ => *tags,
    };
    // `prob` rules draw from this: the TSC's low bits mixed with the flow.
    m.entropy = (ctx.now as u32).wrapping_mul(0x9e37_79b9)
        ^ (m.src as u32)
        ^ (m.dst as u32).rotate_left(13)
        ^ u32::from(m.sport) << 16
        ^ u32::from(m.dport);
    // In place: a by-value builder here copied the 80-byte struct right
    // after its narrow stores (a store-forwarding stall, a third of a pass).
    match which {
        Pass::In => m.set_inbound(ing.iface_index),
        Pass::Out { tx, .. } => m.set_outbound(ing.iface_index, tx),
        Pass::LocalOut { tx } => m.set_outbound(NO_IFACE, tx),
    }
    let tos = m.tos;
    let o = fw.rules.evaluate(&mut m, fctx);
    *tags = m.tags;
    if let Pass::In = which {
        fw.rules.remember(&o, m.ip_len, tags);
    }
    (o, (m.tos != tos).then_some(m.tos), l4_off)
}

/// Replaces the TCP segment in `frame` with the reset answering it and sends
/// it back where it came from.
fn send_reset<F: Frame, O: Output<F>>(
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    v6: bool,
    l4_off: usize,
    c: &crate::stats::VnetWorkerCounters,
) {
    let l3 = ing.l3_off;
    let mut b4 = [0u8; 40];
    let mut b6 = [0u8; 60];
    let built = if v6 {
        reset::reset6(&frame.data()[l3..], l4_off, &mut b6).map(|n| &b6[..n])
    } else {
        reset::reset4(&frame.data()[l3..], &mut b4).map(|n| &b4[..n])
    };
    let Some(pkt) = built else { return };
    if !frame.set_len(l3 + pkt.len()) {
        return;
    }
    frame.data_mut()[l3..l3 + pkt.len()].copy_from_slice(pkt);
    let et = if v6 { EtherType::IPV6 } else { EtherType::IPV4 };
    let mac = sender_mac(frame.data());
    egress::send(out, c, frame, l3, ing.iface(), mac, et);
}
