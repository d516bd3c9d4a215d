//! Request dispatch: method + path → handler.
use super::auth::{self, Scope};
use super::reply::Reply;
use super::{fib, firewall, neighbors, pipes, status, vnets};
use crate::state::Running;
use dataplane::runtime::Dataplane;
use std::sync::{Arc, Mutex};

pub struct Request<'a> {
    pub method: &'a str,
    /// Path without the query string, e.g. "/v1/vnets/red/routes".
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a str,
}

impl Request<'_> {
    /// `?key=value` (no percent-decoding beyond what vnetctl needs: none).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    pub fn json(&self) -> Result<serde_json::Value, Reply> {
        serde_json::from_str(self.body)
            .map_err(|e| Reply::error(400, format!("request body is not valid JSON: {e}")))
    }
}

pub struct Context {
    pub dp: Arc<Dataplane>,
    pub running: Arc<Mutex<Running>>,
    /// (port name, devargs) for status.
    pub devices: Vec<(String, String)>,
}

impl Context {
    pub fn running(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn handle(ctx: &Context, scope: &Scope, req: &Request<'_>) -> Reply {
    let parts: Vec<&str> = req.path.trim_matches('/').splitn(5, '/').collect();
    if let Err(r) = auth::authorize(scope, req.method, &parts) {
        return r;
    }
    if let (Scope::Tenant(own), "GET", ["v1", "vnets"]) = (scope, req.method, parts.as_slice()) {
        return vnets::list_only(ctx, own);
    }
    match (req.method, parts.as_slice()) {
        ("GET", ["v1", "status"]) => Reply::json(200, status::status_json(&ctx.dp, &ctx.devices)),
        ("GET", ["v1", "config"]) => Reply::text(200, ctx.running().dump()),
        ("POST", ["v1", "reload"]) => Reply::from_change(ctx.running().reload(&ctx.dp)),
        ("GET", ["v1", "vnets"]) => vnets::list(ctx),
        ("POST", ["v1", "vnets"]) => vnets::create(ctx, req),
        ("GET", ["v1", "vnets", name]) => vnets::get(ctx, name),
        ("DELETE", ["v1", "vnets", name]) => vnets::destroy(ctx, name),
        ("GET", ["v1", "vnets", name, "interfaces"]) => vnets::interfaces(ctx, name),
        ("POST", ["v1", "vnets", name, "interfaces"]) => vnets::add_interface(ctx, name, req),
        ("DELETE", ["v1", "vnets", name, "interfaces", ifname]) => {
            vnets::remove_interface(ctx, name, ifname)
        }
        ("PUT", ["v1", "vnets", name, "interfaces", ifname]) => {
            vnets::set_addresses(ctx, name, ifname, req)
        }
        ("POST", ["v1", "vnets", name, "interfaces", rest]) if rest.ends_with("/move") => {
            vnets::move_interface(ctx, name, rest.trim_end_matches("/move"), req)
        }
        ("GET", ["v1", "vnets", name, "routes"]) => fib::list(ctx, name, req),
        ("POST", ["v1", "vnets", name, "routes"]) => fib::add(ctx, name, req, false),
        ("PUT", ["v1", "vnets", name, "routes"]) => fib::add(ctx, name, req, true),
        ("DELETE", ["v1", "vnets", name, "routes"]) => fib::delete_many(ctx, name, req),
        ("PUT", ["v1", "vnets", name, "routes", prefix]) => fib::set_one(ctx, name, prefix, req),
        ("DELETE", ["v1", "vnets", name, "routes", prefix]) => fib::delete(ctx, name, prefix),
        ("GET", ["v1", "vnets", name, "lookup"]) => fib::lookup(ctx, name, req),
        ("GET", ["v1", "vnets", name, "pipes"]) => pipes::list(ctx, name, "pipe"),
        ("PUT", ["v1", "vnets", name, "pipes", id]) => pipes::set(ctx, name, "pipe", id, req),
        ("DELETE", ["v1", "vnets", name, "pipes", id]) => pipes::delete(ctx, name, "pipe", id),
        ("GET", ["v1", "vnets", name, "queues"]) => pipes::list(ctx, name, "queue"),
        ("PUT", ["v1", "vnets", name, "queues", id]) => pipes::set(ctx, name, "queue", id, req),
        ("DELETE", ["v1", "vnets", name, "queues", id]) => pipes::delete(ctx, name, "queue", id),
        ("GET", ["v1", "vnets", name, "firewall"]) => firewall::get(ctx, name),
        ("POST", ["v1", "vnets", name, "firewall"]) => firewall::post(ctx, name, req),
        ("DELETE", ["v1", "vnets", name, "firewall"]) => firewall::delete(ctx, name),
        ("GET", ["v1", "vnets", name, "neighbors"]) => neighbors::list(ctx, name),
        ("POST", ["v1", "vnets", name, "neighbors"]) => neighbors::add(ctx, name, req),
        ("DELETE", ["v1", "vnets", name, "neighbors", addr]) => neighbors::delete(ctx, name, addr),
        (_, ["v1", ..]) => Reply::error(
            404,
            format!("no such resource or method: {} {}", req.method, req.path),
        ),
        _ => Reply::error(
            404,
            format!("unknown path {}: the API lives under /v1", req.path),
        ),
    }
}
