//! Server settings: defaults, a TOML file and command-line overrides (CLI > file > defaults). Unknown
//! keys in the file are an error, never silently ignored.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A data root: URL paths `NAME/…` map to files under `path` (canonical).
#[derive(Debug, Clone)]
pub struct Root {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub roots: Vec<Root>,
    pub bind: String,
    /// The local cache folder: float levels and decompressed copies, and the tiles too unless
    /// `cache` is an object store (then this is `levels`).
    pub cache_dir: PathBuf,
    /// Where tiles, specs and source manifests are kept (`--cache`, config `cache`): the folder
    /// `cache_dir`, or `s3://BUCKET/PREFIX` shared by replicas.
    pub tiles: toyz_pyramid::CacheLocation,
    /// How to reach an object store (`[s3]`, with the environment for what is unset).
    pub s3: toyz_pyramid::objstore::S3Options,
    /// Bytes of PNG tiles kept in memory.
    pub memory_cache: u64,
    /// Renders running or waiting at once; beyond this the server answers 503 + Retry-After.
    pub max_renders: usize,
    /// How long a tile request waits for the float levels of a never-seen image.
    pub level_wait: Duration,
    /// How long after a failed level build (a full disk, a read error) the next request tries again.
    pub level_retry: Duration,
    /// Open sources kept in memory (each holds its ~1 Mpixel statistics sample).
    pub max_sources: usize,
    /// What clients can make the server hold: see [`Limits`].
    pub limits: Limits,
    /// Bytes of the disk cache (tiles and levels of all sources) before the least recently used
    /// sources are evicted; 0: no limit.
    pub cache_max: u64,
    /// Accounts and logins (`--auth`, config `auth`): see `auth.rs`.
    pub auth: bool,
    /// Serve everything read-only to anyone on a public address without `--auth`, on purpose.
    pub public: bool,
    /// The account database (`--db`, config `database`; default `toyz.sqlite` beside the config
    /// file, or in the working directory): a SQLite file, or a `postgres://` URL kept as it is.
    pub database: PathBuf,
    pub auth_settings: AuthSettings,
    /// Host names requests may name (`Host`), config `hosts`; empty: IP addresses and `localhost`
    /// without accounts, anything with them (see `host_allowed`).
    pub hosts: Vec<String>,
}

/// Settings of authentication (config keys `auth`, `database`, `session_idle_hours`,
/// `session_max_hours`, `origins`).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub idle: Duration,
    pub absolute: Duration,
    /// Origins besides the server's own that may open WebSockets (`https://host:port`).
    pub origins: Vec<String>,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            idle: Duration::from_secs(8 * 3600),
            absolute: Duration::from_secs(7 * 24 * 3600),
            origins: Vec::new(),
        }
    }
}

/// Bounds on what one client, one session and all of them together can make the server hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes that memory-heavy work (cutouts, statistics, catalogs, detection) may hold at once over
    /// the whole server; work reserves its estimate first and is answered `busy` when it cannot.
    pub memory_budget: u64,
    /// Bytes of `session.set` values one session keeps.
    pub session_state: usize,
    /// Largest reply sent over a session socket; bigger ones are replaced by a `too_large` error.
    pub reply_bytes: usize,
    /// Catalog rows kept by one session, and by all sessions together.
    pub catalog_rows_session: usize,
    pub catalog_rows_server: usize,
    /// Bytes the open sources may hold together (statistics samples and overviews, about 12 MiB for a
    /// large image); beyond it the least recently used are closed, as beyond `max_sources`.
    pub sources_memory: u64,
    /// Render specs' colour tables (about 70 KiB each) kept by the whole server; the least recently
    /// used are dropped first (and made again when needed).
    pub renderers: usize,
    /// Connections open at once, in all and from one client address (see `guard::ConnLimits`).
    pub connections: usize,
    pub connections_per_address: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_budget: 2 << 30,
            session_state: 1 << 20,
            reply_bytes: 16 << 20,
            catalog_rows_session: 2_000_000,
            catalog_rows_server: 10_000_000,
            renderers: 1024,
            sources_memory: 512 << 20,
            connections: default_connections(),
            connections_per_address: 256,
        }
    }
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// 10,000 connections, or half the open files the process may have if that is less (each
/// connection is a descriptor; files, the cache and the database need the rest).
fn default_connections() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    let files = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur as usize
    } else {
        1024
    };
    (files / 2).clamp(64, 10_000)
}

/// The `toyz.toml` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub cache: Option<PathBuf>,
    /// With an object-store cache: the local folder of float levels.
    pub levels: Option<PathBuf>,
    /// Object-store settings (`[s3]`); unset ones come from the environment (`AWS_*`).
    pub s3: Option<toyz_pyramid::objstore::S3Options>,
    pub memory_cache: Option<String>,
    pub max_renders: Option<usize>,
    pub level_wait_seconds: Option<u64>,
    pub level_retry_seconds: Option<u64>,
    pub max_sources: Option<usize>,
    pub memory_budget: Option<String>,
    pub session_state_max: Option<String>,
    pub reply_max: Option<String>,
    pub catalog_rows_session: Option<usize>,
    pub catalog_rows_server: Option<usize>,
    pub renderers: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_connections_per_address: Option<usize>,
    pub sources_memory: Option<String>,
    pub cache_max: Option<String>,
    pub auth: Option<bool>,
    pub public: Option<bool>,
    pub database: Option<PathBuf>,
    pub session_idle_hours: Option<u64>,
    pub session_max_hours: Option<u64>,
    pub origins: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub roots: Option<BTreeMap<String, PathBuf>>,
}

/// What the command line gave (None/empty: not given).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub cache: Option<PathBuf>,
    pub levels: Option<PathBuf>,
    pub memory_cache: Option<String>,
    pub memory_budget: Option<String>,
    pub cache_max: Option<String>,
    pub roots: Vec<(String, PathBuf)>,
    /// `--auth` / `--public` (false: as the file says).
    pub auth: bool,
    pub public: bool,
    pub database: Option<PathBuf>,
}

/// `256MiB`, `1G`, `500MB`, `65536`: binary units for K/M/G with or without `i`/`B`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad size '{s}': expected e.g. 256MiB"))?;
    let mult = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches('b')
        .trim_end_matches('i')
    {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("bad size '{s}': units are K, M, G (KiB, MiB, GiB)")),
    };
    Ok((n * mult as f64) as u64)
}

fn check_root(name: &str, path: &Path) -> Result<Root, String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(format!(
            "root name '{name}': use letters, digits, '_', '-', '.' (not leading)"
        ));
    }
    let canon =
        std::fs::canonicalize(path).map_err(|e| format!("root {name}={}: {e}", path.display()))?;
    if !canon.is_dir() {
        return Err(format!("root {name}={}: not a directory", path.display()));
    }
    Ok(Root {
        name: name.to_owned(),
        path: canon,
    })
}

impl Config {
    /// Defaults, then the file (if any), then the command line.
    pub fn load(file: Option<&Path>, cli: Overrides) -> Result<Config, String> {
        let fc: FileConfig = match file {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {}", p.display(), e.message()))?
            }
            None => FileConfig::default(),
        };
        let base = file.and_then(Path::parent).unwrap_or(Path::new("."));
        let mut roots = Vec::new();
        if cli.roots.is_empty() {
            for (name, path) in fc.roots.unwrap_or_default() {
                // Relative root paths in a config file are relative to the file.
                roots.push(check_root(&name, &base.join(path))?);
            }
        } else {
            for (name, path) in &cli.roots {
                roots.push(check_root(name, path)?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for r in &roots {
            if !seen.insert(r.name.clone()) {
                return Err(format!("root '{}' is given twice", r.name));
            }
        }
        let memory = match cli.memory_cache.or(fc.memory_cache) {
            Some(s) => parse_size(&s)?,
            None => 256 << 20,
        };
        let d = Limits::default();
        let size_or = |v: Option<String>, default: u64| v.map_or(Ok(default), |s| parse_size(&s));
        let limits = Limits {
            memory_budget: size_or(cli.memory_budget.or(fc.memory_budget), d.memory_budget)?,
            session_state: size_or(fc.session_state_max, d.session_state as u64)? as usize,
            reply_bytes: size_or(fc.reply_max, d.reply_bytes as u64)? as usize,
            catalog_rows_session: fc.catalog_rows_session.unwrap_or(d.catalog_rows_session),
            catalog_rows_server: fc.catalog_rows_server.unwrap_or(d.catalog_rows_server),
            renderers: fc.renderers.unwrap_or(d.renderers).max(1),
            connections: fc.max_connections.unwrap_or(d.connections).max(1),
            connections_per_address: fc
                .max_connections_per_address
                .unwrap_or(d.connections_per_address)
                .max(1),
            sources_memory: size_or(fc.sources_memory, d.sources_memory)?,
        };
        if limits.memory_budget < 64 << 20 {
            return Err("memory_budget must be at least 64MiB".into());
        }
        let cache_max = size_or(cli.cache_max.or(fc.cache_max), 20 << 30)?;
        let hours = |h: Option<u64>, default: u64, key: &str| match h.unwrap_or(default) {
            0 => Err(format!("{key} must be at least 1")),
            h => Ok(Duration::from_secs(h.saturating_mul(3600))),
        };
        let auth_settings = AuthSettings {
            idle: hours(fc.session_idle_hours, 8, "session_idle_hours")?,
            absolute: hours(fc.session_max_hours, 24 * 7, "session_max_hours")?,
            origins: fc.origins.clone().unwrap_or_default(),
        };
        let max_renders = fc.max_renders.unwrap_or(64);
        let cache = cli
            .cache
            .or(fc.cache.map(|c| {
                if c.to_string_lossy().contains("://") {
                    c
                } else {
                    base.join(c)
                }
            }))
            .unwrap_or_else(|| PathBuf::from("tile-cache"));
        let tiles = toyz_pyramid::CacheLocation::parse(&cache)?;
        let levels = cli.levels.or(fc.levels.map(|l| base.join(l)));
        let cache_dir = match (&tiles, levels) {
            (toyz_pyramid::CacheLocation::Folder(p), None) => p.clone(),
            (toyz_pyramid::CacheLocation::Folder(_), Some(_)) => {
                return Err(
                    "levels: only for an s3:// cache (a folder cache keeps its own levels)".into(),
                )
            }
            (_, l) => l.unwrap_or_else(|| PathBuf::from("tile-cache")),
        };
        let s3 = fc.s3.clone().unwrap_or_default();
        if max_renders == 0 {
            return Err("max_renders must be at least 1".into());
        }
        // A file path in the config file is relative to the file; a URL (postgres://…) is kept.
        let database = cli
            .database
            .or(fc.database.map(|d| {
                if crate::accounts::is_database_url(&d) {
                    d
                } else {
                    base.join(d)
                }
            }))
            .unwrap_or_else(|| base.join("toyz.sqlite"));
        crate::accounts::database_kind(&database).map_err(|e| e.to_string())?;
        Ok(Config {
            roots,
            bind: cli
                .bind
                .or(fc.bind)
                .unwrap_or_else(|| DEFAULT_BIND.to_owned()),
            cache_dir,
            tiles,
            s3,
            memory_cache: memory,
            max_renders,
            level_wait: Duration::from_secs(fc.level_wait_seconds.unwrap_or(120)),
            level_retry: Duration::from_secs(fc.level_retry_seconds.unwrap_or(30)),
            max_sources: fc.max_sources.unwrap_or(64).max(1),
            limits,
            cache_max,
            auth: cli.auth || fc.auth.unwrap_or(false),
            public: cli.public || fc.public.unwrap_or(false),
            database,
            auth_settings,
            hosts: fc
                .hosts
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        })
    }
}

impl Config {
    /// The tile store `tiles` names, opened: how the parsed config is resolved into the live object
    /// (the config itself holds none). An object store is not contacted until its `check`.
    pub fn open_tile_store(&self) -> std::io::Result<std::sync::Arc<dyn toyz_pyramid::TileStore>> {
        Ok(match &self.tiles {
            toyz_pyramid::CacheLocation::Folder(p) => {
                std::sync::Arc::new(toyz_pyramid::FolderStore::new(p))
            }
            toyz_pyramid::CacheLocation::S3 { bucket, prefix } => std::sync::Arc::new(
                toyz_pyramid::objstore::S3Store::new(bucket, prefix, &self.s3)?,
            ),
        })
    }

    /// May a request name `host` (its `Host` header, port and all)? A page on another site that
    /// rebinds its own DNS name to this server's address (DNS rebinding) sends that name: without
    /// accounts, only IP addresses, `localhost` and the configured `hosts` are answered, so such a
    /// page reaches nothing. With accounts any name is (the page has no login cookie for it) unless
    /// `hosts` lists them.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return true;
        };
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(n, _)| n),
        }
        .trim_end_matches('.')
        .to_ascii_lowercase();
        if self.hosts.contains(&name) {
            return true;
        }
        if !self.hosts.is_empty() || !self.auth {
            return name == "localhost"
                || name.ends_with(".localhost")
                || name.parse::<std::net::IpAddr>().is_ok();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn precedence_and_unknown_keys() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("data")).unwrap();
        let f = d.path().join("toyz.toml");
        std::fs::write(
            &f,
            "bind = \"127.0.0.1:9000\"\nmemory_cache = \"16MiB\"\n[roots]\nsky = \"data\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), Overrides::default()).unwrap();
        assert_eq!(c.bind, "127.0.0.1:9000");
        assert_eq!(c.memory_cache, 16 << 20);
        assert_eq!(c.roots[0].name, "sky");
        let c = Config::load(
            Some(&f),
            Overrides {
                bind: Some("127.0.0.1:0".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:0", "command line wins");
        std::fs::write(&f, "bnd = \"x\"\n").unwrap();
        let e = Config::load(Some(&f), Overrides::default()).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let e = Config::load(
            None,
            Overrides {
                roots: vec![("../x".into(), d.path().into())],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("root name"));
        assert_eq!(
            Config::load(None, Overrides::default()).unwrap().bind,
            DEFAULT_BIND
        );
    }

    /// `database`: a file beside the config file, a postgres:// URL as written, other schemes refused
    /// (without the URL's password).
    #[test]
    fn database_paths_and_urls() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("toyz.toml");
        let load = |value: &str| {
            std::fs::write(&f, format!("database = \"{value}\"\n")).unwrap();
            Config::load(Some(&f), Overrides::default()).map(|c| c.database)
        };
        assert_eq!(
            load("accounts.sqlite").unwrap(),
            d.path().join("accounts.sqlite")
        );
        let url = "postgres://toyz:secret@db.example:5432/toyz";
        assert_eq!(load(url).unwrap(), PathBuf::from(url));
        let e = load("mysql://toyz:secret@db.example/toyz").unwrap_err();
        assert!(e.contains("unsupported") && !e.contains("secret"), "{e}");
    }

    /// The parsed config is plain settings (it can be cloned and compared by value); the tile store
    /// is opened only when it is resolved, and an object store is not contacted by opening it.
    #[test]
    fn the_tile_store_is_opened_when_the_config_is_resolved() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("toyz.toml");
        std::fs::write(&f, "cache = \"tiles\"\n").unwrap();
        let c = Config::load(Some(&f), Overrides::default()).unwrap();
        assert_eq!(c.cache_dir, d.path().join("tiles"));
        let store = c.open_tile_store().unwrap();
        assert_eq!(store.folder(), Some(d.path().join("tiles").as_path()));
        std::fs::write(
            &f,
            "cache = \"s3://night/2026\"\nlevels = \"levels\"\n\
             [s3]\nendpoint = \"http://127.0.0.1:9\"\nallow_http = true\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), Overrides::default()).unwrap();
        assert_eq!(c.s3.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(c.cache_dir, d.path().join("levels"));
        // Nothing listens on port 9: opening does not reach it, checking does.
        let store = c.clone().open_tile_store().unwrap();
        assert_eq!(store.describe(), "s3://night/2026");
        assert!(store.folder().is_none());
    }
}
