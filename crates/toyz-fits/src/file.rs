//! Files as the engine holds them: opened once, checked to be regular files without blocking, and
//! reopened (cfitsio keeps a handle per thread) only through the descriptor, never by name again. A
//! name swapped for another file (or a symlink) after it was checked cannot change what is read, and a
//! FIFO never hangs an open. A [`FileVersion`] tells whether the file behind a name is still the same.

use crate::error::{FitsError, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Which bytes a name held: a change to any of these (an in-place rewrite, a new file renamed over
/// the old one, a `touch`) may be different pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileVersion {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification and status-change times, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileVersion {
    pub fn of(m: &Metadata) -> FileVersion {
        FileVersion {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        }
    }

    /// The version of whatever `path` names now.
    pub fn of_path(path: &Path) -> std::io::Result<FileVersion> {
        std::fs::metadata(path).map(|m| FileVersion::of(&m))
    }
}

/// A regular file opened for reading, with the version it had when opened.
#[derive(Debug)]
pub struct Pinned {
    file: File,
    shown: PathBuf,
    version: FileVersion,
    /// Bytes of `file` when opened (for an unpacked copy: the decompressed size, while `version`
    /// is the original's).
    len: u64,
    /// What the header check before cfitsio found (see `prescan`), made once.
    headers: std::sync::OnceLock<std::result::Result<(), String>>,
}

/// Deflate cannot compress by more than about 1032:1: more output than this is not a real file.
pub(crate) const GZIP_MAX_RATIO: u64 = 1100;

const PROC_FD: &str = "/proc/self/fd/";

/// The lock of one unpacked copy (see `open_unpacked_within`); forgotten when nobody holds it.
fn unpack_lock(target: &Path) -> std::sync::Arc<std::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut m = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // Only locks someone else still holds are kept: the map stays as small as the opens in flight.
    m.retain(|_, l| Arc::strong_count(l) > 1);
    m.entry(target.to_owned()).or_default().clone()
}

impl Pinned {
    /// Open `path` (`O_NONBLOCK`, so a FIFO or device never blocks the caller) and refuse anything but
    /// a regular file. A path `/proc/self/fd/N` (how the server hands over a file it resolved inside a
    /// data root) is reported by the name the descriptor leads to.
    pub fn open(path: &Path) -> Result<Pinned> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let shown = if path.starts_with(PROC_FD) {
            std::fs::read_link(path).unwrap_or_else(|_| path.to_owned())
        } else {
            path.to_owned()
        };
        let meta = file.metadata().map_err(|e| io_err(&shown, e))?;
        if meta.is_dir() {
            return Err(FitsError::NotFits { path: shown });
        }
        if !meta.is_file() {
            return Err(FitsError::NotRegular { path: shown });
        }
        Ok(Pinned {
            version: FileVersion::of(&meta),
            len: meta.len(),
            file,
            shown,
            headers: std::sync::OnceLock::new(),
        })
    }

    /// [`Pinned::open`], and for a gzip'd file its decompressed copy in `dir`, made once per file
    /// version (named by it, written to a temp file and renamed, reused by every later open): cfitsio
    /// would otherwise decompress the whole file into memory again for every thread that reads it.
    /// The copy keeps the original's name and version, so ids and messages are the original's.
    pub fn open_unpacked(path: &Path, dir: &Path) -> Result<Pinned> {
        Pinned::open_unpacked_within(path, dir, u64::MAX)
    }

    /// [`Pinned::open_unpacked`] writing at most `limit` bytes (a cache's size limit): a file that
    /// decompresses to more is refused as `TooLarge` and nothing of it stays on disk.
    ///
    /// Concurrent opens of one file in this process unpack it once: the others wait for that copy
    /// (two first opens at once used to write the same temp file, and one renamed it half written).
    /// Temp files are named `.NAME.<pid>.<n>.tmp`, so a copy cut short by a killed process is swept
    /// by the cache's collector.
    pub fn open_unpacked_within(path: &Path, dir: &Path, limit: u64) -> Result<Pinned> {
        let p = Pinned::open(path)?;
        if !p.is_gzip() {
            return Ok(p);
        }
        let v = p.version;
        // FNV-1a over the version: a stable name for this version of this file.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in [
            v.dev as i128,
            v.ino as i128,
            v.size as i128,
            v.mtime_ns,
            v.ctime_ns,
        ]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        let target = dir.join(format!("{h:016x}.fits"));
        let shown = p.shown.clone();
        let bad = |e: std::io::Error| FitsError::BadGzip {
            path: shown.clone(),
            message: e.to_string(),
        };
        let lock = unpack_lock(&target);
        let _one = lock.lock().unwrap_or_else(|e| e.into_inner());
        if !target.exists() {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
            static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = dir.join(format!(".{h:016x}.fits.{}.{n}.tmp", std::process::id()));
            let r = (|| -> Result<()> {
                let mut out = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
                let ratio = v.size.saturating_mul(GZIP_MAX_RATIO);
                let most = ratio.min(limit);
                let mut gz = flate2::read::MultiGzDecoder::new(p.reader()).take(most + 1);
                let n = std::io::copy(&mut gz, &mut out).map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::UnexpectedEof => bad(e),
                    _ => io_err(&tmp, e),
                })?;
                if n > ratio {
                    return Err(bad(std::io::Error::other(format!(
                        "decompresses to more than {ratio} bytes"
                    ))));
                }
                if n > limit {
                    return Err(FitsError::TooLarge {
                        path: shown.clone(),
                        message: format!(
                            "decompresses to more than the cache may hold ({limit} bytes)"
                        ),
                    });
                }
                std::fs::rename(&tmp, &target).map_err(|e| io_err(&target, e))
            })();
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r?;
        }
        let mut u = Pinned::open(&target)?;
        // Used now: eviction of the unpacked copies goes by modification time.
        let _ = u.file.set_modified(std::time::SystemTime::now());
        u.shown = p.shown;
        u.version = p.version;
        Ok(u)
    }

    pub fn file(&self) -> &File {
        &self.file
    }
    /// The name to show in messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }
    pub fn version(&self) -> FileVersion {
        self.version
    }
    /// Bytes that can be read.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A name that opens this very file again (for cfitsio): the descriptor's `/proc` entry on Linux.
    pub fn reopen_path(&self) -> PathBuf {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            PathBuf::from(format!("{PROC_FD}{}", self.file.as_raw_fd()))
        }
        #[cfg(not(target_os = "linux"))]
        self.shown.clone()
    }

    /// Up to `buf.len()` bytes from `offset`.
    /// Every HDU header checked for what cfitsio cannot survive (see `prescan`), once per file.
    pub(crate) fn check_headers(&self) -> Result<()> {
        match self.headers.get_or_init(|| crate::prescan::check(self)) {
            Ok(()) => Ok(()),
            Err(message) => Err(FitsError::Corrupt {
                path: self.shown.clone(),
                message: message.clone(),
            }),
        }
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.file.read_at(&mut buf[n..], offset + n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// True for gzip'd files (by content).
    pub fn is_gzip(&self) -> bool {
        let mut magic = [0u8; 2];
        self.read_at(&mut magic, 0).is_ok_and(|n| n == 2) && magic == [0x1f, 0x8b]
    }

    /// The bytes a reader of the whole file gets: its length, or for a gzip'd file what it
    /// decompresses to, counted (nothing kept) up to `limit` (past it: `limit + 1`). A corrupt gzip
    /// stream counts what it gave before the damage.
    pub fn inflated_len(&self, limit: u64) -> u64 {
        if !self.is_gzip() {
            return self.len;
        }
        let mut gz = flate2::read::MultiGzDecoder::new(self.reader()).take(limit.saturating_add(1));
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(k) = gz.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        n
    }

    /// A reader from the start of the file that leaves the descriptor's own offset alone.
    pub fn reader(&self) -> impl Read + '_ {
        struct At<'a>(&'a Pinned, u64);
        impl Read for At<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.file.read_at(buf, self.1)?;
                self.1 += n as u64;
                Ok(n)
            }
        }
        At(self, 0)
    }
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> FitsError {
    if e.kind() == std::io::ErrorKind::NotFound {
        FitsError::NotFound {
            path: path.to_owned(),
        }
    } else {
        FitsError::Io {
            path: path.to_owned(),
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pipe.fits");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: plain syscall with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Pinned::open(&p).unwrap_err();
        assert_eq!(e.kind(), "not_a_file", "{e}");
    }

    #[test]
    fn reopening_through_the_descriptor_reads_the_checked_file() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"other").unwrap();
        let p = Pinned::open(&a).unwrap();
        std::fs::rename(&b, &a).unwrap();
        assert_eq!(std::fs::read(p.reopen_path()).unwrap(), b"first");
        assert_eq!(p.shown(), a);
        let now = FileVersion::of_path(&a).unwrap();
        assert_ne!(
            now,
            p.version(),
            "a file renamed over the name is a new version"
        );
        let q = Pinned::open(&p.reopen_path()).unwrap();
        // The same inode (its ctime moved when the rename unlinked it).
        assert_eq!(q.version().ino, p.version().ino);
        assert!(
            q.shown().ends_with("a (deleted)") || q.shown() == a,
            "{:?}",
            q.shown()
        );
    }

    #[test]
    fn an_in_place_rewrite_of_the_same_size_is_a_new_version() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::write(&a, b"12345").unwrap();
        let v = FileVersion::of_path(&a).unwrap();
        // Same size, same second: the nanoseconds or the ctime still differ.
        std::fs::write(&a, b"54321").unwrap();
        let f = std::fs::File::options().write(true).open(&a).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(v.mtime_ns as u64))
            .unwrap();
        let w = FileVersion::of_path(&a).unwrap();
        assert_eq!((w.size, w.mtime_ns, w.ino), (v.size, v.mtime_ns, v.ino));
        assert_ne!(w, v, "ctime moved");
    }
}
