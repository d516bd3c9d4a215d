//! Both passes of a burst of forwarded IPv4 packets, from their heads, at
//! once: for each packet, whether the rule set allows it on the "in" and
//! the "out" pass with what [`RuleSet::decide`] would answer there (a fixed
//! pass, or the first candidate holding the packet being a plain allow
//! matched exactly), and by which rules; then the counts of a burst's
//! allowed packets added once per rule instead of once per pass.
//!
//! Why: a router whose rule set lets nearly every forwarded packet through
//! from its head (realistic ACLs, perf/firewall/router.py) paid ~310
//! instructions a packet for the "in" pass called frame by frame (the call,
//! its context, the checks of which shortcut applies, the tree walk, the
//! region test, the count: callgrind, perf/README "Firewall") and ~40 for
//! the replayed "out" pass. Over a burst the checks are made once, the
//! packets walk the trees level by level (`walk_down`, their loads
//! overlapping), and the counters of a burst that one rule allows (the
//! default rule, in router.py) are one add.
//!
//! The head ([`Head4`]) holds nothing a forwarded packet changes between
//! its passes (the TTL is not in it), and the shortcut reads nothing but
//! the head: where neither pass is fixed, the same candidate decides both.

use super::region::key4_head;
use super::tree::Tree;
use super::{Ctx, Outcome, RuleSet, Verdict};
use crate::packet::{Direction, Family, Head4};

/// A forwarded IPv4 packet that the rule set allows on both passes from its
/// head alone ([`RuleSet::allow_forwarded4`]): the index of the allowing
/// rule of each pass, for [`BurstCounts::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed4 {
    rin: u32,
    rout: u32,
}

impl Allowed4 {
    /// A placeholder for arrays: no rule (adding it to [`BurstCounts`]
    /// counts nothing).
    pub const NONE: Allowed4 = Allowed4 {
        rin: u32::MAX,
        rout: u32::MAX,
    };

    /// The allowing rules' indexes in the rule set: ("in", "out").
    pub fn rules(&self) -> (u32, u32) {
        (self.rin, self.rout)
    }
}

/// What a pass gives every packet of a burst before any is looked at.
#[derive(Clone, Copy)]
enum Pass {
    /// Fixed to an allow by this rule.
    Allows(u32),
    /// Depends on the packet: the head shortcut.
    Head,
    /// Fixed to something else, or no shortcut can decide it: nothing of
    /// the burst is allowed here.
    No,
}

/// How [`Forwarded4::allow`] decides, settled once per burst.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Both passes fixed to an allow.
    Fixed(Allowed4),
    /// From the head: the first candidate holding it, in the IPv4 trees
    /// (`one`: the only one, a realistic ACL's case: no merge of several
    /// trees' answers). `fin`/`fout`: a pass's fixed allowing rule,
    /// u32::MAX where the head decides it (a pass fixed where the other is
    /// not, e.g. `deny tcp from any to any in` before `allow ip from any to
    /// any`: the head's rule is then the fixed one).
    Head {
        one: Option<&'a Tree>,
        fin: u32,
        fout: u32,
    },
    /// Nothing is allowed from the head.
    No,
}

/// [`RuleSet::allow_forwarded4`] packet by packet, its checks made once
/// ([`RuleSet::forwarded4`]): for a caller that reads each packet's head as
/// it goes (the dataplane's express lane), without arrays between the steps.
/// Each packet's walk is a handful of dependent loads of lines in cache
/// (callgrind's cache model: 0.01 L1 misses a packet in router.py's
/// configuration): walking a burst level by level, to overlap misses, cost
/// more instructions than it saved here.
#[derive(Clone, Copy)]
pub struct Forwarded4<'a> {
    rs: &'a RuleSet,
    mode: Mode<'a>,
}

impl Forwarded4<'_> {
    /// Whether any packet may be allowed (else skip the heads).
    pub fn may_allow(&self) -> bool {
        !matches!(self.mode, Mode::No)
    }

    /// The rules that allow a forwarded packet with head `h` on both passes,
    /// as [`RuleSet::allow_forwarded4`].
    #[inline(always)]
    pub fn allow(&self, h: &Head4) -> Option<Allowed4> {
        match self.mode {
            Mode::Fixed(a) => Some(a),
            Mode::No => None,
            Mode::Head { one, fin, fout } => {
                let rs = self.rs;
                let k = key4_head(h);
                let q = match one {
                    Some(t) => t.first_holding(t.leaf_link(&k), &k, &rs.default4),
                    None => rs.first_holding(&rs.trees[0].leaves(&k), &k),
                };
                let r = q.allowing();
                (r != u32::MAX).then_some(Allowed4 {
                    rin: if fin == u32::MAX { r } else { fin },
                    rout: if fout == u32::MAX { r } else { fout },
                })
            }
        }
    }
}

impl RuleSet {
    fn forwarded_pass(&self, d: Direction) -> Pass {
        match self.fixed[Family::V4 as usize][d as usize] {
            Some(Outcome {
                verdict: Verdict::Allow,
                index,
                ..
            }) => Pass::Allows(index),
            Some(_) => Pass::No,
            None if self.decides4 => Pass::Head,
            None => Pass::No,
        }
    }

    /// The burst's side of [`Self::allow_forwarded4`]: which passes are
    /// fixed, whether the head can decide, which trees to walk.
    pub fn forwarded4(&self) -> Forwarded4<'_> {
        let head = |p: Pass| match p {
            Pass::Allows(i) => i,
            _ => u32::MAX,
        };
        let (pin, pout) = (
            self.forwarded_pass(Direction::In),
            self.forwarded_pass(Direction::Out),
        );
        let mode = match (pin, pout) {
            (Pass::No, _) | (_, Pass::No) => Mode::No,
            (Pass::Allows(a), Pass::Allows(b)) => Mode::Fixed(Allowed4 { rin: a, rout: b }),
            _ => Mode::Head {
                one: match self.trees[0].trees() {
                    [t] => Some(t),
                    _ => None,
                },
                fin: head(pin),
                fout: head(pout),
            },
        };
        Forwarded4 { rs: self, mode }
    }

    /// For each forwarded IPv4 packet of `heads` (its "in" pass on the
    /// receiving interface, its "out" pass on the transmitting one),
    /// `out[i]`: the rules that allow it on both passes when
    /// [`Self::decide`] decides both from the head and both allow; `None`
    /// otherwise (denied, sent to a pipe, or left to the full pass).
    /// Counts nothing: count what is forwarded with [`BurstCounts`].
    ///
    /// What it answers is what the two `decide` calls would (tested against
    /// them and against the linear walk in `tests/forwarded.rs`).
    pub fn allow_forwarded4(&self, heads: &[Head4], out: &mut [Option<Allowed4>]) {
        let f = self.forwarded4();
        for (o, h) in out.iter_mut().zip(heads) {
            *o = f.allow(h);
        }
    }

    /// Counts for a burst of packets [`Self::allow_forwarded4`] allowed and
    /// the caller forwarded (see [`BurstCounts`]).
    pub fn burst_counts<'a>(&'a self, ctx: &Ctx) -> BurstCounts<'a> {
        BurstCounts {
            rs: self,
            worker: ctx.worker,
            now_ms: ctx.now_ms,
            run: Allowed4::NONE,
            packets: 0,
            bytes: 0,
        }
    }
}

/// The counts of a burst's forwarded packets, each matched by its allowing
/// rule on the "in" and on the "out" pass, as the two passes would count
/// them: a packet and its IP length (`PacketMeta::ip_len`) per pass, the
/// match time `ctx.now_ms`. Consecutive packets allowed by the same rules
/// are added up and written once (when the rules change, and when this is
/// dropped, at the end of the burst): two adds for a burst one rule allows.
pub struct BurstCounts<'a> {
    rs: &'a RuleSet,
    worker: usize,
    now_ms: u64,
    /// The current run's rules, packets and bytes.
    run: Allowed4,
    packets: u64,
    bytes: u64,
}

impl BurstCounts<'_> {
    /// Counts a forwarded packet `ip_len` bytes long that
    /// [`RuleSet::allow_forwarded4`] allowed with `a`.
    #[inline(always)]
    pub fn add(&mut self, a: Allowed4, ip_len: u16) {
        if a != self.run {
            self.flush();
            self.run = a;
        }
        self.packets += 1;
        self.bytes += u64::from(ip_len);
    }

    #[inline(never)]
    fn flush(&mut self) {
        if self.packets != 0 {
            for rule in [self.run.rin, self.run.rout] {
                if let Some(&(b, slot)) = self.rs.places.get(rule as usize) {
                    self.rs.banks[b as usize].add_n(
                        self.worker,
                        slot,
                        self.packets,
                        self.bytes,
                        self.now_ms,
                    );
                }
            }
        }
        (self.packets, self.bytes) = (0, 0);
    }
}

impl Drop for BurstCounts<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}
