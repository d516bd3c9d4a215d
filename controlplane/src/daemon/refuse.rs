//! Config sections that parse but do not act yet. A firewall that silently
//! passes everything would be a security hole, so vnetd refuses to start with
//! rules it cannot enforce rather than ignore them.
use crate::config::Config;
use firewall::DefaultPolicy;

pub fn unenforced_features(cfg: &Config) -> Result<(), String> {
    for v in &cfg.vnets {
        let has_rules = v.firewall.rules.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        });
        if has_rules || v.firewall.default == DefaultPolicy::Deny {
            let at = v
                .firewall
                .rules_location
                .as_ref()
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            return Err(format!(
                "{at}vnet {:?}: firewall rules are parsed but not enforced by this vnetd build yet; \
                 remove them (or keep default = \"allow\" with no rules) rather than run unfiltered",
                v.name
            ));
        }
    }
    Ok(())
}
