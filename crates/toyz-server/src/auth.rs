//! Who is asking ([`Principal`], an actix extractor) and what they may read ([`Access`]): the one
//! authorisation check. Every handler and job that touches a path resolves it through
//! [`AppState::resolve_for`](crate::state::AppState::resolve_for), which asks [`Access::may_read`];
//! tile URLs are checked against their source's path the same way (URLs are not capabilities).
//!
//! Without `--auth` the server is one person's: every request is [`Principal::Local`], who may read
//! everything under the roots (the behaviour before accounts existed).

use crate::accounts::{AccountStore, Grant, Level, UserInfo, Who};
use crate::error::{ApiError, Kind};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The cookie that carries a login session.
pub const COOKIE: &str = "toyz_session";

/// Who a request or a job acts for. Always the server's record, never what a client says.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Authentication is off: may read everything under the roots.
    Local,
    /// A logged-in user.
    User(Arc<UserInfo>),
}

impl Principal {
    pub fn user(&self) -> Option<&UserInfo> {
        match self {
            Principal::Local => None,
            Principal::User(u) => Some(u),
        }
    }

    pub fn is_admin(&self) -> bool {
        match self {
            Principal::Local => true,
            Principal::User(u) => u.admin,
        }
    }
}

/// Grants, as loaded from the store: decisions are made in memory.
#[derive(Debug, Default, Clone)]
pub struct Grants {
    list: Vec<Grant>,
}

/// True when `path` is `base` or below it (component-wise).
fn within(path: &str, base: &str) -> bool {
    path == base || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

impl Grants {
    pub fn new(list: Vec<Grant>) -> Grants {
        Grants { list }
    }

    fn applies(g: &Grant, u: &UserInfo) -> bool {
        match &g.who {
            Who::Everyone => true,
            Who::User(n) => *n == u.name,
            Who::Group(n) => u.groups.iter().any(|m| m == n),
        }
    }

    /// May `u` read `path` (a public path: a root, a folder or a file)? Admins read everything. Of
    /// the grants for `u` (their own, their groups', everyone's) on `path` or a folder above it, the
    /// one on the deepest path decides; at the same depth a user's grant beats a group's, which beats
    /// everyone's, and between two groups `read` wins. No grant: no.
    pub fn may_read(&self, u: &UserInfo, path: &str) -> bool {
        if u.admin {
            return true;
        }
        let mut best: Option<(usize, u8, Level)> = None;
        for g in &self.list {
            if !Self::applies(g, u) || !within(path, &g.path) {
                continue;
            }
            let rank = match g.who {
                Who::User(_) => 2,
                Who::Group(_) => 1,
                Who::Everyone => 0,
            };
            let key = (g.path.len(), rank);
            best = match best {
                Some((d, r, l)) if (d, r) > key => Some((d, r, l)),
                Some((d, r, l)) if (d, r) == key => {
                    Some((d, r, if l == Level::Read { l } else { g.level }))
                }
                _ => Some((key.0, key.1, g.level)),
            };
        }
        matches!(best, Some((_, _, Level::Read)))
    }

    /// May `u` see folder `dir` in a listing: they may read it, or something below it.
    pub fn may_see(&self, u: &UserInfo, dir: &str) -> bool {
        self.may_read(u, dir)
            || self.list.iter().any(|g| {
                g.level == Level::Read
                    && Self::applies(g, u)
                    && within(&g.path, dir)
                    && g.path != dir
                    && self.may_read(u, &g.path)
            })
    }
}

/// Login sessions looked up recently (token → user), so a tile does not cost a database query.
const SESSION_CACHE: usize = 4096;
/// How long a looked-up session is trusted before the database is asked again.
const SESSION_RECHECK: Duration = Duration::from_secs(5);
/// How often the grants' generation is compared with the database's (by a thread of the server's
/// own, so that no request or job waits for the database for it).
const GRANTS_RECHECK: Duration = Duration::from_secs(1);

pub use crate::config::AuthSettings;

/// The server's view of accounts: the store, the grants in memory, recent sessions.
///
/// Store calls block (a PostgreSQL store's client must not run on a thread that drives async tasks):
/// [`Access::session`] and [`Access::changed`] are for blocking threads (`web::block`); everything
/// else answers from memory, kept up to date by a thread that compares the store's generation once
/// a second.
pub struct Access {
    shared: Arc<Shared>,
    pub settings: AuthSettings,
    /// Failed logins per user name and per address (see [`Throttle`]).
    pub throttle: Throttle,
    pub logins: std::sync::atomic::AtomicU64,
    pub failed_logins: std::sync::atomic::AtomicU64,
    /// Password checks in flight (each argon2id hash holds 19 MiB): at most [`Access::HASHING`].
    pub hashing: tokio::sync::Semaphore,
}

/// What the reloading thread shares with the server.
struct Shared {
    store: Option<Arc<dyn AccountStore>>,
    grants: RwLock<(u64, Arc<Grants>)>,
    sessions: Mutex<lru::LruCache<String, (Principal, Instant)>>,
    /// One reload at a time (the thread's and one after a change made here), so that an older
    /// reload never replaces a newer one.
    reloading: Mutex<()>,
    /// Moves on whenever the accounts changed (a user deleted, a password changed, admin rights or
    /// groups changed, sessions ended): open WebSocket sessions look their login up again.
    epoch: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Reload the grants if the database changed (blocks on the store).
    fn refresh(&self) {
        let Some(store) = &self.store else {
            return;
        };
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let g = match store.generation() {
            Ok(g) => g,
            Err(e) => {
                tracing::error!("cannot read the account generation: {e}");
                return;
            }
        };
        if g == self.grants.read().expect("grants").0 {
            return;
        }
        match store.grants() {
            Ok(list) => *self.grants.write().expect("grants") = (g, Arc::new(Grants::new(list))),
            Err(e) => tracing::error!("cannot reload grants: {e}"),
        }
        // Users and groups may have changed too: sessions are looked up again, open sockets too.
        self.sessions.lock().expect("sessions").clear();
        self.epoch.send_modify(|e| *e += 1);
    }
}

/// Repeated failed logins for one user name or from one address: after [`Throttle::FREE`] failures
/// each further attempt waits, 1 s doubling up to 15 minutes, answered 429 with `Retry-After`
/// until then. Bounded (the least recently failing keys are forgotten first).
pub struct Throttle {
    map: Mutex<lru::LruCache<String, (u32, Instant)>>,
}

impl Throttle {
    /// Failures allowed before waits begin.
    pub const FREE: u32 = 5;
    const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

    fn new() -> Throttle {
        Throttle {
            map: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(10_000).expect("nonzero"),
            )),
        }
    }

    /// Start a login attempt for every key: Err(wait) when one of them must still wait, otherwise
    /// the attempt is counted now, before its password is checked, so that concurrent attempts
    /// cannot all pass the check before any is counted (40 at once used to get 39 tries). A
    /// successful login clears the count ([`Throttle::succeeded`]); a failed one is already counted.
    pub fn attempt(&self, keys: &[&str]) -> Result<(), Duration> {
        let mut m = self.map.lock().expect("throttle");
        let wait = keys
            .iter()
            .map(|k| match m.peek(*k) {
                Some(&(n, last)) if n >= Self::FREE => {
                    Duration::from_secs(1u64 << (n - Self::FREE).min(20))
                        .min(Self::MAX_WAIT)
                        .saturating_sub(last.elapsed())
                }
                _ => Duration::ZERO,
            })
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        for k in keys {
            let n = m.get(*k).map_or(0, |e| e.0);
            m.put((*k).to_owned(), (n.saturating_add(1), Instant::now()));
        }
        Ok(())
    }

    pub fn succeeded(&self, key: &str) {
        self.map.lock().expect("throttle").pop(key);
    }
}

impl Access {
    /// Password hashes computed at once (a login burst waits for a slot rather than holding 19 MiB
    /// per request: 200 failed logins at once grew the server by 1.5 GB).
    pub const HASHING: usize = 4;

    /// Authentication off: everyone is [`Principal::Local`].
    pub fn off() -> Access {
        Access::with(None, AuthSettings::default(), 0, Grants::default())
    }

    fn with(
        store: Option<Arc<dyn AccountStore>>,
        settings: AuthSettings,
        generation: u64,
        grants: Grants,
    ) -> Access {
        Access {
            shared: Arc::new(Shared {
                store,
                grants: RwLock::new((generation, Arc::new(grants))),
                sessions: Mutex::new(lru::LruCache::new(
                    std::num::NonZeroUsize::new(SESSION_CACHE).expect("nonzero"),
                )),
                reloading: Mutex::new(()),
                epoch: tokio::sync::watch::Sender::new(0),
            }),
            settings,
            throttle: Throttle::new(),
            logins: Default::default(),
            failed_logins: Default::default(),
            hashing: tokio::sync::Semaphore::new(Access::HASHING),
        }
    }

    /// Authentication on, with accounts in `store` (read now: blocks). A thread reloads the grants
    /// when the store's generation moves (changes made by the CLI, another replica), looking once a
    /// second; it ends with the `Access`.
    pub fn on(store: Arc<dyn AccountStore>, settings: AuthSettings) -> Result<Access, String> {
        let generation = store.generation().map_err(|e| e.to_string())?;
        let grants = store.grants().map_err(|e| e.to_string())?;
        let a = Access::with(Some(store), settings, generation, Grants::new(grants));
        let weak = Arc::downgrade(&a.shared);
        std::thread::Builder::new()
            .name("toyz-grants".into())
            .spawn(move || loop {
                std::thread::sleep(GRANTS_RECHECK);
                match weak.upgrade() {
                    Some(shared) => shared.refresh(),
                    None => return,
                }
            })
            .map_err(|e| format!("cannot start the grants thread: {e}"))?;
        Ok(a)
    }

    pub fn enabled(&self) -> bool {
        self.shared.store.is_some()
    }

    pub fn store(&self) -> Option<&Arc<dyn AccountStore>> {
        self.shared.store.as_ref()
    }

    /// The grants now (from memory: reloaded within a second when the database changed).
    pub fn grants(&self) -> Arc<Grants> {
        self.shared.grants.read().expect("grants").1.clone()
    }

    /// Reload the grants and forget the sessions seen if the database changed: after an account
    /// change made here, so that it applies at once. Blocks on the store (call it in `web::block`).
    pub fn changed(&self) {
        self.shared.refresh();
    }

    /// May `p` read the public path `path`?
    pub fn may_read(&self, p: &Principal, path: &str) -> bool {
        match p {
            Principal::Local => true,
            Principal::User(u) => self.grants().may_read(u, path),
        }
    }

    /// May `p` see folder `dir` in a listing (they may read it or something below it)?
    pub fn may_see(&self, p: &Principal, dir: &str) -> bool {
        match p {
            Principal::Local => true,
            Principal::User(u) => self.grants().may_see(u, dir),
        }
    }

    /// The principal of a session token looked up within the last 5 s (from memory).
    pub fn cached_session(&self, token: &str) -> Option<Principal> {
        if !self.enabled() {
            return Some(Principal::Local);
        }
        match self.shared.sessions.lock().expect("sessions").get(token) {
            Some((p, at)) if at.elapsed() < SESSION_RECHECK => Some(p.clone()),
            _ => None,
        }
    }

    /// The principal of a session token, if it is live. Asks the store unless the session was seen
    /// lately: blocks (call it in `web::block`, as the gate does).
    pub fn session(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        let Some(store) = &self.shared.store else {
            return Ok(Some(Principal::Local));
        };
        if let Some(p) = self.cached_session(token) {
            return Ok(Some(p));
        }
        let user = store
            .session_user(token, self.settings.idle, self.settings.absolute)
            .map_err(|e| {
                tracing::error!("{e}");
                ApiError::internal("the account database failed (see the server log)")
            })?;
        let mut cache = self.shared.sessions.lock().expect("sessions");
        match user {
            Some(u) => {
                let p = Principal::User(Arc::new(u));
                cache.put(token.to_owned(), (p.clone(), Instant::now()));
                Ok(Some(p))
            }
            None => {
                cache.pop(token);
                Ok(None)
            }
        }
    }

    /// Forget a session here (logout); the caller deletes it from the store.
    pub fn forget_session(&self, token: &str) {
        self.shared.sessions.lock().expect("sessions").pop(token);
        self.shared.epoch.send_modify(|e| *e += 1);
    }

    /// Changes when the accounts did (see `Shared::epoch`): a long-lived session checks its login
    /// again then.
    pub fn accounts_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.epoch.subscribe()
    }
}

/// The server's accounts as `config` asks: off, or the database opened and checked. With `--auth`
/// and no user in the database this refuses (there is no default account) and says how to add one.
///
/// The store is opened and read on a thread of its own: the server starts inside actix's runtime,
/// whose threads a PostgreSQL client must not block.
pub fn open(config: &crate::config::Config) -> Result<Access, String> {
    if !config.auth {
        return Ok(Access::off());
    }
    std::thread::scope(|s| s.spawn(|| open_store_checked(config)).join())
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn open_store_checked(config: &crate::config::Config) -> Result<Access, String> {
    let store: Arc<dyn AccountStore> = crate::accounts::open_store(&config.database)
        .map_err(|e| e.to_string())?
        .into();
    if store.users().map_err(|e| e.to_string())?.is_empty() {
        let db = crate::accounts::describe_database(&config.database);
        return Err(format!(
            "--auth needs an account and {db} has none: add one with `toyz user add NAME --admin --db {db}`"
        ));
    }
    Access::on(store, config.auth_settings.clone())
}

/// Refuse to serve a non-loopback address to anyone without `--auth`, unless `--public` says so
/// (then a warning line is returned).
pub fn check_bind(config: &crate::config::Config) -> Result<Option<String>, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<std::net::SocketAddr> = config
        .bind
        .to_socket_addrs()
        .map_err(|e| format!("bind {}: {e}", config.bind))?
        .collect();
    if config.auth || addrs.iter().all(|a| a.ip().is_loopback()) {
        return Ok(None);
    }
    if config.public {
        return Ok(Some(format!(
            "warning: serving every file under the roots to anyone who reaches {} (--public, no --auth)",
            config.bind
        )));
    }
    Err(format!(
        "{} is reachable from other machines: add --auth (accounts) or --public (everything to anyone, on purpose)",
        config.bind
    ))
}

/// An account-store failure as an HTTP error: what the client got wrong is 4xx, the database's own
/// failure 500 (details in the log only).
pub(crate) fn store_error(e: crate::accounts::StoreError) -> ApiError {
    use crate::accounts::StoreError;
    match e {
        StoreError::Exists(m) => ApiError::of(Kind::Exists, m),
        StoreError::NotFound(m) => ApiError::not_found(m),
        StoreError::Invalid(m) => ApiError::bad_request(m),
        StoreError::Db(m) => {
            tracing::error!("accounts: {m}");
            ApiError::internal("the account database failed (see the server log)")
        }
    }
}

/// Run an account-store call off the async runtime (login, the admin console, workspaces).
pub(crate) async fn store_call<T: Send + 'static>(
    f: impl FnOnce() -> crate::accounts::StoreResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    actix_web::web::block(f)
        .await
        .map_err(|_| ApiError::internal("the account task failed"))?
        .map_err(store_error)
}

pub fn not_logged_in() -> ApiError {
    ApiError::of(Kind::Unauthorized, "log in first (POST /api/login)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            id: 1,
            name: name.into(),
            admin: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn g(who: &str, path: &str, level: &str) -> Grant {
        Grant {
            who: who.parse().unwrap(),
            path: path.into(),
            level: level.parse().unwrap(),
        }
    }

    #[test]
    fn the_most_specific_grant_wins() {
        let grants = Grants::new(vec![
            g("group:class", "sky", "read"),
            g("everyone", "sky/private", "none"),
            g("user:ada", "sky/private/ada", "read"),
            g("group:staff", "sky/private", "read"),
            g("everyone", "public", "read"),
        ]);
        let ada = user("ada", &["class"]);
        let bob = user("bob", &["class", "staff"]);
        let eve = user("eve", &[]);
        assert!(grants.may_read(&ada, "sky/a.fits"));
        assert!(grants.may_read(&ada, "sky"));
        assert!(
            !grants.may_read(&ada, "sky/private/x.fits"),
            "none hides a subfolder"
        );
        assert!(grants.may_read(&ada, "sky/private/ada/x.fits"));
        assert!(
            !grants.may_read(&ada, "sky/private/adam"),
            "components, not prefixes"
        );
        assert!(
            grants.may_read(&bob, "sky/private/x.fits"),
            "a group's read beats everyone's none"
        );
        assert!(!grants.may_read(&eve, "sky/a.fits"));
        assert!(grants.may_read(&eve, "public/x.fits"));
        assert!(!grants.may_read(&eve, "publications"));
        // Folders above a readable one are seen (to reach it), not read.
        assert!(grants.may_see(&ada, "sky/private"));
        assert!(!grants.may_read(&ada, "sky/private"));
        assert!(!grants.may_see(&eve, "sky"));
        let mut admin = user("root", &[]);
        admin.admin = true;
        assert!(grants.may_read(&admin, "anything/at/all"));
        // Between two groups on the same path, read wins; a user's own grant beats both.
        let grants = Grants::new(vec![
            g("group:a", "x", "none"),
            g("group:b", "x", "read"),
            g("user:carl", "x", "none"),
        ]);
        assert!(grants.may_read(&user("dan", &["a", "b"]), "x/y"));
        assert!(!grants.may_read(&user("carl", &["a", "b"]), "x/y"));
    }
}
