//! What an HTTP request carries for the layers below it: its principal (the `FromRequest` extractor
//! the handlers take) and its session token. Here rather than in `auth.rs` so that accounts and
//! grants do not depend on the server's state (the one module that knows both is this one).

use crate::auth::{not_logged_in, Principal, COOKIE};
use crate::error::ApiError;
use crate::state::AppState;

/// The principal of a request: with `--auth`, the user of its session cookie, or 401.
impl actix_web::FromRequest for Principal {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Principal, ApiError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(principal_of(req))
    }
}

/// The session token a request carries, if any.
pub fn token_of(req: &actix_web::HttpRequest) -> Option<String> {
    req.cookie(COOKIE).map(|c| c.value().to_owned())
}

/// The principal of a request (see the `FromRequest` impl); also used outside extractors.
pub fn principal_of(req: &actix_web::HttpRequest) -> Result<Principal, ApiError> {
    let Some(state) = req.app_data::<actix_web::web::Data<AppState>>() else {
        return Err(ApiError::internal("no server state"));
    };
    if !state.access.enabled() {
        return Ok(Principal::Local);
    }
    // Found already by the gate in front of every route but the open ones (`login::gate`, which
    // asks the store on a blocking thread); on those, only a session seen lately counts: no store
    // call here, on the async runtime.
    if let Some(p) = actix_web::HttpMessage::extensions(req).get::<Principal>() {
        return Ok(p.clone());
    }
    token_of(req)
        .and_then(|t| state.access.cached_session(&t))
        .ok_or_else(not_logged_in)
}
