//! WebSocket sessions and jobs: `GET /ws` upgrades to a session (session.rs) that runs named jobs from
//! a registry (registry.rs); toyz's own jobs are in builtin.rs, catalogs in catalog.rs, DS9 regions in
//! regions.rs.

pub mod builtin;
pub mod catalog;
pub mod regions;
pub mod registry;
pub mod session;

pub use registry::{JobCtx, JobError, JobRegistry, JobResult};

use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// `GET /ws`: upgrade and hand the connection to a session task.
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    registry: web::Data<JobRegistry>,
) -> Result<HttpResponse, actix_web::Error> {
    // A plain GET (no Upgrade) gets a JSON error like every other route, not actix's text.
    let (resp, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        crate::error::ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "bad_request",
            format!("/ws is a WebSocket endpoint; connect with a WebSocket client ({e})"),
        )
    })?;
    let stream = stream
        .max_frame_size(session::MAX_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(session::MAX_MESSAGE);
    actix_web::rt::spawn(session::run(
        state.into_inner(),
        registry.into_inner(),
        session,
        stream,
    ));
    Ok(resp)
}
