//! Saved and shared workspaces (`/api/workspaces`): a viewer state saved by name by its owner, shared
//! with users, groups or everyone to `view` (open it) or `modify` (save over it too). A workspace never
//! grants its images: opening one opens each image through the same check as any other request.
//! What a user may not open answers 404, as a missing workspace.

use crate::accounts::{AccountStore, Share, UserInfo, Who, Workspace};
use crate::auth::{store_call as db, Principal};
use crate::error::{ApiError, Kind};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;

/// What `u` may do with `w`: 3 owner (or admin: also share and delete), 2 modify, 1 view, 0 nothing.
fn access(w: &Workspace, u: &UserInfo) -> u8 {
    if w.owner == u.name || u.admin {
        return 3;
    }
    w.shares
        .iter()
        .filter(|s| match s.who.parse::<Who>() {
            Ok(Who::User(n)) => n == u.name,
            Ok(Who::Group(g)) => u.groups.contains(&g),
            Ok(Who::Everyone) => true,
            Err(_) => false,
        })
        .map(|s| if s.level == "modify" { 2 } else { 1 })
        .max()
        .unwrap_or(0)
}

fn access_name(a: u8) -> &'static str {
    match a {
        3 => "owner",
        2 => "modify",
        _ => "view",
    }
}

fn user_and_store(
    state: &AppState,
    who: &Principal,
) -> Result<(Arc<UserInfo>, Arc<dyn AccountStore>), ApiError> {
    match (who, state.access.store()) {
        (Principal::User(u), Some(s)) => Ok((u.clone(), s.clone())),
        _ => Err(ApiError::bad_request(
            "workspaces belong to accounts: start the server with --auth",
        )),
    }
}

/// The workspace `id` if `u` may at least `need` it (see [`access`]); 404 otherwise.
async fn find(
    store: &Arc<dyn AccountStore>,
    u: &UserInfo,
    id: i64,
    need: u8,
) -> Result<(Workspace, u8), ApiError> {
    let s = store.clone();
    let w = db(move || s.workspace(id)).await?;
    let missing = || ApiError::not_found(format!("no workspace {id}"));
    let w = w.ok_or_else(missing)?;
    let a = access(&w, u);
    if a == 0 {
        return Err(missing());
    }
    if a < need {
        return Err(ApiError::forbidden(match need {
            3 => "only its owner may share or delete this workspace",
            _ => "this workspace is shared with you to view, not to modify",
        }));
    }
    Ok((w, a))
}

fn check_size(state: &AppState, v: &serde_json::Value) -> Result<(), ApiError> {
    let max = state.config.limits.session_state;
    if v.to_string().len() > max {
        return Err(ApiError::of(
            Kind::TooLarge,
            format!("a workspace state holds at most {max} bytes"),
        ));
    }
    Ok(())
}

fn describe(w: &Workspace, a: u8, with_state: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": w.id, "name": w.name, "owner": w.owner, "updated": w.updated,
        "access": access_name(a), "shares": w.shares,
    });
    if with_state {
        v["state"] = w.state.clone();
    }
    v
}

#[derive(Deserialize)]
pub struct NewWorkspace {
    name: String,
    state: serde_json::Value,
    #[serde(default)]
    shares: Vec<Share>,
}

/// `POST /api/workspaces {"name", "state", "shares"}` → 201 and the workspace.
pub async fn create(
    state: web::Data<AppState>,
    who: Principal,
    b: web::Json<NewWorkspace>,
) -> Result<HttpResponse, ApiError> {
    let (u, store) = user_and_store(&state, &who)?;
    let b = b.into_inner();
    check_size(&state, &b.state)?;
    let (s, uid) = (store.clone(), u.id);
    let id = db(move || {
        let id = s.create_workspace(uid, &b.name, &b.state)?;
        if let Err(e) = s.share_workspace(id, &b.shares) {
            s.delete_workspace(id)?;
            return Err(e);
        }
        Ok(id)
    })
    .await?;
    let (w, a) = find(&store, &u, id, 3).await?;
    Ok(HttpResponse::Created().json(describe(&w, a, false)))
}

/// `GET /api/workspaces` → the workspaces the user may open (theirs and shared with them).
pub async fn list(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    let (u, store) = user_and_store(&state, &who)?;
    let all = db(move || store.workspaces()).await?;
    let mine: Vec<serde_json::Value> = all
        .iter()
        .filter_map(|w| match access(w, &u) {
            0 => None,
            a => Some(describe(w, a, false)),
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"workspaces": mine})))
}

/// `GET /api/workspaces/{id}` → the workspace with its state.
pub async fn get(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (u, store) = user_and_store(&state, &who)?;
    let (w, a) = find(&store, &u, id.into_inner(), 1).await?;
    Ok(HttpResponse::Ok().json(describe(&w, a, true)))
}

#[derive(Deserialize)]
pub struct Update {
    name: Option<String>,
    state: Option<serde_json::Value>,
    shares: Option<Vec<Share>>,
}

/// `PUT /api/workspaces/{id} {"name"?, "state"?, "shares"?}`: name and state need `modify`, shares
/// the owner.
pub async fn update(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
    b: web::Json<Update>,
) -> Result<HttpResponse, ApiError> {
    let (u, store) = user_and_store(&state, &who)?;
    let (id, b) = (id.into_inner(), b.into_inner());
    let need = if b.shares.is_some() { 3 } else { 2 };
    find(&store, &u, id, need).await?;
    if let Some(s) = &b.state {
        check_size(&state, s)?;
    }
    let s = store.clone();
    db(move || {
        if b.name.is_some() || b.state.is_some() {
            s.update_workspace(id, b.name.as_deref(), b.state.as_ref())?;
        }
        match &b.shares {
            Some(sh) => s.share_workspace(id, sh),
            None => Ok(()),
        }
    })
    .await?;
    let (w, a) = find(&store, &u, id, 1).await?;
    Ok(HttpResponse::Ok().json(describe(&w, a, true)))
}

/// `DELETE /api/workspaces/{id}` (its owner, or an admin).
pub async fn delete(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (u, store) = user_and_store(&state, &who)?;
    let id = id.into_inner();
    find(&store, &u, id, 3).await?;
    db(move || store.delete_workspace(id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": id})))
}
