//! The service layer: each operation once, taking the principal (or a source it opened for one) and
//! typed parameters, returning a typed reply or an [`ApiError`](crate::error::ApiError). The HTTP
//! handlers (api.rs, cutout.rs) and the WebSocket jobs (ws/builtin.rs) are adapters over it; neither
//! imports the other.

pub mod image;
pub mod source;
