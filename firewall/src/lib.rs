// The measured hot spot needs `unsafe`: a cache prefetch hint in the burst
// classifier (prefetch.rs). Nothing else may.
#![deny(unsafe_code)]
//! ipfw-style firewall for one vnet: the ipfw(8) rule language ([`parse`]),
//! the editable rule chain ([`Chain`]), rule sets compiled into a classifier
//! ([`RuleSet`]), dynamic states ([`StateTable`]) and per-rule counters.
//! No DPDK: the dataplane hands in [`PacketMeta`] and acts on [`Verdict`].
//! See firewall/README.md.

pub mod ast;
pub mod chain;
pub mod counters;
pub mod error;
pub mod packet;
pub mod parse;
pub mod policy;
mod prefetch;
pub mod ruleset;
pub mod state;
pub mod table;

pub use chain::Chain;
pub use error::ParseError;
pub use packet::{Direction, Family, Head4, IfaceId, PacketMeta, Tags, NO_IFACE};
pub use policy::{DefaultPolicy, ParseDefaultPolicyError};
pub use ruleset::{
    Allowed4, Burst4, BurstCounts, Ctx, Decide4, DenyCause, Env, Forwarded4, Outcome, Reject,
    RuleSet, Verdict,
};
pub use state::{FlowKey, Lifetimes, StateConfig, StateStats, StateTable};
