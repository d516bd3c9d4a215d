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
        let auth = self.auth_header();
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
        let (status, chunked) = parse_head(head)?;
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

impl Client {
    /// GETs `path` and copies the reply's body into `out` as it arrives (a
    /// capture). A refusal comes back as the API's error message.
    pub fn stream(&self, path: &str, out: &mut dyn Write) -> Result<u64, String> {
        let mut s = self.connect()?;
        s.set_no_timeout();
        let auth = self.auth_header();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: vnetd\r\nConnection: close\r\n{auth}\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut r = std::io::BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = std::io::BufRead::read_line(&mut r, &mut line)
                .map_err(|e| format!("reading the reply: {e}"))?;
            if n == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let (status, chunked) = parse_head(&head)?;
        if status >= 400 {
            let mut body = Vec::new();
            let _ = r.read_to_end(&mut body);
            let text = String::from_utf8_lossy(&body);
            let text = if chunked {
                dechunk(&text)
            } else {
                text.into_owned()
            };
            let msg = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(format!("refused ({status}): {msg}"));
        }
        let mut total = 0u64;
        let mut buf = vec![0u8; 64 << 10];
        if !chunked {
            loop {
                let n = r.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(total);
                }
                out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
                out.flush().ok();
                total += n as u64;
            }
        }
        loop {
            let mut size = String::new();
            std::io::BufRead::read_line(&mut r, &mut size).map_err(|e| e.to_string())?;
            let n = usize::from_str_radix(size.trim(), 16)
                .map_err(|_| format!("malformed chunk size {size:?}"))?;
            if n == 0 {
                return Ok(total);
            }
            let mut left = n;
            while left > 0 {
                let k = left.min(buf.len());
                r.read_exact(&mut buf[..k])
                    .map_err(|e| format!("reading the capture: {e}"))?;
                out.write_all(&buf[..k]).map_err(|e| e.to_string())?;
                left -= k;
            }
            out.flush().ok();
            total += n as u64;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).map_err(|e| e.to_string())?;
        }
    }
}

impl Client {
    /// The bearer token's header line on TCP; nothing on the admin socket.
    fn auth_header(&self) -> String {
        match self {
            Client::Tcp { token, .. } => format!("Authorization: Bearer {token}\r\n"),
            Client::Socket(_) => String::new(),
        }
    }
}

/// A reply's status code, and whether its body is chunked.
fn parse_head(head: &str) -> Result<(u16, bool), String> {
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no HTTP status in vnetd's reply")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Ok((status, chunked))
}

trait ReadWrite: Read + Write {
    /// A capture may be quiet for long.
    fn set_no_timeout(&self) {}
}
impl ReadWrite for UnixStream {
    fn set_no_timeout(&self) {
        self.set_read_timeout(None).ok();
    }
}
impl ReadWrite for TcpStream {
    fn set_no_timeout(&self) {
        self.set_read_timeout(None).ok();
    }
}

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
    fn reply_heads_give_status_and_framing() {
        assert_eq!(
            parse_head("HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked"),
            Ok((409, true))
        );
        assert_eq!(
            parse_head("HTTP/1.1 200 OK\r\nContent-Length: 3"),
            Ok((200, false))
        );
        assert!(parse_head("garbage").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
        assert_eq!(dechunk("0\r\n\r\n"), "");
    }
}
