//! The box of header space a rule can match, per address family: one interval
//! per classified field. It is a superset of what the rule matches (patterns
//! that are not intervals, such as `not`, interfaces or TCP flags, leave their
//! field whole), which is all the classifier needs: a rule is a candidate
//! wherever its box is, and the reference match decides.

use super::eval::{DenyCause, Outcome, Verdict};
use super::matcher::{Body, RCond};
use crate::ast::full_mask;
use crate::packet::{proto, Family, Head4, PacketMeta};
use crate::table::TableIndex;

/// Classified fields: source, destination, source port, destination port, protocol.
pub(crate) const DIMS: usize = 5;
pub(crate) const D_SRC: usize = 0;
pub(crate) const D_DST: usize = 1;
pub(crate) const D_SPORT: usize = 2;
pub(crate) const D_DPORT: usize = 3;
pub(crate) const D_PROTO: usize = 4;

/// Width in bits of each field for a family.
pub(crate) fn widths(f: Family) -> [u32; DIMS] {
    let a = match f {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    [a, a, 16, 16, 8]
}

/// The classified fields of a packet.
#[inline]
pub(crate) fn key(p: &PacketMeta) -> [u128; DIMS] {
    [
        p.src,
        p.dst,
        p.sport as u128,
        p.dport as u128,
        p.proto as u128,
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    /// `None`: the rule can never match a packet of this family.
    pub bounds: Option<[(u128, u128); DIMS]>,
}

impl Region {
    pub fn full(f: Family) -> Self {
        let m = full_mask(f);
        Region {
            bounds: Some([(0, m), (0, m), (0, 0xffff), (0, 0xffff), (0, 0xff)]),
        }
    }

    #[inline]
    pub fn contains(&self, k: &[u128; DIMS]) -> bool {
        match &self.bounds {
            None => false,
            Some(b) => b.iter().zip(k).all(|(&(lo, hi), &v)| lo <= v && v <= hi),
        }
    }

    /// The region of `body` for family `f`.
    pub fn of(body: &Body, f: Family, tables: &[TableIndex]) -> Self {
        let mut r = Region::full(f);
        for t in body.terms.iter() {
            // A term narrows one field only if every alternative is a plain
            // (not negated) interval on that same field.
            let mut dim = None;
            let mut hull: Option<(u128, u128)> = None;
            let mut narrows = true;
            for (not, c) in t.alts.iter() {
                let iv = if *not { None } else { interval(c, f, tables) };
                match iv {
                    Some((d, i)) if dim.is_none_or(|x| x == d) => {
                        dim = Some(d);
                        if let Some(i) = i {
                            hull = Some(match hull {
                                None => i,
                                Some((a, b)) => (a.min(i.0), b.max(i.1)),
                            });
                        }
                    }
                    _ => {
                        narrows = false;
                        break;
                    }
                }
            }
            if !narrows {
                continue;
            }
            let Some(d) = dim else { continue };
            let Some((lo, hi)) = hull else {
                return Region { bounds: None };
            };
            let Some(b) = r.bounds.as_mut() else { break };
            b[d].0 = b[d].0.max(lo);
            b[d].1 = b[d].1.min(hi);
            if b[d].0 > b[d].1 {
                return Region { bounds: None };
            }
        }
        r
    }
}

/// The field and interval a pattern confines a packet of family `f` to;
/// `Some((d, None))`: on field `d`, nothing of family `f` matches.
fn interval(c: &RCond, f: Family, tables: &[TableIndex]) -> Option<(usize, Option<(u128, u128)>)> {
    let proto_only = |p: u8| Some((D_PROTO, Some((p as u128, p as u128))));
    match c {
        RCond::Proto(p) => proto_only(*p),
        RCond::Family(g) => Some((D_PROTO, (*g == f).then_some((0, 0xff)))),
        RCond::Addr { dst, list } => {
            let d = if *dst { D_DST } else { D_SRC };
            let h = list
                .iter()
                .filter(|p| p.family == f)
                .map(|p| p.range())
                .reduce(|(a, b), (c, e)| (a.min(c), b.max(e)));
            Some((d, h))
        }
        RCond::AddrSet { dst, base, .. } => {
            let d = if *dst { D_DST } else { D_SRC };
            Some((d, (base.family == f).then(|| base.range())))
        }
        RCond::Table { dst, table, .. } => {
            let d = if *dst { D_DST } else { D_SRC };
            Some((d, tables[*table].hull(f)))
        }
        RCond::Port { dst, ranges } => {
            let d = if *dst { D_DPORT } else { D_SPORT };
            let h = ranges
                .iter()
                .map(|&(a, b)| (a as u128, b as u128))
                .reduce(|(a, b), (c, e)| (a.min(c), b.max(e)));
            Some((d, h))
        }
        RCond::Established | RCond::Setup | RCond::TcpFlags { .. } => proto_only(proto::TCP),
        RCond::IcmpTypes { v6, .. } => proto_only(if *v6 { proto::ICMP6 } else { proto::ICMP }),
        _ => None,
    }
}

/// An IPv4 packet's classified fields, built once per packet, as
/// [`Quick4::holds`] and the IPv4 trees' cuts read them: the source and
/// destination addresses, then the ports, protocol and whether the packet
/// has ports as lanes of one word ([`l4_word`]), plain (the cuts read it)
/// and with every lane's guard bit set (the region tests subtract from it).
pub(crate) type Key4 = [u64; 4];

/// Protocols whose packets have ports (as `proto::has_ports`), as a table:
/// the protocol varies from packet to packet, and a branch on it would
/// mispredict.
static HAS_PORTS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = proto::has_ports(i as u8) as u8;
        i += 1;
    }
    t
};

#[inline(always)]
pub(crate) fn key4(p: &PacketMeta) -> Key4 {
    key4_of(
        p.src as u32,
        p.dst as u32,
        p.sport,
        p.dport,
        p.proto,
        p.frag,
    )
}

/// [`key4`] of a packet's [`Head4`] (the same fields).
#[inline(always)]
pub(crate) fn key4_head(h: &Head4) -> Key4 {
    key4_of(h.src, h.dst, h.sport, h.dport, h.proto, h.frag)
}

#[inline(always)]
fn key4_of(src: u32, dst: u32, sport: u16, dport: u16, proto: u8, frag: u8) -> Key4 {
    let ports = HAS_PORTS[proto as usize] & !frag & crate::packet::frag::OFFSET;
    let l4 = l4_word(dport, sport, proto, ports);
    [src as u64, dst as u64, l4, l4 | GUARDS]
}

/// Where field `d` of an IPv4 packet sits in a [`Key4`]: (word, lowest bit).
pub(crate) const fn word4(d: usize) -> (usize, u32) {
    match d {
        D_SRC => (0, 0),
        D_DST => (1, 0),
        D_DPORT => (2, 0),
        D_SPORT => (2, SPORT_AT),
        _ => (2, PROTO_AT),
    }
}

/// Lanes of [`l4_word`]: destination port at bit 0, source port at 17,
/// protocol at 34, "has ports" at 43, each followed by a guard bit (below).
const SPORT_AT: u32 = 17;
const PROTO_AT: u32 = 34;
const PORTS_AT: u32 = 43;
/// The guard bit above each lane: set in the minuend of a lane-wise
/// subtraction, it absorbs the lane's borrow (lanes never borrow from each
/// other) and stays set iff the lane's difference is not negative.
const GUARDS: u64 = 1 << 16 | 1 << 33 | 1 << 42 | 1 << 44;

#[inline(always)]
const fn l4_word(dport: u16, sport: u16, proto: u8, ports: u8) -> u64 {
    dport as u64
        | (sport as u64) << SPORT_AT
        | (proto as u64) << PROTO_AT
        | (ports as u64) << PORTS_AT
}

/// A rule's IPv4 region packed in 40 bytes with what a plain allow/deny
/// needs to decide a packet (its index, counter place and verdict), copied
/// into the classifier's leaves, so that rejecting a candidate, or deciding
/// with it, touches nothing else. An address lies in `[lo, lo + w]` iff
/// `x - lo <= w` in wrapping arithmetic (one compare instead of two); the
/// ports, protocol and "has ports" are tested together, as lanes of one
/// word, with two subtractions: `x - lo` and `hi - x` lane by lane, both
/// not negative. A rule whose region test is exact and that names ports
/// asks for "has ports" (only TCP, UDP and SCTP first fragments match a
/// port pattern); any other leaves that lane open. `exact`: the region test
/// *is* the rule's body (plain prefixes, one port range, a protocol), so a
/// candidate that passes needs no further matching.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quick4 {
    src: u32,
    src_w: u32,
    dst: u32,
    dst_w: u32,
    /// Low bounds of the lanes of [`l4_word`].
    l4_lo: u64,
    /// High bounds, guard bits set.
    l4_hi: u64,
    /// Its index in the rule set.
    rule: u32,
    /// Its counters' slot (bits 0..21) and bank (21..25, see
    /// [`FAST_BANKS`]), then the flags below (25..32).
    place: u32,
}

/// Holds nothing: an empty "has ports" lane (low 1, high 0).
impl Default for Quick4 {
    fn default() -> Self {
        Quick4 {
            src: 0,
            src_w: 0,
            dst: 0,
            dst_w: 0,
            l4_lo: 1 << PORTS_AT,
            l4_hi: GUARDS,
            rule: u32::MAX,
            place: 0,
        }
    }
}

/// Counter banks whose rules the fast paths count directly (the bank index
/// fits [`Quick4`]'s 4 bits; a chain's banks double from 64 slots, so the
/// first 16 hold over 4 million rules and each fewer than 2^21 slots). A
/// rule counted in a later bank is decided by the walk instead.
pub(crate) const FAST_BANKS: usize = 16;
const SLOT_BITS: u32 = 21;
const BANK_AT: u32 = SLOT_BITS;
const FLAGS_AT: u32 = 25;

const EXACT: u32 = 1 << FLAGS_AT;
/// A `check-state` rule: it matches no pattern (`first_match_batch`).
const CHECK_STATE: u32 = 2 << FLAGS_AT;
/// A plain allow/deny (below) whose region test is exact: the first
/// candidate holding a packet with this flag decides it.
const DECIDES: u32 = 4 << FLAGS_AT;
/// A plain `allow` (1) or `deny` (2) rule without prob, states or tags, in
/// these two bits: when it matches exactly, the walk ends here without
/// reading the rule.
const TERMINAL_AT: u32 = FLAGS_AT + 3;

impl Quick4 {
    pub fn new(
        r: &Region,
        (exact, needs_ports): (bool, bool),
        terminal: u8,
        check_state: bool,
        (rule, (bank, slot)): (u32, (u32, u32)),
    ) -> Self {
        // A bank beyond the fast paths' (not seen in practice) only costs
        // the shortcut: the walk counts instead.
        let (terminal, bank, slot) = if (bank as usize) < FAST_BANKS && slot < 1 << SLOT_BITS {
            (terminal, bank, slot)
        } else {
            (0, 0, 0)
        };
        let Some(b) = &r.bounds else {
            return Quick4 {
                rule,
                ..Quick4::default()
            };
        };
        let lo = |d: usize| b[d].0;
        let hi = |d: usize| b[d].1;
        let ports = (exact && needs_ports) as u8;
        Quick4 {
            src: lo(D_SRC) as u32,
            src_w: (hi(D_SRC) - lo(D_SRC)) as u32,
            dst: lo(D_DST) as u32,
            dst_w: (hi(D_DST) - lo(D_DST)) as u32,
            l4_lo: l4_word(
                lo(D_DPORT) as u16,
                lo(D_SPORT) as u16,
                lo(D_PROTO) as u8,
                ports,
            ),
            l4_hi: l4_word(hi(D_DPORT) as u16, hi(D_SPORT) as u16, hi(D_PROTO) as u8, 1) | GUARDS,
            rule,
            place: slot
                | bank << BANK_AT
                | if exact { EXACT } else { 0 }
                | if check_state { CHECK_STATE } else { 0 }
                | if exact && terminal != 0 { DECIDES } else { 0 }
                | (terminal as u32 & 3) << TERMINAL_AT,
        }
    }

    /// Whether an IPv4 packet lies in the region: no branch.
    #[inline(always)]
    pub fn holds(&self, k: &Key4) -> bool {
        let l4 = (k[3] - self.l4_lo) & (self.l4_hi - k[2]);
        ((k[0] as u32).wrapping_sub(self.src) <= self.src_w)
            & ((k[1] as u32).wrapping_sub(self.dst) <= self.dst_w)
            & (l4 & GUARDS == GUARDS)
    }

    /// Whether it holds every IPv4 packet (a rule that looks states up, or
    /// whose patterns the region does not narrow).
    pub fn holds_all(&self) -> bool {
        self.src == 0
            && self.src_w == u32::MAX
            && self.dst == 0
            && self.dst_w == u32::MAX
            && self.l4_lo == 0
            && self.l4_hi == l4_word(u16::MAX, u16::MAX, u8::MAX, 1) | GUARDS
    }

    /// The region test decides the rule's patterns for a packet it holds.
    #[inline]
    pub fn exact(&self) -> bool {
        self.place & EXACT != 0
    }

    /// 1: a plain allow, 2: a plain deny, 0: anything else.
    #[inline]
    pub fn terminal(&self) -> u8 {
        (self.place >> TERMINAL_AT & 3) as u8
    }

    /// A plain allow/deny matched exactly by every packet it holds: when it
    /// is the first candidate holding a packet, it decides.
    #[inline(always)]
    pub fn decides(&self) -> bool {
        self.place & DECIDES != 0
    }

    /// Its rule index when it is a plain allow matched exactly (a
    /// [`Self::decides`] allow), else u32::MAX: one masked compare.
    #[inline(always)]
    pub fn allowing(&self) -> u32 {
        const MASK: u32 = DECIDES | 3 << TERMINAL_AT;
        if self.place & MASK == DECIDES | 1 << TERMINAL_AT {
            self.rule
        } else {
            u32::MAX
        }
    }

    /// The outcome of a [`Self::decides`] rule numbered `number`.
    #[inline(always)]
    pub fn outcome(&self, number: u16) -> Outcome {
        Outcome {
            verdict: if self.terminal() == 1 {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            rule: number,
            index: self.rule,
            cause: DenyCause::Rule,
        }
    }

    /// Where its counters are: (bank, slot), for a [`Self::terminal`] rule.
    #[inline(always)]
    pub fn place(&self) -> (u32, u32) {
        (
            self.place >> BANK_AT & (FAST_BANKS as u32 - 1),
            self.place & ((1 << SLOT_BITS) - 1),
        )
    }

    /// The rule's index in the rule set.
    #[inline(always)]
    pub fn rule(&self) -> u32 {
        self.rule
    }

    #[inline]
    pub fn check_state(&self) -> bool {
        self.place & CHECK_STATE != 0
    }
}

/// Whether the region test of `body` decides the match by itself, and
/// whether it needs the packet to carry ports.
pub(crate) fn exactness(body: &Body) -> (bool, bool) {
    let mut ports = false;
    for t in body.terms.iter() {
        let [(false, c)] = &t.alts[..] else {
            return (false, false);
        };
        match c {
            RCond::Proto(_) | RCond::Family(_) | RCond::Any => {}
            RCond::Addr { list, .. } if list.len() == 1 && list[0].len().is_some() => {}
            RCond::Port { ranges, .. } if ranges.len() == 1 => ports = true,
            _ => return (false, false),
        }
    }
    (true, ports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::frag;

    /// xorshift64: the same draws every run.
    fn next(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// A value of a field `bits` wide, often at an edge (0, the top, or
    /// next to `near`).
    fn value(s: &mut u64, bits: u32, near: u128) -> u128 {
        let top = (1u128 << bits) - 1;
        match next(s) % 6 {
            0 => 0,
            1 => top,
            2 => near,
            3 => near.saturating_sub(1),
            4 => (near + 1).min(top),
            _ => next(s) as u128 & top,
        }
    }

    /// `holds` (guarded lanes, wrapping address compares, the "has ports"
    /// lane) agrees with the plain interval test on every field, and rules
    /// whose exact region names ports hold no packet without ports.
    #[test]
    fn holds_is_the_interval_test() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let bits = widths(Family::V4);
        for _ in 0..200_000 {
            let mut b = [(0u128, 0u128); DIMS];
            for (d, f) in b.iter_mut().enumerate() {
                let x = value(&mut s, bits[d], 0);
                let y = value(&mut s, bits[d], x);
                *f = (x.min(y), x.max(y));
            }
            let r = Region { bounds: Some(b) };
            let needs_ports = next(&mut s).is_multiple_of(2);
            let q = Quick4::new(&r, (true, needs_ports), 1, false, (7, (0, 3)));
            let pick = |s: &mut u64, d: usize| {
                let edge = if next(s).is_multiple_of(2) {
                    b[d].0
                } else {
                    b[d].1
                };
                value(s, bits[d], edge)
            };
            let (src, dst) = (pick(&mut s, D_SRC) as u32, pick(&mut s, D_DST) as u32);
            let (sport, dport) = (pick(&mut s, D_SPORT) as u16, pick(&mut s, D_DPORT) as u16);
            let proto =
                [proto::TCP, proto::UDP, proto::ICMP, 47, 0, 255][(next(&mut s) % 6) as usize];
            let mut p = PacketMeta::v4(src.into(), dst.into(), proto);
            p.sport = sport;
            p.dport = dport;
            if next(&mut s).is_multiple_of(4) {
                p.frag = frag::OFFSET;
            }
            let want = r.contains(&key(&p)) && (!needs_ports || p.has_ports());
            assert_eq!(q.holds(&key4(&p)), want, "{b:?} ports {needs_ports}: {p:?}");
        }
        // Nothing is held by an impossible region, nor by the padding.
        let p = PacketMeta::v4(0.into(), 0.into(), 0);
        let none = Quick4::new(
            &Region { bounds: None },
            (false, false),
            0,
            false,
            (1, (0, 0)),
        );
        assert!(!none.holds(&key4(&p)) && !Quick4::default().holds(&key4(&p)));
    }

    /// `holds_all` is true of a whole region only (a region that names
    /// ports, even all of them, holds no packet without ports), and what
    /// it says holds every packet does.
    #[test]
    fn holds_all_only_when_whole() {
        let full = Region::full(Family::V4);
        let q = |r: &Region, exact, ports| Quick4::new(r, (exact, ports), 1, false, (0, (0, 0)));
        assert!(q(&full, false, false).holds_all() && q(&full, true, false).holds_all());
        assert!(!q(&full, true, true).holds_all());
        let mut s = 0x1234_5678_9abc_def1u64;
        for d in 0..DIMS {
            let mut b = full.bounds.unwrap();
            b[d].1 -= 1;
            assert!(
                !q(&Region { bounds: Some(b) }, false, false).holds_all(),
                "{d}"
            );
            b[d] = (1, full.bounds.unwrap()[d].1);
            assert!(
                !q(&Region { bounds: Some(b) }, false, false).holds_all(),
                "{d}"
            );
        }
        let all = q(&full, false, false);
        for _ in 0..10_000 {
            let mut p = PacketMeta::v4(
                (next(&mut s) as u32).into(),
                (next(&mut s) as u32).into(),
                next(&mut s) as u8,
            );
            p.sport = next(&mut s) as u16;
            p.dport = next(&mut s) as u16;
            p.frag = next(&mut s) as u8 & crate::packet::frag::OFFSET;
            assert!(all.holds(&key4(&p)), "{p:?}");
        }
    }

    /// A rule counted beyond the fast paths' banks never decides (the walk
    /// counts it); within them, a plain exact rule does.
    #[test]
    fn only_fast_banks_decide() {
        let r = Region::full(Family::V4);
        let q = |bank, slot| Quick4::new(&r, (true, false), 2, false, (5, (bank, slot)));
        assert!(q(0, 0).decides() && q(FAST_BANKS as u32 - 1, (1 << SLOT_BITS) - 1).decides());
        assert_eq!(q(3, 9).place(), (3, 9));
        assert!(!q(FAST_BANKS as u32, 0).decides());
        assert!(!q(0, 1 << SLOT_BITS).decides());
    }
}
