//! Saved and shared workspaces: a viewer state saved by name by its owner, shared with users, groups
//! or everyone to `view` (open it) or `modify` (save over it too). A workspace never grants its
//! images: opening one opens each image through the same check as any other request. What a user may
//! not open answers 404, as a missing workspace. `/api/workspaces` (workspaces.rs) is the adapter.

use crate::accounts::{AccountStore, Share, UserInfo, Who, Workspace};
use crate::auth::{store_call as db, Principal};
use crate::error::{ApiError, Kind};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
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

/// A workspace as its users see it.
#[derive(Serialize)]
pub struct WorkspaceInfo {
    pub id: i64,
    pub name: String,
    pub owner: String,
    /// Seconds since the Unix epoch.
    pub updated: i64,
    /// What the asking user may do: `owner`, `modify` or `view`.
    pub access: &'static str,
    pub shares: Vec<Share>,
    /// The viewer state (when one workspace is asked for; not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
}

fn describe(w: Workspace, a: u8, with_state: bool) -> WorkspaceInfo {
    WorkspaceInfo {
        id: w.id,
        name: w.name,
        owner: w.owner,
        updated: w.updated,
        access: access_name(a),
        shares: w.shares,
        state: with_state.then_some(w.state),
    }
}

#[derive(Deserialize)]
pub struct NewWorkspace {
    name: String,
    state: serde_json::Value,
    #[serde(default)]
    shares: Vec<Share>,
}

/// Save a new workspace of `who` (shared as `shares` says).
pub async fn create(
    state: &AppState,
    who: &Principal,
    b: NewWorkspace,
) -> Result<WorkspaceInfo, ApiError> {
    let (u, store) = user_and_store(state, who)?;
    check_size(state, &b.state)?;
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
    Ok(describe(w, a, false))
}

/// The workspaces a user may open.
#[derive(Serialize)]
pub struct WorkspaceList {
    pub workspaces: Vec<WorkspaceInfo>,
}

/// The workspaces `who` may open (theirs and shared with them).
pub async fn list(state: &AppState, who: &Principal) -> Result<WorkspaceList, ApiError> {
    let (u, store) = user_and_store(state, who)?;
    let all = db(move || store.workspaces()).await?;
    let workspaces = all
        .into_iter()
        .filter_map(|w| match access(&w, &u) {
            0 => None,
            a => Some(describe(w, a, false)),
        })
        .collect();
    Ok(WorkspaceList { workspaces })
}

/// One workspace with its state.
pub async fn get(state: &AppState, who: &Principal, id: i64) -> Result<WorkspaceInfo, ApiError> {
    let (u, store) = user_and_store(state, who)?;
    let (w, a) = find(&store, &u, id, 1).await?;
    Ok(describe(w, a, true))
}

#[derive(Deserialize)]
pub struct Update {
    name: Option<String>,
    state: Option<serde_json::Value>,
    shares: Option<Vec<Share>>,
}

/// Rename or save over a workspace (`modify`), or share it again (its owner).
pub async fn update(
    state: &AppState,
    who: &Principal,
    id: i64,
    b: Update,
) -> Result<WorkspaceInfo, ApiError> {
    let (u, store) = user_and_store(state, who)?;
    let need = if b.shares.is_some() { 3 } else { 2 };
    find(&store, &u, id, need).await?;
    if let Some(s) = &b.state {
        check_size(state, s)?;
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
    Ok(describe(w, a, true))
}

/// A deleted workspace's id.
#[derive(Serialize)]
pub struct Deleted {
    pub deleted: i64,
}

/// Delete a workspace (its owner, or an admin).
pub async fn delete(state: &AppState, who: &Principal, id: i64) -> Result<Deleted, ApiError> {
    let (u, store) = user_and_store(state, who)?;
    find(&store, &u, id, 3).await?;
    db(move || store.delete_workspace(id)).await?;
    Ok(Deleted { deleted: id })
}
