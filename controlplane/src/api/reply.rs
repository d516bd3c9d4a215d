//! API answers: a status code and a JSON (or text) body.
use crate::state::{Applied, ChangeError};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: v.to_string(),
        }
    }

    pub fn text(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }

    pub fn error(status: u16, msg: impl Into<String>) -> Reply {
        Reply::json(status, json!({ "error": msg.into() }))
    }

    /// A committed change: what it did to the vnets.
    pub fn applied(a: &Applied) -> Reply {
        let s = &a.summary;
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
        Reply::json(
            200,
            json!({ "ok": true, "added": s.added, "changed": s.changed, "removed": s.removed,
                    "unchanged": s.unchanged, "validate_ms": ms(a.validate), "publish_ms": ms(a.publish) }),
        )
    }

    pub fn from_change(r: Result<Applied, ChangeError>) -> Reply {
        match r {
            Ok(s) => Reply::applied(&s),
            Err(e) => {
                let status = match &e {
                    ChangeError::Invalid(_) => 400,
                    ChangeError::NotFound(_) => 404,
                    ChangeError::Conflict(_) | ChangeError::NeedsRestart(_) => 409,
                    ChangeError::Dataplane(_) => 500,
                };
                Reply::error(status, e.to_string())
            }
        }
    }
}
