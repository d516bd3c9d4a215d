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

use super::burst::walk_down;
use super::forest::{Links, MAX_TREES};
use super::region::{key4_head, Key4};
use super::tree::Link;
use super::{Ctx, Outcome, RuleSet, Verdict};
use crate::packet::{Direction, Family, Head4};

/// Packets decided together (the burst walk's arrays).
const CHUNK: usize = 32;

/// A forwarded IPv4 packet that the rule set allows on both passes from its
/// head alone ([`RuleSet::allow_forwarded4`]): the index of the allowing
/// rule of each pass, for [`BurstCounts::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed4 {
    rin: u32,
    rout: u32,
}

impl Allowed4 {
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
        let (pin, pout) = (
            self.forwarded_pass(Direction::In),
            self.forwarded_pass(Direction::Out),
        );
        let n = heads.len().min(out.len());
        let (rin, rout) = match (pin, pout) {
            (Pass::No, _) | (_, Pass::No) => {
                out[..n].fill(None);
                return;
            }
            (Pass::Allows(a), Pass::Allows(b)) => {
                out[..n].fill(Some(Allowed4 { rin: a, rout: b }));
                return;
            }
            (Pass::Allows(a), Pass::Head) => (Some(a), None),
            (Pass::Head, Pass::Allows(b)) => (None, Some(b)),
            (Pass::Head, Pass::Head) => (None, None),
        };
        for (hs, os) in heads[..n].chunks(CHUNK).zip(out[..n].chunks_mut(CHUNK)) {
            self.head_allows4(hs, os, rin, rout);
        }
    }

    /// [`Self::allow_forwarded4`]'s head shortcut for up to [`CHUNK`]
    /// packets: `rin`/`rout` are a pass's fixed allowing rule, `None` where
    /// the head decides it. (A pass fixed where the other is not, e.g.
    /// `deny tcp from any to any in` before `allow ip from any to any`:
    /// the head's rule is then the fixed one.)
    #[inline(always)]
    fn head_allows4(
        &self,
        hs: &[Head4],
        os: &mut [Option<Allowed4>],
        rin: Option<u32>,
        rout: Option<u32>,
    ) {
        let n = hs.len().min(CHUNK);
        let mut keys: [Key4; CHUNK] = [[0; 4]; CHUNK];
        for (k, h) in keys.iter_mut().zip(hs) {
            *k = key4_head(h);
        }
        let mut links: [Links; CHUNK] = [[Link::default(); MAX_TREES]; CHUNK];
        for (t, tree) in self.trees[0].trees().iter().enumerate() {
            walk_down(tree, t, &keys[..n], &mut links);
        }
        // The rule allowing each packet, u32::MAX for none. One tree (a
        // realistic ACL's case) takes its leaf's first holding candidate or
        // the default rule, without comparing the trees' answers.
        let mut by = [u32::MAX; CHUNK];
        if let [tree] = self.trees[0].trees() {
            for ((b, k), l) in by.iter_mut().zip(&keys[..n]).zip(&links) {
                *b = tree.first_holding(l[0], k, &self.default4).allowing();
            }
        } else {
            for ((b, k), l) in by.iter_mut().zip(&keys[..n]).zip(&links) {
                *b = self.first_holding(l, k).allowing();
            }
        }
        for (o, &b) in os.iter_mut().zip(&by[..n]) {
            *o = (b != u32::MAX).then(|| Allowed4 {
                rin: rin.unwrap_or(b),
                rout: rout.unwrap_or(b),
            });
        }
    }

    /// Counts for a burst of packets [`Self::allow_forwarded4`] allowed and
    /// the caller forwarded (see [`BurstCounts`]).
    pub fn burst_counts<'a>(&'a self, ctx: &Ctx) -> BurstCounts<'a> {
        BurstCounts {
            rs: self,
            worker: ctx.worker,
            now_ms: ctx.now_ms,
            runs: [Run::EMPTY; 2],
        }
    }
}

/// Packets and bytes of consecutive matches of one rule.
#[derive(Clone, Copy)]
struct Run {
    rule: u32,
    packets: u64,
    bytes: u64,
}

impl Run {
    const EMPTY: Run = Run {
        rule: u32::MAX,
        packets: 0,
        bytes: 0,
    };
}

/// The counts of a burst's forwarded packets, each matched by its allowing
/// rule on the "in" and on the "out" pass, as the two passes would count
/// them: a packet and its IP length (`PacketMeta::ip_len`) per pass, the
/// match time `ctx.now_ms`. Consecutive packets allowed by the same rules
/// are added up and written once (when the rule changes, and when this is
/// dropped, at the end of the burst): one add for a burst one rule allows.
pub struct BurstCounts<'a> {
    rs: &'a RuleSet,
    worker: usize,
    now_ms: u64,
    /// The "in" and the "out" pass's current run.
    runs: [Run; 2],
}

impl BurstCounts<'_> {
    /// Counts a forwarded packet `ip_len` bytes long that
    /// [`RuleSet::allow_forwarded4`] allowed with `a`.
    #[inline(always)]
    pub fn add(&mut self, a: Allowed4, ip_len: u16) {
        self.one(0, a.rin, ip_len);
        self.one(1, a.rout, ip_len);
    }

    #[inline(always)]
    fn one(&mut self, pass: usize, rule: u32, ip_len: u16) {
        if self.runs[pass].rule != rule {
            self.flush(pass);
            self.runs[pass].rule = rule;
        }
        let r = &mut self.runs[pass];
        r.packets += 1;
        r.bytes += u64::from(ip_len);
    }

    #[inline(never)]
    fn flush(&mut self, pass: usize) {
        let r = std::mem::replace(&mut self.runs[pass], Run::EMPTY);
        if r.packets == 0 {
            return;
        }
        let (b, slot) = self.rs.places[r.rule as usize];
        self.rs.banks[b as usize].add_n(self.worker, slot, r.packets, r.bytes, self.now_ms);
    }
}

impl Drop for BurstCounts<'_> {
    fn drop(&mut self) {
        self.flush(0);
        self.flush(1);
    }
}
