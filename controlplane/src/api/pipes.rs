//! /v1/vnets/{name}/pipes and /queues: dummynet pipes and queues, as the config's
//! `[[vnet.pipe]]` / `[[vnet.queue]]` entries (same keys, same validation).
//! `pipe N config ...` replaces pipe N's whole configuration, as in dummynet.
use super::reply::Reply;
use super::router::{Context, Request};
use crate::state::{document::table_from_json, ChangeError};
use serde_json::Value;

/// "pipe" or "queue".
pub fn list(ctx: &Context, vnet: &str, kind: &str) -> Reply {
    match ctx.running().vnet_items(vnet, kind) {
        Some(items) => Reply::json(
            200,
            Value::Array(
                items
                    .into_iter()
                    .map(|t| serde_json::to_value(t).unwrap_or_default())
                    .collect(),
            ),
        ),
        None => Reply::error(404, format!("no vnet named {vnet:?}")),
    }
}

/// PUT .../{kind}s/{id}: the body is the entry without `id` (or with the same one).
pub fn set(ctx: &Context, vnet: &str, kind: &str, id: &str, req: &Request<'_>) -> Reply {
    let Some(id) = id.parse::<i64>().ok().filter(|n| (1..=65535).contains(n)) else {
        return Reply::error(
            400,
            format!("{kind} number: expected 1..=65535, found {id:?}"),
        );
    };
    let mut body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(obj) = body.as_object_mut() else {
        return Reply::error(
            400,
            format!("expected a JSON object with the {kind}'s settings"),
        );
    };
    match obj.get("id") {
        None => {
            obj.insert("id".into(), Value::from(id));
        }
        Some(v) if v.as_i64() == Some(id) => {}
        Some(v) => {
            return Reply::error(
                400,
                format!("field \"id\": {v} differs from the {kind} number {id} in the path"),
            )
        }
    }
    let table = match table_from_json(&body) {
        Ok(t) => t,
        Err(e) => return Reply::error(400, e),
    };
    Reply::from_change(ctx.running().edit(&ctx.dp, |doc| {
        doc.remove_numbered(vnet, kind, id)
            .map_err(ChangeError::NotFound)?;
        doc.push_to_vnet(vnet, kind, vec![table])
            .map_err(ChangeError::NotFound)
    }))
}

pub fn delete(ctx: &Context, vnet: &str, kind: &str, id: &str) -> Reply {
    let Ok(id) = id.parse::<i64>() else {
        return Reply::error(
            400,
            format!("{kind} number: expected 1..=65535, found {id:?}"),
        );
    };
    Reply::from_change(ctx.running().edit(
        &ctx.dp,
        |doc| match doc.remove_numbered(vnet, kind, id) {
            Ok(0) => Err(ChangeError::NotFound(format!(
                "vnet {vnet:?} has no {kind} {id}"
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(ChangeError::NotFound(e)),
        },
    ))
}
