//! The evaluation walk: ipfw's ipfw_chk loop over a rule set, in rule order.
//!
//! The walk is the same for the linear reference evaluator and the compiled
//! classifier; they differ only in which rules the walk asks (all of them, or
//! the candidates of the packet's leaf). Semantics, as ipfw(8):
//! - rules in number order, first match wins; `count`, `skipto`, `call`,
//!   `return`, `setdscp` (and `tag`) act and continue;
//! - `skipto N`/`call N` only jump forward (to the first rule numbered at
//!   least N and above the current one); `return` goes on after the calling
//!   rule; a call beyond [`CALL_DEPTH`] or a return without a call goes on
//!   with the next rule;
//! - the first `check-state` (or `keep-state`/`limit` rule) reached looks the
//!   packet's flow up, once per walk as ipfw does; on a hit the action of the
//!   rule that created the state runs (and counts), the walk going on from
//!   there if it continues; later check-state rules then just go on;
//! - `keep-state`/`record-state`/`limit` create the state when the rule
//!   matches; a full table (or a reached limit) denies the packet;
//! - every matched rule counts the packet (packets, bytes, time).

use super::forest::{Cands, Cursor, DEFAULT};
use super::region::key4;
use super::{CRule, RAction, RState, RuleSet};
use crate::ast::{limit_fields, Arg};
use crate::packet::{proto, Family, PacketMeta};
use crate::state::{StateError, StateTable};

/// ipfw's IPFW_CALLSTACK_SIZE.
pub const CALL_DEPTH: usize = 16;

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    Deny,
    /// Drop and answer: an ICMP/ICMPv6 unreachable or a TCP reset.
    Reject(Reject),
    /// Hand the packet to shaper pipe N (dummynet `pipe`).
    Pipe(u32),
    /// Hand the packet to shaper queue N (dummynet `queue`).
    Queue(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// ICMP destination unreachable with this code.
    Icmp4(u8),
    /// ICMPv6 destination unreachable with this code.
    Icmp6(u8),
    TcpReset,
}

/// Why a packet was denied, for drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DenyCause {
    /// A rule said so (or a reject rule that must stay silent).
    #[default]
    Rule,
    /// The state table is full: a new flow was refused.
    StatesFull,
    /// A `limit` rule's connection limit is reached.
    Limit,
}

/// The verdict and which rule gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub verdict: Verdict,
    /// Number of the deciding rule (65535 for the default rule).
    pub rule: u16,
    /// Its index in the rule set.
    pub index: u32,
    pub cause: DenyCause,
}

impl Outcome {
    pub const ALLOW_ALL: Outcome = Outcome {
        verdict: Verdict::Allow,
        rule: 65535,
        index: 0,
        cause: DenyCause::Rule,
    };
}

/// Per-call context: the vnet's state table, the clock and the calling worker.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub states: &'a StateTable,
    pub now_ms: u64,
    /// Index of the calling worker (its counter slot).
    pub worker: usize,
}

fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// ipfw's is_icmp_query / is_icmp6_query: errors are never answered with errors.
fn is_query(p: &PacketMeta) -> bool {
    match p.proto {
        proto::ICMP => matches!(p.icmp_type, 8 | 10 | 13 | 15 | 17),
        proto::ICMP6 => matches!(p.icmp_type, 128 | 130 | 139),
        _ => true,
    }
}

fn is_multicast(p: &PacketMeta) -> bool {
    match p.family {
        Family::V4 => p.dst as u32 >> 28 == 0xe,
        Family::V6 => p.dst >> 120 == 0xff,
    }
}

/// ipfw's map_icmp_unreach: an ICMP code for `reject`/`unreach` on IPv6.
fn unreach_v4_to_v6(code: u8) -> u8 {
    match code {
        0 | 1 | 5 | 6 | 7 | 11 | 12 => 0, // no route
        3 => 4,                           // port
        _ => 1,                           // administratively prohibited
    }
}

/// The verdict of a reject-like action, or a silent deny where ipfw sends
/// nothing (later fragments, ICMP errors, multicast, the wrong family).
fn reject(p: &PacketMeta, a: &RAction) -> Verdict {
    let answerable = p.has_l4() && is_query(p) && !is_multicast(p);
    let v = match (a, p.family) {
        (RAction::Unreach(c), Family::V4) => Some(Reject::Icmp4(*c)),
        (RAction::Unreach(c), Family::V6) => Some(Reject::Icmp6(unreach_v4_to_v6(*c))),
        (RAction::Unreach6(c), Family::V6) => Some(Reject::Icmp6(*c)),
        (RAction::Reset, _) if p.proto == proto::TCP => Some(Reject::TcpReset),
        _ => None,
    };
    match v {
        Some(r) if answerable => Verdict::Reject(r),
        _ => Verdict::Deny,
    }
}

#[inline]
pub(super) fn arg_value(a: Arg, tablearg: u32) -> u32 {
    match a {
        Arg::Num(n) => n,
        Arg::TableArg => tablearg,
    }
}

impl RuleSet {
    /// The index of the first rule numbered at least `n` and above rule `i`.
    fn jump(&self, i: usize, n: u32) -> usize {
        let n = n.max(self.rules[i].number as u32 + 1);
        self.numbers
            .partition_point(|&x| (x as u32) < n)
            .min(self.rules.len() - 1)
    }

    fn create_state(
        &self,
        r: &CRule,
        st: &RState,
        p: &PacketMeta,
        ctx: &Ctx,
    ) -> Result<(), StateError> {
        let limit = match st {
            RState::Limit { fields, n, .. } => Some((
                *fields
                    & (limit_fields::SRC_ADDR
                        | limit_fields::SRC_PORT
                        | limit_fields::DST_ADDR
                        | limit_fields::DST_PORT),
                *n,
            )),
            _ => None,
        };
        ctx.states
            .insert(p, st.flow(), r.id, r.number, limit, ctx.now_ms)
    }

    /// Runs the walk over the candidates `c` (lists of ascending rule
    /// indexes, merged in rule order, that together include every rule that
    /// can match `p` and every rule that probes states; the last rule, the
    /// default, comes when they run out). `compiled`: test the rule's region
    /// first (for IPv4 from the lists' packed regions), and skip the body
    /// where the region decides it. Matches are counted through
    /// `tally` (at once, or per burst).
    pub(crate) fn walk<T: Tally>(
        &self,
        c: &Cands<'_>,
        compiled: bool,
        p: &mut PacketMeta,
        ctx: &Ctx,
        tally: &mut T,
    ) -> Outcome {
        let mut cur = Cursor::new(c, self.rules.len() - 1);
        let v4 = p.family == Family::V4;
        // What the packed regions test (no rule changes these fields).
        let key4 = key4(p);
        let mut stack = [0u32; CALL_DEPTH];
        let mut depth = 0usize;
        let mut pos = 0usize;
        let mut looked_up = false;
        loop {
            let (mut i, list, k) = cur.next(pos);
            // The compiled path: a candidate outside the rule's region is
            // rejected from the leaf's packed copy, without touching the rule.
            let mut exact = false;
            if compiled && v4 {
                let q = if list == DEFAULT {
                    &self.default4
                } else {
                    cur.quick(list, k)
                };
                if !q.holds(&key4) {
                    pos = i + 1;
                    continue;
                }
                exact = q.exact();
                // A plain allow/deny that matched: done, the rule itself unread.
                if q.decides() {
                    tally.hit(self, i, p.ip_len, ctx);
                    return q.outcome(self.numbers[i]);
                }
            }
            let mut r = &self.rules[i];
            if let Some(thr) = r.prob {
                if (mix32(p.entropy ^ r.id.wrapping_mul(0x9e37_79b9)) as u64) >= thr {
                    pos = i + 1;
                    continue;
                }
            }
            let mut tablearg = 0u32;
            let mut from_state = false;
            if let Some(sel) = r.probe {
                if !looked_up {
                    looked_up = true;
                    if let Some(hit) = ctx.states.lookup(p, sel, ctx.now_ms) {
                        if let Some(j) = self.index_of(hit.rule_id) {
                            i = j;
                            r = &self.rules[j];
                            from_state = true;
                        }
                    }
                }
                if !from_state && matches!(r.action, RAction::CheckState) {
                    pos = i + 1;
                    continue;
                }
            }
            if !from_state {
                if compiled && !v4 && !r.regions[1].contains(&super::region::key(p)) {
                    pos = i + 1;
                    continue;
                }
                if !exact {
                    match r.body.matches(p, &self.tables) {
                        Some(a) => tablearg = a,
                        None => {
                            pos = i + 1;
                            continue;
                        }
                    }
                }
                if let Some(st) = &r.state {
                    if let Err(e) = self.create_state(r, st, p, ctx) {
                        return Outcome {
                            verdict: Verdict::Deny,
                            rule: r.number,
                            index: i as u32,
                            cause: match e {
                                StateError::Full => DenyCause::StatesFull,
                                StateError::Limit => DenyCause::Limit,
                            },
                        };
                    }
                }
            }
            tally.hit(self, i, p.ip_len, ctx);
            if let Some((untag, a)) = r.tag {
                let t = arg_value(a, tablearg) as u16;
                if untag {
                    p.tags.remove(t);
                } else {
                    p.tags.insert(t);
                }
            }
            let done = |verdict| Outcome {
                verdict,
                rule: r.number,
                index: i as u32,
                cause: DenyCause::Rule,
            };
            match &r.action {
                RAction::Allow => return done(Verdict::Allow),
                RAction::Deny => return done(Verdict::Deny),
                a @ (RAction::Unreach(_) | RAction::Unreach6(_) | RAction::Reset) => {
                    return done(reject(p, a))
                }
                RAction::Pipe(a) => return done(Verdict::Pipe(arg_value(*a, tablearg))),
                RAction::Queue(a) => return done(Verdict::Queue(arg_value(*a, tablearg))),
                RAction::Count | RAction::CheckState => pos = i + 1,
                RAction::SetDscp(a) => {
                    let v = (arg_value(*a, tablearg) & 0x3f) as u8;
                    p.tos = v << 2 | (p.tos & 3);
                    pos = i + 1;
                }
                RAction::Skipto(a) => pos = self.jump(i, arg_value(*a, tablearg)),
                RAction::Call(a) => {
                    if depth < CALL_DEPTH {
                        stack[depth] = i as u32;
                        depth += 1;
                        pos = self.jump(i, arg_value(*a, tablearg));
                    } else {
                        pos = i + 1;
                    }
                }
                RAction::Return => {
                    if depth > 0 {
                        depth -= 1;
                        let caller = stack[depth] as usize;
                        // On after the calling rule: the first rule numbered above it.
                        pos = self.jump(caller, 0);
                        cur.seek(pos);
                    } else {
                        pos = i + 1;
                    }
                }
            }
            if pos < i + 1 || from_state {
                // A state hit moved the walk to another rule: find our place again.
                cur.seek(pos);
            }
        }
    }
}

/// Where the walk's counter updates go.
pub(crate) trait Tally {
    /// Rule index `i` matched a packet of `bytes`.
    fn hit(&mut self, rs: &RuleSet, i: usize, bytes: u16, ctx: &Ctx);
}

/// Counts each match as it happens (one packet at a time).
pub(crate) struct AtOnce;

impl Tally for AtOnce {
    #[inline]
    fn hit(&mut self, rs: &RuleSet, i: usize, bytes: u16, ctx: &Ctx) {
        rs.count(i, bytes, ctx);
    }
}
