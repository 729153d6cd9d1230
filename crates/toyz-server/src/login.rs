//! Logging in and out (`/login`, `POST /api/login`, `POST /api/logout`, `GET /api/me`), and the gate
//! that, with `--auth`, lets only logged-in requests past (`gate`).

use crate::auth::{store_call as db, Principal, COOKIE};
use crate::error::{ApiError, Kind};
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::sync::atomic::Ordering::Relaxed;

#[derive(Deserialize)]
pub struct LoginBody {
    pub user: String,
    pub password: String,
}

/// Paths anyone may reach with `--auth`: the login page and call, health, the viewer's static files
/// (no data in them) and the JSON refusal of unreadable requests.
pub fn is_open_path(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/api/login" | "/healthz" | crate::guard::REFUSED_PATH
    ) || path.starts_with("/web/")
}

/// Pages (rather than API calls) are sent to the login page, keeping where they were going.
fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/view" | "/admin")
}

/// With `--auth`, what a request without a live session gets instead of its route: a redirect to
/// `/login?next=…` for pages (so a permalink survives logging in), 401 JSON for everything else.
/// `None`: let it through. A session not seen lately is looked up in the store on a blocking thread.
pub async fn gate(req: &HttpRequest) -> Option<HttpResponse> {
    let state = req.app_data::<web::Data<AppState>>()?.clone();
    if !state.access.enabled() || is_open_path(req.path()) {
        return None;
    }
    let found = match req.cookie(COOKIE).map(|c| c.value().to_owned()) {
        None => Err(crate::auth::not_logged_in()),
        Some(token) => match state.access.cached_session(&token) {
            Some(p) => Ok(p),
            None => web::block(move || state.access.session(&token))
                .await
                .map_err(|_| ApiError::internal("the account task failed"))
                .and_then(|r| r)
                .and_then(|p| p.ok_or_else(crate::auth::not_logged_in)),
        },
    };
    match found {
        Ok(p) => {
            // Handlers and the WebSocket upgrade take it from here (one session lookup a request).
            actix_web::HttpMessage::extensions_mut(req).insert(p);
            None
        }
        Err(e) if is_page(req.path()) && e.status == StatusCode::UNAUTHORIZED => {
            let target = req
                .uri()
                .path_and_query()
                .map_or("/view", |p| p.as_str())
                .to_owned();
            let next: String = url_encode(&target);
            Some(
                HttpResponse::Found()
                    .insert_header((header::LOCATION, format!("/login?next={next}")))
                    .finish(),
            )
        }
        Err(e) => Some(actix_web::ResponseError::error_response(&e)),
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The client's address for throttling: the peer (a proxy in front is one address for everyone,
/// which only makes the per-address limit stricter).
fn peer(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// True when the browser reached the server over HTTPS through a proxy on this machine
/// (`X-Forwarded-Proto: https` is believed only from a loopback peer).
fn behind_tls(req: &HttpRequest) -> bool {
    req.peer_addr().is_some_and(|a| a.ip().is_loopback())
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn too_many(wait: std::time::Duration) -> HttpResponse {
    let secs = wait.as_secs().max(1);
    let e = ApiError::of(
        Kind::Throttled,
        format!("too many failed logins: try again in {secs} s"),
    );
    let mut r = actix_web::ResponseError::error_response(&e);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_str(&secs.to_string()).expect("digits"),
    );
    r
}

/// `POST /api/login {"user", "password"}` → 200 `{"user", "admin", "groups"}` and the session cookie;
/// 401 for a wrong name or password (the same answer for both); 429 after repeated failures.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let Some(store) = state.access.store().cloned() else {
        return Err(ApiError::bad_request(
            "this server has no accounts (started without --auth)",
        ));
    };
    // No account has a longer name or password (checked before anything is hashed or kept: a
    // 4 MB name no longer becomes a throttle key and a hash input).
    if body.user.len() > 64 || body.password.len() > 1024 {
        return Err(ApiError::bad_request(
            "a user name has at most 64 bytes and a password at most 1024",
        ));
    }
    let (ukey, akey) = (
        format!("user:{}", body.user),
        format!("addr:{}", peer(&req)),
    );
    let throttle = &state.access.throttle;
    if let Err(wait) = throttle.attempt(&[&ukey, &akey]) {
        return Ok(too_many(wait));
    }
    let LoginBody { user, password } = body.into_inner();
    let found = {
        let Ok(_slot) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            state.access.hashing.acquire(),
        )
        .await
        else {
            return Err(ApiError::busy("too many logins at once: try again"));
        };
        db(move || {
            let r = store.verify(&user, &password);
            // Each hash gives its 19 MiB back at once. glibc keeps a freed block in its thread's
            // arena and, in a burst, the next hashes did not reuse it: 40 failed logins, four at a
            // time, still grew the server by 760 MiB until the last one ended.
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim only returns free memory to the system.
            unsafe {
                libc::malloc_trim(0)
            };
            r
        })
        .await?
    };
    let Some(user) = found else {
        // Counted already, when the attempt began.
        state.access.failed_logins.fetch_add(1, Relaxed);
        return Err(ApiError::of(
            Kind::Unauthorized,
            "wrong user name or password",
        ));
    };
    throttle.succeeded(&ukey);
    throttle.succeeded(&akey);
    let store = state.access.store().cloned().expect("accounts");
    let id = user.id;
    let token = db(move || store.create_session(id)).await?;
    state.access.logins.fetch_add(1, Relaxed);
    tracing::info!("login: {}", user.name);
    let cookie = Cookie::build(COOKIE, token)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(behind_tls(&req))
        .finish();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .json(user))
}

/// `POST /api/logout`: the session ends on the server (its cookie no longer opens anything).
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let (Some(store), Some(c)) = (state.access.store().cloned(), req.cookie(COOKIE)) {
        let token = c.value().to_owned();
        state.access.forget_session(&token);
        let _ = web::block(move || store.delete_session(&token)).await;
    }
    let mut gone = Cookie::build(COOKIE, "").path("/").finish();
    gone.make_removal();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(gone)
        .json(serde_json::json!({"user": null}))
}

/// `GET /api/me` → `{"user", "admin", "groups", "auth"}` (without accounts: no user, admin).
pub async fn me(state: web::Data<AppState>, who: Principal) -> HttpResponse {
    let body = match &who {
        Principal::Local => {
            serde_json::json!({"user": null, "admin": true, "groups": [], "auth": false})
        }
        Principal::User(u) => serde_json::json!({
            "user": u.name, "admin": u.admin, "groups": u.groups, "auth": state.access.enabled()
        }),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// `GET /login`: the login page.
pub async fn page() -> Result<HttpResponse, ApiError> {
    crate::viewer::serve("login.html")
}
