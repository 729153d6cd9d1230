//! URL paths `ROOT/REL` → files inside a configured data root. Everything else fails: `..`, `.`, absolute
//! paths, NUL bytes, backslashes, hidden names, and symlinks that resolve outside the root. Messages never
//! reveal the server's own paths.

use crate::config::Root;
use crate::error::ApiError;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Resolved {
    /// The normalised public path, `ROOT/REL`.
    pub public: String,
    /// The canonical file path (inside `root`).
    pub abs: PathBuf,
    pub root: usize,
}

/// Split and check a public path. An empty path is an error (callers list the roots themselves).
pub fn resolve(roots: &[Root], path: &str) -> Result<Resolved, ApiError> {
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
            return Err(ApiError::not_found(format!(
                "{path}: no such file or directory"
            )));
        }
    }
    let (ri, root) = roots
        .iter()
        .enumerate()
        .find(|(_, r)| r.name == *root_name)
        .ok_or_else(|| ApiError::not_found(format!("no data root named '{root_name}'")))?;
    let joined = rest.iter().fold(root.path.clone(), |p, c| p.join(c));
    let abs = std::fs::canonicalize(&joined)
        .map_err(|_| ApiError::not_found(format!("{path}: no such file or directory")))?;
    if !abs.starts_with(&root.path) {
        return Err(ApiError::forbidden(format!(
            "{path}: leads outside the data root"
        )));
    }
    Ok(Resolved {
        public: parts.join("/"),
        abs,
        root: ri,
    })
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
