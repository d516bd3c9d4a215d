//! Route edits from the API, checked against one vnet's current config.
//!
//! A route's validity depends only on its own vnet (prefix syntax, a gateway on a
//! connected subnet, no duplicate prefix), so an API route change need not
//! re-read the whole configuration: a bulk add of 100k routes to one tenant of
//! 1,000 costs what the 100k routes cost. The rules and messages are those of
//! `[[vnet.route]]`; a message names the item (`route #N` of the request) and the
//! field.

use std::collections::HashSet;
use std::net::IpAddr;

use super::addr::{parse_route_prefix, Prefix};
use super::connected::Connected;
use super::model::{Route4, Route6, VnetConfig};
use super::routes_file::check_gateway;

/// One route of a request, as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteText {
    pub prefix: String,
    pub via: String,
}

/// A route that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckedRoute {
    V4(Route4),
    V6(Route6),
}

impl CheckedRoute {
    /// The canonical `NETWORK/LEN` (what `config dump` writes).
    pub fn prefix_text(&self) -> String {
        match self {
            CheckedRoute::V4(r) => format!("{}/{}", r.prefix, r.len),
            CheckedRoute::V6(r) => format!("{}/{}", r.prefix, r.len),
        }
    }

    pub fn via(&self) -> IpAddr {
        match self {
            CheckedRoute::V4(r) => IpAddr::V4(r.via),
            CheckedRoute::V6(r) => IpAddr::V6(r.via),
        }
    }

    pub fn key(&self) -> RouteKey {
        match self {
            CheckedRoute::V4(r) => RouteKey::V4(u32::from(r.prefix), r.len),
            CheckedRoute::V6(r) => RouteKey::V6(u128::from(r.prefix), r.len),
        }
    }
}

/// A prefix, compared by value (`10.0.0.0/8` whatever its spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKey {
    V4(u32, u8),
    V6(u128, u8),
}

/// Parses `NETWORK/LEN` the way `[[vnet.route]] prefix` does.
pub fn parse_route_key(s: &str) -> Result<RouteKey, String> {
    Ok(match parse_route_prefix(s)? {
        Prefix::V4(a, l) => RouteKey::V4(u32::from(a), l),
        Prefix::V6(a, l) => RouteKey::V6(u128::from(a), l),
    })
}

/// Which of `wanted` are static routes of `v` already. A vnet may hold a full
/// table (500k+ routes) while a request names a few prefixes, so this scans the
/// vnet's routes once against the request instead of indexing the whole table.
pub fn existing_keys(v: &VnetConfig, wanted: &[RouteKey]) -> HashSet<RouteKey> {
    let key4 = |r: &Route4| RouteKey::V4(u32::from(r.prefix), r.len);
    let key6 = |r: &Route6| RouteKey::V6(u128::from(r.prefix), r.len);
    if wanted.len() <= 8 {
        // A handful: compare directly, no hashing of the table at all.
        return wanted
            .iter()
            .filter(|w| match w {
                RouteKey::V4(..) => v.routes4.iter().any(|r| key4(r) == **w),
                RouteKey::V6(..) => v.routes6.iter().any(|r| key6(r) == **w),
            })
            .copied()
            .collect();
    }
    let want: HashSet<RouteKey> = wanted.iter().copied().collect();
    let mut found = HashSet::new();
    let has4 = want.iter().any(|k| matches!(k, RouteKey::V4(..)));
    let has6 = want.iter().any(|k| matches!(k, RouteKey::V6(..)));
    if has4 {
        found.extend(v.routes4.iter().map(key4).filter(|k| want.contains(k)));
    }
    if has6 {
        found.extend(v.routes6.iter().map(key6).filter(|k| want.contains(k)));
    }
    found
}

/// Checks `items` for vnet `v`: syntax, gateway on a connected subnet, no prefix
/// twice within the request. Whether a prefix exists already is the caller's
/// question (add refuses it, replace expects it). All errors, or all routes.
pub fn check_routes(v: &VnetConfig, items: &[RouteText]) -> Result<Vec<CheckedRoute>, Vec<String>> {
    let connected = Connected::new(&v.interfaces, true);
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::with_capacity(items.len());
    let ctx = |i: usize| {
        if items.len() == 1 {
            format!("vnet {:?} route", v.name)
        } else {
            format!("vnet {:?} route #{}", v.name, i + 1)
        }
    };
    for (i, item) in items.iter().enumerate() {
        if errors.len() >= 100 {
            errors.push(format!("... and more errors in routes after #{}", i));
            break;
        }
        let prefix = match parse_route_prefix(&item.prefix) {
            Ok(p) => p,
            Err(m) => {
                errors.push(format!("{}: prefix: {m}", ctx(i)));
                continue;
            }
        };
        let via: IpAddr = match item.via.parse() {
            Ok(a) => a,
            Err(_) => {
                errors.push(format!(
                    "{} {prefix}: via: expected a gateway address like \"10.0.1.254\", found {:?}",
                    ctx(i),
                    item.via
                ));
                continue;
            }
        };
        if let Err(m) = check_gateway(prefix, via, &connected) {
            errors.push(format!("{} {prefix}: via: {m}", ctx(i)));
            continue;
        }
        let r = match (prefix, via) {
            (Prefix::V4(prefix, len), IpAddr::V4(via)) => {
                CheckedRoute::V4(Route4 { prefix, len, via })
            }
            (Prefix::V6(prefix, len), IpAddr::V6(via)) => {
                CheckedRoute::V6(Route6 { prefix, len, via })
            }
            _ => unreachable!("check_gateway refuses mixed families"),
        };
        if !seen.insert(r.key()) {
            errors.push(format!(
                "{} {prefix}: prefix: given twice in this request",
                ctx(i)
            ));
            continue;
        }
        out.push(r);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use std::path::Path;

    fn red() -> VnetConfig {
        let c = parse_str(
            r#"
[[port]]
name = "p0"
device = "net_null0"
[[vnet]]
name = "red"
  [[vnet.interface]]
  name = "lan"
  port = "p0"
  addresses = ["10.0.1.1/24", "fd00:1::1/64"]
  [[vnet.route]]
  prefix = "192.168.0.0/16"
  via = "10.0.1.254"
"#,
            Path::new("t.toml"),
        )
        .expect("valid");
        c.vnets[0].clone()
    }

    fn rt(prefix: &str, via: &str) -> RouteText {
        RouteText {
            prefix: prefix.into(),
            via: via.into(),
        }
    }

    #[test]
    fn good_routes_of_both_families_pass() {
        let r = check_routes(
            &red(),
            &[
                rt("10.9.0.0/16", "10.0.1.2"),
                rt("2001:db8::/32", "fd00:1::2"),
            ],
        )
        .expect("valid");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].prefix_text(), "10.9.0.0/16");
        assert_eq!(r[1].prefix_text(), "2001:db8::/32");
        assert_eq!(r[1].via().to_string(), "fd00:1::2");
    }

    #[test]
    fn every_bad_item_is_named_with_its_field() {
        let e = check_routes(
            &red(),
            &[
                rt("10.9.0.0/33", "10.0.1.2"),
                rt("10.8.0.0/16", "nope"),
                rt("10.7.0.0/16", "192.0.2.1"),
                rt("10.6.0.0/16", "fd00:1::2"),
                rt("10.5.0.1/16", "10.0.1.2"),
                rt("10.4.0.0/16", "10.0.1.2"),
                rt("10.4.0.0/16", "10.0.1.3"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.len(), 6, "{e:#?}");
        assert!(
            e[0].starts_with("vnet \"red\" route #1: prefix:"),
            "{}",
            e[0]
        );
        assert!(
            e[1].contains("route #2 10.8.0.0/16: via: expected a gateway"),
            "{}",
            e[1]
        );
        assert!(
            e[2].contains("route #3 10.7.0.0/16: via:") && e[2].contains("connected"),
            "{}",
            e[2]
        );
        assert!(
            e[3].contains("route #4") && e[3].contains("IPv4"),
            "{}",
            e[3]
        );
        assert!(e[4].contains("route #5: prefix:"), "{}", e[4]);
        assert!(
            e[5].contains("route #7 10.4.0.0/16: prefix: given twice"),
            "{}",
            e[5]
        );
    }

    #[test]
    fn keys_compare_by_value() {
        let v = red();
        let asked: Vec<RouteKey> = ["192.168.0.0/16", "10.0.0.0/8", "192.168.0.0/17"]
            .iter()
            .map(|p| parse_route_key(p).unwrap())
            .collect();
        let many: Vec<RouteKey> = asked.iter().copied().cycle().take(20).collect();
        for ask in [&asked[..], &many[..]] {
            let found = existing_keys(&v, ask);
            assert_eq!(found.len(), 1);
            assert!(found.contains(&asked[0]));
        }
        assert!(parse_route_key("192.168.0.1/16").is_err());
    }
}
