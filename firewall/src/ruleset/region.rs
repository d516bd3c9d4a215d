//! The box of header space a rule can match, per address family: one interval
//! per classified field. It is a superset of what the rule matches (patterns
//! that are not intervals, such as `not`, interfaces or TCP flags, leave their
//! field whole), which is all the classifier needs: a rule is a candidate
//! wherever its box is, and the reference match decides.

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
