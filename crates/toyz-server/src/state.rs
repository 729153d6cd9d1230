//! Shared server state: open sources (with their background level builds and render specs), the
//! bytes-bounded memory tile cache, in-flight renders (one per tile key), the render bound, metrics.

use crate::budget::MemoryBudget;
pub use crate::budget::MemoryPermit;
use crate::config::Config;
use crate::error::{engine_error, spec_error, ApiError, Kind};
use crate::metrics::Metrics;
use crate::paths::{public_path, Resolved};
pub use crate::tile_lru::TileLru;
use bytes::Bytes;
use lru::LruCache;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{watch, OnceCell, Semaphore};
use toyz_fits::HduSel;
use toyz_pyramid::{CacheLayout, LevelStore, RenderSpec, Renderer, Source, Stretch};

/// Progress of the float levels of a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Levels {
    /// Being built: rows of the full-resolution image done so far.
    Building {
        done: u64,
        total: u64,
    },
    Ready,
    Failed(String),
    /// Never built: they could not fit the cache (`cache_max`); not tried again.
    TooLarge(String),
}

/// An opened source: the engine's `Source` plus what serving it needs.
pub struct OpenSource {
    pub src: Source,
    /// The path it was first opened by (shown in messages).
    pub public: String,
    /// The path of the file it reads, every link resolved (grants are checked on it).
    pub target: String,
    pub levels: watch::Receiver<Levels>,
    store: OnceLock<Option<Arc<LevelStore>>>,
    /// Colour tables of the render specs in use: one least-recently-used map for the whole server
    /// (`limits.renderers`), keyed by (source id, render id).
    renderers: Renderers,
    /// Render specs known for this source (small; `limits.renderers` of them, oldest dropped).
    specs: Mutex<LruCache<String, RenderSpec>>,
    exact_minmax: OnceLock<Option<(f64, f64)>>,
    /// A quick coarse level for the first view while the float levels build (computed once, on the
    /// first request for a lower level).
    overview: OnceCell<Arc<toyz_pyramid::Overview>>,
    /// Set when the source leaves the server (evicted, changed, damaged): its level build stops.
    cancel: Arc<AtomicBool>,
    /// When its level build failed (tried again once `config.level_retry` has passed: a full disk).
    failed_at: Mutex<Option<std::time::Instant>>,
    /// Seconds since the epoch when its manifest was last touched (for LRU eviction of the cache).
    touched: AtomicU64,
    /// About what it holds in memory: its statistics sample and (room for) its overview.
    bytes: u64,
}

impl OpenSource {
    /// True when its level build failed long enough ago to be tried again.
    fn retry_due(&self, after: std::time::Duration) -> bool {
        self.failed_at
            .lock()
            .expect("failed_at")
            .is_some_and(|t| t.elapsed() >= after)
    }

    /// The level store once levels are ready (None while building; Some(None) never for zmax > 0).
    pub fn store(&self, layout: &CacheLayout) -> Result<Option<Arc<LevelStore>>, ApiError> {
        if self.src.geometry.zmax == 0 {
            return Ok(None);
        }
        if let Some(s) = self.store.get() {
            return Ok(s.clone());
        }
        let s = LevelStore::open(layout, &self.src).map_err(|e| engine_error(e, &self.public))?;
        Ok(self.store.get_or_init(|| Some(Arc::new(s))).clone())
    }

    /// Cut levels of a spec: `minmax` scans the image once (cached), other cuts use the sample.
    pub fn cut_levels(&self, spec: &RenderSpec) -> Result<(f64, f64), ApiError> {
        let exact = match spec.cut {
            toyz_pyramid::Cut::MinMax => {
                if let Some(v) = self.exact_minmax.get() {
                    *v
                } else {
                    let v = self
                        .src
                        .exact_minmax()
                        .map_err(|e| engine_error(e, &self.public))?;
                    *self.exact_minmax.get_or_init(|| v)
                }
            }
            _ => None,
        };
        Ok(toyz_pyramid::stats::resolve_cut(
            &spec.cut,
            &self.src.sample,
            exact,
        ))
    }

    pub fn renderer(&self, rid: &str, spec: &RenderSpec) -> Result<Arc<Renderer>, ApiError> {
        let key = (self.src.id.clone(), rid.to_owned());
        if let Some(r) = self.renderers.lock().expect("renderers").get(&key) {
            return Ok(r.clone());
        }
        let (lo, hi) = self.cut_levels(spec)?;
        let hist = matches!(spec.stretch, Stretch::Histeq).then_some(&self.src.sample);
        let r = Arc::new(Renderer::new(spec, lo, hi, hist).map_err(spec_error)?);
        self.renderers
            .lock()
            .expect("renderers")
            .put(key, r.clone());
        Ok(r)
    }

    /// True while the file's name still leads to the version that was opened (device, inode, size,
    /// mtime, ctime).
    pub fn unchanged(&self) -> bool {
        self.src.key.current()
    }

    /// An error from reading this source: when the file changed under the read (rewritten in place),
    /// the id names pixels that are gone (404, as for any outdated id), not a machine failure.
    pub fn read_error(&self, e: toyz_pyramid::EngineError) -> ApiError {
        if self.unchanged() {
            engine_error(e, &self.public)
        } else {
            ApiError::not_found(format!(
                "{} changed while it was read: open it again for its new tiles",
                self.public
            ))
        }
    }

    /// The overview (largest side ≤ 1024 px), built once on a blocking thread.
    pub async fn overview(self: &Arc<Self>) -> Result<Arc<toyz_pyramid::Overview>, ApiError> {
        self.overview
            .get_or_try_init(|| async {
                let o = self.clone();
                tokio::task::spawn_blocking(move || {
                    toyz_pyramid::Overview::build(&o.src, 1024)
                        .map(Arc::new)
                        .map_err(|e| engine_error(e, &o.public))
                })
                .await
                .map_err(|_| ApiError::internal("overview task failed"))?
            })
            .await
            .cloned()
    }

    /// Take a render spec into use: remembered here and written next to its tiles (`spec.json`), so
    /// its tile URLs work after a restart and on other servers sharing the cache, whichever way the
    /// render id was made (`/api/sources`, `image.open`). Blocking: call from a blocking thread.
    pub fn adopt_spec(
        &self,
        store: &dyn toyz_pyramid::TileStore,
        spec: &RenderSpec,
    ) -> Result<(), ApiError> {
        self.remember_spec(spec);
        let key = toyz_pyramid::tilestore::spec_key(&self.src.id, &spec.id());
        let failed = |e: std::io::Error| {
            engine_error(
                toyz_pyramid::EngineError::Io {
                    path: key.clone().into(),
                    source: e,
                },
                &self.public,
            )
        };
        if store.exists(&key).map_err(failed)? {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(spec).expect("json");
        store.put(&key, &json).map_err(failed)
    }

    pub fn known_spec(&self, rid: &str) -> Option<RenderSpec> {
        self.specs.lock().expect("specs").get(rid).cloned()
    }

    pub fn remember_spec(&self, spec: &RenderSpec) {
        self.specs
            .lock()
            .expect("specs")
            .put(spec.id(), spec.clone());
    }
}

/// A request for a source: the resolved file, the HDU selector, the plane.
type OpenKey = (PathBuf, String, usize);

type Inflight = HashMap<String, Arc<OnceCell<Result<crate::tile_lru::Tile, ApiError>>>>;

pub struct AppState {
    pub config: Config,
    pub layout: CacheLayout,
    sources: Arc<Mutex<LruCache<String, Arc<OpenSource>>>>,
    /// Which source a request opened: bounded (a few keys per open source), oldest forgotten first.
    by_request: Mutex<LruCache<OpenKey, String>>,
    pub tiles: Mutex<TileLru>,
    pub(crate) inflight: Mutex<Inflight>,
    pub renders: Arc<Semaphore>,
    /// The server's memory budget for heavy work (see [`AppState::reserve`]).
    budget: MemoryBudget,
    /// Catalog rows held by all sessions.
    pub catalog_rows: Arc<std::sync::atomic::AtomicUsize>,
    pub metrics: Metrics,
    /// One lock per (file, HDU, plane) being opened, dropped when its open ends: two requests for the
    /// same new file read its sample once, and a slow open never holds up any other file.
    opening: Mutex<HashMap<OpenKey, Arc<tokio::sync::Mutex<()>>>>,
    disk_writes: std::sync::mpsc::SyncSender<(String, Bytes)>,
    /// Tiles, render specs and source manifests (see `toyz_pyramid::tilestore`); the float levels
    /// stay in the local cache folder (`layout`).
    pub tiles_store: Arc<dyn toyz_pyramid::TileStore>,
    /// Wakes the cache collector (see `toyz_pyramid::gc`): after a level build and every few MiB
    /// of tiles written.
    gc_kick: std::sync::mpsc::SyncSender<()>,
    /// Level builds running at once.
    builds: Arc<BuildSlots>,
    renderers: Renderers,
    /// Accounts and the one authorisation check (see `auth.rs`).
    pub access: crate::auth::Access,
}

/// Colour tables (about 70 KiB each) of every source, bounded in number for the whole server.
type Renderers = Arc<Mutex<LruCache<(String, String), Arc<Renderer>>>>;

/// A counting lock for level builds: each reads a whole image and writes its levels, so only a few
/// run at once (one per core, at least two); the others wait, or give up when cancelled.
struct BuildSlots {
    running: Mutex<usize>,
    freed: std::sync::Condvar,
    max: usize,
}

impl BuildSlots {
    fn acquire(&self, cancel: &AtomicBool) -> bool {
        let mut n = self.running.lock().expect("builds");
        while *n >= self.max {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            n = self
                .freed
                .wait_timeout(n, std::time::Duration::from_millis(200))
                .expect("builds")
                .0;
        }
        *n += 1;
        true
    }
    fn release(&self) {
        *self.running.lock().expect("builds") -= 1;
        self.freed.notify_one();
    }
}

/// What an open source holds: its sample (finite values twice, in reading order and sorted) and
/// room for its overview (at most 1024² f32).
fn source_bytes(s: &Source) -> u64 {
    (s.sample.raw.len() as u64 + s.sample.sorted.len() as u64) * 4 + (4 << 20)
}

fn nonzero(n: usize) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(n.max(1)).expect(">= 1")
}

/// Tiles waiting to be written to the disk cache; beyond this, writes are skipped (the tile stays in
/// memory and can be rendered again), so a flood of cold tiles never queues without bound.
const WRITE_QUEUE: usize = 512;

impl AppState {
    /// A server without accounts (everyone is the local user).
    pub fn new(config: Config) -> AppState {
        AppState::with_access(config, crate::auth::Access::off())
    }

    /// A server whose requests are authorised by `access`.
    pub fn with_access(config: Config, access: crate::auth::Access) -> AppState {
        let layout = CacheLayout::new(&config.cache_dir);
        let sources: Arc<Mutex<LruCache<String, Arc<OpenSource>>>> =
            Arc::new(Mutex::new(LruCache::new(nonzero(config.max_sources))));
        // The cache collector: at start (sweeping what a killed process left), then whenever kicked.
        let (gc_kick, kicks) = std::sync::mpsc::sync_channel::<()>(1);
        {
            let (layout, sources, max) = (layout.clone(), sources.clone(), config.cache_max);
            std::thread::Builder::new()
                .name("toyz-cache-gc".into())
                .spawn(move || {
                    let run = || {
                        let in_use = |sid: &str| sources.lock().expect("sources").contains(sid);
                        // Down to 90 % of the limit, so that what is written until the next run
                        // (every 1/64 of it) keeps the cache under the limit itself.
                        let r = toyz_pyramid::gc::prune(&layout, max - max / 10, &in_use);
                        if r.freed_bytes > 0 {
                            tracing::info!(
                                "cache: {} stale, {} evicted, {} temp files removed, {} MiB freed, {} MiB held",
                                r.stale_removed, r.evicted, r.temp_removed, r.freed_bytes >> 20, r.bytes >> 20
                            );
                        }
                    };
                    run();
                    for () in kicks {
                        run();
                    }
                })
                .expect("spawn the cache collector");
        }
        // Rendered tiles reach the disk cache from one writer thread, off the request path.
        let (disk_writes, rx) = std::sync::mpsc::sync_channel::<(String, Bytes)>(WRITE_QUEUE);
        let tiles_store = config.tile_store.clone();
        let writer_store = tiles_store.clone();
        let kick = gc_kick.clone();
        let every = (config.cache_max / 64).clamp(64 << 10, 256 << 20);
        std::thread::Builder::new()
            .name("toyz-cache-writer".into())
            .spawn(move || {
                // Lowest CPU priority: under load the queue fills and writes are skipped instead of
                // taking CPU from requests (Linux applies setpriority to the calling thread).
                // SAFETY: plain syscall on the current thread.
                #[cfg(target_os = "linux")]
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, 0, 19);
                }
                let mut written = 0u64;
                for (key, bytes) in rx {
                    if let Err(e) = writer_store.put(&key, &bytes) {
                        tracing::warn!("cannot write tile {key}: {e}");
                    }
                    written += bytes.len() as u64;
                    if written >= every {
                        written = 0;
                        let _ = kick.try_send(());
                    }
                }
            })
            .expect("spawn the cache writer");
        AppState {
            access,
            tiles_store,
            renderers: Arc::new(Mutex::new(LruCache::new(nonzero(config.limits.renderers)))),
            disk_writes,
            gc_kick,
            builds: Arc::new(BuildSlots {
                running: Mutex::new(0),
                freed: std::sync::Condvar::new(),
                max: std::thread::available_parallelism()
                    .map_or(2, |n| n.get())
                    .max(2),
            }),
            tiles: Mutex::new(TileLru::new(config.memory_cache)),
            renders: Arc::new(Semaphore::new(config.max_renders)),
            budget: MemoryBudget::new(config.limits.memory_budget),
            catalog_rows: Default::default(),
            sources,
            by_request: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(config.max_sources.saturating_mul(4)).expect(">= 1"),
            )),
            inflight: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            opening: Mutex::new(HashMap::new()),
            layout,
            config,
        }
    }

    /// Reserve `bytes` of the memory budget for work about to allocate them; the reservation ends
    /// when the permit is dropped. Work that could never fit is refused (`too_large`); work that does
    /// not fit now is answered `busy` (the client retries), so the server's heavy allocations never
    /// exceed the budget whatever clients ask.
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<MemoryPermit, ApiError> {
        self.budget.reserve(bytes, what).inspect_err(|e| {
            if e.kind == Kind::Busy {
                self.metrics
                    .busy_rejections
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    }

    /// Open sources and the bytes they hold.
    pub fn sources_held(&self) -> (usize, u64) {
        let s = self.sources.lock().expect("sources");
        (s.len(), s.iter().map(|(_, o)| o.bytes).sum())
    }

    /// Colour tables held by all open sources.
    pub fn renderers_held(&self) -> usize {
        self.renderers.lock().expect("renderers").len()
    }

    /// MiB of the memory budget reserved right now.
    pub fn budget_in_use(&self) -> u64 {
        self.budget.in_use()
    }

    /// Queue a rendered tile for the tile store (dropped when the queue is full).
    pub fn write_behind(&self, key: String, bytes: Bytes) {
        if self.disk_writes.try_send((key, bytes)).is_err() {
            self.metrics
                .disk_writes_skipped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn source(&self, sid: &str) -> Option<Arc<OpenSource>> {
        let s = self.sources.lock().expect("sources").get(sid).cloned()?;
        // Used now: the cache evicts the least recently used sources (one touch a minute at most).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = s.touched.load(std::sync::atomic::Ordering::Relaxed);
        if now >= last + 60
            && s.touched
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
        {
            toyz_pyramid::gc::touch(&self.layout, sid);
        }
        Some(s)
    }

    /// Open (or find) the source at a resolved path. Reuses the open source while the file is unchanged.
    pub async fn open(
        self: &Arc<Self>,
        r: &Resolved,
        hdu: &HduSel,
        plane: usize,
    ) -> Result<Arc<OpenSource>, ApiError> {
        let key = (r.abs.clone(), format!("{hdu:?}"), plane);
        if let Some(s) = self.current(&key) {
            return Ok(s);
        }
        let lock = self
            .opening
            .lock()
            .expect("opening")
            .entry(key.clone())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        // Whoever held the lock before may have opened it meanwhile.
        if let Some(s) = self.current(&key) {
            return Ok(s);
        }
        let r = self.open_new(r, hdu, plane, key.clone()).await;
        let mut m = self.opening.lock().expect("opening");
        if m.get(&key)
            .is_some_and(|l| Arc::ptr_eq(l, &lock) && Arc::strong_count(l) <= 2)
        {
            m.remove(&key);
        }
        r
    }

    /// The open source a request key found before, if its file is unchanged.
    fn current(&self, key: &OpenKey) -> Option<Arc<OpenSource>> {
        let sid = self
            .by_request
            .lock()
            .expect("by_request")
            .get(key)
            .cloned()?;
        let s = self.source(&sid).filter(|s| s.unchanged())?;
        if s.retry_due(self.config.level_retry) {
            self.forget(&sid);
            return None;
        }
        Some(s)
    }

    async fn open_new(
        self: &Arc<Self>,
        r: &Resolved,
        hdu: &HduSel,
        plane: usize,
        key: OpenKey,
    ) -> Result<Arc<OpenSource>, ApiError> {
        // Opened through the descriptor the path was resolved to, never by name again.
        let (file, public, target, sel) =
            (r.clone(), r.public.clone(), r.target.clone(), hdu.clone());
        let shown = public.clone();
        let shown_log = public.clone();
        let layout = self.layout.clone();
        let store = self.tiles_store.clone();
        let cache_max = self.config.cache_max;
        let src = actix_web::web::block(move || {
            // A gzip'd file is decompressed once into the cache and read from there by every thread.
            // Never more than the cache may hold (0: no limit).
            let pinned = toyz_fits::Pinned::open_unpacked_within(
                &file.open_path(),
                &layout.unpacked(),
                if cache_max == 0 { u64::MAX } else { cache_max },
            )?;
            let src = Source::open_pinned(Arc::new(pinned), &sel, plane)?;
            // The manifest lets any server sharing this cache find the file from the id alone. A
            // cache that cannot be written (made read-only, full) must not stop what needs no
            // cache (header, pixels, statistics): the level build that needs it reports it.
            if let Err(e) = toyz_pyramid::build::write_source_manifest(&layout, &src, false)
                .and_then(|()| toyz_pyramid::build::publish_manifest(&layout, &*store, &src.id))
            {
                tracing::warn!("cannot write the manifest of {shown_log}: {e}");
            }
            Ok::<_, toyz_pyramid::EngineError>(src)
        })
        .await
        .map_err(|_| ApiError::internal("open task failed"))?
        .map_err(|e| engine_error(e, &shown))?;
        let sid = src.id.clone();
        let s = match self.source(&sid) {
            Some(s) => s,
            None => self.register(src, public, target),
        };
        self.by_request.lock().expect("by_request").put(key, sid);
        Ok(s)
    }

    /// Resolve a public path for `who`: the one way from a request or a job to a file or folder. A
    /// file needs read permission; a folder needs permission to read it or something below it. What
    /// `who` may not see answers exactly like a path that does not exist (404).
    pub fn resolve_for(
        &self,
        who: &crate::auth::Principal,
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
        self: &Arc<Self>,
        who: &crate::auth::Principal,
        sid: &str,
    ) -> Result<Arc<OpenSource>, ApiError> {
        let gone = || ApiError::not_found(format!("unknown or outdated source id '{sid}'"));
        if let Some(s) = self.source(sid) {
            if !self.may_read_source(who, &s) {
                return Err(gone());
            }
            // The file changed since: its old id names pixels that no longer exist.
            if !s.unchanged() {
                self.forget(sid);
                return Err(gone());
            }
            if !s.retry_due(self.config.level_retry) {
                return Ok(s);
            }
            // A failed level build is tried again: reopened below.
            self.forget(sid);
        }
        if sid.len() != 16 || !sid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(gone());
        }
        let bytes = self
            .tiles_store
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
        let sid = &open.src.id;
        if let Err(e) = toyz_pyramid::build::mark_levels_incomplete(&self.layout, &open.src) {
            tracing::warn!("cannot reset the manifest of {}: {e}", open.public);
        }
        self.forget(sid);
    }

    fn forget(&self, sid: &str) {
        if let Some(s) = self.sources.lock().expect("sources").pop(sid) {
            s.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut m = self.by_request.lock().expect("by_request");
        let keys: Vec<OpenKey> = m
            .iter()
            .filter(|(_, v)| *v == sid)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            m.pop(&k);
        }
    }

    fn register(self: &Arc<Self>, src: Source, public: String, target: String) -> Arc<OpenSource> {
        let ready = src.geometry.zmax == 0 || toyz_pyramid::levels_complete(&self.layout, &src);
        let total = src.geometry.height as u64;
        let bytes = source_bytes(&src);
        let (tx, rx) = watch::channel(if ready {
            Levels::Ready
        } else {
            Levels::Building { done: 0, total }
        });
        let open = Arc::new(OpenSource {
            src,
            public,
            target,
            levels: rx,
            store: OnceLock::new(),
            renderers: self.renderers.clone(),
            specs: Mutex::new(LruCache::new(nonzero(self.config.limits.renderers))),
            exact_minmax: OnceLock::new(),
            overview: OnceCell::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            failed_at: Mutex::new(None),
            touched: AtomicU64::new(0),
            bytes,
        });
        toyz_pyramid::gc::touch(&self.layout, &open.src.id);
        // A source pushed out of the bounded map (in number, and in bytes) stops its level build.
        {
            let mut sources = self.sources.lock().expect("sources");
            let mut out = Vec::new();
            if let Some((_, old)) = sources.push(open.src.id.clone(), open.clone()) {
                if old.src.id != open.src.id {
                    out.push(old);
                }
            }
            let mut held: u64 = sources.iter().map(|(_, s)| s.bytes).sum();
            while held > self.config.limits.sources_memory && sources.len() > 1 {
                match sources.pop_lru() {
                    Some((_, old)) => {
                        held -= old.bytes;
                        out.push(old);
                    }
                    None => break,
                }
            }
            for old in out {
                old.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if ready {
            // Bring the file's pages in ahead of tile requests (blocking: in the background); with
            // levels to build, after them.
            let o = open.clone();
            std::thread::spawn(move || o.src.image.prefault());
        }
        if !ready {
            // Build the float levels in the background (a few at once); tile requests for lower
            // levels wait for them.
            let (o, layout, slots, kick) = (
                open.clone(),
                self.layout.clone(),
                self.builds.clone(),
                self.gc_kick.clone(),
            );
            // Levels that could never fit the cache are not written at all (a sparse 65536² file
            // wrote 5.4 GB under a 512 MiB limit, then the collector removed them while in use).
            let need = level_bytes(&o.src.geometry);
            let max = self.config.cache_max;
            if max > 0 && need > max / 10 * 9 {
                let m = format!(
                    "the float levels of {} need {} MiB, more than the cache may hold (cache_max {} MiB)",
                    o.public,
                    need >> 20,
                    max >> 20
                );
                tx.send_replace(Levels::TooLarge(m));
                return open;
            }
            std::thread::spawn(move || {
                if !slots.acquire(&o.cancel) {
                    tx.send_replace(Levels::Failed("stopped".into()));
                    return;
                }
                let progress = |done: u64| {
                    tx.send_replace(Levels::Building { done, total });
                };
                let r = toyz_pyramid::build_levels(&o.src, &layout, &progress, &o.cancel);
                slots.release();
                let _ = kick.try_send(());
                match r {
                    Ok(()) => {
                        tx.send_replace(Levels::Ready);
                        o.src.image.prefault();
                    }
                    Err(e) => {
                        tracing::error!("levels of {}: {e}", o.public);
                        *o.failed_at.lock().expect("failed_at") = Some(std::time::Instant::now());
                        // Never a server path in what clients see.
                        let shown = match &e {
                            toyz_pyramid::EngineError::Io { source, .. }
                                if source.kind() == std::io::ErrorKind::StorageFull =>
                            {
                                "the cache's disk is full; retried shortly".to_owned()
                            }
                            toyz_pyramid::EngineError::Io { .. } => {
                                "writing the cache failed (see the server log); retried shortly"
                                    .to_owned()
                            }
                            _ => crate::error::engine_error(e, &o.public).message,
                        };
                        tx.send_replace(Levels::Failed(shown));
                    }
                };
            });
        }
        open
    }
}

/// Bytes of the float levels below full resolution (f32, each half the size of the one above).
fn level_bytes(g: &toyz_pyramid::Geometry) -> u64 {
    (0..g.zmax)
        .map(|z| {
            let (w, h) = g.level_size(z);
            w as u64 * h as u64 * 4
        })
        .sum()
}
