//! URL paths `ROOT/REL` → files inside a configured data root. Everything else fails: `..`, `.`, absolute
//! paths, NUL bytes, backslashes, hidden names, and symlinks that lead outside the root. Messages never
//! reveal the server's own paths, and a file outside the root answers exactly as a missing one.
//!
//! The path is walked one component at a time from the root's descriptor (`O_PATH | O_NOFOLLOW`), each
//! symlink read and its target walked the same way, and the result is the descriptor of what was
//! checked: readers open `/proc/self/fd/N` of it, never the name again, so swapping a folder for a
//! link after the check (a `renameat2(RENAME_EXCHANGE)` race) cannot lead a read outside the root.

use crate::config::Root;
use crate::error::ApiError;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a path names, by `fstat` of the walked descriptor (nothing is opened for reading, so a FIFO
/// or device never blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    /// FIFOs, sockets, devices: never opened.
    Special,
}

#[derive(Debug, Clone)]
pub struct Resolved {
    /// The normalised public path, `ROOT/REL`, as requested.
    pub public: String,
    /// The public path of what it leads to, every link resolved (`ROOT/REL` inside the same root):
    /// what is read, and so what grants are checked on as well.
    pub target: String,
    /// The file's path with every link resolved (inside `root`): for keys and messages, never opened.
    pub abs: PathBuf,
    pub root: usize,
    pub kind: Kind,
    fd: Arc<OwnedFd>,
}

impl Resolved {
    /// A name that opens exactly the file that was checked (valid while `self` lives).
    pub fn open_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Symlinks followed in one walk before giving up (as Linux's MAXSYMLINKS).
const MAX_LINKS: usize = 40;

pub(crate) fn missing(path: &str) -> ApiError {
    ApiError::not_found(format!("{path}: no such file or directory"))
}

fn open_path_at(dir: i32, name: &str) -> std::io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a plain syscall with a valid C string; the descriptor is owned on success.
    let fd = unsafe {
        libc::openat(
            dir,
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: &OwnedFd) -> std::io::Result<libc::stat> {
    // SAFETY: libc::stat is plain old data: all zeros is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes the struct it is given, for a descriptor we own.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

fn read_link(fd: &OwnedFd) -> std::io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat of an O_PATH descriptor with an empty name reads the link itself.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(std::ffi::OsString::from(
        String::from_utf8_lossy(&buf).into_owned(),
    )))
}

/// Walk `rest` beneath the directory `root` (canonical). `Ok(None)` when the path does not exist or
/// leads outside the root (the caller cannot tell which).
pub fn walk(root: &Path, rest: &[&str]) -> std::io::Result<Option<(OwnedFd, PathBuf, Kind)>> {
    let root_fd = open_path_at(libc::AT_FDCWD, root.to_str().unwrap_or(""))?;
    let mut stack: Vec<(String, OwnedFd)> = Vec::new();
    let mut todo: std::collections::VecDeque<String> = rest.iter().map(|s| s.to_string()).collect();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c.is_empty() || c == "." {
            continue;
        }
        if c == ".." {
            if stack.pop().is_none() {
                return Ok(None);
            }
            continue;
        }
        let parent = stack
            .last()
            .map_or(root_fd.as_raw_fd(), |(_, f)| f.as_raw_fd());
        let fd = match open_path_at(parent, &c) {
            Ok(fd) => fd,
            Err(_) => return Ok(None),
        };
        let st = fstat(&fd)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            links += 1;
            if links > MAX_LINKS {
                return Ok(None);
            }
            let target = read_link(&fd)?;
            let rel: Vec<String> = if target.is_absolute() {
                let Ok(inside) = target.strip_prefix(root) else {
                    return Ok(None);
                };
                stack.clear();
                inside
                    .iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect()
            } else {
                target
                    .iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect()
            };
            for part in rel.into_iter().rev() {
                todo.push_front(part);
            }
            continue;
        }
        stack.push((c, fd));
    }
    let abs = stack.iter().fold(root.to_owned(), |p, (c, _)| p.join(c));
    let fd = match stack.pop() {
        Some((_, fd)) => fd,
        None => root_fd,
    };
    let kind = match fstat(&fd)?.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFREG => Kind::File,
        _ => Kind::Special,
    };
    Ok(Some((fd, abs, kind)))
}

/// Split and check a public path. An empty path is an error (callers list the roots themselves).
/// Not authorised: requests and jobs go through `AppState::resolve_for` (or `JobCtx::resolve`).
pub(crate) fn resolve(roots: &[Root], path: &str) -> Result<Resolved, ApiError> {
    if path.contains('\0') || path.contains('\\') {
        return Err(ApiError::bad_request("path contains a forbidden character"));
    }
    if path.starts_with('/') {
        return Err(ApiError::forbidden(
            "paths are ROOT/REL, relative to a data root",
        ));
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((root_name, rest)) = parts.split_first() else {
        return Err(ApiError::bad_request("empty path"));
    };
    for p in &parts {
        if *p == ".." || *p == "." {
            return Err(ApiError::forbidden("'.' and '..' are not allowed in paths"));
        }
        if p.starts_with('.') {
            return Err(missing(path));
        }
    }
    let (ri, root) = roots
        .iter()
        .enumerate()
        .find(|(_, r)| r.name == *root_name)
        .ok_or_else(|| ApiError::not_found(format!("no data root named '{root_name}'")))?;
    let (fd, abs, kind) = walk(&root.path, rest)
        .map_err(|e| {
            tracing::warn!("resolving {path}: {e}");
            missing(path)
        })?
        .ok_or_else(|| missing(path))?;
    let target = target_public(root, &abs);
    Ok(Resolved {
        public: parts.join("/"),
        target,
        abs,
        root: ri,
        kind,
        fd: Arc::new(fd),
    })
}

/// The public path of `abs`, a walked path inside `root` (so always under its canonical path).
pub(crate) fn target_public(root: &Root, abs: &Path) -> String {
    match abs.strip_prefix(&root.path) {
        Ok(rel) if rel.as_os_str().is_empty() => root.name.clone(),
        Ok(rel) => format!("{}/{}", root.name, rel.to_string_lossy()),
        // Not reached: a walk never leaves its root. Named so no grant can match it.
        Err(_) => String::from("/"),
    }
}

/// The public path of a canonical file path, if it lies inside a root.
pub fn public_path(roots: &[Root], abs: &Path) -> Option<String> {
    roots.iter().find_map(|r| {
        let rel = abs.strip_prefix(&r.path).ok()?;
        let rel = rel.to_str()?;
        Some(if rel.is_empty() {
            r.name.clone()
        } else {
            format!("{}/{}", r.name, rel)
        })
    })
}
