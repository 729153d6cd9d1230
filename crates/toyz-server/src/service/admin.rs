//! Accounts administration (admins only): users, groups and grants, changed through the same store as
//! the CLI and effective at once (the grants and the session cache are reloaded). The admin console's
//! API (`/api/admin/…`, admin.rs) is its adapter.

use crate::accounts::{
    check_grant_path, AccountStore, EndSessions, Grant, GroupRow, Level, LoginSession, StoreError,
    UserRow, Who,
};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
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
async fn run<T: Send + 'static>(
    state: &Arc<AppState>,
    who: &Principal,
    f: impl FnOnce(&dyn AccountStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store_for(state, who)?;
    let state = state.clone();
    crate::auth::store_call(move || {
        let out = f(store.as_ref())?;
        // On the blocking thread too: reloading reads the store.
        state.access.changed();
        Ok(out)
    })
    .await
}

/// Every account, group and grant.
#[derive(Serialize)]
pub struct Accounts {
    pub users: Vec<UserRow>,
    pub groups: Vec<GroupRow>,
    pub grants: Vec<Grant>,
}

pub async fn accounts(state: &Arc<AppState>, who: &Principal) -> Result<Accounts, ApiError> {
    run(state, who, |s| {
        Ok(Accounts {
            users: s.users()?,
            groups: s.groups()?,
            grants: s.grants()?,
        })
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

pub async fn add_user(state: &Arc<AppState>, who: &Principal, b: NewUser) -> Result<(), ApiError> {
    run(state, who, move |s| {
        s.add_user(&b.name, &b.password, b.admin)
    })
    .await
}

/// Delete a user (not oneself: an admin would lock themselves out mid-session).
pub async fn delete_user(
    state: &Arc<AppState>,
    who: &Principal,
    name: String,
) -> Result<(), ApiError> {
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

pub async fn add_group(
    state: &Arc<AppState>,
    who: &Principal,
    b: NewGroup,
) -> Result<(), ApiError> {
    run(state, who, move |s| s.add_group(&b.name, &b.members)).await
}

pub async fn delete_group(
    state: &Arc<AppState>,
    who: &Principal,
    name: String,
) -> Result<(), ApiError> {
    run(state, who, move |s| s.delete_group(&name)).await
}

#[derive(Deserialize)]
pub struct Members {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// Add and remove members of group `name`.
pub async fn members(
    state: &Arc<AppState>,
    who: &Principal,
    name: String,
    b: Members,
) -> Result<(), ApiError> {
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

/// Set a grant.
pub async fn grant(state: &Arc<AppState>, who: &Principal, b: GrantBody) -> Result<(), ApiError> {
    run(state, who, move |s| {
        let w: Who = b.who.parse()?;
        let level: Level = b.level.as_deref().unwrap_or("").parse()?;
        s.grant(&w, &check_grant_path(&b.path)?, level)
    })
    .await
}

/// Remove a grant (404 when there is none).
pub async fn revoke(state: &Arc<AppState>, who: &Principal, b: GrantBody) -> Result<(), ApiError> {
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

/// The live login sessions (seen within the idle limit), the most recently seen first.
#[derive(Serialize)]
pub struct SessionList {
    pub sessions: Vec<LoginSession>,
}

pub async fn sessions(state: &Arc<AppState>, who: &Principal) -> Result<SessionList, ApiError> {
    let idle = state.access.settings.idle;
    let sessions = run(state, who, move |s| s.login_sessions(idle)).await?;
    Ok(SessionList { sessions })
}

/// Which sessions `DELETE /api/admin/sessions` ends: `?id=` one, `?user=` all of a user's.
#[derive(Deserialize)]
pub struct EndQuery {
    id: Option<String>,
    user: Option<String>,
}

/// How many sessions ended.
#[derive(Serialize)]
pub struct Ended {
    pub ended: u64,
}

/// End a login session, or all of a user's: their cookies answer 401 and their open sockets close
/// at once (the change reloads the sessions' look-ups).
pub async fn end_sessions(
    state: &Arc<AppState>,
    who: &Principal,
    q: EndQuery,
) -> Result<Ended, ApiError> {
    let which = match (q.id, q.user) {
        (Some(id), None) => EndSessions::Id(id),
        (None, Some(user)) => EndSessions::User(user),
        _ => {
            return Err(ApiError::bad_request(
                "give the session as id=… or all of a user's as user=…",
            ))
        }
    };
    let ended = run(state, who, move |s| s.end_sessions(&which)).await?;
    Ok(Ended { ended })
}

/// Admins, or anyone on a server without accounts (where everyone may do everything).
fn admin_or_open(who: &Principal) -> Result<(), ApiError> {
    match who {
        Principal::Local => Ok(()),
        Principal::User(u) if u.admin => Ok(()),
        Principal::User(_) => Err(ApiError::forbidden("only admins manage the cache")),
    }
}

/// The tile cache as the console shows it: what is in the local folder (tiles, float levels and
/// unpacked copies; sources stale or not; temp files of writers that are gone), its limit, and where
/// rendered tiles go (the folder, or an object store, whose size its own tools tell).
#[derive(Serialize)]
pub struct CacheInfo {
    pub folder: String,
    pub tiles: String,
    /// `cache_max` in bytes (0: no limit).
    pub max_bytes: u64,
    #[serde(flatten)]
    pub stats: toyz_pyramid::gc::CacheStats,
}

pub async fn cache(state: &Arc<AppState>, who: &Principal) -> Result<CacheInfo, ApiError> {
    admin_or_open(who)?;
    let st = state.clone();
    actix_web::web::block(move || CacheInfo {
        folder: st.layout.root.display().to_string(),
        tiles: st.tiles.store.describe(),
        max_bytes: st.config.cache_max,
        stats: toyz_pyramid::gc::stats(&st.layout),
    })
    .await
    .map_err(|_| ApiError::internal("cache task failed"))
}

/// Prune the cache now, as `toyz cache prune --max cache_max` does: temp files of writers that are
/// gone, sources whose file changed or vanished, then the least recently used down to the limit
/// (sources open in this server last).
pub async fn prune(
    state: &Arc<AppState>,
    who: &Principal,
) -> Result<toyz_pyramid::gc::PruneReport, ApiError> {
    admin_or_open(who)?;
    let st = state.clone();
    actix_web::web::block(move || {
        let in_use = st.sources.in_use();
        toyz_pyramid::gc::prune(&st.layout, st.config.cache_max, &in_use)
    })
    .await
    .map_err(|_| ApiError::internal("prune task failed"))
}
