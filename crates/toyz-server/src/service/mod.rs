//! The service layer: each operation once, taking the principal (or a source it opened for one) and
//! typed parameters, returning a typed reply or an [`ApiError`](crate::error::ApiError). The HTTP
//! handlers (api.rs, cutout.rs, workspaces.rs, admin.rs) and the WebSocket jobs (ws/builtin.rs) are
//! adapters over it; neither imports the other.
//!
//! - `source`: open and describe a source, its header; `image`: pixels, histogram, statistics of a
//!   rectangle, sky positions, graticule, profile, source detection; `cutout`: FITS and PNG cutouts;
//! - `catalog`: what a catalog is, CSV parsing; `catalogs`: loading, paging, matching, positions;
//! - `regions`: DS9 region files and the statistics of regions;
//! - `tiles`: pre-generating tiles into the cache; `files`: the file browser;
//! - `workspaces`: saved and shared viewer states; `admin`: users, groups and grants.

pub mod admin;
pub mod catalog;
pub mod catalogs;
pub mod cutout;
pub mod files;
pub mod image;
pub mod regions;
pub mod source;
pub mod tiles;
pub mod workspaces;

#[cfg(test)]
mod tests {
    /// The layering the service layer exists for, checked on the sources: the WebSocket jobs and the
    /// services never import the HTTP handlers, and no error kind anywhere is compared as a string.
    #[test]
    fn adapters_do_not_import_each_other_and_kinds_are_not_strings() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let read = |dir: &str| -> Vec<(String, String)> {
            std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "rs"))
                .map(|p| {
                    (
                        p.display().to_string(),
                        std::fs::read_to_string(&p).unwrap(),
                    )
                })
                .collect()
        };
        for (path, text) in read("ws").into_iter().chain(read("service")) {
            // (Built here so that this file does not name them itself.)
            for m in ["api", "cutout", "tiles::", "login", "admin", "workspaces"] {
                let http = format!("crate::{m}");
                assert!(!text.contains(&http), "{path} uses {http}");
            }
        }
        let crates = root.join("../..");
        for dir in [
            "toyz-server/src",
            "toyz-server/src/ws",
            "toyz-server/src/service",
            "toyz-pyramid/src",
            "toyz-cli/src",
        ] {
            for e in std::fs::read_dir(crates.join(dir)).unwrap() {
                let p = e.unwrap().path();
                // Not this file, which names the patterns.
                if p.extension().is_none_or(|x| x != "rs") || p.ends_with("service/mod.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for pat in [
                    "kind() == \"",
                    "kind() != \"",
                    "e.kind == \"",
                    "e.kind != \"",
                    ".kind.as_str() ==",
                ] {
                    assert!(
                        !text.contains(pat),
                        "{} compares a kind as a string ({pat})",
                        p.display()
                    );
                }
            }
        }
    }
}
