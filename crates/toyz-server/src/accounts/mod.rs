//! Accounts: users (argon2id password hashes), groups, path grants and login sessions, behind one small
//! interface ([`AccountStore`]) with two implementations: the embedded one ([`SqliteStore`]: one file,
//! WAL, migrations versioned here) and PostgreSQL ([`PgStore`](pg::PgStore), shared
//! by replicas). [`open_store`] picks one from the `--db` value (a file, or a `postgres://` URL).
//!
//! Login session tokens are 32 random bytes given to the browser once; the database keeps only their
//! SHA-256, so a copy of the database opens no session.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod pg;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("account database: {0}")]
    Db(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Db(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A user as the server knows them after login: never anything a client said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    #[serde(skip)]
    pub id: i64,
    #[serde(rename = "user")]
    pub name: String,
    pub admin: bool,
    pub groups: Vec<String>,
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum Who {
    User(String),
    Group(String),
    Everyone,
}

impl From<Who> for String {
    fn from(w: Who) -> String {
        w.to_string()
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::User(n) => write!(f, "user:{n}"),
            Who::Group(n) => write!(f, "group:{n}"),
            Who::Everyone => f.write_str("everyone"),
        }
    }
}

impl std::str::FromStr for Who {
    type Err = StoreError;
    fn from_str(s: &str) -> StoreResult<Who> {
        if s == "everyone" {
            return Ok(Who::Everyone);
        }
        let bad = || StoreError::Invalid(format!("'{s}' is not user:NAME, group:NAME or everyone"));
        let (kind, name) = s.split_once(':').ok_or_else(bad)?;
        check_name(name)?;
        match kind {
            "user" => Ok(Who::User(name.to_owned())),
            "group" => Ok(Who::Group(name.to_owned())),
            _ => Err(bad()),
        }
    }
}

/// What a grant allows on a path and everything below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Read,
    None,
}

impl std::str::FromStr for Level {
    type Err = StoreError;
    fn from_str(s: &str) -> StoreResult<Level> {
        match s {
            "read" => Ok(Level::Read),
            "none" => Ok(Level::None),
            _ => Err(StoreError::Invalid(format!(
                "'{s}' is not a level (read or none)"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub who: Who,
    /// A public path: `ROOT`, `ROOT/sub/dir` or a file.
    pub path: String,
    pub level: Level,
}

/// A user as listed (`toyz user list`).
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub name: String,
    pub admin: bool,
    pub groups: Vec<String>,
}

/// A saved viewer state: its JSON `state` is the viewer's (frames, render specs, overlays, regions).
#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    pub owner: String,
    /// Seconds since the Unix epoch.
    pub updated: i64,
    pub shares: Vec<Share>,
    pub state: serde_json::Value,
}

/// Who else may open (`view`) or also save over (`modify`) a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Share {
    pub who: String,
    pub level: String,
}

/// A group as listed (the admin console).
#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub name: String,
    pub members: Vec<String>,
}

/// A live login session as the admin console lists it. `id` is the first 16 hex digits of the token's
/// hash: enough to name it, nothing to log in with.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoginSession {
    pub id: String,
    pub user: String,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub last_seen: i64,
}

/// Which login sessions to end.
#[derive(Debug, Clone)]
pub enum EndSessions {
    /// One, by its [`LoginSession::id`].
    Id(String),
    /// Every session of a user.
    User(String),
}

impl EndSessions {
    /// The `LIKE` pattern of an id (16 hex digits; anything else names no session).
    fn id_pattern(id: &str) -> StoreResult<String> {
        if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(format!("{}%", id.to_ascii_lowercase()))
        } else {
            Err(StoreError::Invalid(format!("'{id}' is not a session id")))
        }
    }
}

/// Users, groups, grants and login sessions. One implementation per database.
pub trait AccountStore: Send + Sync {
    fn groups(&self) -> StoreResult<Vec<GroupRow>>;
    /// A new workspace owned by `owner`; its id.
    fn create_workspace(
        &self,
        owner: i64,
        name: &str,
        state: &serde_json::Value,
    ) -> StoreResult<i64>;
    fn workspace(&self, id: i64) -> StoreResult<Option<Workspace>>;
    /// Every workspace (without states), for filtering by who may open them.
    fn workspaces(&self) -> StoreResult<Vec<Workspace>>;
    fn update_workspace(
        &self,
        id: i64,
        name: Option<&str>,
        state: Option<&serde_json::Value>,
    ) -> StoreResult<()>;
    /// Replace who a workspace is shared with.
    fn share_workspace(&self, id: i64, shares: &[Share]) -> StoreResult<()>;
    fn delete_workspace(&self, id: i64) -> StoreResult<()>;
    fn add_user(&self, name: &str, password: &str, admin: bool) -> StoreResult<()>;
    fn set_password(&self, name: &str, password: &str) -> StoreResult<()>;
    fn delete_user(&self, name: &str) -> StoreResult<()>;
    fn users(&self) -> StoreResult<Vec<UserRow>>;
    /// The user if `password` is theirs. Takes as long for an unknown name as for a wrong password.
    fn verify(&self, name: &str, password: &str) -> StoreResult<Option<UserInfo>>;
    fn add_group(&self, name: &str, members: &[String]) -> StoreResult<()>;
    fn delete_group(&self, name: &str) -> StoreResult<()>;
    fn set_members(&self, group: &str, users: &[String], add: bool) -> StoreResult<()>;
    /// Set the grant of `who` on `path` (replacing one there).
    fn grant(&self, who: &Who, path: &str, level: Level) -> StoreResult<()>;
    /// Remove the grant of `who` on `path`; false if there was none.
    fn revoke(&self, who: &Who, path: &str) -> StoreResult<bool>;
    fn grants(&self) -> StoreResult<Vec<Grant>>;
    /// A new login session for `user_id`: the token for the cookie.
    fn create_session(&self, user_id: i64) -> StoreResult<String>;
    /// The user of a live session (idle for less than `idle`, younger than `absolute`), marking it seen.
    fn session_user(
        &self,
        token: &str,
        idle: Duration,
        absolute: Duration,
    ) -> StoreResult<Option<UserInfo>>;
    fn delete_session(&self, token: &str) -> StoreResult<()>;
    /// Live sessions (seen within `idle`).
    fn active_sessions(&self, idle: Duration) -> StoreResult<u64>;
    /// Live sessions (seen within `idle`), the most recently seen first.
    fn login_sessions(&self, idle: Duration) -> StoreResult<Vec<LoginSession>>;
    /// End sessions (their sockets close at the next look-up: the generation moves on): how many.
    fn end_sessions(&self, which: &EndSessions) -> StoreResult<u64>;
    /// Changes whenever anything in the store changed (here or through another process).
    fn generation(&self) -> StoreResult<u64>;
}

/// Names of users and groups: letters, digits, `_`, `-`, `.`, at most 64.
pub fn check_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "'{name}' is not a name (letters, digits, _ - . ; at most 64)"
        )))
    }
}

/// A grant's path: `ROOT` or `ROOT/a/b`, without `.`, `..`, empty parts, backslashes or control
/// characters; returned without a trailing `/`.
pub fn check_grant_path(path: &str) -> StoreResult<String> {
    let p = path.trim_end_matches('/');
    let ok = !p.is_empty()
        && !p.starts_with('/')
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['\\', '\0']))
        && !p.chars().any(char::is_control);
    if ok {
        Ok(p.to_owned())
    } else {
        Err(StoreError::Invalid(format!(
            "'{path}' is not a path ROOT or ROOT/sub/dir"
        )))
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

pub(crate) fn check_password(p: &str) -> StoreResult<()> {
    if p.chars().count() < MIN_PASSWORD {
        return Err(StoreError::Invalid(format!(
            "a password has at least {MIN_PASSWORD} characters"
        )));
    }
    if p.len() > 1024 {
        return Err(StoreError::Invalid(
            "a password has at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

/// argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane).
pub(crate) fn hasher() -> argon2::Argon2<'static> {
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
    )
}

pub(crate) fn hash_password(p: &str) -> StoreResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Db(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Db(e.to_string()))?;
    hasher()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Db(e.to_string()))
}

pub(crate) fn token_hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Does `password` match the stored `hash`? An unknown user (`None`) costs one hash too, so timing
/// does not tell which names exist.
pub(crate) fn password_matches(hash: Option<&str>, password: &str) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a password at all").unwrap_or_default());
    let good = PasswordHash::new(hash.unwrap_or(dummy))
        .map(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    good && hash.is_some()
}

/// A new login session token: 32 random bytes in hex (the database keeps its [`token_hash`]).
pub(crate) fn new_token() -> StoreResult<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| StoreError::Db(format!("no randomness: {e}")))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Is a session token well formed (64 hex digits)? Others are never looked up.
pub(crate) fn token_shape_ok(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The account databases toyz can use, from the `--db` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// A file path (created if missing).
    Sqlite,
    /// A `postgres://` or `postgresql://` URL.
    Postgres,
}

/// The URL scheme of `db` (`postgres` in `postgres://…`), if it is a URL.
fn url_scheme(db: &str) -> Option<&str> {
    let (scheme, _) = db.split_once("://")?;
    let mut c = scheme.chars();
    let ok = c.next().is_some_and(|c| c.is_ascii_alphabetic())
        && c.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some(scheme)
}

/// True when `db` is a URL (kept as it is, never joined onto a folder).
pub fn is_database_url(db: &Path) -> bool {
    db.to_str().and_then(url_scheme).is_some()
}

/// Which database `db` names: a file path is SQLite, `postgres://`/`postgresql://` is PostgreSQL,
/// any other URL is refused (one line, the password left out).
pub fn database_kind(db: &Path) -> StoreResult<DbKind> {
    let Some(scheme) = db.to_str().and_then(url_scheme) else {
        return Ok(DbKind::Sqlite);
    };
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Ok(DbKind::Postgres),
        _ => Err(StoreError::Invalid(format!(
            "{}: unsupported account database (a SQLite file path, or postgres://USER@HOST:PORT/DBNAME)",
            describe_database(db)
        ))),
    }
}

/// `db` as it may be shown (errors, logs): a URL without its password (`postgres://u:secret@h/d` is
/// shown as `postgres://u@h/d`, a `password=` parameter is dropped), a path as it is.
pub fn describe_database(db: &Path) -> String {
    match db.to_str() {
        Some(s) if url_scheme(s).is_some() => redact_url(s),
        _ => db.display().to_string(),
    }
}

pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let user = &authority[..at];
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{user}@{}", &authority[at + 1..])
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Open the account database `db` names (see [`database_kind`]), creating or upgrading its schema.
/// Blocks (a PostgreSQL store must not be opened or used on an async runtime's thread: run it in
/// `web::block`, `spawn_blocking` or a plain thread).
pub fn open_store(db: &Path) -> StoreResult<Box<dyn AccountStore>> {
    match database_kind(db)? {
        DbKind::Sqlite => Ok(Box::new(SqliteStore::open(db)?)),
        DbKind::Postgres => {
            let url = db.to_str().expect("a URL is UTF-8");
            Ok(Box::new(pg::PgStore::open(url)?))
        }
    }
}

/// Schema versions, applied in order (`PRAGMA user_version` says how many are in).
const MIGRATIONS: &[&str] = &[
    // 1: accounts, groups, grants, login sessions.
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        admin INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL
    );
    CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE members (
        grp INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        usr INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (grp, usr)
    );
    CREATE TABLE grants (
        who TEXT NOT NULL,
        path TEXT NOT NULL,
        level TEXT NOT NULL CHECK (level IN ('read', 'none')),
        PRIMARY KEY (who, path)
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        usr INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta VALUES ('generation', 0);",
    // 2: saved viewer states, shared with users and groups.
    "CREATE TABLE workspaces (
        id INTEGER PRIMARY KEY,
        owner INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE TABLE workspace_shares (
        ws INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        who TEXT NOT NULL,
        level TEXT NOT NULL CHECK (level IN ('view', 'modify')),
        PRIMARY KEY (ws, who)
    );",
];

/// Why opening the SQLite file failed: busy (try again) or not.
enum Opening {
    Busy(String),
    Failed(StoreError),
}

impl From<StoreError> for Opening {
    fn from(e: StoreError) -> Opening {
        Opening::Failed(e)
    }
}

impl From<rusqlite::Error> for Opening {
    fn from(e: rusqlite::Error) -> Opening {
        Opening::Failed(e.into())
    }
}

/// The embedded store: one SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Open (creating it if needed) and bring the schema up to date. Servers starting at once on one
    /// new file may find it locked where SQLite does not wait (switching it to WAL, upgrading a read
    /// to a write): that is tried again for up to 5 s, as the busy timeout waits elsewhere.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match Self::open_once(path) {
                Ok(s) => return Ok(s),
                Err(Opening::Busy(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(Opening::Busy(m)) => return Err(StoreError::Db(m)),
                Err(Opening::Failed(e)) => return Err(e),
            }
        }
    }

    fn open_once(path: &Path) -> Result<SqliteStore, Opening> {
        let busy = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Opening::Busy(e.to_string())
            }
            _ => Opening::Failed(StoreError::from(e)),
        };
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Db(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(busy)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let newer = |v: i64| {
            StoreError::Db(format!(
                "{} was written by a newer toyz (schema {v})",
                path.display()
            ))
        };
        let mut version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(busy)?;
        // Each missing migration in a write transaction that reads the version again: two servers
        // starting at once on one file apply it once.
        while version < 0 || version as usize != MIGRATIONS.len() {
            if version < 0 || version as usize > MIGRATIONS.len() {
                return Err(newer(version).into());
            }
            let tx = rusqlite::Transaction::new_unchecked(
                &conn,
                rusqlite::TransactionBehavior::Immediate,
            )
            .map_err(busy)?;
            version = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(busy)?;
            if version < 0 || version as usize >= MIGRATIONS.len() {
                continue;
            }
            tx.execute_batch(MIGRATIONS[version as usize])
                .map_err(busy)?;
            tx.pragma_update(None, "user_version", version + 1)
                .map_err(busy)?;
            tx.commit().map_err(busy)?;
            version += 1;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A write transaction, begun as one (IMMEDIATE): a transaction that reads first and then writes
    /// is refused at once ("database is locked", the busy timeout not applying) when another
    /// connection (the CLI, another server) wrote in between.
    fn begin_write(c: &Connection) -> StoreResult<rusqlite::Transaction<'_>> {
        Ok(rusqlite::Transaction::new_unchecked(
            c,
            rusqlite::TransactionBehavior::Immediate,
        )?)
    }

    /// Run `f` in a transaction that also moves the generation on.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let c = self.conn();
        let tx = Self::begin_write(&c)?;
        let out = f(&tx)?;
        tx.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
            [],
        )?;
        tx.commit()?;
        Ok(out)
    }

    fn user_id(c: &Connection, name: &str) -> StoreResult<i64> {
        c.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no user '{name}'")))
    }

    fn group_id(c: &Connection, name: &str) -> StoreResult<i64> {
        c.query_row("SELECT id FROM groups WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no group '{name}'")))
    }

    fn groups_of(c: &Connection, user_id: i64) -> StoreResult<Vec<String>> {
        let mut st = c.prepare(
            "SELECT g.name FROM groups g JOIN members m ON m.grp = g.id WHERE m.usr = ?1 ORDER BY g.name",
        )?;
        let rows = st.query_map([user_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn info(c: &Connection, id: i64) -> StoreResult<Option<UserInfo>> {
        let row: Option<(String, bool)> = c
            .query_row("SELECT name, admin FROM users WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match row {
            Some((name, admin)) => Ok(Some(UserInfo {
                id,
                name,
                admin,
                groups: Self::groups_of(c, id)?,
            })),
            None => Ok(None),
        }
    }
}

pub(crate) fn check_shares(shares: &[Share]) -> StoreResult<()> {
    for s in shares {
        let who: Who = s.who.parse()?;
        if who == Who::Everyone && s.level == "modify" {
            return Err(StoreError::Invalid(
                "everyone may view a workspace, not modify it".into(),
            ));
        }
        if s.level != "view" && s.level != "modify" {
            return Err(StoreError::Invalid(format!(
                "'{}' is not a share level (view or modify)",
                s.level
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_workspace_name(name: &str) -> StoreResult<()> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a workspace name has 1 to 200 characters, none of them control characters".into(),
        ));
    }
    Ok(())
}

impl SqliteStore {
    fn shares_of(c: &Connection, id: i64) -> StoreResult<Vec<Share>> {
        let mut st =
            c.prepare("SELECT who, level FROM workspace_shares WHERE ws = ?1 ORDER BY who")?;
        let rows = st.query_map([id], |r| {
            Ok(Share {
                who: r.get(0)?,
                level: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One workspace (with its state) or, for `None`, all of them without their states (a list
    /// does not read every saved view).
    fn workspace_rows(c: &Connection, id: Option<i64>) -> StoreResult<Vec<Workspace>> {
        let sql = "SELECT w.id, w.name, u.name, w.updated,
                          CASE WHEN ?1 IS NULL THEN 'null' ELSE w.state END
                   FROM workspaces w JOIN users u ON u.id = w.owner
                   WHERE ?1 IS NULL OR w.id = ?1 ORDER BY w.updated DESC, w.id DESC";
        let mut st = c.prepare(sql)?;
        let rows: Vec<(i64, String, String, i64, String)> = st
            .query_map([id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, name, owner, updated, state)| {
                Ok(Workspace {
                    id,
                    name,
                    owner,
                    updated,
                    shares: Self::shares_of(c, id)?,
                    state: serde_json::from_str(&state).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}

impl AccountStore for SqliteStore {
    fn create_workspace(
        &self,
        owner: i64,
        name: &str,
        state: &serde_json::Value,
    ) -> StoreResult<i64> {
        check_workspace_name(name)?;
        let c = self.conn();
        c.execute(
            "INSERT INTO workspaces (owner, name, state, updated) VALUES (?1, ?2, ?3, ?4)",
            params![owner, name, state.to_string(), now()],
        )?;
        Ok(c.last_insert_rowid())
    }

    fn workspace(&self, id: i64) -> StoreResult<Option<Workspace>> {
        Ok(Self::workspace_rows(&self.conn(), Some(id))?.pop())
    }

    fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        Self::workspace_rows(&self.conn(), None)
    }

    fn update_workspace(
        &self,
        id: i64,
        name: Option<&str>,
        state: Option<&serde_json::Value>,
    ) -> StoreResult<()> {
        if let Some(n) = name {
            check_workspace_name(n)?;
        }
        let c = self.conn();
        let n = c.execute(
            "UPDATE workspaces SET name = coalesce(?2, name), state = coalesce(?3, state), updated = ?4
             WHERE id = ?1",
            params![id, name, state.map(|s| s.to_string()), now()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no workspace {id}")));
        }
        Ok(())
    }

    fn share_workspace(&self, id: i64, shares: &[Share]) -> StoreResult<()> {
        check_shares(shares)?;
        let c = self.conn();
        let tx = Self::begin_write(&c)?;
        tx.execute("DELETE FROM workspace_shares WHERE ws = ?1", [id])?;
        for s in shares {
            tx.execute(
                "INSERT OR REPLACE INTO workspace_shares (ws, who, level) VALUES (?1, ?2, ?3)",
                params![id, s.who, s.level],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn delete_workspace(&self, id: i64) -> StoreResult<()> {
        self.conn()
            .execute("DELETE FROM workspaces WHERE id = ?1", [id])?;
        Ok(())
    }

    fn groups(&self) -> StoreResult<Vec<GroupRow>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, name FROM groups ORDER BY name")?;
        let rows: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut m = c.prepare(
            "SELECT u.name FROM users u JOIN members m ON m.usr = u.id WHERE m.grp = ?1 ORDER BY u.name",
        )?;
        rows.into_iter()
            .map(|(id, name)| {
                let members = m
                    .query_map([id], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(GroupRow { name, members })
            })
            .collect()
    }

    fn add_user(&self, name: &str, password: &str, admin: bool) -> StoreResult<()> {
        check_name(name)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        self.write(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO users (name, hash, admin, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, hash, admin, now()],
            )?;
            if n == 0 {
                return Err(StoreError::Exists(format!("user '{name}' exists")));
            }
            Ok(())
        })
    }

    fn set_password(&self, name: &str, password: &str) -> StoreResult<()> {
        check_password(password)?;
        let hash = hash_password(password)?;
        self.write(|c| {
            let id = Self::user_id(c, name)?;
            c.execute(
                "UPDATE users SET hash = ?1 WHERE id = ?2",
                params![hash, id],
            )?;
            // A new password ends every session opened with the old one.
            c.execute("DELETE FROM sessions WHERE usr = ?1", [id])?;
            Ok(())
        })
    }

    fn delete_user(&self, name: &str) -> StoreResult<()> {
        self.write(|c| {
            let id = Self::user_id(c, name)?;
            c.execute("DELETE FROM users WHERE id = ?1", [id])?;
            c.execute(
                "DELETE FROM grants WHERE who = ?1",
                [Who::User(name.to_owned()).to_string()],
            )?;
            Ok(())
        })
    }

    fn users(&self) -> StoreResult<Vec<UserRow>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, name, admin FROM users ORDER BY name")?;
        let rows: Vec<(i64, String, bool)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, name, admin)| {
                Ok(UserRow {
                    name,
                    admin,
                    groups: Self::groups_of(&c, id)?,
                })
            })
            .collect()
    }

    fn verify(&self, name: &str, password: &str) -> StoreResult<Option<UserInfo>> {
        let row: Option<(i64, String)> = self
            .conn()
            .query_row("SELECT id, hash FROM users WHERE name = ?1", [name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        // An unknown name costs one hash too, so timing does not tell which names exist.
        let good = password_matches(row.as_ref().map(|r| r.1.as_str()), password);
        match row {
            Some((id, _)) if good => Self::info(&self.conn(), id),
            _ => Ok(None),
        }
    }

    fn add_group(&self, name: &str, members: &[String]) -> StoreResult<()> {
        check_name(name)?;
        self.write(|c| {
            let n = c.execute("INSERT OR IGNORE INTO groups (name) VALUES (?1)", [name])?;
            if n == 0 {
                return Err(StoreError::Exists(format!("group '{name}' exists")));
            }
            let g = c.last_insert_rowid();
            for u in members {
                let id = Self::user_id(c, u)?;
                c.execute(
                    "INSERT OR IGNORE INTO members (grp, usr) VALUES (?1, ?2)",
                    [g, id],
                )?;
            }
            Ok(())
        })
    }

    fn delete_group(&self, name: &str) -> StoreResult<()> {
        self.write(|c| {
            let g = Self::group_id(c, name)?;
            c.execute("DELETE FROM groups WHERE id = ?1", [g])?;
            c.execute(
                "DELETE FROM grants WHERE who = ?1",
                [Who::Group(name.to_owned()).to_string()],
            )?;
            Ok(())
        })
    }

    fn set_members(&self, group: &str, users: &[String], add: bool) -> StoreResult<()> {
        self.write(|c| {
            let g = Self::group_id(c, group)?;
            for u in users {
                let id = Self::user_id(c, u)?;
                let sql = if add {
                    "INSERT OR IGNORE INTO members (grp, usr) VALUES (?1, ?2)"
                } else {
                    "DELETE FROM members WHERE grp = ?1 AND usr = ?2"
                };
                c.execute(sql, [g, id])?;
            }
            Ok(())
        })
    }

    fn grant(&self, who: &Who, path: &str, level: Level) -> StoreResult<()> {
        let path = check_grant_path(path)?;
        self.write(|c| {
            match who {
                Who::User(n) => {
                    Self::user_id(c, n)?;
                }
                Who::Group(n) => {
                    Self::group_id(c, n)?;
                }
                Who::Everyone => {}
            }
            let level = match level {
                Level::Read => "read",
                Level::None => "none",
            };
            c.execute(
                "INSERT INTO grants (who, path, level) VALUES (?1, ?2, ?3)
                 ON CONFLICT (who, path) DO UPDATE SET level = excluded.level",
                params![who.to_string(), path, level],
            )?;
            Ok(())
        })
    }

    fn revoke(&self, who: &Who, path: &str) -> StoreResult<bool> {
        let path = check_grant_path(path)?;
        self.write(|c| {
            Ok(c.execute(
                "DELETE FROM grants WHERE who = ?1 AND path = ?2",
                params![who.to_string(), path],
            )? > 0)
        })
    }

    fn grants(&self) -> StoreResult<Vec<Grant>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT who, path, level FROM grants ORDER BY path, who")?;
        let rows: Vec<(String, String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(who, path, level)| {
                Ok(Grant {
                    who: who.parse()?,
                    path,
                    level: level.parse()?,
                })
            })
            .collect()
    }

    fn create_session(&self, user_id: i64) -> StoreResult<String> {
        let token = new_token()?;
        let t = now();
        self.conn().execute(
            "INSERT INTO sessions (token_hash, usr, created, last_seen) VALUES (?1, ?2, ?3, ?3)",
            params![token_hash(&token), user_id, t],
        )?;
        Ok(token)
    }

    fn session_user(
        &self,
        token: &str,
        idle: Duration,
        absolute: Duration,
    ) -> StoreResult<Option<UserInfo>> {
        if !token_shape_ok(token) {
            return Ok(None);
        }
        let c = self.conn();
        let h = token_hash(token);
        let row: Option<(i64, i64, i64)> = c
            .query_row(
                "SELECT usr, created, last_seen FROM sessions WHERE token_hash = ?1",
                [&h],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((usr, created, seen)) = row else {
            return Ok(None);
        };
        let t = now();
        if t - seen > idle.as_secs() as i64 || t - created > absolute.as_secs() as i64 {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [&h])?;
            return Ok(None);
        }
        if t != seen {
            c.execute(
                "UPDATE sessions SET last_seen = ?1 WHERE token_hash = ?2",
                params![t, h],
            )?;
        }
        Self::info(&c, usr)
    }

    fn delete_session(&self, token: &str) -> StoreResult<()> {
        self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [token_hash(token)],
        )?;
        Ok(())
    }

    fn login_sessions(&self, idle: Duration) -> StoreResult<Vec<LoginSession>> {
        let c = self.conn();
        let mut q = c.prepare(
            "SELECT substr(s.token_hash, 1, 16), u.name, s.created, s.last_seen FROM sessions s \
             JOIN users u ON u.id = s.usr WHERE s.last_seen >= ?1 ORDER BY s.last_seen DESC",
        )?;
        let rows = q
            .query_map([now() - idle.as_secs() as i64], |r| {
                Ok(LoginSession {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    created: r.get(2)?,
                    last_seen: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn end_sessions(&self, which: &EndSessions) -> StoreResult<u64> {
        self.write(|c| {
            let n = match which {
                EndSessions::Id(id) => c.execute(
                    "DELETE FROM sessions WHERE token_hash LIKE ?1",
                    [EndSessions::id_pattern(id)?],
                )?,
                EndSessions::User(name) => {
                    let id = Self::user_id(c, name)?;
                    c.execute("DELETE FROM sessions WHERE usr = ?1", [id])?
                }
            };
            Ok(n as u64)
        })
    }

    fn active_sessions(&self, idle: Duration) -> StoreResult<u64> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM sessions WHERE last_seen >= ?1",
            [now() - idle.as_secs() as i64],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn generation(&self) -> StoreResult<u64> {
        let g: i64 =
            self.conn()
                .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
                    r.get(0)
                })?;
        Ok(g as u64)
    }
}

/// The store's tests run on SQLite, or on PostgreSQL when `TOYZ_TEST_POSTGRES` names a server (see
/// `test_db`).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_db::TestDb;

    #[test]
    fn users_groups_grants_and_sessions() {
        let d = tempfile::tempdir().unwrap();
        let db = TestDb::new(d.path().join("toyz.sqlite"));
        let s = db.open();
        s.add_user("ada", "correct horse", true).unwrap();
        s.add_user("bob", "battery staple", false).unwrap();
        assert!(matches!(
            s.add_user("ada", "another one", false),
            Err(StoreError::Exists(_))
        ));
        assert!(matches!(
            s.add_user("x y", "long enough", false),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.add_user("eve", "short", false),
            Err(StoreError::Invalid(_))
        ));
        // The hash is argon2id, never the password.
        let hash: String = db
            .strings("SELECT hash FROM users WHERE name = 'ada'")
            .remove(0);
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
        assert_eq!(
            s.verify("ada", "correct horse").unwrap().unwrap().name,
            "ada"
        );
        assert!(s.verify("ada", "wrong password").unwrap().is_none());
        assert!(s.verify("nobody", "correct horse").unwrap().is_none());

        let g0 = s.generation().unwrap();
        s.add_group("class", &["bob".into()]).unwrap();
        assert!(s.generation().unwrap() > g0);
        s.grant(&"group:class".parse().unwrap(), "sky/public/", Level::Read)
            .unwrap();
        s.grant(&Who::Everyone, "sky", Level::None).unwrap();
        assert!(s
            .grant(&"group:nope".parse().unwrap(), "sky", Level::Read)
            .is_err());
        assert!(s.grant(&Who::Everyone, "sky/../etc", Level::Read).is_err());
        let g = s.grants().unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].path, "sky/public");
        let bob = s.verify("bob", "battery staple").unwrap().unwrap();
        assert_eq!(bob.groups, vec!["class".to_owned()]);

        let day = Duration::from_secs(86_400);
        let t = s.create_session(bob.id).unwrap();
        assert_eq!(s.session_user(&t, day, day).unwrap().unwrap().name, "bob");
        assert!(s.session_user(&"0".repeat(64), day, day).unwrap().is_none());
        assert_eq!(s.active_sessions(day).unwrap(), 1);
        // Sessions live in the file: another handle (a restarted server) sees them.
        let again = db.open();
        assert_eq!(
            again.session_user(&t, day, day).unwrap().unwrap().name,
            "bob"
        );
        s.delete_session(&t).unwrap();
        assert!(again.session_user(&t, day, day).unwrap().is_none());
        // A new password ends the user's sessions; deleting a user removes their grants.
        let t = s.create_session(bob.id).unwrap();
        s.set_password("bob", "a new password").unwrap();
        assert!(s.session_user(&t, day, day).unwrap().is_none());
        s.grant(&Who::User("bob".into()), "sky", Level::Read)
            .unwrap();
        s.delete_user("bob").unwrap();
        assert!(s
            .grants()
            .unwrap()
            .iter()
            .all(|g| g.who != Who::User("bob".into())));
        assert!(matches!(s.delete_user("bob"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn workspaces_and_their_shares() {
        let d = tempfile::tempdir().unwrap();
        let db = TestDb::new(d.path().join("toyz.sqlite"));
        let s = db.open();
        s.add_user("ada", "correct horse", false).unwrap();
        let ada = s.verify("ada", "correct horse").unwrap().unwrap();
        let state = serde_json::json!({"link": "path=sky/a.fits", "regions": "circle(1,2,3)"});
        let one = s.create_workspace(ada.id, "night 1", &state).unwrap();
        let two = s.create_workspace(ada.id, "night 2", &state).unwrap();
        assert_ne!(one, two);
        assert!(s.create_workspace(ada.id, " ", &state).is_err());
        let w = s.workspace(one).unwrap().unwrap();
        assert_eq!((w.name.as_str(), w.owner.as_str()), ("night 1", "ada"));
        assert_eq!(w.state, state);
        // A list leaves the states out; the newest (then the last made) first.
        let all = s.workspaces().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, two);
        assert!(all.iter().all(|w| w.state.is_null()));
        let shares = vec![
            Share {
                who: "user:bob".into(),
                level: "modify".into(),
            },
            Share {
                who: "group:class".into(),
                level: "view".into(),
            },
        ];
        s.share_workspace(one, &shares).unwrap();
        let got = s.workspace(one).unwrap().unwrap().shares;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].who, "group:class", "sorted by who");
        let bad = [Share {
            who: "everyone".into(),
            level: "modify".into(),
        }];
        assert!(matches!(
            s.share_workspace(one, &bad),
            Err(StoreError::Invalid(_))
        ));
        s.update_workspace(one, Some("renamed"), None).unwrap();
        let w = s.workspace(one).unwrap().unwrap();
        assert_eq!((w.name.as_str(), &w.state), ("renamed", &state));
        assert!(matches!(
            s.update_workspace(999_999, Some("x"), None),
            Err(StoreError::NotFound(_))
        ));
        s.delete_workspace(one).unwrap();
        assert!(s.workspace(one).unwrap().is_none());
        // Groups list their members; deleting a user takes their workspaces with them.
        s.add_user("bob", "battery staple", false).unwrap();
        s.add_group("class", &["bob".into(), "ada".into()]).unwrap();
        assert!(matches!(
            s.add_group("class", &[]),
            Err(StoreError::Exists(_))
        ));
        assert!(matches!(
            s.add_group("other", &["nobody".into()]),
            Err(StoreError::NotFound(_))
        ));
        assert!(
            s.groups().unwrap().iter().all(|g| g.name != "other"),
            "rolled back"
        );
        let g = s.groups().unwrap();
        assert_eq!(g[0].members, vec!["ada".to_owned(), "bob".to_owned()]);
        let users = s.users().unwrap();
        assert_eq!(users[0].groups, vec!["class".to_owned()]);
        s.delete_user("ada").unwrap();
        assert!(s.workspaces().unwrap().is_empty());
    }

    /// Servers starting together on a new database apply each migration once; a database written
    /// by a newer toyz is refused.
    #[test]
    fn migrations_run_once_and_newer_schemas_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let db = TestDb::new(d.path().join("toyz.sqlite"));
        let opened: Vec<_> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..4).map(|_| sc.spawn(|| open_store(db.path()))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for s in &opened {
            let s = s.as_ref().unwrap();
            assert!(s.users().unwrap().is_empty());
        }
        opened[0]
            .as_ref()
            .unwrap()
            .add_user("ada", "correct horse", true)
            .unwrap();
        assert_eq!(db.open().users().unwrap().len(), 1);
        drop(opened);
        let newer = if db.is_postgres() {
            "UPDATE toyz_schema SET version = 99"
        } else {
            "PRAGMA user_version = 99"
        };
        db.execute(newer);
        let e = open_store(db.path()).err().expect("refused");
        assert!(e.to_string().contains("newer toyz"), "{e}");
    }

    /// A lost connection (PostgreSQL restarted) is opened again: no toyz restart needed.
    #[test]
    fn a_lost_connection_is_opened_again() {
        let d = tempfile::tempdir().unwrap();
        let db = TestDb::new(d.path().join("toyz.sqlite"));
        let s = db.open();
        s.add_user("ada", "correct horse", false).unwrap();
        if db.is_postgres() {
            let n = db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            );
            assert!(n >= 1, "the store's connection was there");
        }
        assert_eq!(s.users().unwrap().len(), 1);
        s.add_user("bob", "battery staple", false).unwrap();
        assert_eq!(s.users().unwrap().len(), 2);
    }

    #[test]
    fn database_urls_and_their_passwords() {
        let p = |s: &str| Path::new(s).to_owned();
        assert_eq!(database_kind(&p("toyz.sqlite")).unwrap(), DbKind::Sqlite);
        assert_eq!(
            database_kind(&p("/srv/a b/toyz.sqlite")).unwrap(),
            DbKind::Sqlite
        );
        assert_eq!(
            database_kind(&p("postgres://u@h/db")).unwrap(),
            DbKind::Postgres
        );
        assert_eq!(
            database_kind(&p("PostgreSQL://h/db")).unwrap(),
            DbKind::Postgres
        );
        let e = database_kind(&p("mysql://u:secret@h/db"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("mysql://u@h/db") && !e.contains("secret"), "{e}");
        assert!(is_database_url(&p("postgres://h/db")));
        assert!(!is_database_url(&p("./toyz.sqlite")));
        for (url, shown) in [
            ("postgres://u:secret@h:5432/db", "postgres://u@h:5432/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?password=secret&sslmode=disable",
                "postgres://h/db?sslmode=disable",
            ),
            ("postgresql://u:s%40cret@h", "postgresql://u@h"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        // A URL PostgreSQL cannot parse is refused with the password left out.
        let e = open_store(&p("postgres://u:secret@h:notaport/db"))
            .err()
            .expect("refused");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
