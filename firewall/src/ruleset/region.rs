//! The box of header space a rule can match, per address family: one interval
//! per classified field. It is a superset of what the rule matches (patterns
//! that are not intervals, such as `not`, interfaces or TCP flags, leave their
//! field whole), which is all the classifier needs: a rule is a candidate
//! wherever its box is, and the reference match decides.

use super::eval::{DenyCause, Outcome, Verdict};
use super::matcher::{Body, RCond};
use crate::ast::full_mask;
use crate::packet::{proto, Family, PacketMeta};
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

/// A rule's IPv4 region packed in 40 bytes with what a plain allow/deny
/// needs to decide a packet (its number, index and counter place), copied
/// into the classifier's leaves, so that rejecting a candidate, or deciding
/// with it, touches nothing else. `exact`: the
/// region test *is* the rule's body (plain prefixes, one port range, a
/// protocol), so a candidate that passes needs no further matching.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Quick4 {
    src: (u32, u32),
    dst: (u32, u32),
    sport: (u16, u16),
    dport: (u16, u16),
    proto: (u8, u8),
    flags: u8,
    /// The rule's number (for the verdict of a terminal rule).
    number: u16,
    /// Its counters' bank (see `RuleSet::places`).
    bank: u16,
    /// Its index in the rule set.
    rule: u32,
    /// Its counters' slot in the bank.
    slot: u32,
}

const POSSIBLE: u8 = 1;
const EXACT: u8 = 2;
/// An exact rule with a port pattern: the packet must have ports.
const NEEDS_PORTS: u8 = 4;
/// A `check-state` rule: it matches no pattern (`first_match_batch`).
const CHECK_STATE: u8 = 8;
/// A plain `allow` (1) or `deny` (2) rule without prob, states or tags, in
/// these two bits: when it matches exactly, the walk ends here without
/// reading the rule.
const TERMINAL_SHIFT: u8 = 4;

impl Quick4 {
    pub fn new(
        r: &Region,
        exact: bool,
        needs_ports: bool,
        terminal: u8,
        check_state: bool,
        (number, rule, (bank, slot)): (u16, u32, (u32, u32)),
    ) -> Self {
        // A bank index beyond 16 bits (not seen in practice: a chain's banks
        // double in size) only costs the shortcut: the walk counts instead.
        let (terminal, bank) = match u16::try_from(bank) {
            Ok(b) => (terminal, b),
            Err(_) => (0, 0),
        };
        match &r.bounds {
            None => Quick4::default(),
            Some(b) => Quick4 {
                src: (b[D_SRC].0 as u32, b[D_SRC].1 as u32),
                dst: (b[D_DST].0 as u32, b[D_DST].1 as u32),
                sport: (b[D_SPORT].0 as u16, b[D_SPORT].1 as u16),
                dport: (b[D_DPORT].0 as u16, b[D_DPORT].1 as u16),
                proto: (b[D_PROTO].0 as u8, b[D_PROTO].1 as u8),
                flags: POSSIBLE
                    | if exact { EXACT } else { 0 }
                    | if needs_ports { NEEDS_PORTS } else { 0 }
                    | if check_state { CHECK_STATE } else { 0 }
                    | (terminal & 3) << TERMINAL_SHIFT,
                number,
                bank,
                rule,
                slot,
            },
        }
    }

    /// Whether an IPv4 packet lies in the region.
    #[inline]
    pub fn contains(&self, p: &PacketMeta) -> bool {
        let (s, d) = (p.src as u32, p.dst as u32);
        (self.flags & POSSIBLE != 0)
            & (self.src.0 <= s)
            & (s <= self.src.1)
            & (self.dst.0 <= d)
            & (d <= self.dst.1)
            & (self.dport.0 <= p.dport)
            & (p.dport <= self.dport.1)
            & (self.sport.0 <= p.sport)
            & (p.sport <= self.sport.1)
            & (self.proto.0 <= p.proto)
            & (p.proto <= self.proto.1)
    }

    /// The region test decides the rule's patterns for this packet.
    #[inline]
    pub fn exact_for(&self, p: &PacketMeta) -> bool {
        self.flags & EXACT != 0 && (self.flags & NEEDS_PORTS == 0 || p.has_ports())
    }

    /// 1: a plain allow, 2: a plain deny, 0: anything else.
    #[inline]
    pub fn terminal(&self) -> u8 {
        self.flags >> TERMINAL_SHIFT & 3
    }

    /// A plain allow/deny whose patterns this packet matches: when it is the
    /// first candidate whose region holds the packet, it decides.
    #[inline]
    pub fn decides(&self, p: &PacketMeta) -> bool {
        self.terminal() != 0 && self.exact_for(p)
    }

    /// The outcome of a [`Self::decides`] rule.
    #[inline]
    pub fn outcome(&self) -> Outcome {
        Outcome {
            verdict: if self.terminal() == 1 {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            rule: self.number,
            index: self.rule,
            cause: DenyCause::Rule,
        }
    }

    /// Where its counters are: (bank, slot).
    #[inline]
    pub fn place(&self) -> (u32, u32) {
        (self.bank as u32, self.slot)
    }

    /// The rule's index in the rule set.
    #[inline]
    pub fn rule(&self) -> u32 {
        self.rule
    }

    #[inline]
    pub fn check_state(&self) -> bool {
        self.flags & CHECK_STATE != 0
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
