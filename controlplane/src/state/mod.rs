//! The running configuration: what vnetd runs now, and the one way to change
//! it. Every change — a reload of the file, an API call — produces a complete
//! candidate config that goes through the same validation as the file, then
//! through `Dataplane::apply` as one transaction. On any error nothing changes.
pub mod document;
mod running;

pub use document::Document;
pub use running::{Applied, ChangeError, Running};
