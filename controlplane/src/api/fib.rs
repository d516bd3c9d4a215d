//! /v1/vnets/{name}/routes: the vnet's FIB (connected, local and static
//! routes), route add/delete, and a lookup (`route get`).
use super::reply::Reply;
use super::router::{Context, Request};
use crate::config::RouteText;
use dataplane::tables::{NextHop, VnetFwd};
use serde_json::{json, Value};
use std::net::IpAddr;

/// Routes listed when the client gives no `limit` (a full table is 500k+).
const DEFAULT_LIMIT: usize = 100_000;

fn describe(fwd: &VnetFwd, nh: u32) -> Value {
    let iface = |i: u16| {
        fwd.interfaces
            .get(i as usize)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    match fwd.nexthops.get(nh as usize) {
        Some(NextHop::Local) => json!({ "type": "local" }),
        Some(NextHop::Connected { iface: i }) => {
            json!({ "type": "connected", "interface": iface(*i) })
        }
        Some(NextHop::Gateway { iface: i, via }) => {
            json!({ "type": "gateway", "via": via.to_string(), "interface": iface(*i) })
        }
        None => json!({ "type": "unknown" }),
    }
}

fn with_vnet<R>(ctx: &Context, name: &str, f: impl FnOnce(&VnetFwd) -> R) -> Result<R, Reply> {
    let t = ctx.dp.tables();
    t.vnets
        .iter()
        .find(|v| v.fwd.name == name)
        .map(|v| f(&v.fwd))
        .ok_or_else(|| Reply::error(404, format!("no vnet named {name:?}")))
}

pub fn list(ctx: &Context, name: &str, req: &Request<'_>) -> Reply {
    let limit = req
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(DEFAULT_LIMIT);
    let r = with_vnet(ctx, name, |fwd| {
        let mut v4: Vec<_> = fwd.fib4.iter().collect();
        v4.sort_unstable_by_key(|(p, l, _)| (u32::from(*p), *l));
        let mut v6: Vec<_> = fwd.fib6.iter().collect();
        v6.sort_unstable_by_key(|(p, l, _)| (u128::from(*p), *l));
        let total = v4.len() + v6.len();
        let routes: Vec<Value> = v4
            .into_iter()
            .map(|(p, l, nh)| (p.to_string(), l, nh))
            .chain(v6.into_iter().map(|(p, l, nh)| (p.to_string(), l, nh)))
            .take(limit)
            .map(|(p, l, nh)| {
                let mut d = describe(fwd, nh);
                d["prefix"] = json!(format!("{p}/{l}"));
                d
            })
            .collect();
        json!({ "total": total, "truncated": total > routes.len(), "routes": routes })
    });
    match r {
        Ok(v) => Reply::json(200, v),
        Err(e) => e,
    }
}

/// Body: `{"prefix": "192.168.0.0/16", "via": "10.0.2.10"}` or an array of those (bulk).
/// POST (add; an existing prefix is refused) or PUT (add or replace) with a body of
/// one route `{"prefix": "10.1.0.0/16", "via": "10.0.2.10"}` or an array of them;
/// all or nothing.
pub fn add(ctx: &Context, name: &str, req: &Request<'_>, upsert: bool) -> Reply {
    let items = match req.json().and_then(|b| route_items(&b)) {
        Ok(i) => i,
        Err(r) => return r,
    };
    Reply::from_change(ctx.running().add_routes(&ctx.dp, name, &items, upsert))
}

/// PUT /routes/{prefix} with `{"via": ...}`: that one route, added or replaced.
pub fn set_one(ctx: &Context, name: &str, prefix: &str, req: &Request<'_>) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(via) = body.get("via").and_then(Value::as_str) else {
        return Reply::error(400, "field \"via\": required, the gateway address");
    };
    let item = RouteText {
        prefix: prefix.to_string(),
        via: via.to_string(),
    };
    Reply::from_change(ctx.running().add_routes(&ctx.dp, name, &[item], true))
}

fn route_items(body: &Value) -> Result<Vec<RouteText>, Reply> {
    let one = |i: usize, v: &Value| -> Result<RouteText, Reply> {
        let at = if body.is_array() {
            format!("route #{}", i + 1)
        } else {
            "route".to_string()
        };
        let obj = v.as_object().ok_or_else(|| {
            Reply::error(
                400,
                format!("{at}: expected an object {{\"prefix\": ..., \"via\": ...}}"),
            )
        })?;
        if let Some(k) = obj.keys().find(|k| *k != "prefix" && *k != "via") {
            return Err(Reply::error(
                400,
                format!("{at}: unknown field {k:?}: expected \"prefix\" and \"via\""),
            ));
        }
        let field = |f: &str| {
            obj.get(f)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Reply::error(400, format!("{at}: field {f:?}: required, a string")))
        };
        Ok(RouteText {
            prefix: field("prefix")?,
            via: field("via")?,
        })
    };
    match body {
        Value::Array(a) => a.iter().enumerate().map(|(i, v)| one(i, v)).collect(),
        v => one(0, v).map(|r| vec![r]),
    }
}

pub fn delete(ctx: &Context, name: &str, prefix: &str) -> Reply {
    Reply::from_change(
        ctx.running()
            .delete_routes(&ctx.dp, name, &[prefix.to_string()]),
    )
}

/// DELETE /routes with a JSON array of prefixes: all or nothing.
pub fn delete_many(ctx: &Context, name: &str, req: &Request<'_>) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(list) = body.as_array() else {
        return Reply::error(
            400,
            "expected a JSON array of prefixes like [\"10.1.0.0/16\"]",
        );
    };
    let mut prefixes = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        match p.as_str() {
            Some(s) => prefixes.push(s.to_string()),
            None => {
                return Reply::error(400, format!("route #{}: expected a prefix string", i + 1))
            }
        }
    }
    Reply::from_change(ctx.running().delete_routes(&ctx.dp, name, &prefixes))
}

/// `?address=10.1.2.3`: which next hop the dataplane would use.
pub fn lookup(ctx: &Context, name: &str, req: &Request<'_>) -> Reply {
    let Some(addr) = req.param("address").and_then(|a| a.parse::<IpAddr>().ok()) else {
        return Reply::error(
            400,
            "query parameter address: expected an IPv4 or IPv6 address",
        );
    };
    let r = with_vnet(ctx, name, |fwd| {
        let nh = match addr {
            IpAddr::V4(a) => fwd.fib4.lookup(a),
            IpAddr::V6(a) => fwd.fib6.lookup(a),
        };
        match nh {
            Some(nh) => {
                let mut d = describe(fwd, nh);
                d["address"] = json!(addr.to_string());
                Reply::json(200, d)
            }
            None => Reply::error(404, format!("vnet {name:?}: no route to {addr}")),
        }
    });
    r.unwrap_or_else(|e| e)
}
