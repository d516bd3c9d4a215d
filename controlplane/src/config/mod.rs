//! The configuration file: model, parsing, validation.
//!
//! `load` reads a TOML file (see DESIGN.md, "Configuration") and returns either a
//! fully validated [`Config`] or a [`ConfigError`] listing every problem found, each
//! with `file:line:column` and what was expected. A config with any error yields no
//! `Config` at all, so nothing is ever partly applied.
//!
//! Layers: `raw` (serde, spans) → `validate`/`vnet` (typing, ranges, references,
//! uniqueness) → `model` (plain data). `routes_file` loads bulk static routes fast.

mod addr;
mod connected;
mod ipfw;
mod location;
mod model;
mod raw;
mod route_edit;
mod routes_file;
mod shaping;
mod validate;
mod vnet;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use location::{ConfigError, LocatedError, Location};
pub use model::*;
pub use route_edit::{
    check_routes, existing_keys, parse_route_key, CheckedRoute, RouteKey, RouteText,
};

use location::Source;

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, path),
        Err(e) => Err(ConfigError {
            errors: vec![LocatedError::new(
                None,
                format!("{}: cannot read the config file: {e}", path.display()),
            )],
        }),
    }
}

/// Validates configuration text. `path` names the file in messages, and a vnet's
/// `routes_file` is resolved relative to its directory.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let src = Source::new(path, text);
    match toml::from_str::<raw::RawConfig>(text) {
        Ok(raw) => validate::validate(raw, src),
        Err(e) => Err(ConfigError {
            errors: vec![toml_error(&src, &e)],
        }),
    }
}

/// A TOML syntax or shape error (unknown key, wrong kind of table), located.
fn toml_error(src: &Source, e: &toml::de::Error) -> LocatedError {
    // toml's messages may span lines ("invalid string\nexpected `\"`"); keep one line.
    let message = e
        .message()
        .trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(": ");
    LocatedError::new(e.span().map(|s| src.location(&s)), message)
}
