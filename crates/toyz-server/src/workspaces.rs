//! `/api/workspaces`: the HTTP adapter of [`service::workspaces`](crate::service::workspaces).

use crate::auth::Principal;
use crate::error::ApiError;
use crate::service::workspaces::{self as ws, NewWorkspace, Update};
use crate::state::AppState;
use actix_web::{web, HttpResponse};

/// `POST /api/workspaces {"name", "state", "shares"}` → 201 and the workspace.
pub async fn create(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<NewWorkspace>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(ws::create(&state, &who, b.into_inner()).await?))
}

/// `GET /api/workspaces` → `{"workspaces": […]}`, those the user may open.
pub async fn list(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ws::list(&state, &who).await?))
}

/// `GET /api/workspaces/{id}` → the workspace with its state.
pub async fn get(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ws::get(&state, &who, id.into_inner()).await?))
}

/// `PUT /api/workspaces/{id} {"name"?, "state"?, "shares"?}`: name and state need `modify`, shares
/// the owner.
pub async fn update(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
    b: web::Json<Update>,
) -> Result<HttpResponse, ApiError> {
    let w = ws::update(&state, &who, id.into_inner(), b.into_inner()).await?;
    Ok(HttpResponse::Ok().json(w))
}

/// `DELETE /api/workspaces/{id}` (its owner, or an admin) → `{"deleted": id}`.
pub async fn delete(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ws::delete(&state, &who, id.into_inner()).await?))
}
