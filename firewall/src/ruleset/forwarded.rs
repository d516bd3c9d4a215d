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
//! the replayed "out" pass. Over a burst the checks are made once and the
//! trees' roots decoded once ([`Forwarded4::dispatch`]: the caller's loop
//! is compiled for the burst's way of deciding), and the counters of a
//! burst that one rule allows (the default rule, in router.py) are one add.
//!
//! The head ([`Head4`]) holds nothing a forwarded packet changes between
//! its passes (the TTL is not in it), and the shortcut reads nothing but
//! the head: where neither pass is fixed, the same candidate decides both.

use super::forest::MAX_TREES;
use super::region::{key4_head, Quick4};
use super::tree::{Root, Tree};
use super::{Ctx, Outcome, RuleSet, Verdict};
use crate::packet::{Direction, Family, Head4};

/// A forwarded IPv4 packet that the rule set allows on both passes from its
/// head alone ([`RuleSet::allow_forwarded4`]): the index of the allowing
/// rule of each pass, for [`BurstCounts::add`].
///
/// Both indexes in one word ("in" low, "out" high): [`BurstCounts::add`]
/// compares a packet's pair with the run's in one instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed4 {
    pair: u64,
}

impl Allowed4 {
    /// A placeholder for arrays: no rule (adding it to [`BurstCounts`]
    /// counts nothing); what [`Forwarded4::allow_or_none`] answers for a
    /// packet it does not allow.
    pub const NONE: Allowed4 = Allowed4 { pair: u64::MAX };

    fn new(rin: u32, rout: u32) -> Self {
        Allowed4 {
            pair: u64::from(rin) | u64::from(rout) << 32,
        }
    }

    /// The allowing rules' indexes in the rule set: ("in", "out").
    #[inline(always)]
    pub fn rules(&self) -> (u32, u32) {
        (self.pair as u32, (self.pair >> 32) as u32)
    }

    /// Whether it is [`Self::NONE`].
    #[inline(always)]
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
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
    /// (`one`: there is only one, a realistic ACL's case: no merge of
    /// several trees' answers), walked from their roots decoded once for
    /// the burst (`roots`, by tree). `fin`/`fout`: a pass's fixed allowing
    /// rule, u32::MAX where the head decides it (a pass fixed where the
    /// other is not, e.g. `deny tcp from any to any in` before `allow ip
    /// from any to any`: the head's rule is then the fixed one).
    Head {
        trees: &'a [Tree],
        roots: [Root; MAX_TREES],
        one: bool,
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
        let a = self.allow_or_none(h);
        (!a.is_none()).then_some(a)
    }

    /// [`Self::allow`], [`Allowed4::NONE`] for `None`.
    #[inline(always)]
    pub fn allow_or_none(&self, h: &Head4) -> Allowed4 {
        struct One<'h>(&'h Head4, Allowed4);
        impl Burst4 for &mut One<'_> {
            fn run<D: Decide4>(self, d: &D) {
                self.1 = d.allow(self.0);
            }
        }
        let mut one = One(h, Allowed4::NONE);
        self.dispatch(&mut one);
        one.1
    }

    /// Runs `b` with the decider for this burst: how the burst is decided
    /// (fixed, one tree, several) is settled once, before `b` loops over
    /// its packets, and the trees' roots are decoded once. `b.run` is
    /// compiled for each decider, its loop holding only the head, the key
    /// and the walk (a `match` per packet copied the roots and tested the
    /// mode every time; a burst of heads in an array cost its stores and
    /// loads).
    #[inline(always)]
    pub fn dispatch<B: Burst4>(&self, b: B) {
        match &self.mode {
            Mode::Fixed(a) => b.run(&Fixed(*a)),
            Mode::No => b.run(&Fixed(Allowed4::NONE)),
            Mode::Head {
                trees,
                roots,
                one,
                fin,
                fout,
            } => {
                // "In" in the low half, "out" in the high one: a pass the
                // head decides takes the rule `r` in its half (`keep`), a
                // fixed one its rule (`fixed`).
                let half = |f: u32| if f == u32::MAX { (u32::MAX, 0) } else { (0, f) };
                let ((kin, fxin), (kout, fxout)) = (half(*fin), half(*fout));
                let keep = u64::from(kin) | u64::from(kout) << 32;
                let fixed = u64::from(fxin) | u64::from(fxout) << 32;
                let none = &self.rs.default4;
                if *one {
                    b.run(&OneTree {
                        tree: &trees[0],
                        root: roots[0],
                        none,
                        keep,
                        fixed,
                    })
                } else {
                    b.run(&Trees {
                        trees,
                        roots: *roots,
                        none,
                        keep,
                        fixed,
                    })
                }
            }
        }
    }
}

/// What a burst's loop over its forwarded IPv4 packets does with the
/// decider [`Forwarded4::dispatch`] hands it: `d.allow(&head)` for each.
pub trait Burst4 {
    fn run<D: Decide4>(self, d: &D);
}

/// Decides a forwarded IPv4 packet's both passes from its head, as
/// [`Forwarded4::allow_or_none`].
pub trait Decide4 {
    fn allow(&self, h: &Head4) -> Allowed4;
}

/// Both passes fixed (or nothing allowed from the head: `NONE`).
struct Fixed(Allowed4);

impl Decide4 for Fixed {
    #[inline(always)]
    fn allow(&self, _: &Head4) -> Allowed4 {
        self.0
    }
}

/// The answer from `q`, the first candidate holding a packet (see
/// [`Forwarded4::dispatch`] for `keep` and `fixed`): both halves `r` where
/// no pass is fixed (`r` = u32::MAX, not an allow, gives `NONE`).
#[inline(always)]
fn answer(q: &Quick4, keep: u64, fixed: u64) -> Allowed4 {
    let r = q.allowing();
    let a = (u64::from(r) * 0x1_0000_0001) & keep | fixed;
    Allowed4 {
        pair: if r == u32::MAX { u64::MAX } else { a },
    }
}

/// The head decides, in one tree (a realistic ACL's case: no merge of
/// several trees' answers).
struct OneTree<'a> {
    tree: &'a Tree,
    root: Root,
    none: &'a Quick4,
    keep: u64,
    fixed: u64,
}

impl Decide4 for OneTree<'_> {
    #[inline(always)]
    fn allow(&self, h: &Head4) -> Allowed4 {
        let (t, k) = (self.tree, key4_head(h));
        let q = t.first_holding(t.leaf_link4(&self.root, &k), &k, self.none);
        answer(q, self.keep, self.fixed)
    }
}

/// The head decides, in several trees: the first candidate over all.
struct Trees<'a> {
    trees: &'a [Tree],
    roots: [Root; MAX_TREES],
    none: &'a Quick4,
    keep: u64,
    fixed: u64,
}

impl Decide4 for Trees<'_> {
    #[inline(always)]
    fn allow(&self, h: &Head4) -> Allowed4 {
        let k = key4_head(h);
        let mut best = self.none;
        for (t, r) in self.trees.iter().zip(&self.roots) {
            let q = t.first_holding(t.leaf_link4(r, &k), &k, self.none);
            best = if q.rule() < best.rule() { q } else { best };
        }
        answer(best, self.keep, self.fixed)
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
            (Pass::Allows(a), Pass::Allows(b)) => Mode::Fixed(Allowed4::new(a, b)),
            _ => {
                let trees = self.trees[0].trees();
                let mut roots = [Root::default(); MAX_TREES];
                for (r, t) in roots.iter_mut().zip(trees) {
                    *r = t.root4();
                }
                Mode::Head {
                    trees,
                    roots,
                    one: trees.len() == 1,
                    fin: head(pin),
                    fout: head(pout),
                }
            }
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
    /// [`RuleSet::allow_forwarded4`] allowed with `a` (not
    /// [`Allowed4::NONE`]).
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
            let (rin, rout) = self.run.rules();
            for rule in [rin, rout] {
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
