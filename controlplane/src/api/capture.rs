//! GET /v1/vnets/{name}/capture?count=N&duration=SECONDS&snaplen=B&interface=IF&filter=EXPR
//! streams a pcap of the vnet's frames (chunked), from its own thread so that
//! the API stays responsive while a capture runs.
use super::reply::Reply;
use super::router::Context;
use crate::capture::{CaptureOptions, CaptureStream};
use std::sync::Arc;
use std::time::Duration;

/// Parses the query; an error names the parameter.
pub fn options(query: &str) -> Result<CaptureOptions, String> {
    let mut o = CaptureOptions::default();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = percent_decode(v).ok_or_else(|| format!("{k}: bad percent-encoding"))?;
        let num = |what: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{k}: expected {what}, found {v:?}"))
        };
        match k {
            "count" => o.count = Some(num("a number of frames")?),
            "snaplen" => o.snaplen = Some(num("a number of bytes")? as usize),
            "duration" => {
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("duration: expected seconds > 0, found {v:?}"))?;
                o.duration = Some(Duration::from_secs_f64(s));
            }
            "interface" => o.interface = Some(v),
            "filter" => o.filter = Some(v),
            _ => {
                return Err(format!(
                    "unknown parameter {k:?}: expected count, duration, snaplen, interface, filter"
                ))
            }
        }
    }
    Ok(o)
}

/// `%XX` and `+` (space), as vnetctl and curl --data-urlencode write them.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Starts the capture and answers `req` from a thread of its own; or the error reply.
pub fn serve(
    ctx: &Arc<Context>,
    req: tiny_http::Request,
    vnet: &str,
    query: &str,
) -> Result<(), Box<(tiny_http::Request, Reply)>> {
    let o = match options(query) {
        Ok(o) => o,
        Err(e) => return Err(Box::new((req, Reply::error(400, e)))),
    };
    let stream = match CaptureStream::start(ctx.dp.clone(), vnet, &o) {
        Ok(s) => s,
        Err((status, e)) => return Err(Box::new((req, Reply::error(status, e)))),
    };
    let ct = tiny_http::Header::from_bytes("Content-Type", "application/vnd.tcpdump.pcap")
        .expect("static header");
    let resp = tiny_http::Response::new(tiny_http::StatusCode(200), vec![ct], stream, None, None);
    let spawned = std::thread::Builder::new()
        .name("vnetd-capture".into())
        .spawn(move || {
            // Ends at EOF (count, duration, vnet gone) or when the client leaves.
            let _ = req.respond(resp);
        });
    if let Err(e) = spawned {
        eprintln!("vnetd: capture: cannot start a thread: {e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded_and_checked() {
        let o =
            options("count=10&duration=2.5&interface=lan1&filter=icmp%20or%20tcp+port+80").unwrap();
        assert_eq!(o.count, Some(10));
        assert_eq!(o.duration, Some(Duration::from_millis(2500)));
        assert_eq!(o.interface.as_deref(), Some("lan1"));
        assert_eq!(o.filter.as_deref(), Some("icmp or tcp port 80"));
        assert!(options("count=x")
            .unwrap_err()
            .starts_with("count: expected"));
        assert!(options("duration=-1").unwrap_err().starts_with("duration:"));
        assert!(options("bogus=1")
            .unwrap_err()
            .contains("unknown parameter"));
        assert!(options("filter=%zz").unwrap_err().contains("percent"));
    }
}
