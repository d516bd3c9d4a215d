//! /v1/vnets/{name}/routes: the vnet's FIB (connected, local and static
//! routes), route add/delete, and a lookup (`route get`).
use super::reply::Reply;
use super::router::{Context, Request};
use crate::state::{document::table_from_json, ChangeError};
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
pub fn add(ctx: &Context, name: &str, req: &Request<'_>) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let items = match &body {
        Value::Array(a) => a.iter().map(table_from_json).collect::<Result<Vec<_>, _>>(),
        one => table_from_json(one).map(|t| vec![t]),
    };
    let items = match items {
        Ok(i) => i,
        Err(e) => return Reply::error(400, e),
    };
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        doc.push_to_vnet(name, "route", items)
            .map_err(ChangeError::NotFound)
    }))
}

pub fn delete(ctx: &Context, name: &str, prefix: &str) -> Reply {
    let mut running = ctx.running();
    let from_file = running
        .config()
        .vnet(name)
        .map(|v| {
            let in_list4 = v
                .routes4
                .iter()
                .any(|r| format!("{}/{}", r.prefix, r.len) == prefix);
            let in_list6 = v
                .routes6
                .iter()
                .any(|r| format!("{}/{}", r.prefix, r.len) == prefix);
            in_list4 || in_list6
        })
        .unwrap_or(false);
    Reply::from_change(running.edit(&ctx.dp, |doc| {
        match doc.remove_from_vnet(name, "route", "prefix", prefix) {
            Ok(0) if from_file => Err(ChangeError::Conflict(format!(
                "route {prefix} comes from vnet {name:?}'s routes_file: edit that file and reload"
            ))),
            Ok(0) => Err(ChangeError::NotFound(format!(
                "vnet {name:?} has no static route {prefix}"
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(ChangeError::NotFound(e)),
        }
    }))
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
