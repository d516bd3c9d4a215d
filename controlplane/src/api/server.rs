//! The unix-socket HTTP listener (a control-plane thread, never a worker).
use super::router::{handle, Context, Request};
use crate::state::Running;
use dataplane::runtime::Dataplane;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Request bodies larger than this are refused (a bulk route list of ~500k fits).
const MAX_BODY: u64 = 64 << 20;

pub struct ApiServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    pub fn start(
        path: &Path,
        dp: Arc<Dataplane>,
        running: Arc<Mutex<Running>>,
        devices: Vec<(String, String)>,
    ) -> Result<ApiServer, String> {
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
        let ctx = Context {
            dp,
            running,
            devices,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vnetd-api".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(200)) else {
                        continue;
                    };
                    let mut body = String::new();
                    let read = req.as_reader().take(MAX_BODY + 1).read_to_string(&mut body);
                    let reply = if read.is_err() {
                        super::Reply::error(400, "request body is not UTF-8 text")
                    } else if body.len() as u64 > MAX_BODY {
                        super::Reply::error(413, format!("request body over {MAX_BODY} bytes"))
                    } else {
                        let url = req.url().to_string();
                        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
                        let method = req.method().as_str().to_string();
                        let r = handle(
                            &ctx,
                            &Request {
                                method: &method,
                                path,
                                query,
                                body: &body,
                            },
                        );
                        if r.status >= 400 {
                            eprintln!("vnetd: api: {method} {path}: {} {}", r.status, r.body);
                        }
                        r
                    };
                    let ct = tiny_http::Header::from_bytes("Content-Type", reply.content_type)
                        .expect("static header");
                    let _ = req.respond(
                        tiny_http::Response::from_string(reply.body)
                            .with_status_code(reply.status)
                            .with_header(ct),
                    );
                }
            })
            .map_err(|e| format!("api thread: {e}"))?;
        Ok(ApiServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
