//! A published rule set: the enabled rules of a [`Chain`], resolved against the
//! vnet (interface ids, own addresses, table contents) and compiled into a
//! classifier. Immutable once built; the dataplane swaps whole rule sets.

mod burst;
mod eval;
mod fixed;
mod forest;
mod forwarded;
mod matcher;
mod region;
mod tree;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use eval::AtOnce;
pub use eval::{Ctx, DenyCause, Outcome, Reject, Verdict, CALL_DEPTH};
use fixed::Fixed;
use forest::{Cands, Forest, Links};
pub use forwarded::{Allowed4, Burst4, BurstCounts, Decide4, Forwarded4};
use matcher::{Body, IfSide, RCond, RTerm};
use region::{key4, key4_head, Key4, Quick4, Region, FAST_BANKS};

use crate::ast::{
    Action, AddrSpec, Arg, Cond, FlowSel, IfaceRef, IfaceSpec, Prefix, Rule, StateOpt, Term,
};
use crate::chain::{Chain, ChainRule};
use crate::counters::{Bank, CounterSnapshot, RuleCounters, WorkerCells};
use crate::error::ParseError;
use crate::packet::{Direction, Family, Head4, IfaceId, PacketMeta, Tags};
use crate::state::FlowMatch;
use crate::table::TableIndex;

/// What a rule set is resolved against: the vnet's interfaces and addresses.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// (name, id) of each interface of the vnet.
    pub interfaces: Vec<(String, IfaceId)>,
    /// The vnet's own addresses (`me`, `me6`).
    pub addrs: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RAction {
    Allow,
    Deny,
    Unreach(u8),
    Unreach6(u8),
    Reset,
    Count,
    Skipto(Arg),
    Call(Arg),
    Return,
    CheckState,
    Pipe(Arg),
    Queue(Arg),
    SetDscp(Arg),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RState {
    Keep { flow: u16 },
    Limit { flow: u16, fields: u8, n: u32 },
}

impl RState {
    fn flow(&self) -> u16 {
        match self {
            RState::Keep { flow } | RState::Limit { flow, .. } => *flow,
        }
    }
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct CRule {
    pub id: u32,
    pub number: u16,
    /// `prob P`: matches when a per-packet draw is below this (of 2^32).
    pub prob: Option<u64>,
    /// Looks states up when reached (check-state, keep-state, limit).
    pub probe: Option<FlowMatch>,
    pub body: Body,
    pub action: RAction,
    pub tag: Option<(bool, Arg)>,
    pub state: Option<RState>,
    pub counters: RuleCounters,
    /// Region per family (V4, V6).
    pub regions: [Region; 2],
    /// The region test alone decides the body (see [`region::exactness`]).
    pub exact: (bool, bool),
}

/// A rule set ready for the packet path.
#[derive(Debug)]
pub struct RuleSet {
    rules: Box<[CRule]>,
    numbers: Box<[u16]>,
    /// (rule id, index), sorted by id: where a state's rule is now.
    by_id: Box<[(u32, u32)]>,
    tables: Box<[TableIndex]>,
    /// Compiled classifier per family: a few trees, by the fields the rules
    /// are wildcards in (the IPv4 ones hold the rules' packed regions in
    /// their leaves).
    trees: [Forest; 2],
    /// The default rule's packed IPv4 region (see `first_holding`).
    default4: Quick4,
    /// Each rule's counter slot, by rule index: (bank, slot). The fast path
    /// counts from here, without the rules' handles.
    places: Box<[(u32, u32)]>,
    /// The counter banks the rules' slots are in.
    banks: Box<[Arc<Bank>]>,
    /// 0..n, the linear evaluator's candidate list.
    all: Box<[u32]>,
    one_pass: bool,
    /// See [`RuleSet::same_both_passes`].
    same_both: bool,
    /// The outcome of every packet of a family on a pass, where the rules
    /// fix it (see [`fixed`]).
    fixed: Fixed,
    /// Whether the first IPv4 candidate holding a packet can decide it
    /// ([`Quick4::decides`]): not when a rule that holds every packet but
    /// does not decide (a `check-state` on top, a `pipe ... out`) comes
    /// before every rule that decides. Then the shortcut's tree walk and
    /// region tests would only be done again by the walk.
    decides4: bool,
}

/// A rule's identity and counters, for `show` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleStat {
    pub number: u16,
    pub id: u32,
    pub counters: CounterSnapshot,
}

fn resolve_err(r: &Rule, col: usize, msg: String) -> ParseError {
    ParseError::invalid(r.line.max(1), col.max(1), msg)
}

struct Resolver<'a> {
    env: &'a Env,
    table_names: Vec<&'a str>,
}

impl Resolver<'_> {
    fn iface(&self, r: &Rule, i: &IfaceRef) -> Result<Option<Box<[IfaceId]>>, ParseError> {
        let names = || {
            self.env
                .interfaces
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &i.spec {
            IfaceSpec::Any => Ok(None),
            IfaceSpec::Name(n) => match self.env.interfaces.iter().find(|(m, _)| m == n) {
                Some(&(_, id)) => Ok(Some(Box::new([id]))),
                None => Err(ParseError::invalid(
                    i.line.max(r.line).max(1),
                    i.column,
                    format!("unknown interface {n:?} (this vnet has: {})", names()),
                )),
            },
            IfaceSpec::Glob(p) => Ok(Some(
                self.env
                    .interfaces
                    .iter()
                    .filter(|(m, _)| m.starts_with(p.as_str()))
                    .map(|&(_, id)| id)
                    .collect(),
            )),
        }
    }

    fn addr(&self, dst: bool, a: &AddrSpec) -> RCond {
        let me = |v6only: bool| -> Box<[Prefix]> {
            self.env
                .addrs
                .iter()
                .filter(|a| !v6only || a.is_ipv6())
                .map(|a| match a {
                    IpAddr::V4(x) => Prefix::new(Family::V4, u32::from(*x) as u128, 32),
                    IpAddr::V6(x) => Prefix::new(Family::V6, u128::from(*x), 128),
                })
                .collect()
        };
        match a {
            AddrSpec::Any => RCond::Any,
            AddrSpec::Me => RCond::Addr {
                dst,
                list: me(false),
            },
            AddrSpec::Me6 => RCond::Addr {
                dst,
                list: me(true),
            },
            AddrSpec::List(l) => RCond::Addr {
                dst,
                list: l.clone().into_boxed_slice(),
            },
            AddrSpec::Set { base, bits } => RCond::AddrSet {
                dst,
                base: *base,
                bits: *bits,
            },
            AddrSpec::Table { name, value } => RCond::Table {
                dst,
                table: self
                    .table_names
                    .iter()
                    .position(|n| n == name)
                    .expect("tables collected first"),
                value: *value,
            },
        }
    }

    fn cond(&self, r: &Rule, c: &Cond) -> Result<RCond, ParseError> {
        Ok(match c {
            Cond::Proto(p) => RCond::Proto(*p),
            Cond::Ip4 => RCond::Family(Family::V4),
            Cond::Ip6 => RCond::Family(Family::V6),
            Cond::IpVersion(4) => RCond::Family(Family::V4),
            Cond::IpVersion(_) => RCond::Family(Family::V6),
            Cond::SrcAddr(a) => self.addr(false, a),
            Cond::DstAddr(a) => self.addr(true, a),
            Cond::SrcPort(p) => RCond::Port {
                dst: false,
                ranges: p.clone().into_boxed_slice(),
            },
            Cond::DstPort(p) => RCond::Port {
                dst: true,
                ranges: p.clone().into_boxed_slice(),
            },
            Cond::Dir(d) => RCond::Dir(*d),
            Cond::Via(i) => RCond::Iface {
                side: IfSide::Via,
                ids: self.iface(r, i)?,
            },
            Cond::Recv(i) => RCond::Iface {
                side: IfSide::Recv,
                ids: self.iface(r, i)?,
            },
            Cond::Xmit(i) => RCond::Iface {
                side: IfSide::Xmit,
                ids: self.iface(r, i)?,
            },
            Cond::Established => RCond::Established,
            Cond::Setup => RCond::Setup,
            Cond::TcpFlags { set, clear } => RCond::TcpFlags {
                set: *set,
                clear: *clear,
            },
            Cond::IcmpTypes(b) => RCond::IcmpTypes {
                v6: false,
                bits: **b,
            },
            Cond::Icmp6Types(b) => RCond::IcmpTypes {
                v6: true,
                bits: **b,
            },
            Cond::IpLen(x) => RCond::IpLen(x.clone().into_boxed_slice()),
            Cond::IpTtl(x) => RCond::IpTtl(x.clone().into_boxed_slice()),
            Cond::IpTos { set, clear } => RCond::IpTos {
                set: *set,
                clear: *clear,
            },
            Cond::Dscp(b) => RCond::Dscp(*b),
            Cond::Frag(None) => RCond::Frag {
                set: matcher::FRAG_OFFSET,
                clear: 0,
            },
            Cond::Frag(Some((set, clear))) => RCond::Frag {
                set: *set,
                clear: *clear,
            },
            Cond::Tagged(x) => RCond::Tagged(x.clone().into_boxed_slice()),
        })
    }

    fn term(&self, r: &Rule, t: &Term) -> Result<Option<RTerm>, ParseError> {
        if t.is_any() {
            return Ok(None);
        }
        let mut alts = Vec::with_capacity(t.alts.len());
        for (not, c) in &t.alts {
            let rc = self.cond(r, c)?;
            // `any` in an or-block: the whole term holds (or, negated, never adds).
            if rc == RCond::Any {
                if *not {
                    continue;
                }
                return Ok(None);
            }
            alts.push((*not, rc));
        }
        Ok(Some(RTerm {
            alts: alts.into_boxed_slice(),
        }))
    }

    fn rule(
        &self,
        chain: &Chain,
        cr: &ChainRule,
        tables: &[TableIndex],
    ) -> Result<CRule, ParseError> {
        let r = &cr.rule;
        let mut terms = Vec::new();
        for t in r.terms() {
            if let Some(t) = self.term(r, t)? {
                terms.push(t);
            }
        }
        let body = Body {
            terms: terms.into_boxed_slice(),
        };
        let action = match &r.action {
            Action::Allow => RAction::Allow,
            Action::Deny => RAction::Deny,
            Action::Reject => RAction::Unreach(1),
            Action::Unreach(c) => RAction::Unreach(*c),
            Action::Unreach6(c) => RAction::Unreach6(*c),
            Action::Reset | Action::Reset6 => RAction::Reset,
            Action::Count => RAction::Count,
            Action::Skipto(a) => RAction::Skipto(*a),
            Action::Call(a) => RAction::Call(*a),
            Action::Return => RAction::Return,
            Action::CheckState(_) => RAction::CheckState,
            Action::Pipe(a) => RAction::Pipe(*a),
            Action::Queue(a) => RAction::Queue(*a),
            Action::SetDscp(a) => RAction::SetDscp(*a),
        };
        let flow_match = |name: &Option<String>| FlowMatch::Id(chain.flow_id(name));
        let probe = match (&r.action, &r.state) {
            (Action::CheckState(FlowSel::Any), _) => Some(FlowMatch::Any),
            (Action::CheckState(FlowSel::Default), _) => Some(FlowMatch::Id(0)),
            (Action::CheckState(FlowSel::Named(n)), _) => Some(flow_match(&Some(n.clone()))),
            (_, Some(s)) if s.probes() => Some(flow_match(s.flow())),
            _ => None,
        };
        let state = r.state.as_ref().map(|s| match s {
            StateOpt::Keep(f) | StateOpt::Record(f) => RState::Keep {
                flow: chain.flow_id(f),
            },
            StateOpt::Limit {
                fields, n, flow, ..
            } => RState::Limit {
                flow: chain.flow_id(flow),
                fields: *fields,
                n: *n,
            },
        });
        let regions = if probe.is_some() {
            // Reached by every packet, whatever its fields.
            [Region::full(Family::V4), Region::full(Family::V6)]
        } else {
            [
                Region::of(&body, Family::V4, tables),
                Region::of(&body, Family::V6, tables),
            ]
        };
        let exact = if probe.is_some() {
            (false, false)
        } else {
            region::exactness(&body)
        };
        Ok(CRule {
            id: cr.id,
            number: r.number,
            prob: r.prob.map(|p| (p * 4_294_967_296.0) as u64),
            probe,
            body,
            action,
            tag: r.tag,
            state,
            counters: cr.counters.clone(),
            regions,
            exact,
        })
    }
}

/// Whether a rule, in a forwarded packet's "out" pass, matches as it did in
/// its "in" pass and, matching, ends the walk there, counted once: a plain
/// allow/deny/reject/pipe (no count, skipto, call, return, check-state,
/// setdscp, tag, prob or states) whose patterns read nothing the router
/// changes between the passes (direction, interfaces, TTL, tags; the
/// addresses, ports, length and flags stay as they were).
fn decides_alike_both_passes(r: &CRule) -> bool {
    let terminal = matches!(
        r.action,
        RAction::Allow
            | RAction::Deny
            | RAction::Unreach(_)
            | RAction::Unreach6(_)
            | RAction::Reset
            | RAction::Pipe(_)
            | RAction::Queue(_)
    );
    let plain = r.prob.is_none() && r.probe.is_none() && r.state.is_none() && r.tag.is_none();
    let invariant = r.body.terms.iter().all(|t| {
        t.alts.iter().all(|(_, c)| {
            !matches!(
                c,
                RCond::Dir(_) | RCond::Iface { .. } | RCond::IpTtl(_) | RCond::Tagged(_)
            )
        })
    });
    terminal && plain && invariant
}

impl RuleSet {
    /// Resolves and compiles the enabled rules of `chain` against `env`.
    /// Errors (an unknown interface) carry the rule's line and column.
    pub fn compile(chain: &Chain, env: &Env) -> Result<RuleSet, ParseError> {
        let table_names: Vec<&str> = chain.tables().keys().map(String::as_str).collect();
        let mut tables: Vec<TableIndex> = chain.tables().values().map(|t| t.index()).collect();
        // Tables a rule names but nobody created are empty (ipfw creates them).
        let mut extra: Vec<String> = Vec::new();
        for cr in chain.rules() {
            for t in cr.rule.terms() {
                for (_, c) in &t.alts {
                    if let Cond::SrcAddr(AddrSpec::Table { name, .. })
                    | Cond::DstAddr(AddrSpec::Table { name, .. }) = c
                    {
                        if !table_names.contains(&name.as_str()) && !extra.contains(name) {
                            extra.push(name.clone());
                        }
                    }
                }
            }
        }
        let mut names = table_names;
        for n in &extra {
            names.push(n);
            tables.push(TableIndex::default());
        }
        let res = Resolver {
            env,
            table_names: names,
        };
        let mut rules = Vec::new();
        for cr in chain.rules() {
            if !chain.set_enabled(cr.rule.set) {
                continue;
            }
            rules.push(res.rule(chain, cr, &tables).map_err(|e| {
                if e.line == 0 {
                    resolve_err(&cr.rule, 1, e.message())
                } else {
                    e
                }
            })?);
        }
        Ok(Self::from_rules(rules, tables, chain.one_pass()))
    }

    fn from_rules(rules: Vec<CRule>, tables: Vec<TableIndex>, one_pass: bool) -> RuleSet {
        let numbers: Box<[u16]> = rules.iter().map(|r| r.number).collect();
        let mut by_id: Vec<(u32, u32)> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i as u32))
            .collect();
        by_id.sort_unstable();
        let r4: Vec<Region> = rules.iter().map(|r| r.regions[0]).collect();
        let r6: Vec<Region> = rules.iter().map(|r| r.regions[1]).collect();
        let all = (0..rules.len() as u32).collect();
        let mut banks: Vec<Arc<Bank>> = Vec::new();
        let mut bank_of: HashMap<*const Bank, u32> = HashMap::new();
        let places: Box<[(u32, u32)]> = rules
            .iter()
            .map(|r| {
                let (bank, slot) = r.counters.place();
                let b = *bank_of.entry(Arc::as_ptr(bank)).or_insert_with(|| {
                    banks.push(bank.clone());
                    banks.len() as u32 - 1
                });
                (b, slot)
            })
            .collect();
        let quick4: Vec<Quick4> = rules
            .iter()
            .zip(&places)
            .enumerate()
            .map(|(i, (r, &place))| {
                let plain =
                    r.prob.is_none() && r.probe.is_none() && r.state.is_none() && r.tag.is_none();
                let terminal = match r.action {
                    RAction::Allow if plain => 1,
                    RAction::Deny if plain => 2,
                    _ => 0,
                };
                Quick4::new(
                    &r.regions[0],
                    r.exact,
                    terminal,
                    matches!(r.action, RAction::CheckState),
                    (i as u32, place),
                )
            })
            .collect();
        let trees = [
            Forest::build(&r4, &quick4, Family::V4),
            Forest::build(&r6, &[], Family::V6),
        ];
        let default4 = *quick4.last().expect("the default rule is always there");
        let decides4 = quick4
            .iter()
            .take_while(|q| q.decides() || !q.holds_all())
            .any(Quick4::decides);
        let same_both = rules.iter().all(decides_alike_both_passes);
        let fixed = fixed::fixed(&rules);
        RuleSet {
            rules: rules.into_boxed_slice(),
            numbers,
            by_id: by_id.into_boxed_slice(),
            tables: tables.into_boxed_slice(),
            trees,
            default4,
            places,
            banks: banks.into_boxed_slice(),
            all,
            one_pass,
            same_both,
            fixed,
            decides4,
        }
    }

    /// The packed region of the first IPv4 candidate (in rule order, over
    /// every tree's list) whose region holds `k`; the default rule's when no
    /// other does (it holds every packet, and is in no list). The lists'
    /// firsts are compared without a branch (see `Tree::first_holding`).
    #[inline(always)]
    fn first_holding<'a>(&'a self, links: &Links, k: &Key4) -> &'a Quick4 {
        let mut best = &self.default4;
        for (tree, &l) in self.trees[0].trees().iter().zip(links) {
            let q = tree.first_holding(l, k, &self.default4);
            best = if q.rule() < best.rule() { q } else { best };
        }
        best
    }

    /// The outcome of a [`Quick4::decides`] candidate.
    #[inline]
    fn quick_outcome(&self, q: &Quick4) -> Outcome {
        q.outcome(self.numbers[q.rule() as usize])
    }

    /// The calling worker's cells of the first [`FAST_BANKS`] counter
    /// banks, for the fast path to count a burst with one load per packet.
    #[inline]
    fn worker_cells(&self, worker: usize) -> [WorkerCells<'_>; FAST_BANKS] {
        let mut v = [WorkerCells::default(); FAST_BANKS];
        for (c, b) in v.iter_mut().zip(self.banks.iter()) {
            *c = b.worker_cells(worker);
        }
        v
    }

    /// Counts a match of rule index `i` for the calling worker.
    #[inline]
    pub(crate) fn count(&self, i: usize, bytes: u16, ctx: &Ctx) {
        let (b, slot) = self.places[i];
        self.banks[b as usize].add(ctx.worker, slot, bytes as u64, ctx.now_ms);
    }

    pub(crate) fn index_of(&self, id: u32) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&(i, _)| i)
            .ok()
            .map(|k| self.by_id[k].1 as usize)
    }

    /// Number of rules, the default rule included.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn one_pass(&self) -> bool {
        self.one_pass
    }

    /// Whether a forwarded packet's "out" pass is bound to give what its
    /// "in" pass gave, from the same single rule: every rule ends the walk
    /// when it matches and reads none of the fields that differ between the
    /// passes. Then the "out" pass need not walk ([`Self::remember`],
    /// [`Self::replay`]): realistic ACLs of allow/deny rules on addresses,
    /// ports and protocols are such sets.
    pub fn same_both_passes(&self) -> bool {
        self.same_both
    }

    /// After the "in" pass of a packet gave `o`: when this rule set's "out"
    /// pass is bound to decide the same ([`Self::same_both_passes`]) and `o`
    /// allows the packet, remembers the allowing rule with the packet's
    /// `tags` (which the dataplane carries from the "in" to the "out" pass).
    /// `ip_len`: the packet's [`PacketMeta::ip_len`] (what the rule counted).
    #[inline]
    pub fn remember(&self, o: &Outcome, ip_len: u16, tags: &mut Tags) {
        if self.same_both && o.verdict == Verdict::Allow && o.cause == DenyCause::Rule {
            tags.set_in_verdict(o.index, ip_len);
        }
    }

    /// The "out" pass of a packet whose "in" pass this rule set remembered
    /// in `tags` ([`Self::remember`]): the allowing rule counts the packet
    /// again, as the walk would, and gives the same outcome. `None` when
    /// nothing is remembered: run the pass.
    #[inline]
    pub fn replay(&self, tags: &Tags, ctx: &Ctx) -> Option<Outcome> {
        let (i, bytes) = tags.in_verdict()?;
        let r = self.rules.get(i as usize).filter(|_| self.same_both)?;
        self.count(i as usize, bytes, ctx);
        Some(Outcome {
            verdict: Verdict::Allow,
            rule: r.number,
            index: i,
            cause: DenyCause::Rule,
        })
    }

    /// Whether any rule looks states up or creates them (check-state,
    /// keep-state, record-state, limit): without, no state table is needed.
    pub fn uses_states(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.probe.is_some() || r.state.is_some())
    }

    /// Ids of the rules in the set (to drop states of deleted rules).
    pub fn contains_rule(&self, id: u32) -> bool {
        self.index_of(id).is_some()
    }

    /// Rules in order with their counters.
    pub fn stats(&self) -> impl Iterator<Item = RuleStat> + '_ {
        self.rules.iter().map(|r| RuleStat {
            number: r.number,
            id: r.id,
            counters: r.counters.read(),
        })
    }

    /// Bytes held by the compiled form (rules, tables, classifier) and by
    /// the counter banks its rules count in.
    pub fn memory_bytes(&self) -> usize {
        self.rules.len() * (std::mem::size_of::<CRule>() + 8 + 8)
            + self.banks.iter().map(|b| b.memory_bytes()).sum::<usize>()
            + self
                .tables
                .iter()
                .map(TableIndex::memory_bytes)
                .sum::<usize>()
            + self.trees.iter().map(Forest::memory_bytes).sum::<usize>()
            + self.all.len() * 4
    }

    /// Classifier size per family: (nodes, leaf entries), over its trees.
    pub fn classifier_size(&self) -> [(usize, usize); 2] {
        [self.trees[0].size(), self.trees[1].size()]
    }

    /// Number of trees per family (rules grouped by the fields they are
    /// narrow in, see `forest`).
    pub fn classifier_trees(&self) -> [usize; 2] {
        [self.trees[0].trees().len(), self.trees[1].trees().len()]
    }

    /// How many candidates the classifier gives `p` (the default rule not
    /// counted): the length of the list the walk may scan.
    pub fn candidate_count(&self, p: &PacketMeta) -> usize {
        let c = self.trees[p.family as usize].candidates(&tree::key(p));
        c.parts().iter().map(|l| l.rules.len()).sum()
    }

    /// The outcome of a packet of family `f` on pass `d`, `ip_len` long
    /// ([`PacketMeta::ip_len`]), counted, when the rule set decides it
    /// without the rest of its [`PacketMeta`]: the pass's outcome is fixed
    /// for the family and direction (see `fixed`; then `head4` is not
    /// called), or (IPv4) the first candidate holding the packet's
    /// [`Head4`] is a plain allow/deny matched exactly (as in
    /// [`Self::evaluate`]). Such an outcome changes neither tags nor DSCP
    /// and is never a reject. `None`: nothing done or counted;
    /// [`Self::evaluate`] the packet's `PacketMeta`.
    ///
    /// The dataplane's per-pass cost: a head is a few loads from the
    /// header, where a `PacketMeta` is 80 bytes written and read back.
    #[inline(always)]
    pub fn decide(
        &self,
        f: Family,
        d: Direction,
        ip_len: u16,
        head4: impl FnOnce() -> Head4,
        ctx: &Ctx,
    ) -> Option<Outcome> {
        if let Some(o) = self.fixed[f as usize][d as usize] {
            self.count(o.index as usize, ip_len, ctx);
            return Some(o);
        }
        if f == Family::V4 && self.decides4 {
            let k = key4_head(&head4());
            let links = self.trees[0].leaves(&k);
            let q = self.first_holding(&links, &k);
            if q.decides() {
                let (b, slot) = q.place();
                self.banks[b as usize].add(ctx.worker, slot, ip_len as u64, ctx.now_ms);
                return Some(self.quick_outcome(q));
            }
        }
        None
    }

    /// Whether every packet of family `f` on pass `d` gets the same outcome
    /// (the rule, verdict and count), which [`Self::decide`] then gives
    /// without reading more of the packet.
    pub fn fixed_outcome(&self, f: Family, d: Direction) -> Option<Outcome> {
        self.fixed[f as usize][d as usize]
    }

    /// Classifies one packet with the compiled classifier. `p` is updated
    /// (tags, DSCP) as the rules say.
    #[inline]
    pub fn evaluate(&self, p: &mut PacketMeta, ctx: &Ctx) -> Outcome {
        // The common case first, without the walk's setup: the first
        // candidate whose region holds the packet is a plain allow/deny that
        // matches it (the walk would decide the same: no candidate before it
        // can match). IPv4 only: IPv6 lists carry no packed regions. One key
        // serves the trees and the region tests.
        if p.family == Family::V4 {
            let k = key4(p);
            let links = self.trees[0].leaves(&k);
            if self.decides4 {
                let q = self.first_holding(&links, &k);
                if q.decides() {
                    let (b, slot) = q.place();
                    self.banks[b as usize].add(ctx.worker, slot, p.ip_len as u64, ctx.now_ms);
                    return self.quick_outcome(q);
                }
            }
            return self.walk(&self.trees[0].cands_of(&links), true, p, ctx, &mut AtOnce);
        }
        let forest = &self.trees[1];
        let links = forest.leaves(&tree::key(p));
        self.walk(&forest.cands_of(&links), true, p, ctx, &mut AtOnce)
    }

    /// The reference: the same walk asking every rule in turn.
    pub fn evaluate_linear(&self, p: &mut PacketMeta, ctx: &Ctx) -> Outcome {
        self.walk(&Cands::one(&self.all), false, p, ctx, &mut AtOnce)
    }

    /// The reference for [`Self::first_match_batch`]: every rule asked in
    /// turn, its patterns only.
    pub fn first_match_linear(&self, p: &PacketMeta) -> u32 {
        self.rules[..self.rules.len() - 1]
            .iter()
            .position(|r| {
                !matches!(r.action, RAction::CheckState)
                    && r.body.matches(p, &self.tables).is_some()
            })
            .unwrap_or(self.rules.len() - 1) as u32
    }
}
