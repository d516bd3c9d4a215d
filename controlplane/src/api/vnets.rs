//! /v1/vnets: list, create, destroy; a vnet's interfaces.
use super::reply::Reply;
use super::router::{Context, Request};
use super::status::vnet_json;
use crate::state::{document::table_from_json, ChangeError};
use serde_json::Value;

pub fn list(ctx: &Context) -> Reply {
    let t = ctx.dp.tables();
    Reply::json(
        200,
        Value::Array(t.vnets.iter().map(|v| vnet_json(v, &t)).collect()),
    )
}

/// The list as a tenant sees it: its own vnet alone.
pub fn list_only(ctx: &Context, own: &str) -> Reply {
    let t = ctx.dp.tables();
    Reply::json(
        200,
        Value::Array(
            t.vnets
                .iter()
                .filter(|v| v.fwd.name == own)
                .map(|v| vnet_json(v, &t))
                .collect(),
        ),
    )
}

pub fn get(ctx: &Context, name: &str) -> Reply {
    let t = ctx.dp.tables();
    match t.vnets.iter().find(|v| v.fwd.name == name) {
        Some(v) => Reply::json(200, vnet_json(v, &t)),
        None => Reply::error(404, format!("no vnet named {name:?}")),
    }
}

/// Body: a vnet as in the config file, in JSON: `{"name": "green", "interface": [...],
/// "route": [...], "neighbor": [...]}`. It forwards as soon as this returns.
pub fn create(ctx: &Context, req: &Request<'_>) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let table = match table_from_json(&body) {
        Ok(t) => t,
        Err(e) => return Reply::error(400, e),
    };
    let Some(name) = table
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_string)
    else {
        return Reply::error(400, "field \"name\": required, the new vnet's name");
    };
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        if doc.has_vnet(&name) {
            return Err(ChangeError::Conflict(format!(
                "vnet {name:?} exists already"
            )));
        }
        doc.add_vnet(table);
        Ok(())
    }))
}

/// Destroys a vnet: its (port, VLAN)s are free as soon as this returns; frames
/// it held anywhere are freed by the workers, its counters disappear.
pub fn destroy(ctx: &Context, name: &str) -> Reply {
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        if doc.remove_vnet(name) {
            Ok(())
        } else {
            Err(ChangeError::NotFound(format!("no vnet named {name:?}")))
        }
    }))
}

pub fn interfaces(ctx: &Context, name: &str) -> Reply {
    match get(ctx, name) {
        r if r.status != 200 => r,
        r => {
            let v: Value = serde_json::from_str(&r.body).unwrap_or_default();
            Reply::json(200, v["interfaces"].clone())
        }
    }
}

/// Body: `{"name": "lan3", "port": "trunk0", "vlan": 30, "addresses": ["10.0.3.1/24"]}`.
pub fn add_interface(ctx: &Context, vnet: &str, req: &Request<'_>) -> Reply {
    let table = match req.json().map(|b| table_from_json(&b)) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Reply::error(400, e),
        Err(r) => return r,
    };
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        doc.push_to_vnet(vnet, "interface", vec![table])
            .map_err(ChangeError::NotFound)
    }))
}

pub fn remove_interface(ctx: &Context, vnet: &str, ifname: &str) -> Reply {
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        match doc.remove_from_vnet(vnet, "interface", "name", ifname) {
            Ok(0) => Err(ChangeError::NotFound(format!(
                "vnet {vnet:?} has no interface {ifname:?}"
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(ChangeError::NotFound(e)),
        }
    }))
}

/// PUT /interfaces/{if} with `{"addresses": ["10.0.3.1/24", ...]}`: the
/// interface's addresses, all of them (the tenant's own business, as in a jail).
pub fn set_addresses(ctx: &Context, vnet: &str, ifname: &str, req: &Request<'_>) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(obj) = body.as_object() else {
        return Reply::error(400, "expected a JSON object {\"addresses\": [...]}");
    };
    if let Some(k) = obj.keys().find(|k| *k != "addresses") {
        return Reply::error(
            400,
            format!("unknown field {k:?}: only \"addresses\" changes in place (the port and VLAN are the admin's: remove and add the interface)"),
        );
    }
    let Some(list) = obj.get("addresses").and_then(Value::as_array) else {
        return Reply::error(
            400,
            "field \"addresses\": required, a list like [\"10.0.3.1/24\"]",
        );
    };
    let mut addrs = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        match a.as_str() {
            Some(s) => addrs.push(toml::Value::String(s.to_string())),
            None => {
                return Reply::error(
                    400,
                    format!("addresses[{i}]: expected a string like \"10.0.3.1/24\""),
                )
            }
        }
    }
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        let t = doc
            .vnet_item_mut(vnet, "interface", "name", ifname)
            .ok_or_else(|| {
                ChangeError::NotFound(format!("vnet {vnet:?} has no interface {ifname:?}"))
            })?;
        if addrs.is_empty() {
            t.remove("addresses");
        } else {
            t.insert("addresses".into(), toml::Value::Array(addrs));
        }
        Ok(())
    }))
}

/// POST /interfaces/{if}/move with `{"to": "blue"}` (FreeBSD: `ifconfig IF vnet
/// JAIL`): the (port, VLAN) and its addresses change vnet in one transaction;
/// refused if either vnet would be left invalid (a route via that subnet, say).
pub fn move_interface(ctx: &Context, vnet: &str, ifname: &str, req: &Request<'_>) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(to) = body.get("to").and_then(Value::as_str).map(str::to_string) else {
        return Reply::error(
            400,
            "field \"to\": required, the vnet that gets the interface",
        );
    };
    if to == vnet {
        return Reply::error(
            400,
            format!("to: interface {ifname:?} is in vnet {vnet:?} already"),
        );
    }
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        if !doc.has_vnet(&to) {
            return Err(ChangeError::NotFound(format!("to: no vnet named {to:?}")));
        }
        let t = doc
            .take_from_vnet(vnet, "interface", "name", ifname)
            .map_err(ChangeError::NotFound)?
            .ok_or_else(|| {
                ChangeError::NotFound(format!("vnet {vnet:?} has no interface {ifname:?}"))
            })?;
        doc.push_to_vnet(&to, "interface", vec![t])
            .map_err(ChangeError::NotFound)
    }))
}
