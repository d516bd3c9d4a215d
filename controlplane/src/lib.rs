//! vnetd's control plane: the config file (model, parsing, validation), the
//! daemon that runs the dataplane, the admin API and the Prometheus exporter.
pub mod api;
pub mod capture;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod state;
