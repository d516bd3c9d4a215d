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

/// Every `pipe N` / `queue N` action names a `[[vnet.pipe]]` / `[[vnet.queue]]` of
/// this vnet (`tablearg` is resolved per packet: an unknown one is dropped and
/// counted `no_such_pipe`). Errors point at the action's number in the file.
pub(crate) fn check_shaper_refs(
    fw: &FirewallConfig,
    pipes: &[u32],
    queues: &[u32],
    ctx: &str,
) -> Vec<LocatedError> {
    use firewall::ast::{Action, Arg};
    let Some(at) = fw.rules_location.as_ref() else {
        return Vec::new();
    };
    // A text that does not parse was reported by `check`.
    let Ok(chain) = Chain::from_text(&fw.rules, fw.default, 1) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for r in chain.rules() {
        let (kind, n, defined) = match r.rule.action {
            Action::Pipe(Arg::Num(n)) => ("pipe", n, pipes),
            Action::Queue(Arg::Num(n)) => ("queue", n, queues),
            _ => continue,
        };
        if defined.contains(&n) {
            continue;
        }
        // The column of the number after the action word on the rule's line.
        let text = fw
            .rules
            .lines()
            .nth(r.rule.line.saturating_sub(1))
            .unwrap_or("");
        let words: Vec<(usize, &str)> = text
            .split_whitespace()
            .map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
            .collect();
        let col = words
            .windows(2)
            .find(|p| p[0].1 == kind && p[1].1 == n.to_string())
            .map_or(0, |p| p[1].0);
        let line = at.line + r.rule.line.saturating_sub(1);
        let column = if r.rule.line <= 1 { at.column } else { 1 } + col;
        let list: Vec<String> = defined.iter().map(u32::to_string).collect();
        let known = if list.is_empty() {
            format!("this vnet defines no {kind}")
        } else {
            format!("this vnet defines {kind} {}", list.join(", "))
        };
        errors.push(LocatedError::new(
            Some(Location {
                file: at.file.clone(),
                line,
                column,
            }),
            format!(
                "{ctx} firewall: rule {} sends to {kind} {n}, which is not defined: expected a [[vnet.{kind}]] with id = {n} ({known})",
                r.rule.number
            ),
        ));
    }
    errors
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

    #[test]
    fn pipe_and_queue_actions_name_defined_ones() {
        let pipes = "  [[vnet.pipe]]\n  id = 1\n  [[vnet.queue]]\n  id = 5\n  pipe = 1\n";
        let ok = format!(
            "{VNET}add 100 pipe 1 ip from any to any out\nadd 200 queue 5 tcp from any to any\nadd 300 pipe tablearg ip from any to any\n\"\"\"\n{pipes}"
        );
        assert!(parse_str(&ok, Path::new("t.toml")).is_ok());
        let bad = format!(
            "{VNET}add 100 pipe 1 ip from any to any out\n  add 200 queue 7 tcp from any to any\n\"\"\"\n{pipes}"
        );
        let e = match parse_str(&bad, Path::new("t.toml")) {
            Ok(_) => panic!("accepted a queue that does not exist"),
            Err(e) => e
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        };
        assert_eq!(
            e,
            "t.toml:13:17: vnet \"red\" firewall: rule 200 sends to queue 7, which is not defined: expected a [[vnet.queue]] with id = 7 (this vnet defines queue 5)"
        );
    }
}
