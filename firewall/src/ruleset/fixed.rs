//! Passes whose outcome does not depend on the packet: for a family and a
//! direction, the first rule that can match at all matches every packet
//! (`from any to any`, or only the direction and family named) and ends the
//! walk with a verdict that reads nothing of the packet (a plain allow,
//! deny, pipe or queue). Every packet of that family on that pass then gets
//! that rule's outcome and count, which is what the walk gives: each rule
//! before it cannot match a packet of that family and direction, and none
//! of them looks states up. A vnet that shapes all its outgoing traffic
//! (`pipe 1 ip from any to any out`) has such an "out" pass, and its "in"
//! pass is the default rule's.
//!
//! Only what the rule set says for sure counts: a pattern on anything but
//! the direction or the family makes the rule depend on the packet, and the
//! pass takes the classifier (a shortcut missed, never a verdict changed).

use super::eval::{arg_value, DenyCause, Outcome, Verdict};
use super::matcher::RCond;
use super::{CRule, RAction};
use crate::packet::{Direction, Family};

/// The fixed outcome per family and direction (`[family][direction]`), if any.
pub(crate) type Fixed = [[Option<Outcome>; 2]; 2];

/// What a rule's patterns do for every packet of one family and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// No such packet matches.
    Never,
    /// Every such packet matches.
    Always,
    /// It depends on the packet.
    Depends,
}

/// The fixed outcomes of `rules` (the default rule last).
pub(crate) fn fixed(rules: &[CRule]) -> Fixed {
    let mut out = [[None; 2]; 2];
    for f in [Family::V4, Family::V6] {
        for d in [Direction::In, Direction::Out] {
            out[f as usize][d as usize] = first(rules, f, d);
        }
    }
    out
}

fn first(rules: &[CRule], f: Family, d: Direction) -> Option<Outcome> {
    for (i, r) in rules.iter().enumerate() {
        // A rule that looks states up is asked by every packet, whatever its
        // patterns, and a state hit depends on the flow.
        if r.probe.is_some() {
            return None;
        }
        match reach(r, f, d) {
            Reach::Never => continue,
            Reach::Depends => return None,
            Reach::Always => return outcome(r, i),
        }
    }
    None
}

/// The value of a pattern for every packet of family `f` on pass `d`, when
/// the pattern reads nothing else.
fn value(c: &RCond, f: Family, d: Direction) -> Option<bool> {
    match c {
        RCond::Any => Some(true),
        RCond::Dir(x) => Some(*x == d),
        RCond::Family(g) => Some(*g == f),
        _ => None,
    }
}

fn reach(r: &CRule, f: Family, d: Direction) -> Reach {
    // The region is a superset of the matches: empty, no packet matches.
    if r.regions[f as usize].bounds.is_none() {
        return Reach::Never;
    }
    let mut always = true;
    for t in r.body.terms.iter() {
        let mut holds = false;
        let mut fails = true;
        for (not, c) in t.alts.iter() {
            match value(c, f, d).map(|v| v != *not) {
                Some(true) => holds = true,
                Some(false) => {}
                None => fails = false,
            }
        }
        if holds {
            continue;
        }
        // Every alternative false (or none left): the body never holds.
        if fails {
            return Reach::Never;
        }
        always = false;
    }
    if always {
        Reach::Always
    } else {
        Reach::Depends
    }
}

/// The outcome of rule `r` (index `i`) matching, when it ends the walk with
/// a verdict that reads nothing of the packet and does nothing else.
fn outcome(r: &CRule, i: usize) -> Option<Outcome> {
    if r.prob.is_some() || r.state.is_some() || r.tag.is_some() {
        return None;
    }
    // A body of direction and family patterns names no table: `tablearg`
    // is 0, as in the walk.
    let verdict = match r.action {
        RAction::Allow => Verdict::Allow,
        RAction::Deny => Verdict::Deny,
        RAction::Pipe(a) => Verdict::Pipe(arg_value(a, 0)),
        RAction::Queue(a) => Verdict::Queue(arg_value(a, 0)),
        _ => return None,
    };
    Some(Outcome {
        verdict,
        rule: r.number,
        index: i as u32,
        cause: DenyCause::Rule,
    })
}
