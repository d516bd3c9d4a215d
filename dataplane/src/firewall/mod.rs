//! A vnet's firewall as the packet path holds it: the compiled rule set, the
//! chain it came from (for `show` and counters) and the vnet's dynamic states.
//! `meta` reads a packet's header fields for the classifier; `reset` builds a
//! TCP RST. The hooks themselves are in `pipeline::filter`.
//!
//! Concurrency: the rule set is immutable and published with the vnet's tables
//! (RCU); rule counters have one slot per worker; the state table is shared by
//! the workers with lock-free lookups (see firewall/README.md). Nothing here
//! allocates per packet.
pub mod meta;
pub mod reset;

use crate::tables::Interface;
use ::firewall::{Chain, DefaultPolicy, Env, RuleSet, StateConfig, StateTable};
use std::net::IpAddr;
use std::sync::Arc;

/// What a vnet's firewall is built from (part of `VnetSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallSpec {
    pub default: DefaultPolicy,
    /// ipfw commands, one per line.
    pub rules: String,
    /// Capacity of the vnet's dynamic-state table (ipfw's `dyn_max`); None: 8,192.
    pub max_states: Option<usize>,
}

impl FirewallSpec {
    /// No rules and a default allow: the vnet runs without a firewall at all
    /// (and pays nothing for it).
    pub fn is_noop(&self) -> bool {
        self.default == DefaultPolicy::Allow
            && self.rules.lines().all(|l| {
                let l = l.trim();
                l.is_empty() || l.starts_with('#')
            })
    }
}

pub struct VnetFirewall {
    pub spec: FirewallSpec,
    pub chain: Chain,
    pub rules: RuleSet,
    pub states: Arc<StateTable>,
    /// (interface names, addresses) the rule set was resolved against.
    resolved: Vec<(String, Vec<IpAddr>)>,
}

fn env_of(interfaces: &[Interface]) -> (Env, Vec<(String, Vec<IpAddr>)>) {
    let mut env = Env::default();
    let mut resolved = Vec::new();
    for (i, ifc) in interfaces.iter().enumerate() {
        env.interfaces.push((ifc.name.clone(), i as u16));
        let addrs: Vec<IpAddr> = ifc
            .addrs4
            .iter()
            .map(|(a, _)| IpAddr::V4(*a))
            .chain(ifc.addrs6.iter().map(|(a, _)| IpAddr::V6(*a)))
            .collect();
        env.addrs.extend(addrs.iter().copied());
        resolved.push((ifc.name.clone(), addrs));
    }
    (env, resolved)
}

/// Builds (or carries over) a vnet's firewall. `old` is the live version, if
/// any: with the same rules its chain, counters and states are kept (and the
/// rule set itself when the interfaces did not change either); with edited
/// rules, the rules that did not change keep theirs.
pub fn build(
    spec: &FirewallSpec,
    interfaces: &[Interface],
    workers: usize,
    old: Option<&Arc<VnetFirewall>>,
) -> Result<Option<Arc<VnetFirewall>>, String> {
    if spec.is_noop() {
        return Ok(None);
    }
    let (env, resolved) = env_of(interfaces);
    if let Some(o) = old.filter(|o| o.spec == *spec) {
        if o.resolved == resolved {
            return Ok(Some(Arc::clone(o)));
        }
        let rules = RuleSet::compile(&o.chain, &env).map_err(|e| format!("firewall rules: {e}"))?;
        return Ok(Some(Arc::new(VnetFirewall {
            spec: spec.clone(),
            chain: o.chain.clone(),
            rules,
            states: Arc::clone(&o.states),
            resolved,
        })));
    }
    let mut chain = Chain::from_text(&spec.rules, spec.default, workers)
        .map_err(|e| format!("firewall rules: {e}"))?;
    // Edited rules: the rules that stayed keep their identity, counters and
    // states (ipfw's `add`/`delete` leave the others alone).
    if let Some(o) = old {
        chain.adopt(&o.chain);
    }
    let rules = RuleSet::compile(&chain, &env).map_err(|e| format!("firewall rules: {e}"))?;
    // A state table is 2.3 MB at ipfw's 8,192 states: rule sets without
    // stateful rules (most ACLs) get a token one.
    let want = if rules.uses_states() {
        spec.max_states.unwrap_or(StateConfig::default().max_states)
    } else {
        1
    };
    let states = match old {
        // A new max_states takes a fresh table (the old states are dropped).
        Some(o) if o.states.capacity() >= want && o.spec.max_states == spec.max_states => {
            // States of deleted rules go, as ipfw deletes them with the rule.
            o.states.retain_rules(|id| rules.contains_rule(id));
            Arc::clone(&o.states)
        }
        _ => Arc::new(StateTable::new(StateConfig {
            max_states: want,
            ..StateConfig::default()
        })),
    };
    Ok(Some(Arc::new(VnetFirewall {
        spec: spec.clone(),
        chain,
        rules,
        states,
        resolved,
    })))
}

/// Milliseconds on the workers' clock (TSC based), what the state table ages by.
/// A multiply by 2^64 * 1000 / hz (rounded up), kept per thread, instead of
/// two divisions per firewall pass: monotonic in `tsc`, `tsc * 1000 / hz`
/// rounded down or (within 2^-64 of the next millisecond) up, and the same
/// function for every caller (workers, sweep, API).
#[inline]
pub fn now_ms(tsc: u64, hz: u64) -> u64 {
    use std::cell::Cell;
    thread_local! {
        /// (hz, 2^64 * 1000 / hz) of the last call on this thread.
        static SCALE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    let k = SCALE.with(|s| {
        let (h, k) = s.get();
        if h == hz {
            return k;
        }
        // Rounded up: whole seconds come out exact (and never a hair under).
        let d = u128::from(hz.max(1000));
        let k = ((1000u128 << 64).div_ceil(d)).min(u64::MAX as u128) as u64;
        s.set((hz, k));
        k
    });
    ((u128::from(tsc) * u128::from(k)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::now_ms;

    #[test]
    fn now_ms_scales_monotonically() {
        let hz = 2_596_000_000u64;
        assert_eq!(now_ms(0, hz), 0);
        assert_eq!(now_ms(hz, hz), 1000);
        assert_eq!(now_ms(hz - 1, hz), 999);
        let day = 86_400 * hz;
        let ms = now_ms(day, hz);
        assert_eq!(ms, 86_400_000);
        let mut last = 0;
        for t in (0..10_000_000u64).step_by(99_991) {
            let m = now_ms(t * 1000, hz);
            assert!(m >= last);
            last = m;
        }
        // Another clock rate on the same thread.
        assert_eq!(now_ms(3_000_000, 1_000_000), 3000);
    }
}
