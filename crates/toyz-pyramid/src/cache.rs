//! The disk cache layout and its ids: `<root>/<source-id>/manifest.json`, `…/levels/<z>.f32`,
//! `…/<render-id>/<z>/<x>/<y>.png`, `…/<render-id>/render.json`; atomic writes (temp file + rename).

use crate::spec::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What identifies a source: a change to any of these gives new tile URLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceKey {
    pub path: PathBuf,
    pub hdu: usize,
    pub plane: usize,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
    /// Device, inode and status-change time (ns) of the file: with size and mtime, the version of the
    /// file (`toyz_fits::FileVersion`); an in-place rewrite of the same size still changes the id.
    #[serde(default)]
    pub dev: u64,
    #[serde(default)]
    pub ino: u64,
    #[serde(default)]
    pub ctime_ns: i128,
    /// A composite image's selector (`mosaic`, `mosaic:detsec`); absent for one HDU, whose ids are
    /// unchanged by its introduction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl SourceKey {
    pub fn of(img: &dyn toyz_fits::Raster) -> SourceKey {
        let k = img.cache_key();
        let v = k.version;
        SourceKey {
            path: k.path,
            hdu: k.hdu,
            plane: k.plane,
            size: v.size,
            mtime_ns: v.mtime_ns.max(0) as u128,
            dev: v.dev,
            ino: v.ino,
            ctime_ns: v.ctime_ns,
            variant: k.variant,
        }
    }

    /// True while the file named by the key's path is the version the key was made from.
    pub fn current(&self) -> bool {
        toyz_fits::FileVersion::of_path(&self.path).is_ok_and(|v| {
            v.size == self.size
                && v.mtime_ns.max(0) as u128 == self.mtime_ns
                && v.dev == self.dev
                && v.ino == self.ino
                && v.ctime_ns == self.ctime_ns
        })
    }

    /// 16 hex digits of SHA-256 over the canonical path, HDU, plane, file version (and variant).
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.path.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(
            format!(
                "{}\0{}\0{}\0{}\0{}\0{}\0{}",
                self.hdu, self.plane, self.size, self.mtime_ns, self.dev, self.ino, self.ctime_ns
            )
            .as_bytes(),
        );
        if let Some(v) = &self.variant {
            h.update([0]);
            h.update(v.as_bytes());
        }
        hex(&h.finalize()[..8])
    }
}

/// Paths inside a cache root.
#[derive(Debug, Clone)]
pub struct CacheLayout {
    pub root: PathBuf,
}

impl CacheLayout {
    pub fn new(root: impl Into<PathBuf>) -> CacheLayout {
        CacheLayout { root: root.into() }
    }
    pub fn source_dir(&self, sid: &str) -> PathBuf {
        self.root.join(sid)
    }
    pub fn manifest(&self, sid: &str) -> PathBuf {
        self.source_dir(sid).join("manifest.json")
    }
    pub fn level_file(&self, sid: &str, z: u32) -> PathBuf {
        self.source_dir(sid).join("levels").join(format!("{z}.f32"))
    }
    pub fn render_dir(&self, sid: &str, rid: &str) -> PathBuf {
        self.source_dir(sid).join(rid)
    }
    /// Decompressed copies of gzip'd files (`toyz_fits::Pinned::open_unpacked`).
    pub fn unpacked(&self) -> PathBuf {
        self.root.join("unpacked")
    }
    pub fn tile(&self, sid: &str, rid: &str, z: u32, x: u32, y: u32) -> PathBuf {
        self.render_dir(sid, rid)
            .join(z.to_string())
            .join(x.to_string())
            .join(format!("{y}.png"))
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A temp name next to `path`, unique per process and call, so concurrent writers never share one.
pub fn temp_path(path: &Path) -> PathBuf {
    let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Write `bytes` to `path` atomically: readers see the old file or the whole new one, never a part.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temp_path(path);
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_id_changes_with_any_part_of_the_key() {
        let k = SourceKey {
            path: "/data/a.fits".into(),
            hdu: 0,
            plane: 0,
            size: 100,
            mtime_ns: 5,
            dev: 1,
            ino: 2,
            ctime_ns: 7,
            variant: None,
        };
        let id = k.id();
        assert_eq!(id.len(), 16);
        assert_eq!(id, k.clone().id());
        for other in [
            SourceKey {
                hdu: 1,
                ..k.clone()
            },
            SourceKey {
                plane: 1,
                ..k.clone()
            },
            SourceKey {
                size: 101,
                ..k.clone()
            },
            SourceKey {
                mtime_ns: 6,
                ..k.clone()
            },
            SourceKey {
                ino: 3,
                ..k.clone()
            },
            SourceKey {
                dev: 3,
                ..k.clone()
            },
            SourceKey {
                ctime_ns: 8,
                ..k.clone()
            },
            SourceKey {
                path: "/data/b.fits".into(),
                ..k.clone()
            },
            SourceKey {
                variant: Some("mosaic".into()),
                ..k.clone()
            },
            SourceKey {
                variant: Some("mosaic:detsec".into()),
                ..k.clone()
            },
        ] {
            assert_ne!(other.id(), id);
        }
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c.png");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two!").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two!");
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }
}
