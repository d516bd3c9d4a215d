//! One HTTP/1.1 request to vnetd: over the admin unix socket, or over TCP
//! with a bearer token (`[api] listen`).
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub enum Client {
    Socket(String),
    Tcp {
        /// host:port, from `--url http://host:port`.
        addr: String,
        token: String,
    },
}

impl Client {
    /// `--url`: only plain `http://HOST:PORT` (put TLS in front of vnetd if the
    /// network is not trusted).
    pub fn tcp(url: &str, token: String) -> Result<Client, String> {
        let addr = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url {url:?}: expected http://HOST:PORT"))?
            .trim_end_matches('/');
        if addr.is_empty() || addr.contains('/') {
            return Err(format!("--url {url:?}: expected http://HOST:PORT"));
        }
        Ok(Client::Tcp {
            addr: addr.to_string(),
            token,
        })
    }

    fn connect(&self) -> Result<Box<dyn ReadWrite>, String> {
        let timeout = Some(Duration::from_secs(60));
        match self {
            Client::Socket(path) => {
                let s = UnixStream::connect(path).map_err(|e| {
                    format!(
                        "cannot connect to vnetd at {path}: {e} (is vnetd running? see --socket)"
                    )
                })?;
                s.set_read_timeout(timeout).ok();
                Ok(Box::new(s))
            }
            Client::Tcp { addr, .. } => {
                let s = TcpStream::connect(addr)
                    .map_err(|e| format!("cannot connect to vnetd at {addr}: {e} (see --url)"))?;
                s.set_read_timeout(timeout).ok();
                Ok(Box::new(s))
            }
        }
    }

    /// Sends a request; returns (status, body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        let mut s = self.connect()?;
        let body = body.unwrap_or("");
        let auth = match self {
            Client::Tcp { token, .. } => format!("Authorization: Bearer {token}\r\n"),
            Client::Socket(_) => String::new(),
        };
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: vnetd\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .map_err(|e| format!("reading the reply: {e}"))?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or("malformed HTTP reply from vnetd")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or("no HTTP status in vnetd's reply")?;
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        });
        Ok((
            status,
            if chunked {
                dechunk(body)
            } else {
                body.to_string()
            },
        ))
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Decodes a chunked body (tiny_http chunks large replies).
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
        assert_eq!(dechunk("0\r\n\r\n"), "");
    }
}
