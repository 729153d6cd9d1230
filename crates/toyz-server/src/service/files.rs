//! The server's file browser: the data roots, and the entries of a folder that a principal may see
//! (`GET /api/files`). Each entry is walked as a request for it would be, so a link is listed only
//! when what it leads to stays inside its root and is granted.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::paths::{Kind, Resolved};
use crate::state::AppState;
use serde::Serialize;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// A folder's entries (`path` "" lists the roots).
#[derive(Serialize, schemars::JsonSchema)]
pub struct Listing {
    pub path: String,
    pub entries: Vec<Entry>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Entry {
    pub name: String,
    /// `dir`, `fits` (a file FITS readers open) or `file`.
    pub kind: &'static str,
    pub size: Option<u64>,
    /// Seconds since the Unix epoch.
    pub mtime: Option<u64>,
}

/// The roots (those with something `who` may read), or the folder at `path`.
pub async fn list(state: &Arc<AppState>, who: &Principal, path: &str) -> Result<Listing, ApiError> {
    let roots = state.config.roots.clone();
    if path.trim_matches('/').is_empty() {
        let entries = roots
            .iter()
            .filter(|r| state.access.may_see(who, &r.name))
            .map(|r| Entry {
                name: r.name.clone(),
                kind: "dir",
                size: None,
                mtime: mtime(&r.path),
            })
            .collect();
        return Ok(Listing {
            path: String::new(),
            entries,
        });
    }
    let r = state.resolve_for(who, path)?;
    let public = r.public.clone();
    let root = roots[r.root].clone();
    let (st, who) = (state.clone(), who.clone());
    let entries = actix_web::web::block(move || {
        // An entry is listed when its name and what it leads to (through links) may be seen.
        list_dir(&r, &root, &|name, target, is_dir| {
            let p = format!("{}/{name}", r.public);
            if is_dir {
                st.access.may_see(&who, &p) && st.access.may_see(&who, target)
            } else {
                st.access.may_read(&who, &p) && st.access.may_read(&who, target)
            }
        })
    })
    .await
    .map_err(|_| ApiError::internal("listing failed"))??;
    Ok(Listing {
        path: public,
        entries,
    })
}

fn mtime(p: &std::path::Path) -> Option<u64> {
    std::fs::metadata(p)
        .ok()?
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The entries of folder `r` that `visible(name, target, is_dir)` lets through (`target`: the public
/// path the entry leads to).
fn list_dir(
    r: &Resolved,
    root_cfg: &crate::config::Root,
    visible: &dyn Fn(&str, &str, bool) -> bool,
) -> Result<Vec<Entry>, ApiError> {
    let root = root_cfg.path.as_path();
    if r.kind != Kind::Dir {
        return Err(ApiError::bad_request(format!(
            "{} is not a directory",
            r.public
        )));
    }
    let rd = std::fs::read_dir(r.open_path())
        .map_err(|_| ApiError::forbidden(format!("{}: cannot be listed", r.public)))?;
    let rel: Vec<String> = r
        .abs
        .strip_prefix(root)
        .map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Each entry is walked like a request for it: links are listed only when they stay inside
        // the root, and nothing but a regular file is opened (a FIFO would block the listing).
        let mut parts: Vec<&str> = rel.iter().map(String::as_str).collect();
        parts.push(&name);
        let Ok(Some((fd, abs, kind))) = crate::paths::walk(root, &parts) else {
            continue;
        };
        let target = crate::paths::target_public(root_cfg, &abs);
        if !visible(&name, &target, kind == Kind::Dir) {
            continue;
        }
        let p = std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        let kind = match kind {
            Kind::Dir => "dir",
            Kind::File if toyz_fits::probe(&p).is_ok() => "fits",
            _ => "file",
        };
        out.push(Entry {
            name,
            kind,
            size: meta.is_file().then_some(meta.len()),
            mtime: mtime(&p),
        });
    }
    out.sort_by(|a, b| (a.kind != "dir", &a.name).cmp(&(b.kind != "dir", &b.name)));
    Ok(out)
}
