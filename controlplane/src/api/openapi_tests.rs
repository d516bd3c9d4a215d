//! docs/api/openapi.yaml must describe exactly the routes the server answers:
//! this reads both sources and compares (method, path) pairs, so a route added
//! without its documentation (or documentation without a route) fails CI.
use std::collections::BTreeSet;

const ROUTER: &str = include_str!("router.rs");
const SERVER: &str = include_str!("server.rs");
const OPENAPI: &str = include_str!("../../../docs/api/openapi.yaml");

/// `"GET", ["v1", "vnets", name, "routes"]` → ("GET", "/v1/vnets/{}/routes").
fn from_source(src: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for line in src.lines() {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let pat = format!("\"{method}\", [\"v1\"");
            let Some(start) = line.find(&pat) else {
                continue;
            };
            let rest = &line[start + method.len() + 4..];
            let Some(end) = rest.find(']') else {
                continue;
            };
            let segs: Vec<String> = rest[1..end]
                .split(", ")
                .map(|s| {
                    if s.starts_with('"') {
                        s.trim_matches('"').to_string()
                    } else {
                        "{}".to_string()
                    }
                })
                .collect();
            let mut path = format!("/{}", segs.join("/"));
            if line.contains("ends_with(\"/move\")") {
                path.push_str("/move");
            }
            out.insert((method.to_string(), path));
        }
    }
    out
}

fn from_openapi(doc: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut path = None;
    for line in doc.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            let norm: Vec<String> = p
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "{}".into()
                    } else {
                        s.to_string()
                    }
                })
                .collect();
            path = Some(format!("/{}", norm.join("/")));
        } else if !line.starts_with("  ") || line.starts_with("  ") && !line.starts_with("    ") {
            path = None;
        }
        if let (Some(p), Some(m)) = (
            &path,
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
        ) {
            if ["get", "post", "put", "delete"].contains(&m) {
                out.insert((m.to_uppercase(), p.clone()));
            }
        }
    }
    out
}

#[test]
fn the_openapi_file_documents_every_route_and_no_other() {
    let served: BTreeSet<_> = from_source(ROUTER)
        .union(&from_source(SERVER))
        .cloned()
        .collect();
    let documented = from_openapi(OPENAPI);
    assert!(
        served.len() >= 20,
        "the router scan found too little: {served:#?}"
    );
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in docs/api/openapi.yaml: {undocumented:#?}\ndocumented but not served: {unserved:#?}"
    );
}
