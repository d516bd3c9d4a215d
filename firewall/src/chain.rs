//! The editable rule chain of one vnet (what `ipfw add/delete/set/table` change).
//! The control plane edits a `Chain`, then compiles it into a
//! [`crate::RuleSet`] and publishes that; the chain itself is never read by the
//! packet path.
//!
//! Edits are transactions: [`Chain::apply_text`] applies every command of a
//! text to a copy and keeps the copy only if all of them succeeded.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ast::{Action, Command, FlowSel, Range, Rule, ShowOpts, StateOpt};
use crate::counters::{CounterPool, RuleCounters};
use crate::error::ParseError;
use crate::parse::parse_line;
use crate::policy::DefaultPolicy;
use crate::state::StateTable;
use crate::table::Table;

/// ipfw's `net.inet.ip.fw.autoinc_step`: `add` without a number takes the last
/// rule's number plus this.
pub const AUTOINC_STEP: u16 = 100;
/// The number of the default rule.
pub const DEFAULT_RULE: u16 = 65535;
/// The set that `flush` leaves alone and that cannot be disabled.
pub const SET_31: u8 = 31;

/// A rule of the chain with its identity (stable across recompiles, what
/// dynamic states refer to) and its counters (shared with published rule sets).
#[derive(Debug, Clone)]
pub struct ChainRule {
    pub id: u32,
    pub rule: Rule,
    pub counters: RuleCounters,
}

#[derive(Debug, Clone)]
pub struct Chain {
    /// Sorted by number; same numbers in insertion order.
    rules: Vec<ChainRule>,
    default_rule: ChainRule,
    next_id: u32,
    /// Bit N set: set N disabled.
    disabled_sets: u32,
    tables: BTreeMap<String, Table>,
    /// Flow names of keep-state/check-state (`:default` is 0), stable ids.
    flows: BTreeMap<String, u16>,
    one_pass: bool,
    workers: usize,
    /// Where this chain's rules get their counters (densely, see counters).
    pool: CounterPool,
}

fn in_ranges(r: &[Range], n: u16) -> bool {
    r.is_empty() || r.iter().any(|&(a, b)| a <= n && n <= b)
}

impl Chain {
    /// An empty chain: only the default rule. `workers` sizes the per-rule
    /// counters (one slot per packet worker).
    pub fn new(default: DefaultPolicy, workers: usize) -> Self {
        let action = match default {
            DefaultPolicy::Allow => Action::Allow,
            DefaultPolicy::Deny => Action::Deny,
        };
        let mut rule = Rule::any(action);
        rule.number = DEFAULT_RULE;
        rule.set = SET_31;
        let pool = CounterPool::new(workers);
        Chain {
            rules: Vec::new(),
            default_rule: ChainRule {
                id: 0,
                rule,
                counters: pool.alloc(),
            },
            next_id: 1,
            disabled_sets: 0,
            tables: BTreeMap::new(),
            flows: BTreeMap::new(),
            one_pass: true,
            workers,
            pool,
        }
    }

    /// A chain built from rules text (ipfw commands, one per line).
    pub fn from_text(
        text: &str,
        default: DefaultPolicy,
        workers: usize,
    ) -> Result<Self, ParseError> {
        let mut c = Chain::new(default, workers);
        c.apply_text(text)?;
        Ok(c)
    }

    pub fn default_policy(&self) -> DefaultPolicy {
        match self.default_rule.rule.action {
            Action::Deny => DefaultPolicy::Deny,
            _ => DefaultPolicy::Allow,
        }
    }

    /// Changes what rule 65535 does (its counters stay).
    pub fn set_default_policy(&mut self, p: DefaultPolicy) {
        self.default_rule.rule.action = match p {
            DefaultPolicy::Allow => Action::Allow,
            DefaultPolicy::Deny => Action::Deny,
        };
    }

    /// `one_pass`: a packet coming back from a pipe is not checked again.
    pub fn one_pass(&self) -> bool {
        self.one_pass
    }

    /// Rules in evaluation order, the default rule last.
    pub fn rules(&self) -> impl Iterator<Item = &ChainRule> {
        self.rules.iter().chain(std::iter::once(&self.default_rule))
    }

    /// Whether set `n` is enabled.
    pub fn set_enabled(&self, n: u8) -> bool {
        self.disabled_sets >> n & 1 == 0
    }

    pub fn tables(&self) -> &BTreeMap<String, Table> {
        &self.tables
    }

    pub(crate) fn flow_id(&self, name: &Option<String>) -> u16 {
        match name {
            None => 0,
            Some(n) => self.flows.get(n).copied().unwrap_or(u16::MAX),
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Applies every command of `text`; on the first error nothing changed.
    /// Returns what `show`/`list` commands printed.
    pub fn apply_text(&mut self, text: &str) -> Result<String, ParseError> {
        let mut next = self.clone();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if let Some(cmd) = parse_line(line, n)? {
                let first_col = line.len() - line.trim_start().len() + 1;
                out.push_str(
                    &next
                        .apply(cmd)
                        .map_err(|m| ParseError::invalid(n, first_col, m))?,
                );
            }
        }
        *self = next;
        Ok(out)
    }

    /// Applies one parsed command; `Err` says why it was refused (nothing
    /// changed then). Returns the output of `show`-like commands.
    pub fn apply(&mut self, cmd: Command) -> Result<String, String> {
        match cmd {
            Command::Add(rule) => self.add(rule).map(|_| String::new()),
            Command::Delete { set, rules } => {
                let before = self.rules.len();
                self.rules.retain(|r| {
                    !(in_ranges(&rules, r.rule.number) && set.is_none_or(|s| s == r.rule.set))
                });
                if self.rules.len() == before {
                    return Err(format!("no rule {} to delete", fmt_ranges(&rules)));
                }
                Ok(String::new())
            }
            Command::DeleteSet(s) => {
                self.rules.retain(|r| r.rule.set != s);
                Ok(String::new())
            }
            Command::Flush { set } => {
                self.rules.retain(|r| match set {
                    Some(s) => r.rule.set != s,
                    None => r.rule.set == SET_31,
                });
                Ok(String::new())
            }
            Command::Zero { set, rules } | Command::ResetLog { set, rules } => {
                self.zero(set, &rules);
                Ok(String::new())
            }
            Command::Show { set, rules, opts } => Ok(self.show(set, &rules, opts, None, 0)),
            Command::SetEnable { disable, enable } => {
                for s in disable {
                    if s == SET_31 {
                        return Err("set 31 cannot be disabled".into());
                    }
                    self.disabled_sets |= 1 << s;
                }
                for s in enable {
                    self.disabled_sets &= !(1 << s);
                }
                Ok(String::new())
            }
            Command::SetSwap(a, b) => {
                for r in &mut self.rules {
                    if r.rule.set == a {
                        r.rule.set = b;
                    } else if r.rule.set == b {
                        r.rule.set = a;
                    }
                }
                Ok(String::new())
            }
            Command::SetMove { from, to } => {
                for r in &mut self.rules {
                    if r.rule.set == from {
                        r.rule.set = to;
                    }
                }
                Ok(String::new())
            }
            Command::SetMoveRules { rules, to } => {
                for r in &mut self.rules {
                    if in_ranges(&[rules], r.rule.number) {
                        r.rule.set = to;
                    }
                }
                Ok(String::new())
            }
            Command::SetShow => {
                let dis: Vec<String> = (0..32u8)
                    .filter(|&s| !self.set_enabled(s))
                    .map(|s| s.to_string())
                    .collect();
                let en: Vec<String> = (0..32u8)
                    .filter(|&s| self.set_enabled(s))
                    .map(|s| s.to_string())
                    .collect();
                Ok(format!(
                    "disable {} enable {}\n",
                    dis.join(" "),
                    en.join(" ")
                ))
            }
            Command::TableCreate { name } => {
                if self.tables.contains_key(&name) {
                    return Err(format!("table {name:?} already exists"));
                }
                self.tables.insert(name, Table::default());
                Ok(String::new())
            }
            Command::TableAdd { name, entries } => {
                // ipfw creates a table on first use.
                let t = self.tables.entry(name).or_default();
                for (p, v) in entries {
                    t.insert(p, v).map_err(|e| format!("{p}: {e}"))?;
                }
                Ok(String::new())
            }
            Command::TableDelete { name, keys } => {
                let t = self
                    .tables
                    .get_mut(&name)
                    .ok_or_else(|| format!("no table {name:?}"))?;
                for k in keys {
                    if !t.remove(&k) {
                        return Err(format!("{k} is not in table {name:?}"));
                    }
                }
                Ok(String::new())
            }
            Command::TableFlush { name } => {
                for (n, t) in self.tables.iter_mut() {
                    if name.as_ref().is_none_or(|x| x == n) {
                        t.clear();
                    }
                }
                Ok(String::new())
            }
            Command::TableDestroy { name } => {
                match name {
                    None => self.tables.clear(),
                    Some(n) => {
                        self.tables
                            .remove(&n)
                            .ok_or_else(|| format!("no table {n:?}"))?;
                    }
                }
                Ok(String::new())
            }
            Command::TableList { name } => {
                let mut out = String::new();
                for (n, t) in &self.tables {
                    if name.as_ref().is_none_or(|x| x == n) {
                        let _ = writeln!(out, "--- table({n}), set(0) ---");
                        for (p, v) in t.entries() {
                            let _ = writeln!(out, "{p} {v}");
                        }
                    }
                }
                Ok(out)
            }
            Command::OnePass(on) => {
                self.one_pass = on;
                Ok(String::new())
            }
        }
    }

    fn add(&mut self, mut rule: Rule) -> Result<(), String> {
        if rule.number == 0 {
            let last = self.rules.last().map_or(0, |r| r.rule.number as u32);
            let n = last + AUTOINC_STEP as u32;
            if n >= DEFAULT_RULE as u32 {
                return Err(format!("no rule number left after {last}; give one"));
            }
            rule.number = n as u16;
        }
        // Register flow names (stable ids for states that outlive a recompile).
        let name = match (&rule.state, &rule.action) {
            (Some(s), _) => s.flow().clone(),
            (None, Action::CheckState(FlowSel::Named(n))) => Some(n.clone()),
            _ => None,
        };
        if let Some(n) = name {
            if !self.flows.contains_key(&n) {
                let id = self.flows.len() + 1;
                if id >= u16::MAX as usize {
                    return Err("too many flow names".into());
                }
                self.flows.insert(n, id as u16);
            }
        }
        if let Some(StateOpt::Limit { n, .. }) = &rule.state {
            if *n == 0 {
                return Err("limit must be at least 1".into());
            }
        }
        let at = self.rules.partition_point(|r| r.rule.number <= rule.number);
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).ok_or("rule ids exhausted")?;
        self.rules.insert(
            at,
            ChainRule {
                id,
                rule,
                counters: self.pool.alloc(),
            },
        );
        Ok(())
    }

    /// The chain as ipfw commands that rebuild it: tables, rules (with their
    /// numbers and sets), disabled sets, one_pass. `from_text` of this text
    /// gives an equal chain (with fresh counters).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, t) in &self.tables {
            let _ = writeln!(out, "table {name} create type addr");
            for (p, v) in t.entries() {
                let _ = writeln!(out, "table {name} add {p} {v}");
            }
        }
        for r in &self.rules {
            let _ = write!(out, "add {} ", r.rule.number);
            if r.rule.set != 0 {
                let _ = write!(out, "set {} ", r.rule.set);
            }
            let _ = writeln!(out, "{}", r.rule);
        }
        for s in 0..32u8 {
            if !self.set_enabled(s) {
                let _ = writeln!(out, "set disable {s}");
            }
        }
        if !self.one_pass {
            out.push_str("disable one_pass\n");
        }
        out
    }

    /// Takes over from `old` (the chain this one replaces) the identity and
    /// counters of every rule that is the same in both (number, set and text),
    /// the default rule's counters and the flow-name ids, so that counters and
    /// dynamic states survive an edit of the rules. Rules new here get ids
    /// above every id of `old` (a state of a deleted rule never names them).
    pub fn adopt(&mut self, old: &Chain) {
        // New rules count in `old`'s banks too, so that a long life of edits
        // keeps a handful of banks (each twice the last) rather than one
        // more per edit.
        let same_pool = old.workers == self.workers;
        if same_pool {
            self.pool = old.pool.clone();
        }
        let mut taken = vec![false; old.rules.len()];
        let mut next = self.next_id.max(old.next_id);
        for r in &mut self.rules {
            let text = r.rule.to_string();
            let found = old.rules.iter().enumerate().find(|(i, o)| {
                !taken[*i]
                    && o.rule.number == r.rule.number
                    && o.rule.set == r.rule.set
                    && o.rule.to_string() == text
            });
            match found {
                Some((i, o)) => {
                    taken[i] = true;
                    r.id = o.id;
                    r.counters = o.counters.clone();
                }
                None => {
                    r.id = next;
                    next += 1;
                    if same_pool {
                        r.counters = self.pool.alloc();
                    }
                }
            }
        }
        self.next_id = next;
        self.default_rule.counters = old.default_rule.counters.clone();
        let mut flows = old.flows.clone();
        for name in self.flows.keys() {
            if !flows.contains_key(name) {
                let id = flows.len() as u16 + 1;
                flows.insert(name.clone(), id);
            }
        }
        self.flows = flows;
    }

    /// `ipfw zero` on a live chain (counters only: no other state changes).
    pub fn zero(&self, set: Option<u8>, rules: &[Range]) {
        for r in self.rules() {
            if in_ranges(rules, r.rule.number) && set.is_none_or(|s| s == r.rule.set) {
                r.counters.zero();
            }
        }
    }

    /// `ipfw show`/`list`: one rule a line, `NNNNN [packets bytes] [set N] rule`.
    /// With `opts.dynamic` and a state table, the states follow.
    pub fn show(
        &self,
        set: Option<u8>,
        rules: &[Range],
        opts: ShowOpts,
        states: Option<&StateTable>,
        now_ms: u64,
    ) -> String {
        let mut out = String::new();
        for r in self.rules() {
            let n = r.rule.number;
            if !in_ranges(rules, n) || set.is_some_and(|s| s != r.rule.set) {
                continue;
            }
            let enabled = self.set_enabled(r.rule.set);
            if !enabled && !opts.sets {
                continue;
            }
            if !enabled {
                out.push_str("# DISABLED ");
            }
            let _ = write!(out, "{n:05} ");
            if opts.counters {
                let c = r.counters.read();
                let _ = write!(out, "{:>10} {:>12} ", c.packets, c.bytes);
                if opts.timestamps {
                    let _ = write!(out, "{:>10} ", c.last_match_ms / 1000);
                }
            }
            if opts.sets {
                let _ = write!(out, "set {} ", r.rule.set);
            }
            let _ = writeln!(out, "{}", r.rule);
        }
        if let (true, Some(st)) = (opts.dynamic, states) {
            let snap = st.snapshot(now_ms);
            let _ = writeln!(out, "## Dynamic rules ({}):", snap.len());
            for s in snap {
                let k = &s.key;
                let a = crate::packet::addr_of(k.family, k.src);
                let b = crate::packet::addr_of(k.family, k.dst);
                let proto =
                    crate::ast::proto_name(k.proto).map_or(k.proto.to_string(), str::to_string);
                let kind = if s.parent.is_some() {
                    "PARENT"
                } else {
                    "STATE"
                };
                let _ = writeln!(
                    out,
                    "{:05} ({}s) {kind} {proto} {a} {} <-> {b} {}",
                    s.rule_number, s.expires_in_s, k.sport, k.dport
                );
            }
        }
        out
    }
}

fn fmt_ranges(r: &[Range]) -> String {
    r.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(c: &Chain) -> Vec<(u16, u8)> {
        c.rules().map(|r| (r.rule.number, r.rule.set)).collect()
    }

    #[test]
    fn add_numbers_sets_delete_flush() {
        let mut c = Chain::new(DefaultPolicy::Deny, 1);
        c.apply_text("add allow ip from any to any\nadd 50 set 31 allow ip from me to any\nadd deny tcp from any to any 23\nadd 100 set 2 count ip from any to any")
            .unwrap();
        assert_eq!(
            numbers(&c),
            [(50, 31), (100, 0), (100, 2), (200, 0), (65535, 31)]
        );
        c.apply_text("set disable 2").unwrap();
        assert!(!c.set_enabled(2));
        assert!(c.apply_text("set disable 31").is_err());
        c.apply_text("set swap 0 2").unwrap();
        assert_eq!(
            numbers(&c),
            [(50, 31), (100, 2), (100, 0), (200, 2), (65535, 31)]
        );
        c.apply_text("delete 200").unwrap();
        let e = c.apply_text("delete 300").unwrap_err();
        assert_eq!(e.to_string(), "1:1: no rule 300 to delete");
        c.apply_text("flush").unwrap();
        assert_eq!(numbers(&c), [(50, 31), (65535, 31)]);
        c.apply_text("delete set 31").unwrap();
        assert_eq!(numbers(&c), [(65535, 31)]);
    }

    #[test]
    fn text_is_a_transaction() {
        let mut c = Chain::new(DefaultPolicy::Allow, 1);
        c.apply_text("add 10 deny ip from any to any").unwrap();
        let e = c
            .apply_text("add 20 allow ip from any to any\nadd 30 allow tcp from any to any port 22")
            .unwrap_err();
        assert_eq!((e.line, e.column), (2, 34));
        assert_eq!(numbers(&c), [(10, 0), (65535, 31)]);
    }

    #[test]
    fn text_round_trip_and_adoption_keep_identity() {
        let text = "table T add 10.0.0.0/8 5\nadd 100 deny tcp from any to any 23\nadd 200 set 3 allow udp from table(T) to any keep-state :dns\nset disable 3\ndisable one_pass";
        let a = Chain::from_text(text, DefaultPolicy::Deny, 1).unwrap();
        let b = Chain::from_text(&a.to_text(), DefaultPolicy::Deny, 1).unwrap();
        assert_eq!(a.to_text(), b.to_text());
        assert!(!b.set_enabled(3) && !b.one_pass());
        // An edit: rule 100 stays (same identity and counters), 150 is new.
        a.rules[0].counters.add(0, 40, 1);
        let mut c = Chain::from_text(
            &format!("{}\nadd 150 count ip from any to any", a.to_text()),
            DefaultPolicy::Deny,
            1,
        )
        .unwrap();
        c.adopt(&a);
        let ids: Vec<(u16, u32, u64)> = c
            .rules()
            .map(|r| (r.rule.number, r.id, r.counters.read().packets))
            .collect();
        assert_eq!(
            ids,
            [
                (100, a.rules[0].id, 1),
                (150, 4, 0),
                (200, a.rules[1].id, 0),
                (65535, 0, 0)
            ]
        );
        assert!(
            a.rules().all(|r| r.id < 4),
            "a new rule never takes an old id"
        );
        assert!(
            std::sync::Arc::ptr_eq(c.rules[1].counters.place().0, a.rules[0].counters.place().0),
            "a new rule counts in the old chain's bank"
        );
        assert_eq!(
            c.flow_id(&Some("dns".into())),
            a.flow_id(&Some("dns".into()))
        );
        c.zero(None, &[(100, 100)]);
        assert_eq!(a.rules[0].counters.read().packets, 0, "counters are shared");
    }

    #[test]
    fn show_prints_like_ipfw() {
        let c = Chain::from_text(
            "add 100 deny tcp from any to any 23\ntable T add 10.0.0.0/8 5",
            DefaultPolicy::Allow,
            1,
        )
        .unwrap();
        let out = c
            .clone()
            .apply(crate::parse::parse_line("show", 1).unwrap().unwrap())
            .unwrap();
        assert_eq!(
            out,
            "00100          0            0 deny tcp from any to any 23\n65535          0            0 allow ip from any to any\n"
        );
        let mut c2 = c.clone();
        let out = c2.apply_text("table T list").unwrap();
        assert_eq!(out, "--- table(T), set(0) ---\n10.0.0.0/8 5\n");
    }
}
