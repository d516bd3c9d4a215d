//! Who is asking, and what they may do.
//!
//! The unix socket (mode 0600) is the admin: whoever can open it is root's
//! delegate. On the TCP listener every request carries `Authorization: Bearer
//! TOKEN`; the config stores only SHA-256 hashes of tokens (`[api]
//! admin_token_sha256`, `[[vnet]] token_sha256`), so a leaked config leaks no
//! token. A tenant token manages its own vnet, as a jail's root manages its own
//! stack: routes, neighbors, firewall, pipes, captures. It cannot see other
//! vnets (asking for one is refused the same way whether it exists or not, so
//! names do not leak), ports, status, the config, or create, destroy and move
//! interfaces.
use super::reply::Reply;
use crate::config::Config;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Tenant(String),
}

/// The SHA-256 of a token, as the config stores it.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lowercase hex, as `vnetd --hash-token` prints and the config expects.
pub fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality whose time does not depend on where the inputs differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The scope a bearer token grants under `cfg`, or the 401 to send.
pub fn authenticate(cfg: &Config, authorization: Option<&str>) -> Result<Scope, Reply> {
    let Some(header) = authorization else {
        return Err(Reply::error(
            401,
            "authentication required: send \"Authorization: Bearer TOKEN\" (vnetctl --token)",
        ));
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Reply::error(401, "Authorization header must be \"Bearer TOKEN\""))?;
    let h = token_hash(token);
    if cfg.api.admin_token_sha256.is_some_and(|a| same(&a, &h)) {
        return Ok(Scope::Admin);
    }
    // Check every vnet (no early exit) so the time does not tell which one matched.
    let mut found = None;
    for v in &cfg.vnets {
        if v.token_sha256.is_some_and(|t| same(&t, &h)) && found.is_none() {
            found = Some(v.name.clone());
        }
    }
    found
        .map(Scope::Tenant)
        .ok_or_else(|| Reply::error(401, "unknown token"))
}

/// Whether `scope` may do `method` on the path split into `parts` (after "v1").
pub fn authorize(scope: &Scope, method: &str, parts: &[&str]) -> Result<(), Reply> {
    let Scope::Tenant(own) = scope else {
        return Ok(());
    };
    let denied = |what: &str| {
        Err(Reply::error(
            403,
            format!("forbidden: the token of vnet {own:?} {what}"),
        ))
    };
    match parts {
        // The list is filtered to the tenant's own vnet by the caller.
        ["v1", "vnets"] if method == "GET" => Ok(()),
        ["v1", "vnets"] => denied("cannot create vnets"),
        ["v1", "vnets", name, rest @ ..] => {
            if name != own {
                return denied("manages that vnet only");
            }
            match (method, rest) {
                ("GET", _) => Ok(()),
                (_, []) => denied("cannot destroy its vnet"),
                // Its interfaces' addresses are its own; the (port, VLAN)s are not.
                ("PUT", ["interfaces", ifname]) if !ifname.contains('/') => Ok(()),
                (_, ["interfaces", ..]) => {
                    denied("cannot add, remove or move interfaces (ask the admin)")
                }
                _ => Ok(()),
            }
        }
        _ => denied("cannot see global state (status, config, reload, ports)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    const CFG: &str = r#"
[api]
admin_token_sha256 = "ADMIN"
[[port]]
name = "p0"
device = "net_null0"
[[vnet]]
name = "red"
token_sha256 = "RED"
[[vnet.interface]]
name = "lan"
port = "p0"
vlan = 10
addresses = ["10.0.0.1/24"]
[[vnet]]
name = "blue"
[[vnet.interface]]
name = "lan"
port = "p0"
vlan = 20
addresses = ["10.0.0.1/24"]
"#;

    fn cfg() -> Config {
        let text = CFG
            .replace("ADMIN", &hex(&token_hash("admin-secret")))
            .replace("RED", &hex(&token_hash("red-secret")));
        parse_str(&text, std::path::Path::new("test.toml")).expect("valid")
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            hex(&token_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tokens_map_to_scopes() {
        let c = cfg();
        assert_eq!(
            authenticate(&c, Some("Bearer admin-secret")),
            Ok(Scope::Admin)
        );
        assert_eq!(
            authenticate(&c, Some("Bearer red-secret")),
            Ok(Scope::Tenant("red".into()))
        );
        assert_eq!(authenticate(&c, None).unwrap_err().status, 401);
        assert_eq!(
            authenticate(&c, Some("Bearer nope")).unwrap_err().status,
            401
        );
        assert_eq!(authenticate(&c, Some("Basic abc")).unwrap_err().status, 401);
        // The hash itself is not a token.
        let h = hex(&token_hash("red-secret"));
        assert_eq!(
            authenticate(&c, Some(&format!("Bearer {h}")))
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn a_tenant_manages_its_own_vnet_only() {
        let red = Scope::Tenant("red".into());
        let ok = |m, p: &[&str]| authorize(&red, m, p).is_ok();
        assert!(ok("GET", &["v1", "vnets"]));
        assert!(ok("GET", &["v1", "vnets", "red"]));
        assert!(ok("POST", &["v1", "vnets", "red", "routes"]));
        assert!(ok(
            "DELETE",
            &["v1", "vnets", "red", "routes", "10.1.0.0/16"]
        ));
        assert!(ok("POST", &["v1", "vnets", "red", "neighbors"]));
        assert!(ok("GET", &["v1", "vnets", "red", "interfaces"]));
        assert!(ok("PUT", &["v1", "vnets", "red", "interfaces", "lan"]));
        for (m, p) in [
            ("GET", &["v1", "vnets", "blue"][..]),
            ("GET", &["v1", "vnets", "nosuch", "routes"][..]),
            ("POST", &["v1", "vnets", "blue", "routes"][..]),
            ("POST", &["v1", "vnets"][..]),
            ("DELETE", &["v1", "vnets", "red"][..]),
            ("POST", &["v1", "vnets", "red", "interfaces"][..]),
            ("DELETE", &["v1", "vnets", "red", "interfaces", "lan"][..]),
            (
                "POST",
                &["v1", "vnets", "red", "interfaces", "lan/move"][..],
            ),
            ("GET", &["v1", "status"][..]),
            ("GET", &["v1", "config"][..]),
            ("POST", &["v1", "reload"][..]),
        ] {
            let r = authorize(&red, m, p).unwrap_err();
            assert_eq!(r.status, 403, "{m} {p:?}");
        }
        // Another vnet is refused alike whether it exists or not.
        assert_eq!(
            authorize(&red, "GET", &["v1", "vnets", "blue"]),
            authorize(&red, "GET", &["v1", "vnets", "nosuch"])
        );
        assert!(authorize(&Scope::Admin, "POST", &["v1", "reload"]).is_ok());
    }
}
