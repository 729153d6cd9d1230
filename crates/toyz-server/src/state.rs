//! The server's state: what it owns, each part in a module of its own — the open sources
//! (`sources.rs`), their level builds (`levels.rs`), the tile cache (`tile_cache.rs`), the memory
//! budget (`budget.rs`) — with the accounts (`auth.rs`) and the metrics; and the few operations
//! that need several of them (a path resolved for a principal, a source found by id).

use crate::auth::{Access, Principal};
use crate::budget::MemoryBudget;
pub use crate::budget::MemoryPermit;
use crate::config::Config;
use crate::error::{ApiError, Kind};
use crate::levels::LevelBuilder;
use crate::metrics::Metrics;
use crate::paths::{public_path, Resolved};
use crate::sources::{OpenSource, SourceLimits, Sources};
use crate::tile_cache::TileCache;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::Semaphore;
use toyz_fits::HduSel;
use toyz_pyramid::CacheLayout;

pub struct AppState {
    pub config: Config,
    pub layout: CacheLayout,
    pub sources: Sources,
    levels: LevelBuilder,
    pub tiles: TileCache,
    /// Renders running at once (`max_renders`); beyond them a tile is answered `busy`.
    pub renders: Arc<Semaphore>,
    /// The server's memory budget for heavy work (see [`AppState::reserve`]).
    budget: MemoryBudget,
    /// Catalog rows held by all sessions.
    pub catalog_rows: Arc<std::sync::atomic::AtomicUsize>,
    pub metrics: Metrics,
    /// Accounts and the one authorisation check (see `auth.rs`).
    pub access: Access,
}

impl AppState {
    /// A server without accounts (everyone is the local user).
    pub fn new(config: Config) -> std::io::Result<AppState> {
        AppState::with_access(config, Access::off())
    }

    /// The live server of a parsed config, its requests authorised by `access`: the tile store
    /// opened, the caches, the registry of sources and the level builder made, their threads started.
    pub fn with_access(config: Config, access: Access) -> std::io::Result<AppState> {
        let layout = CacheLayout::new(&config.cache_dir);
        let store = config.open_tile_store()?;
        let sources = Sources::new(
            SourceLimits {
                count: config.max_sources,
                bytes: config.limits.sources_memory,
                renderers: config.limits.renderers,
                retry: config.level_retry,
                unpacked: config.cache_max,
            },
            layout.clone(),
            store.clone(),
        );
        let tiles = TileCache::start(
            store,
            &layout,
            config.memory_cache,
            config.cache_max,
            sources.in_use(),
        );
        Ok(AppState {
            access,
            levels: LevelBuilder::new(layout.clone(), tiles.collector(), config.cache_max),
            tiles,
            sources,
            renders: Arc::new(Semaphore::new(config.max_renders)),
            budget: MemoryBudget::new(config.limits.memory_budget),
            catalog_rows: Default::default(),
            metrics: Metrics::default(),
            layout,
            config,
        })
    }

    /// Reserve `bytes` of the memory budget for work about to allocate them; the reservation ends
    /// when the permit is dropped. Work that could never fit is refused (`too_large`); work that does
    /// not fit now is answered `busy` (the client retries), so the server's heavy allocations never
    /// exceed the budget whatever clients ask.
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<MemoryPermit, ApiError> {
        self.budget.reserve(bytes, what).inspect_err(|e| {
            if e.kind == Kind::Busy {
                self.metrics.busy_rejections.inc();
            }
        })
    }

    /// MiB of the memory budget reserved right now.
    pub fn budget_in_use(&self) -> u64 {
        self.budget.in_use()
    }

    /// Queue a rendered tile for the tile store (dropped, and counted, when the queue is full).
    pub fn write_behind(&self, key: String, bytes: Bytes) {
        if !self.tiles.write_behind(key, bytes) {
            self.metrics.disk_writes_skipped.inc();
        }
    }

    /// The open source with this id, if any.
    pub fn source(&self, sid: &str) -> Option<Arc<OpenSource>> {
        self.sources.get(sid)
    }

    /// Open (or find) the source at a resolved path; a new one starts building its levels.
    pub async fn open(
        &self,
        r: &Resolved,
        hdu: &HduSel,
        plane: usize,
    ) -> Result<Arc<OpenSource>, ApiError> {
        self.sources
            .open(r, hdu, plane, |o, tx| self.levels.start(o, tx))
            .await
    }

    /// Resolve a public path for `who`: the one way from a request or a job to a file or folder. A
    /// file needs read permission; a folder needs permission to read it or something below it. What
    /// `who` may not see answers exactly like a path that does not exist (404).
    pub fn resolve_for(
        &self,
        who: &Principal,
        path: &str,
    ) -> Result<crate::paths::Resolved, ApiError> {
        let r = crate::paths::resolve(&self.config.roots, path)?;
        // The path asked for and the one it leads to (through links) must both be granted: what is
        // read is what is authorised.
        let ok = match r.kind {
            crate::paths::Kind::Dir => {
                self.access.may_see(who, &r.public) && self.access.may_see(who, &r.target)
            }
            _ => self.access.may_read(who, &r.public) && self.access.may_read(who, &r.target),
        };
        if ok {
            Ok(r)
        } else {
            Err(crate::paths::missing(path))
        }
    }

    /// May `who` read the open source `s` (a tile URL, a source id from a client)?
    /// Checked on the file it reads (every link resolved), whatever name opened it first.
    pub fn may_read_source(&self, who: &crate::auth::Principal, s: &OpenSource) -> bool {
        self.access.may_read(who, &s.target)
    }

    /// Find a source by id after a restart (or on another replica): its manifest in the shared cache says
    /// which file it is; the file must still be inside a root and unchanged.
    /// Only for `who` if they may read the file (otherwise exactly as an unknown id: 404), checked
    /// before anything is opened.
    pub async fn source_by_id(
        &self,
        who: &Principal,
        sid: &str,
    ) -> Result<Arc<OpenSource>, ApiError> {
        let gone = || ApiError::not_found(format!("unknown or outdated source id '{sid}'"));
        if let Some(s) = self.source(sid) {
            if !self.may_read_source(who, &s) {
                return Err(gone());
            }
            // The file changed since: its old id names pixels that no longer exist.
            if !s.unchanged() {
                self.sources.forget(sid);
                return Err(gone());
            }
            if !self.sources.retry_due(&s) {
                return Ok(s);
            }
            // A failed level build is tried again: reopened below.
            self.sources.forget(sid);
        }
        if sid.len() != 16 || !sid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(gone());
        }
        let bytes = self
            .tiles
            .store
            .get(&toyz_pyramid::tilestore::manifest_key(sid))
            .ok()
            .flatten()
            .ok_or_else(gone)?;
        let m: toyz_pyramid::SourceManifest = serde_json::from_slice(&bytes).map_err(|_| gone())?;
        let public = public_path(&self.config.roots, &m.key.path).ok_or_else(gone)?;
        let r = self.resolve_for(who, &public).map_err(|_| gone())?;
        // A composite source (a mosaic) is reopened by its selector, a single HDU by its index.
        let sel = match &m.key.variant {
            Some(v) => v.parse::<HduSel>().map_err(|_| gone())?,
            None => HduSel::Index(m.key.hdu),
        };
        let s = self.open(&r, &sel, m.key.plane).await?;
        if s.src.id != sid {
            return Err(gone());
        }
        Ok(s)
    }

    /// Forget an open source whose cached levels are damaged and mark them incomplete in its manifest:
    /// the next request for it opens it again and builds the levels anew.
    pub fn rebuild_levels(&self, open: &OpenSource) {
        if let Err(e) = toyz_pyramid::build::mark_levels_incomplete(&self.layout, &open.src) {
            tracing::warn!("cannot reset the manifest of {}: {e}", open.public);
        }
        self.sources.forget(&open.src.id);
    }
}
