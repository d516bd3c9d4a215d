//! `[vnet.firewall]` rules checked at load time: every line parses as an ipfw
//! command and every interface a rule names exists in the vnet, each error at
//! its file line and column. The dataplane compiles the same text again when
//! it publishes the vnet; this check is what keeps a bad rule out of a running
//! router (a config with errors is never applied).
use super::location::{LocatedError, Location};
use super::model::{FirewallConfig, InterfaceConfig};
use firewall::{Chain, Env, RuleSet};

pub(crate) fn check(
    fw: &FirewallConfig,
    interfaces: &[InterfaceConfig],
    ctx: &str,
) -> Option<LocatedError> {
    let at = fw.rules_location.as_ref()?;
    let located = |e: &firewall::ParseError| {
        let (line, column) = e.file_position(at.line, at.column);
        let loc = Location {
            file: at.file.clone(),
            line,
            column,
        };
        LocatedError::new(Some(loc), format!("{ctx} firewall: rules: {}", e.message()))
    };
    let chain = match Chain::from_text(&fw.rules, fw.default, 1) {
        Ok(c) => c,
        Err(e) => return Some(located(&e)),
    };
    let env = Env {
        interfaces: interfaces
            .iter()
            .enumerate()
            .map(|(i, ifc)| (ifc.name.clone(), i as u16))
            .collect(),
        addrs: Vec::new(),
    };
    if let Err(e) = RuleSet::compile(&chain, &env) {
        return Some(located(&e));
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;
    use std::path::Path;

    const VNET: &str = "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\n[[vnet]]\nname = \"red\"\n  [[vnet.interface]]\n  name = \"lan\"\n  port = \"p\"\n  addresses = [\"10.0.1.1/24\"]\n  [vnet.firewall]\n  rules = \"\"\"\n";

    fn error(rules: &str) -> String {
        let text = format!("{VNET}{rules}\"\"\"\n");
        match parse_str(&text, Path::new("t.toml")) {
            Ok(_) => panic!("accepted {rules:?}"),
            Err(e) => e
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn rule_errors_point_into_the_file() {
        // The rules start on line 12, column 1.
        // ipfw lets options follow the protocol without from/to: "frm" is
        // taken for a misspelt option.
        let e = error("add 100 allow tcp from any to any 22\nadd 200 allow tcp frm any to any\n");
        assert!(
            e.starts_with(
                "t.toml:13:19: vnet \"red\" firewall: rules: expected an option (in, out,"
            ),
            "{e}"
        );
        assert!(e.ends_with("found \"frm\""), "{e}");
        assert_eq!(
            error("add 100 deny ip from any to any via em0\n"),
            "t.toml:12:37: vnet \"red\" firewall: rules: unknown interface \"em0\" (this vnet has: lan)"
        );
        let ok = format!("{VNET}add 100 deny ip from any to any via lan\n\"\"\"\n");
        assert!(parse_str(&ok, Path::new("t.toml")).is_ok());
    }
}
