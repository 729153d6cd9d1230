//! The admin console's API (`/api/admin/…`, admins only): users, groups and grants, changed through
//! the same store as the CLI and effective at once (the grants and the session cache are reloaded).

use crate::accounts::{check_grant_path, AccountStore, Level, StoreError, Who};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// The store, for an admin; 403 for anyone else, 400 without accounts.
fn store_for(state: &AppState, who: &Principal) -> Result<Arc<dyn AccountStore>, ApiError> {
    let Some(store) = state.access.store().cloned() else {
        return Err(ApiError::bad_request(
            "this server has no accounts (started without --auth)",
        ));
    };
    match who {
        Principal::User(u) if u.admin => Ok(store),
        _ => Err(ApiError::forbidden("only admins manage accounts")),
    }
}

/// Run a store call off the runtime for an admin, then make the change effective at once.
async fn run<T: serde::Serialize + Send + 'static>(
    state: web::Data<AppState>,
    who: Principal,
    f: impl FnOnce(&dyn AccountStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let store = store_for(&state, &who)?;
    let out = crate::auth::store_call(move || {
        let out = f(store.as_ref())?;
        // On the blocking thread too: reloading reads the store.
        state.access.changed();
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /api/admin/accounts` → `{"users", "groups", "grants"}`.
pub async fn accounts(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    run(state, who, |s| {
        Ok(serde_json::json!({"users": s.users()?, "groups": s.groups()?, "grants": s.grants()?}))
    })
    .await
}

#[derive(Deserialize)]
pub struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

/// `POST /api/admin/users {"name", "password", "admin"}`.
pub async fn add_user(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let b = b.into_inner();
    run(state, who, move |s| {
        s.add_user(&b.name, &b.password, b.admin)
    })
    .await
}

/// `DELETE /api/admin/users/{name}`.
pub async fn delete_user(
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    if who.user().is_some_and(|u| u.name == name) {
        return Err(ApiError::bad_request(
            "admins cannot delete themselves here",
        ));
    }
    run(state, who, move |s| s.delete_user(&name)).await
}

#[derive(Deserialize)]
pub struct NewGroup {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

/// `POST /api/admin/groups {"name", "members"}`.
pub async fn add_group(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<NewGroup>,
) -> Result<HttpResponse, ApiError> {
    let b = b.into_inner();
    run(state, who, move |s| s.add_group(&b.name, &b.members)).await
}

/// `DELETE /api/admin/groups/{name}`.
pub async fn delete_group(
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    run(state, who, move |s| s.delete_group(&name)).await
}

#[derive(Deserialize)]
pub struct Members {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// `POST /api/admin/groups/{name}/members {"add": […], "remove": […]}`.
pub async fn members(
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
    b: web::Json<Members>,
) -> Result<HttpResponse, ApiError> {
    let (name, b) = (name.into_inner(), b.into_inner());
    run(state, who, move |s| {
        s.set_members(&name, &b.add, true)?;
        s.set_members(&name, &b.remove, false)
    })
    .await
}

#[derive(Deserialize)]
pub struct GrantBody {
    who: String,
    path: String,
    /// `read` or `none`; absent in a revoke.
    level: Option<String>,
}

/// `POST /api/admin/grants {"who", "path", "level"}` sets a grant.
pub async fn grant(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    let b = b.into_inner();
    run(state, who, move |s| {
        let w: Who = b.who.parse()?;
        let level: Level = b.level.as_deref().unwrap_or("").parse()?;
        s.grant(&w, &check_grant_path(&b.path)?, level)
    })
    .await
}

/// `POST /api/admin/grants/revoke {"who", "path"}` removes one.
pub async fn revoke(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    let b = b.into_inner();
    run(state, who, move |s| {
        let w: Who = b.who.parse()?;
        if s.revoke(&w, &b.path)? {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "no grant of {} on {}",
                b.who, b.path
            )))
        }
    })
    .await
}

/// `GET /admin`: the console (admins only; others get the 403 of its API when it loads).
pub async fn page() -> Result<HttpResponse, ApiError> {
    crate::viewer::serve("admin.html")
}
