//! What the firewall's randomized tests share.
#![allow(dead_code)] // each test binary uses its own part of it

use firewall::{Chain, DefaultPolicy, Env, RuleSet};
use std::net::Ipv4Addr;

/// Two interfaces (lan 0, wan 1) and the router's address 10.0.0.1.
pub fn env() -> Env {
    Env {
        interfaces: vec![("lan".into(), 0), ("wan".into(), 1)],
        addrs: vec![Ipv4Addr::new(10, 0, 0, 1).into()],
    }
}

/// `text` compiled against `env()`; a parse or compile error names the text.
pub fn compile(text: &str, default: DefaultPolicy) -> RuleSet {
    let chain = Chain::from_text(text, default, 1).unwrap_or_else(|e| panic!("{e}\n{text}"));
    RuleSet::compile(&chain, &env()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// xorshift64*: the same draws for the same seed (proptest's seed, or a fixed
/// one), so a failure replays.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}
