//! The admin API: HTTP/JSON on a unix socket (mode 0600: whoever can open it
//! is the admin). Issue 6 grows this into the full API; today it serves status.
mod server;
mod status;

pub use server::ApiServer;
pub use status::status_json;
