//! /v1/vnets/{name}/firewall: the vnet's ipfw rules.
//!
//! GET shows the running rule set (`ipfw -a show` with counters, and the
//! dynamic states), POST applies ipfw commands (`add`, `delete`, `set`,
//! `table`, `flush`, ... one per line) as one transaction, DELETE flushes.
//! Edits go through the config document like every other change (validated
//! in full, then published): the rules text in `[vnet.firewall]` becomes the
//! edited chain's text; rules that did not change keep their counters and
//! states (see `dataplane::firewall::build`). `zero` only clears counters of
//! the running rules and changes no config.
use super::reply::Reply;
use super::router::{Context, Request};
use crate::state::ChangeError;
use firewall::ast::{Command, ShowOpts};
use firewall::parse::parse_line;
use firewall::Chain;
use serde_json::{json, Value};

pub fn get(ctx: &Context, name: &str) -> Reply {
    let t = ctx.dp.tables();
    let Some(v) = t.vnets.iter().find(|v| v.fwd.name == name) else {
        return Reply::error(404, format!("no vnet named {name:?}"));
    };
    let Some(fw) = v.fwd.firewall.as_deref() else {
        return Reply::json(
            200,
            json!({ "default": "allow", "rules": "", "show": "65535 allow ip from any to any\n", "rule_counters": [], "states": null }),
        );
    };
    let now_ms = dataplane::firewall::now_ms(dataplane::dpdk::tsc(), dataplane::dpdk::tsc_hz());
    let opts = ShowOpts {
        counters: true,
        timestamps: false,
        sets: true,
        dynamic: true,
    };
    let show = fw.chain.show(None, &[], opts, Some(&fw.states), now_ms);
    let counters: Vec<Value> = fw
        .rules
        .stats()
        .map(|s| json!({ "number": s.number, "packets": s.counters.packets, "bytes": s.counters.bytes }))
        .collect();
    let st = fw.states.stats();
    Reply::json(
        200,
        json!({
            "default": fw.spec.default.as_str(),
            "rules": fw.spec.rules,
            "show": show,
            "rule_counters": counters,
            "states": {
                "live": st.live,
                "capacity": fw.states.capacity(),
                "created": st.created,
                "full_drops": st.full_drops,
                "limit_drops": st.limit_drops,
            },
        }),
    )
}

/// Body: `{"commands": "add 100 deny tcp from any to any 23\ndelete 200"}`.
pub fn post(ctx: &Context, name: &str, req: &Request<'_>) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(commands) = body.get("commands").and_then(Value::as_str) else {
        return Reply::error(
            400,
            "expected {\"commands\": \"ipfw commands, one per line\"}",
        );
    };
    apply(ctx, name, commands)
}

pub fn delete(ctx: &Context, name: &str) -> Reply {
    apply(ctx, name, "flush")
}

/// Whether every command of `text` only reads or zeroes counters.
fn counters_only(text: &str) -> Result<bool, String> {
    let mut only = true;
    for (i, l) in text.lines().enumerate() {
        match parse_line(l, i + 1).map_err(|e| e.to_string())? {
            None | Some(Command::Zero { .. } | Command::ResetLog { .. } | Command::Show { .. }) => {
            }
            Some(_) => only = false,
        }
    }
    Ok(only)
}

fn apply(ctx: &Context, name: &str, commands: &str) -> Reply {
    match counters_only(commands) {
        Err(e) => return Reply::error(400, format!("firewall commands: {e}")),
        Ok(true) => return zero(ctx, name, commands),
        Ok(false) => {}
    }
    let mut running = ctx.running();
    let Some(v) = running.config().vnets.iter().find(|v| v.name == name) else {
        return Reply::error(404, format!("no vnet named {name:?}"));
    };
    let (default, rules) = (v.firewall.default, v.firewall.rules.clone());
    let mut chain = match Chain::from_text(&rules, default, 1) {
        Ok(c) => c,
        Err(e) => return Reply::error(500, format!("the running rules do not parse: {e}")),
    };
    let output = match chain.apply_text(commands) {
        Ok(o) => o,
        Err(e) => return Reply::error(400, format!("firewall commands: {e}")),
    };
    let text = chain.to_text();
    let r = running.edit(&ctx.dp, |doc| {
        doc.set_in_vnet_table(name, "firewall", "rules", toml::Value::String(text))
            .map_err(ChangeError::NotFound)
    });
    match r {
        Ok(applied) => {
            let mut reply = Reply::applied(&applied);
            if !output.is_empty() {
                if let Ok(mut v) = serde_json::from_str::<Value>(&reply.body) {
                    v["output"] = Value::String(output);
                    reply = Reply::json(reply.status, v);
                }
            }
            reply
        }
        Err(e) => Reply::from_change(Err(e)),
    }
}

/// `zero`/`resetlog`/`show` on the running rules: no config change.
fn zero(ctx: &Context, name: &str, commands: &str) -> Reply {
    let t = ctx.dp.tables();
    let Some(v) = t.vnets.iter().find(|v| v.fwd.name == name) else {
        return Reply::error(404, format!("no vnet named {name:?}"));
    };
    let Some(fw) = v.fwd.firewall.as_deref() else {
        return Reply::json(200, json!({ "output": "" }));
    };
    let mut output = String::new();
    for (i, l) in commands.lines().enumerate() {
        match parse_line(l, i + 1) {
            Ok(Some(Command::Zero { set, rules } | Command::ResetLog { set, rules })) => {
                fw.chain.zero(set, &rules)
            }
            Ok(Some(Command::Show { set, rules, opts })) => {
                let now_ms =
                    dataplane::firewall::now_ms(dataplane::dpdk::tsc(), dataplane::dpdk::tsc_hz());
                output.push_str(&fw.chain.show(set, &rules, opts, Some(&fw.states), now_ms));
            }
            _ => {}
        }
    }
    Reply::json(200, json!({ "output": output }))
}
