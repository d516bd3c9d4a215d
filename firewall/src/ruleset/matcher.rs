//! A rule body resolved for matching: interface names turned into ids, `me`
//! into the vnet's addresses, tables into indexes. [`Body::matches`] is the
//! reference semantics of every pattern; the compiled classifier only narrows
//! down which rules need asking.

use crate::ast::{Prefix, Range};
use crate::packet::{frag, proto, tcp, Direction, Family, IfaceId, PacketMeta, NO_IFACE};
use crate::table::TableIndex;

/// Which interface a via/recv/xmit pattern looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfSide {
    /// recv on "in", xmit on "out" (ipfw's `via`).
    Via,
    Recv,
    Xmit,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RCond {
    /// `any` inside an or-block.
    Any,
    Proto(u8),
    Family(Family),
    /// Any of the prefixes (a list, `me`, `me6`); an empty list matches nothing.
    Addr {
        dst: bool,
        list: Box<[Prefix]>,
    },
    /// `a.b.c.d/len{x,y}`: in the prefix, last byte in the set.
    AddrSet {
        dst: bool,
        base: Prefix,
        bits: [u64; 4],
    },
    /// Table lookup (with a required value, if given); sets `tablearg`.
    Table {
        dst: bool,
        table: usize,
        value: Option<u32>,
    },
    Port {
        dst: bool,
        ranges: Box<[Range]>,
    },
    Dir(Direction),
    /// `Some(ids)`: one of these interfaces; `None`: any interface at all.
    Iface {
        side: IfSide,
        ids: Option<Box<[IfaceId]>>,
    },
    Established,
    Setup,
    TcpFlags {
        set: u8,
        clear: u8,
    },
    IcmpTypes {
        v6: bool,
        bits: [u64; 4],
    },
    IpLen(Box<[Range]>),
    IpTtl(Box<[Range]>),
    IpTos {
        set: u8,
        clear: u8,
    },
    Dscp(u64),
    Frag {
        set: u8,
        clear: u8,
    },
    Tagged(Box<[Range]>),
}

/// An or-block of possibly negated patterns; the body is the AND of its terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RTerm {
    pub alts: Box<[(bool, RCond)]>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Body {
    pub terms: Box<[RTerm]>,
}

#[inline]
fn in_ranges(r: &[Range], v: u16) -> bool {
    r.iter().any(|&(a, b)| a <= v && v <= b)
}

#[inline]
fn bit(bits: &[u64; 4], v: u8) -> bool {
    bits[(v >> 6) as usize] >> (v & 63) & 1 == 1
}

impl RCond {
    /// Whether the packet matches; `arg` receives the value of a table hit.
    #[inline]
    fn matches(&self, p: &PacketMeta, tables: &[TableIndex], arg: &mut u32) -> bool {
        let addr = |dst: bool| if dst { p.dst } else { p.src };
        match self {
            RCond::Any => true,
            RCond::Proto(x) => p.proto == *x,
            RCond::Family(f) => p.family == *f,
            RCond::Addr { dst, list } => {
                let a = addr(*dst);
                list.iter().any(|q| q.contains(p.family, a))
            }
            RCond::AddrSet { dst, base, bits } => {
                let a = addr(*dst);
                base.contains(p.family, a) && bit(bits, a as u8)
            }
            RCond::Table { dst, table, value } => match tables[*table].lookup(p.family, addr(*dst))
            {
                Some(v) if value.is_none_or(|w| w == v) => {
                    *arg = v;
                    true
                }
                _ => false,
            },
            RCond::Port { dst, ranges } => {
                p.has_ports() && in_ranges(ranges, if *dst { p.dport } else { p.sport })
            }
            RCond::Dir(d) => p.direction == *d,
            RCond::Iface { side, ids } => {
                let id = match (side, p.direction) {
                    (IfSide::Recv, _) | (IfSide::Via, Direction::In) => p.rx_iface,
                    (IfSide::Xmit, _) | (IfSide::Via, Direction::Out) => p.tx_iface,
                };
                match ids {
                    None => id != NO_IFACE,
                    Some(ids) => ids.contains(&id),
                }
            }
            RCond::Established => {
                p.proto == proto::TCP && p.has_l4() && p.tcp_flags & (tcp::RST | tcp::ACK) != 0
            }
            RCond::Setup => {
                p.proto == proto::TCP
                    && p.has_l4()
                    && p.tcp_flags & (tcp::SYN | tcp::ACK) == tcp::SYN
            }
            RCond::TcpFlags { set, clear } => {
                p.proto == proto::TCP
                    && p.has_l4()
                    && p.tcp_flags & set == *set
                    && p.tcp_flags & clear == 0
            }
            RCond::IcmpTypes { v6, bits } => {
                let want = if *v6 { proto::ICMP6 } else { proto::ICMP };
                p.proto == want && p.has_l4() && bit(bits, p.icmp_type)
            }
            RCond::IpLen(r) => in_ranges(r, p.ip_len),
            RCond::IpTtl(r) => in_ranges(r, p.ttl as u16),
            RCond::IpTos { set, clear } => p.tos & set == *set && p.tos & clear == 0,
            RCond::Dscp(bits) => bits >> (p.tos >> 2) & 1 == 1,
            RCond::Frag { set, clear } => p.frag & set == *set && p.frag & clear == 0,
            RCond::Tagged(r) => p.tags.as_slice().iter().any(|&t| in_ranges(r, t)),
        }
    }
}

impl Body {
    /// The reference match: every term has an alternative that holds. Returns
    /// the `tablearg` (0 when no table matched).
    #[inline]
    pub(crate) fn matches(&self, p: &PacketMeta, tables: &[TableIndex]) -> Option<u32> {
        let mut arg = 0;
        for t in self.terms.iter() {
            if !t
                .alts
                .iter()
                .any(|(not, c)| c.matches(p, tables, &mut arg) != *not)
            {
                return None;
            }
        }
        Some(arg)
    }
}

// Keep the frag bit names used by the resolver reachable from here.
pub(crate) const FRAG_OFFSET: u8 = frag::OFFSET;
