//! The admin console's API (`/api/admin/…`): the HTTP adapter of
//! [`service::admin`](crate::service::admin). Every change answers `null` (200).

use crate::auth::Principal;
use crate::error::ApiError;
use crate::service::admin::{self, GrantBody, Members, NewGroup, NewUser};
use crate::state::AppState;
use actix_web::{web, HttpResponse};

/// `GET /api/admin/accounts` → `{"users", "groups", "grants"}`.
pub async fn accounts(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(admin::accounts(&state.into_inner(), &who).await?))
}

/// `POST /api/admin/users {"name", "password", "admin"}`.
pub async fn add_user(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    done(admin::add_user(&state.into_inner(), &who, b.into_inner()).await)
}

/// `DELETE /api/admin/users/{name}`.
pub async fn delete_user(
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    done(admin::delete_user(&state.into_inner(), &who, name.into_inner()).await)
}

/// `POST /api/admin/groups {"name", "members"}`.
pub async fn add_group(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<NewGroup>,
) -> Result<HttpResponse, ApiError> {
    done(admin::add_group(&state.into_inner(), &who, b.into_inner()).await)
}

/// `DELETE /api/admin/groups/{name}`.
pub async fn delete_group(
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    done(admin::delete_group(&state.into_inner(), &who, name.into_inner()).await)
}

/// `POST /api/admin/groups/{name}/members {"add": […], "remove": […]}`.
pub async fn members(
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
    b: web::Json<Members>,
) -> Result<HttpResponse, ApiError> {
    let (name, b) = (name.into_inner(), b.into_inner());
    done(admin::members(&state.into_inner(), &who, name, b).await)
}

/// `POST /api/admin/grants {"who", "path", "level"}` sets a grant.
pub async fn grant(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    done(admin::grant(&state.into_inner(), &who, b.into_inner()).await)
}

/// `POST /api/admin/grants/revoke {"who", "path"}` removes one.
pub async fn revoke(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    done(admin::revoke(&state.into_inner(), &who, b.into_inner()).await)
}

/// `GET /api/admin/sessions` → `{"sessions": [{"id", "user", "created", "last_seen"}]}`.
pub async fn sessions(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(admin::sessions(&state.into_inner(), &who).await?))
}

/// `DELETE /api/admin/sessions?id=…` or `?user=…` → `{"ended": n}`.
pub async fn end_sessions(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<admin::EndQuery>,
) -> Result<HttpResponse, ApiError> {
    let ended = admin::end_sessions(&state.into_inner(), &who, q.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ended))
}

/// `GET /api/admin/cache` → what the cache folder holds, its limit and where tiles go.
pub async fn cache(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(admin::cache(&state.into_inner(), &who).await?))
}

/// `POST /api/admin/cache/prune` → what the prune removed.
pub async fn prune(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(admin::prune(&state.into_inner(), &who).await?))
}

/// A change made: 200 with `null`.
fn done(r: Result<(), ApiError>) -> Result<HttpResponse, ApiError> {
    r.map(|()| HttpResponse::Ok().json(()))
}

/// `GET /admin`: the console (admins only; others get the 403 of its API when it loads).
pub async fn page() -> Result<HttpResponse, ApiError> {
    crate::viewer::serve("admin.html")
}
