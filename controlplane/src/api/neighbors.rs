//! /v1/vnets/{name}/neighbors: the ARP/ND table (learned and static), and
//! static entries.
use super::reply::Reply;
use super::router::{Context, Request};
use super::status::mac;
use crate::state::{document::table_from_json, ChangeError};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, Ipv6Addr};

pub fn list(ctx: &Context, name: &str) -> Reply {
    let t = ctx.dp.tables();
    let Some(v) = t.vnets.iter().find(|v| v.fwd.name == name) else {
        return Reply::error(404, format!("no vnet named {name:?}"));
    };
    let n = &v.neighbors;
    let mut out: Vec<(String, Value)> =
        n.v4.iter()
            .map(|(a, e)| (Ipv4Addr::from(*a).to_string(), e))
            .chain(
                n.v6.iter()
                    .map(|(a, e)| (Ipv6Addr::from(*a).to_string(), e)),
            )
            .map(|(a, e)| {
                (
                    a.clone(),
                    json!({ "address": a, "mac": mac(e.mac), "static": e.is_static }),
                )
            })
            .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Reply::json(200, Value::Array(out.into_iter().map(|(_, v)| v).collect()))
}

/// Body: `{"address": "10.0.1.254", "mac": "02:00:00:00:01:fe"}` — a static entry.
pub fn add(ctx: &Context, name: &str, req: &Request<'_>) -> Reply {
    let table = match req.json().map(|b| table_from_json(&b)) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Reply::error(400, e),
        Err(r) => return r,
    };
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        doc.push_to_vnet(name, "neighbor", vec![table])
            .map_err(ChangeError::NotFound)
    }))
}

pub fn delete(ctx: &Context, name: &str, addr: &str) -> Reply {
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        match doc.remove_from_vnet(name, "neighbor", "address", addr) {
            Ok(0) => Err(ChangeError::NotFound(format!(
                "vnet {name:?} has no static neighbor {addr}"
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(ChangeError::NotFound(e)),
        }
    }))
}
