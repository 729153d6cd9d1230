//! Keeping the disk cache bounded and clean: sources whose file changed or vanished are purged, temp
//! files left by a killed writer are swept, and beyond a size limit the least recently used sources
//! (and decompressed copies of gzip'd files) are evicted. Everything here tolerates files changing or
//! vanishing under it (another process may be writing the same cache).

use crate::build::SourceManifest;
use crate::cache::CacheLayout;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What is in a cache.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CacheStats {
    pub bytes: u64,
    pub sources: usize,
    /// Sources whose file changed or is gone (purged by a prune).
    pub stale_sources: usize,
    pub stale_bytes: u64,
    /// Decompressed copies of gzip'd files.
    pub unpacked: usize,
    pub unpacked_bytes: u64,
    /// Temp files of writers that are gone (swept by a prune).
    pub orphan_temp_files: usize,
    pub orphan_temp_bytes: u64,
}

/// What a prune did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PruneReport {
    pub stale_removed: usize,
    pub evicted: usize,
    pub temp_removed: usize,
    pub freed_bytes: u64,
    /// The cache's size afterwards.
    pub bytes: u64,
}

/// One evictable unit: a source's folder or an unpacked file.
struct Entry {
    path: PathBuf,
    sid: Option<String>,
    bytes: u64,
    used: SystemTime,
    stale: bool,
}

fn is_sid(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Bytes and newest modification time under `p` (a file or a folder), skipping what vanishes.
fn walk(p: &Path, temps: &mut Vec<(PathBuf, u64)>) -> (u64, SystemTime) {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return (0, SystemTime::UNIX_EPOCH);
    };
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if !meta.is_dir() {
        if is_orphan_temp(p, &meta) {
            temps.push((p.to_owned(), meta.len()));
        }
        return (meta.len(), mtime);
    }
    let (mut bytes, mut newest) = (0, mtime);
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let (b, t) = walk(&e.path(), temps);
            bytes += b;
            newest = newest.max(t);
        }
    }
    (bytes, newest)
}

/// A temp file (`.NAME.<pid>.<n>.tmp`) whose writer is no longer running, or older than a day.
fn is_orphan_temp(p: &Path, meta: &std::fs::Metadata) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if !(name.starts_with('.') && name.ends_with(".tmp")) {
        return false;
    }
    let old = meta
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > Duration::from_secs(86_400));
    // `.NAME.<pid>.<n>.tmp`; unpacked copies written before 0.1 were `.NAME.<pid>.tmp`.
    let mut parts = name.trim_end_matches(".tmp").rsplit('.');
    let (last, before) = (parts.next(), parts.next());
    let pid: Option<i32> = before
        .and_then(|s| s.parse().ok())
        .or_else(|| last.and_then(|s| s.parse().ok()));
    let gone = pid.is_some_and(|pid| {
        // SAFETY: signal 0 only asks whether the process exists.
        pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    });
    old || gone
}

fn entries(layout: &CacheLayout, temps: &mut Vec<(PathBuf, u64)>) -> Vec<Entry> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&layout.root) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if is_sid(&name) {
            let (bytes, newest) = walk(&path, temps);
            // Last use: the manifest is touched whenever a server opens the source.
            let manifest = std::fs::read(layout.manifest(&name))
                .ok()
                .and_then(|b| serde_json::from_slice::<SourceManifest>(&b).ok());
            let used = std::fs::metadata(layout.manifest(&name))
                .and_then(|m| m.modified())
                .unwrap_or(newest);
            // A source whose file changed or is gone can never be served again. One without a
            // manifest is being created (or its writer died): left alone unless over the limit.
            let stale = manifest.is_some_and(|m| !m.key.current());
            out.push(Entry {
                path,
                sid: Some(name),
                bytes,
                used,
                stale,
            });
        } else if path == layout.unpacked() {
            if let Ok(rd) = std::fs::read_dir(&path) {
                for f in rd.flatten() {
                    let (bytes, used) = walk(&f.path(), temps);
                    if !f.file_name().to_string_lossy().starts_with('.') {
                        out.push(Entry {
                            path: f.path(),
                            sid: None,
                            bytes,
                            used,
                            stale: false,
                        });
                    }
                }
            }
        } else {
            walk(&path, temps);
        }
    }
    out
}

/// Count what the cache holds (read-only).
pub fn stats(layout: &CacheLayout) -> CacheStats {
    let mut temps = Vec::new();
    let all = entries(layout, &mut temps);
    let mut s = CacheStats::default();
    for e in &all {
        s.bytes += e.bytes;
        match (&e.sid, e.stale) {
            (Some(_), false) => s.sources += 1,
            (Some(_), true) => {
                s.sources += 1;
                s.stale_sources += 1;
                s.stale_bytes += e.bytes;
            }
            (None, _) => {
                s.unpacked += 1;
                s.unpacked_bytes += e.bytes;
            }
        }
    }
    s.orphan_temp_files = temps.len();
    s.orphan_temp_bytes = temps.iter().map(|t| t.1).sum();
    s
}

fn remove(p: &Path) -> bool {
    let r = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
    r.is_ok() || !p.exists()
}

/// Remove the temp files under `dir` whose writers are gone (a build killed by SIGKILL leaves its
/// half-written tiles as `.NAME.<pid>.<n>.tmp`): (files, bytes) removed. A resumed `tiles build --out`
/// calls it first, so it ends with exactly the files an uninterrupted build writes.
pub fn sweep_orphan_temps(dir: &Path) -> (usize, u64) {
    let mut temps = Vec::new();
    walk(dir, &mut temps);
    let (mut n, mut bytes) = (0, 0);
    for (p, b) in temps {
        if remove(&p) {
            n += 1;
            bytes += b;
        }
    }
    (n, bytes)
}

/// Sweep orphan temp files, purge stale sources, then evict the least recently used entries until
/// the cache holds at most `max_bytes` (0: no size limit). Sources for which `in_use` answers true
/// (open in this server) are evicted last.
pub fn prune(layout: &CacheLayout, max_bytes: u64, in_use: &dyn Fn(&str) -> bool) -> PruneReport {
    let mut temps = Vec::new();
    let mut all = entries(layout, &mut temps);
    let mut rep = PruneReport::default();
    for (p, b) in temps {
        if std::fs::remove_file(&p).is_ok() {
            rep.temp_removed += 1;
            rep.freed_bytes += b;
        }
    }
    let mut total: u64 = all.iter().map(|e| e.bytes).sum::<u64>();
    // Temp files were counted inside their entries; take them off the total once removed.
    total = total.saturating_sub(rep.freed_bytes);
    all.retain(|e| {
        if e.stale && remove(&e.path) {
            rep.stale_removed += 1;
            rep.freed_bytes += e.bytes;
            total = total.saturating_sub(e.bytes);
            false
        } else {
            true
        }
    });
    if max_bytes > 0 && total > max_bytes {
        // Oldest first; what this server has open goes last.
        all.sort_by_key(|e| (e.sid.as_deref().is_some_and(in_use), e.used));
        for e in all {
            if total <= max_bytes {
                break;
            }
            if remove(&e.path) {
                rep.evicted += 1;
                rep.freed_bytes += e.bytes;
                total = total.saturating_sub(e.bytes);
            }
        }
    }
    rep.bytes = total;
    rep
}

/// Mark a source as used now (its manifest's modification time), for least-recently-used eviction.
pub fn touch(layout: &CacheLayout, sid: &str) {
    if let Ok(f) = std::fs::File::options()
        .write(true)
        .open(layout.manifest(sid))
    {
        let _ = f.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, BuildOptions, Source, Target};
    use toyz_skygen::{write_fits, SkySpec};

    fn cached(layout: &CacheLayout, path: &Path) -> Source {
        let src = Source::open(path, &toyz_fits::HduSel::Auto, 0).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        build(
            &src,
            &Target::Cache(layout.root.clone()),
            &BuildOptions::default(),
            &|_| {},
            &stop,
        )
        .unwrap();
        src
    }

    #[test]
    fn stale_sources_orphan_temps_and_the_size_limit() {
        let d = tempfile::tempdir().unwrap();
        let layout = CacheLayout::new(d.path().join("cache"));
        let (a, b, c) = (
            d.path().join("a.fits"),
            d.path().join("b.fits"),
            d.path().join("c.fits"),
        );
        for p in [&a, &b, &c] {
            write_fits(p, &SkySpec::new(700, 600)).unwrap();
        }
        let (sa, sb, sc) = (
            cached(&layout, &a),
            cached(&layout, &b),
            cached(&layout, &c),
        );
        // b is used most recently, a least.
        for (s, age) in [(&sa, 300), (&sc, 200), (&sb, 100)] {
            let f = std::fs::File::options()
                .write(true)
                .open(layout.manifest(&s.id))
                .unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(age))
                .unwrap();
        }
        // A temp file of a writer that died (no such pid), and one of this live process.
        let dead = layout.source_dir(&sa.id).join(".7.png.999999999.3.tmp");
        std::fs::write(&dead, b"half a tile").unwrap();
        let live = layout
            .source_dir(&sa.id)
            .join(format!(".8.png.{}.1.tmp", std::process::id()));
        std::fs::write(&live, b"being written").unwrap();
        // An unpacked .gz copy cut short by a killed process, in both namings.
        std::fs::create_dir_all(layout.unpacked()).unwrap();
        for name in [
            ".00aa11bb22cc33dd.fits.999999999.0.tmp",
            ".00aa11bb22cc33de.fits.999999999.tmp",
        ] {
            std::fs::write(layout.unpacked().join(name), b"half a file").unwrap();
        }
        // c changes: its cached tiles are for pixels that no longer exist.
        std::thread::sleep(Duration::from_millis(5));
        write_fits(&c, &SkySpec::ramp(700, 600)).unwrap();

        let s = stats(&layout);
        assert_eq!((s.sources, s.stale_sources, s.orphan_temp_files), (3, 1, 3));
        let per_source = (s.bytes - 22) / 3;

        let r = prune(&layout, 0, &|_| false);
        assert_eq!((r.stale_removed, r.temp_removed, r.evicted), (1, 3, 0));
        assert_eq!(std::fs::read_dir(layout.unpacked()).unwrap().count(), 0);
        assert!(!layout.source_dir(&sc.id).exists() && !dead.exists() && live.exists());

        // Room for one source: a (oldest) goes, b stays.
        let r = prune(&layout, per_source + per_source / 2, &|_| false);
        assert_eq!(r.evicted, 1);
        assert!(!layout.source_dir(&sa.id).exists());
        assert!(layout.source_dir(&sb.id).exists());
        assert!(r.bytes <= per_source + per_source / 2);
        assert_eq!(stats(&layout).bytes, r.bytes);

        // A source in use is evicted only when nothing else is left.
        let sa = cached(&layout, &a);
        touch(&layout, &sa.id);
        let r = prune(&layout, per_source + per_source / 2, &|sid| sid == sb.id);
        assert_eq!(r.evicted, 1);
        assert!(layout.source_dir(&sb.id).exists(), "kept: in use");
        assert!(!layout.source_dir(&sa.id).exists());
    }
}
