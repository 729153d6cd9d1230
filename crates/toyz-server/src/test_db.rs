//! Test support, not part of toyz's interface: the account database a test runs against. Without
//! `TOYZ_TEST_POSTGRES` it is the SQLite file the test names; with `TOYZ_TEST_POSTGRES` set to a
//! PostgreSQL server's URL (`postgres://toyz@127.0.0.1:5433/postgres`, see `.ci/postgres.sh`) it is a
//! fresh database made on that server for this test alone, dropped when the last clone of the
//! [`TestDb`] goes. A server that cannot be reached fails the test: it never falls back to SQLite.

use crate::accounts::{open_store, AccountStore};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The variable that selects PostgreSQL for the multi-user tests.
pub const ENV: &str = "TOYZ_TEST_POSTGRES";

/// An account database for one test (cheap to clone: clones name the same database).
#[derive(Clone)]
pub struct TestDb {
    /// What `--db` is given: the SQLite path or the PostgreSQL URL.
    db: PathBuf,
    pg: Option<Arc<PgDatabase>>,
}

/// A database made on the test server; dropped with the last [`TestDb`] naming it.
struct PgDatabase {
    server: String,
    name: String,
}

impl TestDb {
    /// The SQLite file `sqlite`, or a new PostgreSQL database when `TOYZ_TEST_POSTGRES` is set.
    pub fn new(sqlite: impl Into<PathBuf>) -> TestDb {
        match std::env::var(ENV) {
            Ok(server) if !server.trim().is_empty() => Self::postgres(server.trim()),
            _ => TestDb {
                db: sqlite.into(),
                pg: None,
            },
        }
    }

    fn postgres(server: &str) -> TestDb {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let test: String = std::thread::current()
            .name()
            .unwrap_or("test")
            .rsplit("::")
            .next()
            .unwrap_or("test")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(32)
            .collect();
        let mut salt = [0u8; 3];
        getrandom::fill(&mut salt).expect("randomness");
        let name = format!(
            "toyz_{test}_{}_{}_{:02x}{:02x}{:02x}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed),
            salt[0],
            salt[1],
            salt[2]
        );
        let mut c = connect(server);
        c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("{ENV}: cannot create database {name}: {e}"));
        TestDb {
            db: PathBuf::from(with_dbname(server, &name)),
            pg: Some(Arc::new(PgDatabase {
                server: server.to_owned(),
                name,
            })),
        }
    }

    /// What to give as `--db` (config `database`).
    pub fn path(&self) -> &Path {
        &self.db
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The store (schema brought up to date).
    pub fn open(&self) -> Box<dyn AccountStore> {
        open_store(&self.db).unwrap_or_else(|e| panic!("{}: {e}", self.db.display()))
    }

    /// Run one SQL statement (written for both databases); the number of rows it changed.
    pub fn execute(&self, sql: &str) -> u64 {
        if self.is_postgres() {
            connect(self.url()).execute(sql, &[]).unwrap()
        } else {
            rusqlite::Connection::open(&self.db)
                .unwrap()
                .execute(sql, [])
                .unwrap() as u64
        }
    }

    /// The first column (text) of every row `sql` returns.
    pub fn strings(&self, sql: &str) -> Vec<String> {
        if self.is_postgres() {
            let rows = connect(self.url()).query(sql, &[]).unwrap();
            rows.iter().map(|r| r.get(0)).collect()
        } else {
            let c = rusqlite::Connection::open(&self.db).unwrap();
            let mut st = c.prepare(sql).unwrap();
            let rows = st.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        }
    }

    /// Everything the database holds, as text (to check what is never stored): the SQLite file's
    /// bytes, or every row of every table of the PostgreSQL database.
    pub fn dump(&self) -> String {
        if !self.is_postgres() {
            return String::from_utf8_lossy(&std::fs::read(&self.db).unwrap()).into_owned();
        }
        let mut c = connect(self.url());
        let tables: Vec<String> = c
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut out = String::new();
        for t in tables {
            for r in c
                .query(&format!("SELECT t::text FROM \"{t}\" t"), &[])
                .unwrap()
            {
                out += &r.get::<_, String>(0);
                out.push('\n');
            }
        }
        out
    }

    fn url(&self) -> &str {
        self.db.to_str().expect("a URL")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE: servers of the test may still hold connections.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropped = std::thread::scope(|s| {
            s.spawn(|| {
                postgres::Client::connect(&self.server, postgres::NoTls)
                    .and_then(|mut c| c.batch_execute(&sql))
            })
            .join()
        });
        if let Ok(Err(e)) = dropped {
            eprintln!("{ENV}: cannot drop database {}: {e}", self.name);
        }
    }
}

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{ENV}: cannot connect: {e}"))
}

/// `url` with its database name replaced by `name` (parameters kept).
fn with_dbname(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let query = tail.split_once('?').map(|(_, q)| q);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}
