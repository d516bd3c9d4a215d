//! The unix-socket HTTP listener (a control-plane thread).
use dataplane::runtime::Dataplane;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct ApiServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn json_response(status: u16, body: String) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let ct = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
    tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(ct)
}

impl ApiServer {
    pub fn start(
        path: &Path,
        dp: Arc<Dataplane>,
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
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vnetd-api".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(200)) else {
                        continue;
                    };
                    let resp = match (req.method(), req.url()) {
                        (tiny_http::Method::Get, "/v1/status") => {
                            json_response(200, super::status_json(&dp, &devices).to_string())
                        }
                        (_, "/v1/status") => {
                            json_response(405, r#"{"error":"method not allowed: use GET"}"#.into())
                        }
                        (_, url) => json_response(
                            404,
                            serde_json::json!({ "error": format!("no such resource: {url}") })
                                .to_string(),
                        ),
                    };
                    let _ = req.respond(resp);
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
