#![forbid(unsafe_code)]
//! ipfw-style firewall (rule language, compiled classifier, states). See issue 4.

pub mod policy;

pub use policy::{DefaultPolicy, ParseDefaultPolicyError};
