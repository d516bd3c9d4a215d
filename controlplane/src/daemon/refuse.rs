//! Config that validates but that this build cannot run. Firewall rules are
//! enforced; `pipe`/`queue` actions would hand packets to the shaper, which is
//! not wired to the firewall yet: rather than run such a rule as something
//! else, vnetd refuses the config (at start and on reload, nothing changed).
use crate::config::{Config, FirewallConfig};
use firewall::ast::Action;
use firewall::Chain;

pub fn unenforced_features(cfg: &Config) -> Result<(), String> {
    cfg.vnets
        .iter()
        .try_for_each(|v| vnet_firewall(&v.name, &v.firewall))
}

fn vnet_firewall(name: &str, fw: &FirewallConfig) -> Result<(), String> {
    {
        // The rules were checked at load time; a text that does not parse
        // here cannot happen, and is refused all the same.
        let chain = Chain::from_text(&fw.rules, fw.default, 1)
            .map_err(|e| format!("vnet {name:?} firewall: {e}"))?;
        for r in chain.rules() {
            if let Action::Pipe(_) | Action::Queue(_) = r.rule.action {
                let at = fw
                    .rules_location
                    .as_ref()
                    .map(|l| {
                        format!(
                            "{}:{}: ",
                            l.file.display(),
                            l.line + r.rule.line.saturating_sub(1)
                        )
                    })
                    .unwrap_or_default();
                return Err(format!(
                    "{at}vnet {:?}: firewall rule {} uses {}: not yet: shaper (pipes are not wired to the firewall in this build)",
                    name,
                    r.rule.number,
                    r.rule.action
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_rules_are_refused_plain_rules_are_not() {
        let mut fw = FirewallConfig {
            rules: "add 100 deny tcp from any to any 23".into(),
            ..FirewallConfig::default()
        };
        assert_eq!(vnet_firewall("red", &fw), Ok(()));
        fw.rules =
            "add 100 deny tcp from any to any 23\nadd 200 pipe 1 ip from any to any out".into();
        let e = vnet_firewall("red", &fw).unwrap_err();
        assert!(
            e.contains("vnet \"red\": firewall rule 200 uses pipe 1: not yet: shaper"),
            "{e}"
        );
    }
}
