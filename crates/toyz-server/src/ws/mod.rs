//! WebSocket sessions and jobs: `GET /ws` upgrades to a session (session.rs) that runs named jobs from
//! a registry (registry.rs); toyz's own jobs are in builtin.rs, catalogs in catalog.rs, DS9 regions in
//! regions.rs.

pub mod builtin;
pub mod protocol;
pub mod registry;
pub mod replies;
pub mod session;

pub use registry::{JobCtx, JobError, JobRegistry, JobResult, OpenImage};

use crate::error::Kind;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// `GET /ws`: upgrade and hand the connection to a session task.
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    registry: web::Data<JobRegistry>,
) -> Result<HttpResponse, actix_web::Error> {
    // The identity is the login's (the gate let only logged-in requests here with --auth), and the
    // page must be this server's own (or a configured origin): another site's page in the same
    // browser must not open a session with the user's cookie.
    let principal = crate::request::principal_of(&req)?;
    let token = crate::request::token_of(&req);
    check_origin(&req, &state)?;
    // A plain GET (no Upgrade) gets a JSON error like every other route, not actix's text.
    let (resp, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        crate::error::ApiError::of(
            Kind::BadRequest,
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
        principal,
        token,
    ));
    Ok(resp)
}

/// A browser sends `Origin` with every WebSocket upgrade: it must name this server (as the `Host`
/// the browser used) or one of the configured `origins`. Clients that are not browsers send none.
fn check_origin(req: &HttpRequest, state: &AppState) -> Result<(), crate::error::ApiError> {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|h| !host.is_empty() && h.eq_ignore_ascii_case(host));
    let listed = state
        .access
        .settings
        .origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if own || listed {
        Ok(())
    } else {
        Err(crate::error::ApiError::forbidden(format!(
            "WebSocket from another site ({origin}) refused: add it to `origins` in the config to allow it"
        )))
    }
}
