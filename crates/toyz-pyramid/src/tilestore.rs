//! Where tiles and the small files that describe them (a source's `manifest.json`, a render's
//! `spec.json`, a finished build's `render.json`) are kept: one interface ([`TileStore`]: get, put,
//! exists, list a prefix, delete a prefix) over keys like `SID/RID/Z/X/Y.png`, so that the local
//! folder and an object store stand behind the same server and the same `toyz tiles build`.
//! [`FolderStore`] is the local folder (the layout of `tile-cache/README.md`); a put is whole or
//! absent (temp file + rename). [`crate::objstore::S3Store`] is a bucket (`s3://BUCKET/PREFIX`).
//!
//! The float levels a server renders from are not in the store: they stay in a local folder
//! (`CacheLayout`), read through guarded maps (see docs/architecture.md for why).

use crate::cache::atomic_write;
use crate::objstore::{S3Options, S3Store};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Tiles and their manifests by key. Implementations are shared between threads.
pub trait TileStore: Send + Sync + std::fmt::Debug {
    /// The bytes under `key`, `None` when there are none.
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// Store `bytes` under `key`: readers see the old value or the whole new one, never a part.
    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    fn exists(&self, key: &str) -> io::Result<bool>;
    /// Every key under `prefix` (a key prefix ending in `/`, or a whole key), sorted.
    fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Delete every key under `prefix`; how many were deleted.
    fn delete_prefix(&self, prefix: &str) -> io::Result<u64>;
    /// The store for messages: a folder or a URL.
    fn describe(&self) -> String;
    /// Reach the store (an object store: one request), so that a wrong endpoint, bucket or key is
    /// an error at start rather than at the first tile.
    fn check(&self) -> io::Result<()> {
        Ok(())
    }
    /// The folder, for a local folder store.
    fn folder(&self) -> Option<&Path> {
        None
    }
}

/// Where tiles are kept, as given by `--cache` or the config key `cache`.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheLocation {
    Folder(PathBuf),
    /// `s3://BUCKET/PREFIX` (the prefix may be empty).
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl CacheLocation {
    /// A folder, or `s3://BUCKET[/PREFIX]`; any other `scheme://` is refused with a reason (it would
    /// otherwise become a local folder named `scheme:`).
    pub fn parse(cache: &Path) -> Result<CacheLocation, String> {
        let s = cache.to_string_lossy();
        match s.split_once("://") {
            Some(("s3", rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let prefix = prefix.trim_matches('/');
                let bucket_ok = (3..=63).contains(&bucket.len())
                    && bucket.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                    });
                if !bucket_ok {
                    return Err(format!(
                        "cache '{s}': '{bucket}' is not a bucket name (3 to 63 of a-z, 0-9, '-', '.')"
                    ));
                }
                if !prefix.is_empty() && check_key(prefix).is_err() {
                    return Err(format!(
                        "cache '{s}': '{prefix}' is not a usable key prefix"
                    ));
                }
                Ok(CacheLocation::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                })
            }
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
            {
                Err(format!(
                    "cache '{s}': unknown scheme '{scheme}://'; give a folder or s3://BUCKET/PREFIX"
                ))
            }
            _ => Ok(CacheLocation::Folder(cache.to_owned())),
        }
    }

    /// Open the store (an object store is reached once, so that a wrong endpoint, bucket or key is
    /// an error now).
    pub fn open(&self, s3: &S3Options) -> io::Result<Arc<dyn TileStore>> {
        Ok(match self {
            CacheLocation::Folder(p) => Arc::new(FolderStore::new(p)),
            CacheLocation::S3 { bucket, prefix } => {
                let s = S3Store::new(bucket, prefix, s3)?;
                TileStore::check(&s)?;
                Arc::new(s)
            }
        })
    }
}

/// A cache that must be a folder (`toyz cache stats|prune`, the float levels): anything else is
/// refused with a reason.
pub fn check_cache_location(cache: &Path) -> Result<(), String> {
    match CacheLocation::parse(cache)? {
        CacheLocation::Folder(_) => Ok(()),
        CacheLocation::S3 { .. } => Err(format!(
            "cache '{}': this command works on a local folder, not an object store",
            cache.display()
        )),
    }
}

/// The key of a tile.
pub fn tile_key(sid: &str, rid: &str, z: u32, x: u32, y: u32) -> String {
    format!("{sid}/{rid}/{z}/{x}/{y}.png")
}

/// The key of a source's manifest.
pub fn manifest_key(sid: &str) -> String {
    format!("{sid}/manifest.json")
}

/// The key of a render's spec.
pub fn spec_key(sid: &str, rid: &str) -> String {
    format!("{sid}/{rid}/spec.json")
}

/// Keys are relative, `/`-separated, without empty, `.`, `..` or hidden components, backslashes or
/// control characters: a key can never name anything outside the store.
pub(crate) fn check_key(key: &str) -> io::Result<&str> {
    let k = key.trim_end_matches('/');
    let ok = !k.is_empty()
        && !k.starts_with('/')
        && k.split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.contains('\\'))
        && !k.chars().any(char::is_control);
    if ok {
        Ok(k)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{key}' is not a tile-store key"),
        ))
    }
}

/// The local folder cache.
#[derive(Debug, Clone)]
pub struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    pub fn new(root: impl Into<PathBuf>) -> FolderStore {
        FolderStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        Ok(self.root.join(check_key(key)?))
    }
}

fn absent<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every file under `dir` (hidden names, such as temp files, left out), as keys under `prefix`.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let Some(rd) = absent(std::fs::read_dir(dir))? else {
        return Ok(());
    };
    for e in rd {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let key = format!("{prefix}{name}");
        if e.file_type()?.is_dir() {
            walk(&e.path(), &format!("{key}/"), out)?;
        } else {
            out.push(key);
        }
    }
    Ok(())
}

impl TileStore for FolderStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        absent(std::fs::read(self.path(key)?))
    }

    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        atomic_write(&self.path(key)?, bytes)
    }

    fn exists(&self, key: &str) -> io::Result<bool> {
        Ok(absent(std::fs::metadata(self.path(key)?))?.is_some_and(|m| m.is_file()))
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let p = self.path(prefix)?;
        match absent(std::fs::metadata(&p))? {
            Some(m) if m.is_file() => out.push(check_key(prefix)?.to_owned()),
            Some(_) => walk(&p, &format!("{}/", check_key(prefix)?), &mut out)?,
            None => {}
        }
        out.sort();
        Ok(out)
    }

    fn delete_prefix(&self, prefix: &str) -> io::Result<u64> {
        let n = self.list(prefix)?.len() as u64;
        let p = self.path(prefix)?;
        match absent(std::fs::metadata(&p))? {
            Some(m) if m.is_dir() => std::fs::remove_dir_all(&p)?,
            Some(_) => std::fs::remove_file(&p)?,
            None => {}
        }
        Ok(n)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn folder(&self) -> Option<&Path> {
        Some(&self.root)
    }
}
