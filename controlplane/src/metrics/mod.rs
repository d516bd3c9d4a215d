//! Prometheus exporter: `GET /metrics` in the text exposition format.
//! Counters are summed over the workers' slots at scrape time.
mod firewall;
mod pipes;
mod render;
mod server;

pub use render::render;
pub use server::MetricsServer;
