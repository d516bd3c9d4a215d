//! The API's HTTP listeners (control-plane threads, never workers): the admin
//! unix socket (mode 0600) and, when `[api] listen` is set, TCP with bearer tokens.
use super::auth::{self, Scope};
use super::router::{handle, Context, Request};
use super::Reply;
use crate::state::Running;
use dataplane::runtime::Dataplane;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Request bodies larger than this are refused (a bulk route list of ~500k fits).
const MAX_BODY: u64 = 64 << 20;

/// How a listener decides who is asking.
#[derive(Clone, Copy)]
enum Auth {
    /// The unix socket: its file mode already admitted only the admin.
    SocketIsAdmin,
    /// TCP: a bearer token per request.
    BearerToken,
}

struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub struct ApiServer {
    path: PathBuf,
    listeners: Vec<Listener>,
}

impl ApiServer {
    pub fn start(
        path: &Path,
        tcp: Option<SocketAddr>,
        dp: Arc<Dataplane>,
        running: Arc<Mutex<Running>>,
        devices: Vec<(String, String)>,
    ) -> Result<ApiServer, String> {
        let ctx = Arc::new(Context {
            dp,
            running,
            devices,
        });
        let mut me = ApiServer {
            path: path.to_path_buf(),
            listeners: Vec::new(),
        };
        let unix = bind_unix(path)?;
        me.listeners
            .push(serve("vnetd-api", unix, Auth::SocketIsAdmin, ctx.clone())?);
        if let Some(addr) = tcp {
            let server = tiny_http::Server::http(addr)
                .map_err(|e| format!("api: cannot listen on {addr}: {e}"))?;
            me.listeners
                .push(serve("vnetd-api-tcp", server, Auth::BearerToken, ctx)?);
        }
        Ok(me)
    }
}

fn bind_unix(path: &Path) -> Result<tiny_http::Server, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("api: creating {}: {e}", dir.display()))?;
    }
    // A stale socket from a crashed run would make bind fail.
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "api: {} is in use by another running vnetd",
                path.display()
            ));
        }
        let _ = std::fs::remove_file(path);
    }
    let server = tiny_http::Server::http_unix(path)
        .map_err(|e| format!("api: cannot listen on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("api: chmod 0600 {}: {e}", path.display()))?;
    Ok(server)
}

fn serve(
    name: &str,
    server: tiny_http::Server,
    auth: Auth,
    ctx: Arc<Context>,
) -> Result<Listener, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                if let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(200)) {
                    answer(&ctx, auth, req);
                }
            }
        })
        .map_err(|e| format!("api thread: {e}"))?;
    Ok(Listener {
        stop,
        thread: Some(thread),
    })
}

fn answer(ctx: &Arc<Context>, auth: Auth, mut req: tiny_http::Request) {
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let method = req.method().as_str().to_string();
    let peer = req
        .remote_addr()
        .map_or_else(|| "unix socket".to_string(), |a| a.to_string());
    let scope = match auth {
        Auth::SocketIsAdmin => Ok(Scope::Admin),
        Auth::BearerToken => {
            let header = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            auth::authenticate(ctx.running().config(), header.as_deref())
        }
    };
    // A capture streams from a thread of its own.
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let (Ok(s), "GET", ["v1", "vnets", vnet, "capture"]) =
        (&scope, method.as_str(), parts.as_slice())
    {
        let r = match auth::authorize(s, "GET", &parts) {
            Err(r) => r,
            Ok(()) => match super::capture::serve(ctx, req, vnet, query) {
                Ok(()) => return,
                Err(back) => {
                    let (back, r) = *back;
                    req = back;
                    r
                }
            },
        };
        return finish(req, &peer, &method, path, r);
    }
    let mut body = String::new();
    let read = req.as_reader().take(MAX_BODY + 1).read_to_string(&mut body);
    let reply = match scope {
        Err(r) => r,
        Ok(_) if read.is_err() => Reply::error(400, "request body is not UTF-8 text"),
        Ok(_) if body.len() as u64 > MAX_BODY => {
            Reply::error(413, format!("request body over {MAX_BODY} bytes"))
        }
        Ok(scope) => handle(
            ctx,
            &scope,
            &Request {
                method: &method,
                path,
                query,
                body: &body,
            },
        ),
    };
    finish(req, &peer, &method, path, reply);
}

fn finish(req: tiny_http::Request, peer: &str, method: &str, path: &str, reply: Reply) {
    if reply.status >= 400 {
        // 401/403 are security events: always say who and what.
        eprintln!(
            "vnetd: api: {peer}: {method} {path}: {} {}",
            reply.status, reply.body
        );
    }
    let ct =
        tiny_http::Header::from_bytes("Content-Type", reply.content_type).expect("static header");
    let mut resp = tiny_http::Response::from_string(reply.body)
        .with_status_code(reply.status)
        .with_header(ct);
    if reply.status == 401 {
        resp.add_header(
            tiny_http::Header::from_bytes("WWW-Authenticate", "Bearer realm=\"vnetd\"")
                .expect("static header"),
        );
    }
    let _ = req.respond(resp);
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for l in &self.listeners {
            l.stop.store(true, Ordering::Relaxed);
        }
        for l in &mut self.listeners {
            if let Some(t) = l.thread.take() {
                let _ = t.join();
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
