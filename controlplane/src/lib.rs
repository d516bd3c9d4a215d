//! Config model, validation, API, metrics.
pub mod config;
