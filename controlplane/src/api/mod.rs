//! The admin API: HTTP/JSON on a unix socket (mode 0600: whoever can open it
//! is the admin). Resources are documented in docs/api/openapi.yaml.
mod auth;
mod capture;
mod fib;
mod firewall;
mod neighbors;
#[cfg(test)]
mod openapi_tests;
mod pipes;
mod reply;
mod router;
mod server;
mod status;
mod vnets;

pub use auth::{hex as token_hex, token_hash, Scope};
pub use reply::Reply;
pub use router::{handle, Context, Request};
pub use server::ApiServer;
pub use status::status_json;
