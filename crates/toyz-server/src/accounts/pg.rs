//! The PostgreSQL account store ([`PgStore`]): the same schema versions and behaviour as
//! [`SqliteStore`](crate::accounts::SqliteStore), in a database that several server replicas share
//! (`--db postgres://USER@HOST:PORT/DBNAME`).
//!
//! One connection (the synchronous `postgres` client) behind a mutex, as the SQLite store has one;
//! a connection found lost (PostgreSQL restarted) is opened again and the call tried once more.
//! The client runs a small tokio runtime of its own: every call blocks, and must not be made on a
//! thread that drives async tasks (the server makes them in `web::block` or on plain threads).

use super::{
    check_grant_path, check_name, check_password, check_shares, check_workspace_name,
    hash_password, new_token, now, password_matches, redact_url, token_hash, token_shape_ok,
    AccountStore, EndSessions, Grant, GroupRow, Level, LoginSession, Share, StoreError,
    StoreResult, UserInfo, UserRow, Who, Workspace,
};
use postgres::error::SqlState;
use postgres::{Client, GenericClient, NoTls};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Schema versions, applied in order (the one row of `toyz_schema` says how many are in): the
/// SQLite store's migrations in PostgreSQL's words. Text columns compare and sort bytewise
/// (`COLLATE "C"`), as SQLite's do, whatever the database's locale.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, groups, grants, login sessions.
    r#"CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        admin BOOLEAN NOT NULL DEFAULT FALSE,
        created BIGINT NOT NULL
    );
    CREATE TABLE groups (id BIGSERIAL PRIMARY KEY, name TEXT COLLATE "C" NOT NULL UNIQUE);
    CREATE TABLE members (
        grp BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        usr BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (grp, usr)
    );
    CREATE INDEX members_usr ON members (usr);
    CREATE TABLE grants (
        who TEXT COLLATE "C" NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        level TEXT NOT NULL CHECK (level IN ('read', 'none')),
        PRIMARY KEY (who, path)
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        usr BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created BIGINT NOT NULL,
        last_seen BIGINT NOT NULL
    );
    CREATE INDEX sessions_usr ON sessions (usr);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO meta VALUES ('generation', 0);"#,
    // 2: saved viewer states, shared with users and groups.
    r#"CREATE TABLE workspaces (
        id BIGSERIAL PRIMARY KEY,
        owner BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        updated BIGINT NOT NULL
    );
    CREATE INDEX workspaces_owner ON workspaces (owner);
    CREATE TABLE workspace_shares (
        ws BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        who TEXT COLLATE "C" NOT NULL,
        level TEXT NOT NULL CHECK (level IN ('view', 'modify')),
        PRIMARY KEY (ws, who)
    );"#,
];

/// The advisory lock held while the schema is brought up to date (replicas starting together wait
/// for each other): "toyzacct".
const MIGRATION_LOCK: i64 = 0x746f_797a_6163_6374;

/// How long connecting may take when the URL does not say (`connect_timeout=`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A failure inside a call: the store's own (not found, exists, …) or the database's.
enum Fail {
    Store(StoreError),
    Pg(postgres::Error),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail::Store(e)
    }
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Pg(e)
    }
}

type PgResult<T> = Result<T, Fail>;

/// The store in a PostgreSQL database.
pub struct PgStore {
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    client: Mutex<Option<Client>>,
}

impl PgStore {
    /// Connect to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?…]`) and bring the schema up
    /// to date. Blocks; not on an async runtime's thread.
    pub fn open(url: &str) -> StoreResult<PgStore> {
        let shown = redact_url(url);
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("{shown}: {}", explain(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("toyz");
        }
        let store = PgStore {
            config,
            shown,
            client: Mutex::new(None),
        };
        store.with(|c| store.migrate(c))?;
        Ok(store)
    }

    /// Apply the migrations this database lacks, each in a transaction holding the advisory lock (a
    /// replica starting at the same time waits, then finds them in).
    fn migrate(&self, c: &mut Client) -> PgResult<()> {
        loop {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS toyz_schema (version INTEGER NOT NULL)")?;
            let version: i32 = match tx.query_opt("SELECT version FROM toyz_schema", &[])? {
                Some(r) => r.get(0),
                None => {
                    tx.execute("INSERT INTO toyz_schema VALUES (0)", &[])?;
                    0
                }
            };
            let done = usize::try_from(version).unwrap_or(usize::MAX);
            if done > MIGRATIONS.len() {
                return Err(StoreError::Db(format!(
                    "{} was written by a newer toyz (schema {version})",
                    self.shown
                ))
                .into());
            }
            if done == MIGRATIONS.len() {
                tx.commit()?;
                return Ok(());
            }
            tx.batch_execute(MIGRATIONS[done])?;
            tx.execute("UPDATE toyz_schema SET version = $1", &[&(version + 1)])?;
            tx.commit()?;
        }
    }

    fn connect(&self) -> StoreResult<Client> {
        self.config
            .connect(NoTls)
            .map_err(|e| StoreError::Db(format!("{}: {}", self.shown, explain(&e))))
    }

    /// Run `f` on the connection (opened if there is none). A connection found lost on the way
    /// (PostgreSQL restarted, the network cut) is opened again and `f` run once more: a call that
    /// failed on a lost connection did nothing, but for a commit whose answer was lost.
    fn with<T>(&self, mut f: impl FnMut(&mut Client) -> PgResult<T>) -> StoreResult<T> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let mut retried = false;
        loop {
            if guard.as_ref().is_none_or(Client::is_closed) {
                *guard = None;
                *guard = Some(self.connect()?);
            }
            let c = guard.as_mut().expect("connected");
            match f(c) {
                Ok(v) => return Ok(v),
                Err(Fail::Store(e)) => return Err(e),
                Err(Fail::Pg(e)) if !retried && lost(&e, c) => {
                    let why = explain(&e);
                    tracing::warn!("{}: connection lost ({why}), connecting again", self.shown);
                    *guard = None;
                    retried = true;
                }
                Err(Fail::Pg(e)) => return Err(self.error(e)),
            }
        }
    }

    /// A database error as the SQLite store reports it: a unique key taken is `Exists`, the rest is
    /// the database's failure.
    fn error(&self, e: postgres::Error) -> StoreError {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            let m = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned());
            return StoreError::Exists(m);
        }
        StoreError::Db(format!("{}: {}", self.shown, explain(&e)))
    }

    /// Run `f` in a transaction that also moves the generation on.
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut postgres::Transaction<'_>) -> PgResult<T>,
    ) -> StoreResult<T> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let out = f(&mut tx)?;
            tx.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
                &[],
            )?;
            tx.commit()?;
            Ok(out)
        })
    }
}

/// An error with its causes (the client's own message is only "db error", "error connecting to
/// server"…).
fn explain(e: &postgres::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out = format!("{out}: {c}");
        cause = c.source();
    }
    out
}

/// Was the connection lost (rather than the statement refused)?
fn lost(e: &postgres::Error, c: &Client) -> bool {
    if c.is_closed() || e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Class 08: connection exceptions; 57P01-03: the server shutting down or starting.
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code);
    }
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

impl Drop for PgStore {
    /// The client ends its own runtime when dropped, which tokio refuses on a thread that drives
    /// async tasks (the last holder of a server's store may be one): it is dropped on a thread of
    /// its own.
    fn drop(&mut self) {
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = client {
            std::thread::scope(|s| {
                s.spawn(move || drop(c));
            });
        }
    }
}

fn user_id(c: &mut impl GenericClient, name: &str) -> PgResult<i64> {
    c.query_opt("SELECT id FROM users WHERE name = $1", &[&name])?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("no user '{name}'")).into())
}

fn group_id(c: &mut impl GenericClient, name: &str) -> PgResult<i64> {
    c.query_opt("SELECT id FROM groups WHERE name = $1", &[&name])?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("no group '{name}'")).into())
}

fn info(c: &mut impl GenericClient, id: i64) -> PgResult<Option<UserInfo>> {
    let Some(row) = c.query_opt("SELECT name, admin FROM users WHERE id = $1", &[&id])? else {
        return Ok(None);
    };
    let groups = c
        .query(
            "SELECT g.name FROM groups g JOIN members m ON m.grp = g.id WHERE m.usr = $1 ORDER BY g.name",
            &[&id],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(UserInfo {
        id,
        name: row.get(0),
        admin: row.get(1),
        groups,
    }))
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Read => "read",
        Level::None => "none",
    }
}

/// One workspace (with its state) or, for `None`, all of them without their states; the shares of
/// all of them in one more query.
fn workspace_rows(c: &mut Client, id: Option<i64>) -> PgResult<Vec<Workspace>> {
    let rows = c.query(
        "SELECT w.id, w.name, u.name, w.updated,
                CASE WHEN $1::BIGINT IS NULL THEN 'null' ELSE w.state END
         FROM workspaces w JOIN users u ON u.id = w.owner
         WHERE $1::BIGINT IS NULL OR w.id = $1 ORDER BY w.updated DESC, w.id DESC",
        &[&id],
    )?;
    let mut shares: HashMap<i64, Vec<Share>> = HashMap::new();
    for r in c.query(
        "SELECT ws, who, level FROM workspace_shares WHERE $1::BIGINT IS NULL OR ws = $1 ORDER BY who",
        &[&id],
    )? {
        shares.entry(r.get(0)).or_default().push(Share {
            who: r.get(1),
            level: r.get(2),
        });
    }
    Ok(rows
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            let state: String = r.get(4);
            Workspace {
                id,
                name: r.get(1),
                owner: r.get(2),
                updated: r.get(3),
                shares: shares.remove(&id).unwrap_or_default(),
                state: serde_json::from_str(&state).unwrap_or(serde_json::Value::Null),
            }
        })
        .collect())
}

impl AccountStore for PgStore {
    fn groups(&self) -> StoreResult<Vec<GroupRow>> {
        self.with(|c| {
            let mut members: HashMap<i64, Vec<String>> = HashMap::new();
            for r in c.query(
                "SELECT m.grp, u.name FROM members m JOIN users u ON u.id = m.usr ORDER BY u.name",
                &[],
            )? {
                members.entry(r.get(0)).or_default().push(r.get(1));
            }
            Ok(c.query("SELECT id, name FROM groups ORDER BY name", &[])?
                .iter()
                .map(|r| GroupRow {
                    name: r.get(1),
                    members: members.remove(&r.get::<_, i64>(0)).unwrap_or_default(),
                })
                .collect())
        })
    }

    fn create_workspace(
        &self,
        owner: i64,
        name: &str,
        state: &serde_json::Value,
    ) -> StoreResult<i64> {
        check_workspace_name(name)?;
        let state = state.to_string();
        self.with(|c| {
            let r = c.query_one(
                "INSERT INTO workspaces (owner, name, state, updated) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&owner, &name, &state, &now()],
            )?;
            Ok(r.get(0))
        })
    }

    fn workspace(&self, id: i64) -> StoreResult<Option<Workspace>> {
        self.with(|c| Ok(workspace_rows(c, Some(id))?.pop()))
    }

    fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        self.with(|c| workspace_rows(c, None))
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
        let state = state.map(|s| s.to_string());
        self.with(|c| {
            let n = c.execute(
                "UPDATE workspaces SET name = coalesce($2, name), state = coalesce($3, state), updated = $4
                 WHERE id = $1",
                &[&id, &name, &state, &now()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no workspace {id}")).into());
            }
            Ok(())
        })
    }

    fn share_workspace(&self, id: i64, shares: &[Share]) -> StoreResult<()> {
        check_shares(shares)?;
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("DELETE FROM workspace_shares WHERE ws = $1", &[&id])?;
            for s in shares {
                tx.execute(
                    "INSERT INTO workspace_shares (ws, who, level) VALUES ($1, $2, $3)
                     ON CONFLICT (ws, who) DO UPDATE SET level = excluded.level",
                    &[&id, &s.who, &s.level],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn delete_workspace(&self, id: i64) -> StoreResult<()> {
        self.with(|c| {
            c.execute("DELETE FROM workspaces WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn add_user(&self, name: &str, password: &str, admin: bool) -> StoreResult<()> {
        check_name(name)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        self.write(|c| {
            let n = c.execute(
                "INSERT INTO users (name, hash, admin, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &hash, &admin, &now()],
            )?;
            if n == 0 {
                return Err(StoreError::Exists(format!("user '{name}' exists")).into());
            }
            Ok(())
        })
    }

    fn set_password(&self, name: &str, password: &str) -> StoreResult<()> {
        check_password(password)?;
        let hash = hash_password(password)?;
        self.write(|c| {
            let id = user_id(c, name)?;
            c.execute("UPDATE users SET hash = $1 WHERE id = $2", &[&hash, &id])?;
            // A new password ends every session opened with the old one.
            c.execute("DELETE FROM sessions WHERE usr = $1", &[&id])?;
            Ok(())
        })
    }

    fn delete_user(&self, name: &str) -> StoreResult<()> {
        let who = Who::User(name.to_owned()).to_string();
        self.write(|c| {
            let id = user_id(c, name)?;
            c.execute("DELETE FROM users WHERE id = $1", &[&id])?;
            c.execute("DELETE FROM grants WHERE who = $1", &[&who])?;
            Ok(())
        })
    }

    fn users(&self) -> StoreResult<Vec<UserRow>> {
        self.with(|c| {
            let mut groups: HashMap<i64, Vec<String>> = HashMap::new();
            for r in c.query(
                "SELECT m.usr, g.name FROM members m JOIN groups g ON g.id = m.grp ORDER BY g.name",
                &[],
            )? {
                groups.entry(r.get(0)).or_default().push(r.get(1));
            }
            Ok(
                c.query("SELECT id, name, admin FROM users ORDER BY name", &[])?
                    .iter()
                    .map(|r| UserRow {
                        name: r.get(1),
                        admin: r.get(2),
                        groups: groups.remove(&r.get::<_, i64>(0)).unwrap_or_default(),
                    })
                    .collect(),
            )
        })
    }

    fn verify(&self, name: &str, password: &str) -> StoreResult<Option<UserInfo>> {
        let row: Option<(i64, String)> = self.with(|c| {
            Ok(
                c.query_opt("SELECT id, hash FROM users WHERE name = $1", &[&name])?
                    .map(|r| (r.get(0), r.get(1))),
            )
        })?;
        // The hash is checked without holding the connection (it takes a while on purpose).
        let good = password_matches(row.as_ref().map(|r| r.1.as_str()), password);
        match row {
            Some((id, _)) if good => self.with(|c| info(c, id)),
            _ => Ok(None),
        }
    }

    fn add_group(&self, name: &str, members: &[String]) -> StoreResult<()> {
        check_name(name)?;
        self.write(|c| {
            let Some(g) = c.query_opt(
                "INSERT INTO groups (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&name],
            )?
            else {
                return Err(StoreError::Exists(format!("group '{name}' exists")).into());
            };
            let g: i64 = g.get(0);
            for u in members {
                let id = user_id(c, u)?;
                c.execute(
                    "INSERT INTO members (grp, usr) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&g, &id],
                )?;
            }
            Ok(())
        })
    }

    fn delete_group(&self, name: &str) -> StoreResult<()> {
        let who = Who::Group(name.to_owned()).to_string();
        self.write(|c| {
            let g = group_id(c, name)?;
            c.execute("DELETE FROM groups WHERE id = $1", &[&g])?;
            c.execute("DELETE FROM grants WHERE who = $1", &[&who])?;
            Ok(())
        })
    }

    fn set_members(&self, group: &str, users: &[String], add: bool) -> StoreResult<()> {
        self.write(|c| {
            let g = group_id(c, group)?;
            for u in users {
                let id = user_id(c, u)?;
                let sql = if add {
                    "INSERT INTO members (grp, usr) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                } else {
                    "DELETE FROM members WHERE grp = $1 AND usr = $2"
                };
                c.execute(sql, &[&g, &id])?;
            }
            Ok(())
        })
    }

    fn grant(&self, who: &Who, path: &str, level: Level) -> StoreResult<()> {
        let path = check_grant_path(path)?;
        let (who_s, level) = (who.to_string(), level_name(level));
        self.write(|c| {
            match who {
                Who::User(n) => {
                    user_id(c, n)?;
                }
                Who::Group(n) => {
                    group_id(c, n)?;
                }
                Who::Everyone => {}
            }
            c.execute(
                "INSERT INTO grants (who, path, level) VALUES ($1, $2, $3)
                 ON CONFLICT (who, path) DO UPDATE SET level = excluded.level",
                &[&who_s, &path, &level],
            )?;
            Ok(())
        })
    }

    fn revoke(&self, who: &Who, path: &str) -> StoreResult<bool> {
        let path = check_grant_path(path)?;
        let who = who.to_string();
        self.write(|c| {
            Ok(c.execute(
                "DELETE FROM grants WHERE who = $1 AND path = $2",
                &[&who, &path],
            )? > 0)
        })
    }

    fn grants(&self) -> StoreResult<Vec<Grant>> {
        let rows: Vec<(String, String, String)> = self.with(|c| {
            Ok(c.query(
                "SELECT who, path, level FROM grants ORDER BY path, who",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
        })?;
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
        let (h, t) = (token_hash(&token), now());
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (token_hash, usr, created, last_seen) VALUES ($1, $2, $3, $3)",
                &[&h, &user_id, &t],
            )?;
            Ok(())
        })?;
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
        let h = token_hash(token);
        self.with(|c| {
            let Some(row) = c.query_opt(
                "SELECT usr, created, last_seen FROM sessions WHERE token_hash = $1",
                &[&h],
            )?
            else {
                return Ok(None);
            };
            let (usr, created, seen): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            let t = now();
            if t - seen > idle.as_secs() as i64 || t - created > absolute.as_secs() as i64 {
                c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&h])?;
                return Ok(None);
            }
            if t != seen {
                c.execute(
                    "UPDATE sessions SET last_seen = $1 WHERE token_hash = $2",
                    &[&t, &h],
                )?;
            }
            info(c, usr)
        })
    }

    fn delete_session(&self, token: &str) -> StoreResult<()> {
        let h = token_hash(token);
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&h])?;
            Ok(())
        })
    }

    fn login_sessions(&self, idle: Duration) -> StoreResult<Vec<LoginSession>> {
        let since = now() - idle.as_secs() as i64;
        self.with(|c| {
            Ok(c.query(
                "SELECT substr(s.token_hash, 1, 16), u.name, s.created, s.last_seen FROM sessions s \
                 JOIN users u ON u.id = s.usr WHERE s.last_seen >= $1 ORDER BY s.last_seen DESC",
                &[&since],
            )?
            .iter()
            .map(|r| LoginSession {
                id: r.get(0),
                user: r.get(1),
                created: r.get(2),
                last_seen: r.get(3),
            })
            .collect())
        })
    }

    fn end_sessions(&self, which: &EndSessions) -> StoreResult<u64> {
        let pattern = match which {
            EndSessions::Id(id) => Some(EndSessions::id_pattern(id)?),
            EndSessions::User(_) => None,
        };
        self.write(|c| {
            Ok(match (which, &pattern) {
                (EndSessions::User(name), _) => {
                    let id = user_id(c, name)?;
                    c.execute("DELETE FROM sessions WHERE usr = $1", &[&id])?
                }
                (_, Some(p)) => c.execute("DELETE FROM sessions WHERE token_hash LIKE $1", &[p])?,
                (_, None) => 0,
            })
        })
    }

    fn active_sessions(&self, idle: Duration) -> StoreResult<u64> {
        let since = now() - idle.as_secs() as i64;
        self.with(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM sessions WHERE last_seen >= $1",
                    &[&since],
                )?
                .get(0);
            Ok(n as u64)
        })
    }

    fn generation(&self) -> StoreResult<u64> {
        self.with(|c| {
            let g: i64 = c
                .query_one("SELECT value FROM meta WHERE key = 'generation'", &[])?
                .get(0);
            Ok(g as u64)
        })
    }
}
