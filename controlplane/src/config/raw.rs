//! The serde layer: the file's shape, with a span on everything an error may point at.
//!
//! Only the structure is typed here (tables, arrays of tables, unknown keys). Leaf
//! values are kept as spanned `toml::Value`s and typed by `validate`, so a value of
//! the wrong type is one more located error instead of stopping the whole parse.

use serde::Deserialize;
use toml::Spanned;

/// A leaf value and where it is.
pub(crate) type Value = Spanned<toml::Value>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) dataplane: Option<Spanned<RawDataplane>>,
    pub(crate) api: Option<Spanned<RawApi>>,
    pub(crate) metrics: Option<Spanned<RawMetrics>>,
    #[serde(default)]
    pub(crate) port: Vec<Spanned<RawPort>>,
    #[serde(default)]
    pub(crate) vnet: Vec<Spanned<RawVnet>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDataplane {
    pub(crate) workers: Option<Value>,
    pub(crate) eal_args: Option<Spanned<Vec<Value>>>,
    pub(crate) burst: Option<Value>,
    pub(crate) mbufs: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub(crate) socket: Option<Value>,
    pub(crate) listen: Option<Value>,
    pub(crate) admin_token_sha256: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub(crate) listen: Option<Value>,
    pub(crate) firewall_rules: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPort {
    pub(crate) name: Option<Value>,
    pub(crate) device: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVnet {
    pub(crate) name: Option<Value>,
    pub(crate) routes_file: Option<Value>,
    pub(crate) token_sha256: Option<Value>,
    #[serde(default)]
    pub(crate) interface: Vec<Spanned<RawInterface>>,
    #[serde(default)]
    pub(crate) route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub(crate) neighbor: Vec<Spanned<RawNeighbor>>,
    pub(crate) firewall: Option<Spanned<RawFirewall>>,
    #[serde(default)]
    pub(crate) pipe: Vec<Spanned<RawPipe>>,
    #[serde(default)]
    pub(crate) queue: Vec<Spanned<RawQueue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInterface {
    pub(crate) name: Option<Value>,
    pub(crate) port: Option<Value>,
    pub(crate) vlan: Option<Value>,
    pub(crate) mac: Option<Value>,
    pub(crate) addresses: Option<Spanned<Vec<Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) prefix: Option<Value>,
    pub(crate) via: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNeighbor {
    pub(crate) address: Option<Value>,
    pub(crate) mac: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFirewall {
    pub(crate) default: Option<Value>,
    pub(crate) rules: Option<Value>,
    pub(crate) max_states: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPipe {
    pub(crate) id: Option<Value>,
    pub(crate) bw: Option<Value>,
    pub(crate) delay: Option<Value>,
    pub(crate) plr: Option<Value>,
    pub(crate) queue: Option<Value>,
    pub(crate) burst: Option<Value>,
    pub(crate) red: Option<Value>,
    pub(crate) gred: Option<Value>,
    pub(crate) mask: Option<Value>,
    pub(crate) buckets: Option<Value>,
    pub(crate) max_flows: Option<Value>,
    pub(crate) noerror: Option<Value>,
    pub(crate) scheduler: Option<Value>,
    // Scheduler options.
    pub(crate) quantum: Option<Value>,
    pub(crate) lmax: Option<Value>,
    pub(crate) target: Option<Value>,
    pub(crate) interval: Option<Value>,
    pub(crate) limit: Option<Value>,
    pub(crate) flows: Option<Value>,
    pub(crate) ecn: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub(crate) id: Option<Value>,
    pub(crate) pipe: Option<Value>,
    pub(crate) weight: Option<Value>,
    pub(crate) prio: Option<Value>,
    pub(crate) queue: Option<Value>,
    pub(crate) plr: Option<Value>,
    pub(crate) red: Option<Value>,
    pub(crate) gred: Option<Value>,
    pub(crate) mask: Option<Value>,
    pub(crate) buckets: Option<Value>,
    pub(crate) max_flows: Option<Value>,
}
