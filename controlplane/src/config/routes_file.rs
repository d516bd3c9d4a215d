//! A vnet's static routes, from `[[vnet.route]]` and the bulk `routes_file`.
//!
//! The routes file holds one `PREFIX GATEWAY` per line (IPv4 and IPv6 mixed), with
//! blank lines and `#` comments. It may hold a full Internet table (~1M lines), so the
//! loader works on the file's bytes in one pass, parses with std's address parsers,
//! and allocates nothing per line beyond the output vectors; duplicate prefixes are
//! found by sorting compact keys once at the end.

use std::net::IpAddr;
use std::path::Path;

use super::addr::{parse_route_prefix, Prefix};
use super::connected::Connected;
use super::location::{char_column, LocatedError, Location};
use super::model::{Route4, Route6};

/// Detailed errors reported per routes file (and per vnet for duplicates); the rest
/// are counted in one summary error, so a wrong file cannot flood the terminal.
pub(crate) const MAX_ERRORS_PER_FILE: usize = 100;

/// Where a route was written: 1-based line and column, in the config file for the
/// first `config_count` routes of a family, in the routes file after that.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl Origin {
    pub(crate) fn from_location(l: &Location) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Origin {
            line: clamp(l.line),
            column: clamp(l.column),
        }
    }
}

/// A vnet's routes of both families, each with where it came from.
#[derive(Default)]
pub(crate) struct RouteTables {
    pub(crate) routes4: Vec<Route4>,
    pub(crate) origins4: Vec<Origin>,
    pub(crate) routes6: Vec<Route6>,
    pub(crate) origins6: Vec<Origin>,
    /// How many routes of each family came from the config file (they come first).
    pub(crate) config_count4: usize,
    pub(crate) config_count6: usize,
}

impl RouteTables {
    /// Adds a route written in the config file (call before loading the routes file).
    pub(crate) fn push_config(&mut self, prefix: Prefix, via: IpAddr, at: &Location) {
        let origin = Origin::from_location(at);
        match (prefix, via) {
            (Prefix::V4(prefix, len), IpAddr::V4(via)) => {
                self.routes4.push(Route4 { prefix, len, via });
                self.origins4.push(origin);
                self.config_count4 = self.routes4.len();
            }
            (Prefix::V6(prefix, len), IpAddr::V6(via)) => {
                self.routes6.push(Route6 { prefix, len, via });
                self.origins6.push(origin);
                self.config_count6 = self.routes6.len();
            }
            _ => {} // family mismatch: reported by the caller
        }
    }
}

/// Checks a route's gateway: same family as the prefix, on a connected subnet.
pub(crate) fn check_gateway(
    prefix: Prefix,
    via: IpAddr,
    connected: &Connected,
) -> Result<(), String> {
    match (prefix, via) {
        (Prefix::V4(..), IpAddr::V4(v)) => connected.check4(v, "gateway"),
        (Prefix::V6(..), IpAddr::V6(v)) => connected.check6(v, "gateway"),
        _ => Err(format!(
            "gateway {via} is {} but prefix {prefix} is {}: expected an {} gateway",
            super::addr::family(via),
            prefix.family(),
            prefix.family()
        )),
    }
}

/// Collects a file's errors, keeping the first `MAX_ERRORS_PER_FILE` in detail.
pub(crate) struct FileErrors<'a> {
    pub(crate) errors: &'a mut Vec<LocatedError>,
    pub(crate) reported: usize,
    pub(crate) suppressed: usize,
}

impl<'a> FileErrors<'a> {
    pub(crate) fn new(errors: &'a mut Vec<LocatedError>) -> Self {
        FileErrors {
            errors,
            reported: 0,
            suppressed: 0,
        }
    }

    fn push(&mut self, make: impl FnOnce() -> LocatedError) {
        if self.reported < MAX_ERRORS_PER_FILE {
            self.errors.push(make());
            self.reported += 1;
        } else {
            self.suppressed += 1;
        }
    }
}

/// Parses a routes file's bytes into `tables`. `ctx` (`vnet "red"`) starts messages.
pub(crate) fn parse_routes(
    text: &[u8],
    file: &Path,
    ctx: &str,
    connected: &Connected,
    tables: &mut RouteTables,
    errors: &mut FileErrors,
) {
    let mut line_no: u32 = 0;
    for line in text.split(|&b| b == b'\n') {
        line_no = line_no.saturating_add(1);
        let content = match line.iter().position(|&b| b == b'#') {
            Some(i) => &line[..i],
            None => line,
        };
        let mut tokens = Tokens {
            line: content,
            pos: 0,
        };
        let Some((pcol, ptok)) = tokens.next() else {
            continue;
        };
        let at = |col: usize| Location {
            file: file.to_path_buf(),
            line: line_no as usize,
            column: col,
        };
        // Only whitespace and a valid (ASCII) prefix come before the tokens that are
        // parsed, so byte offsets are character columns; count properly for errors.
        let col_of = |offset: usize| char_column(&line[..offset]);

        let prefix = match std::str::from_utf8(ptok).map(parse_route_prefix) {
            Ok(Ok(p)) => p,
            Ok(Err(m)) => {
                errors.push(|| LocatedError::new(Some(at(col_of(pcol))), format!("{ctx}: {m}")));
                continue;
            }
            Err(_) => {
                errors.push(|| {
                    let found = String::from_utf8_lossy(ptok);
                    let m =
                        format!("{ctx}: expected a prefix like \"10.0.0.0/8\", found \"{found}\"");
                    LocatedError::new(Some(at(col_of(pcol))), m)
                });
                continue;
            }
        };
        let Some((gcol, gtok)) = tokens.next() else {
            errors.push(|| {
                let m = format!("{ctx}: expected a gateway address after {prefix} (one \"PREFIX GATEWAY\" per line)");
                LocatedError::new(Some(at(col_of(pcol + ptok.len()))), m)
            });
            continue;
        };
        let via = match std::str::from_utf8(gtok)
            .ok()
            .and_then(|s| s.parse::<IpAddr>().ok())
        {
            Some(v) => v,
            None => {
                errors.push(|| {
                    let found = String::from_utf8_lossy(gtok);
                    let m = format!(
                        "{ctx}: expected a gateway IPv4 or IPv6 address, found \"{found}\""
                    );
                    LocatedError::new(Some(at(col_of(gcol))), m)
                });
                continue;
            }
        };
        if let Some((xcol, xtok)) = tokens.next() {
            errors.push(|| {
                let found = String::from_utf8_lossy(xtok);
                let m = format!("{ctx}: unexpected \"{found}\" after the gateway: expected the end of the line or a # comment");
                LocatedError::new(Some(at(col_of(xcol))), m)
            });
            continue;
        }
        if let Err(m) = check_gateway(prefix, via, connected) {
            errors.push(|| LocatedError::new(Some(at(col_of(gcol))), format!("{ctx}: {m}")));
            continue;
        }
        let origin = Origin {
            line: line_no,
            column: u32::try_from(pcol + 1).unwrap_or(u32::MAX),
        };
        match (prefix, via) {
            (Prefix::V4(prefix, len), IpAddr::V4(via)) => {
                tables.routes4.push(Route4 { prefix, len, via });
                tables.origins4.push(origin);
            }
            (Prefix::V6(prefix, len), IpAddr::V6(via)) => {
                tables.routes6.push(Route6 { prefix, len, via });
                tables.origins6.push(origin);
            }
            _ => unreachable!("check_gateway rejects a family mismatch"),
        }
    }
}

/// Whitespace-separated tokens of a line, with their byte offsets.
struct Tokens<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c');
        let rest = &self.line[self.pos..];
        let start = self.pos + rest.iter().position(|b| !is_space(b))?;
        let len = self.line[start..]
            .iter()
            .position(is_space)
            .unwrap_or(self.line.len() - start);
        self.pos = start + len;
        Some((start, &self.line[start..start + len]))
    }
}

/// Reports every prefix defined twice in the vnet (across `[[vnet.route]]` and the
/// routes file): the later one is the error, pointing at the first.
pub(crate) fn check_duplicates(
    tables: &RouteTables,
    config_file: &Path,
    routes_file: Option<&Path>,
    ctx: &str,
    errors: &mut FileErrors,
) {
    let location = |idx: usize, config_count: usize, origins: &[Origin]| {
        let o = origins[idx];
        let file = if idx < config_count {
            config_file
        } else {
            routes_file.unwrap_or(config_file)
        };
        Location {
            file: file.to_path_buf(),
            line: o.line as usize,
            column: o.column as usize,
        }
    };
    let mut report =
        |dup: usize, first: usize, prefix: String, count: usize, origins: &[Origin]| {
            errors.push(|| {
                let first_at = location(first, count, origins);
                let m = format!("{ctx}: route {prefix} is already defined at {first_at}");
                LocatedError::new(Some(location(dup, count, origins)), m)
            });
        };

    let keys4 = tables
        .routes4
        .iter()
        .map(|r| (u64::from(u32::from(r.prefix)) << 8) | u64::from(r.len));
    for_each_duplicate(keys4, |dup, first| {
        let r = tables.routes4[dup];
        report(
            dup,
            first,
            format!("{}/{}", r.prefix, r.len),
            tables.config_count4,
            &tables.origins4,
        );
    });
    let keys6 = tables.routes6.iter().map(|r| (u128::from(r.prefix), r.len));
    for_each_duplicate(keys6, |dup, first| {
        let r = tables.routes6[dup];
        report(
            dup,
            first,
            format!("{}/{}", r.prefix, r.len),
            tables.config_count6,
            &tables.origins6,
        );
    });
}

/// Calls `f(duplicate, first)` with indices for every key equal to an earlier one.
fn for_each_duplicate<K: Ord + Copy>(
    keys: impl Iterator<Item = K>,
    mut f: impl FnMut(usize, usize),
) {
    // (key, index) pairs sort the earliest definition of a key first.
    let mut sorted: Vec<(K, u32)> = keys.enumerate().map(|(i, k)| (k, i as u32)).collect();
    sorted.sort_unstable();
    let mut first = 0;
    for i in 1..sorted.len() {
        if sorted[i].0 == sorted[first].0 {
            f(sorted[i].1 as usize, sorted[first].1 as usize);
        } else {
            first = i;
        }
    }
}
