//! Open sources: the engine's `Source` with what serving it needs (levels progress, level store,
//! render specs and colour tables, the overview), and the bounded registry of them ([`Sources`]:
//! by id, by the request that opened them, one open at a time per file).

use crate::error::{engine_error, spec_error, ApiError, Kind};
use crate::paths::Resolved;
use lru::LruCache;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{watch, OnceCell};
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
    pub(crate) cancel: Arc<AtomicBool>,
    /// When its level build failed (tried again once `config.level_retry` has passed: a full disk).
    pub(crate) failed_at: Mutex<Option<std::time::Instant>>,
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

    /// Wait (up to `wait`) for the float levels: ready, or the reason they are not (503 while they
    /// are still building or after a failure, to ask again later; 413 when they will never be built).
    pub async fn wait_for_levels(&self, wait: std::time::Duration) -> Result<(), ApiError> {
        let mut rx = self.levels.clone();
        let done = async move {
            rx.wait_for(|l| !matches!(l, Levels::Building { .. }))
                .await
                .map(|l| l.clone())
        };
        match tokio::time::timeout(wait, done).await {
            Ok(Ok(l)) => match &l {
                Levels::Ready => Ok(()),
                // Tried again after `level_retry` (a full disk may have room by then): come back later.
                Levels::Failed(e) => Err(ApiError::busy(format!(
                    "building the levels of {} failed: {e}",
                    self.public
                ))),
                // Never built (too large for the cache): a request to ask again would get the same.
                Levels::TooLarge(e) => Err(ApiError::of(Kind::TooLarge, e.clone())),
                Levels::Building { .. } => unreachable!("waited for a final state"),
            },
            Ok(Err(_)) => Err(ApiError::internal("level builder stopped")),
            Err(_) => Err(ApiError::busy(format!(
                "{} is still being prepared",
                self.public
            ))),
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

/// Colour tables (about 70 KiB each) of every source, bounded in number for the whole server.
type Renderers = Arc<Mutex<LruCache<(String, String), Arc<Renderer>>>>;

/// What an open source holds: its sample (finite values twice, in reading order and sorted) and
/// room for its overview (at most 1024² f32).
fn source_bytes(s: &Source) -> u64 {
    (s.sample.raw.len() as u64 + s.sample.sorted.len() as u64) * 4 + (4 << 20)
}

pub(crate) fn nonzero(n: usize) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(n.max(1)).expect(">= 1")
}

/// The bounds of [`Sources`] (from the config).
pub struct SourceLimits {
    /// Open sources kept (`max_sources`).
    pub count: usize,
    /// Bytes they may hold together (`limits.sources_memory`); the most recent one always stays.
    pub bytes: u64,
    /// Render specs and colour tables kept (`limits.renderers`).
    pub renderers: usize,
    /// After a failed level build, when a request opens the file again (`level_retry`).
    pub retry: std::time::Duration,
    /// The largest decompressed copy of a gzip'd file (`cache_max`; 0: no limit).
    pub unpacked: u64,
}

/// The open sources of the server: least recently used out first, in number and in bytes; a
/// source pushed out stops its level build.
pub struct Sources {
    map: Arc<Mutex<LruCache<String, Arc<OpenSource>>>>,
    /// Which source a request opened: bounded (a few keys per open source), oldest forgotten first.
    by_request: Mutex<LruCache<OpenKey, String>>,
    /// One lock per (file, HDU, plane) being opened, dropped when its open ends: two requests for the
    /// same new file read its sample once, and a slow open never holds up any other file.
    opening: Mutex<HashMap<OpenKey, Arc<tokio::sync::Mutex<()>>>>,
    renderers: Renderers,
    limits: SourceLimits,
    layout: CacheLayout,
    /// Where source manifests are published (so that other servers find a file from its id).
    store: Arc<dyn toyz_pyramid::TileStore>,
}

impl Sources {
    pub fn new(
        limits: SourceLimits,
        layout: CacheLayout,
        store: Arc<dyn toyz_pyramid::TileStore>,
    ) -> Sources {
        Sources {
            map: Arc::new(Mutex::new(LruCache::new(nonzero(limits.count)))),
            by_request: Mutex::new(LruCache::new(nonzero(limits.count.saturating_mul(4)))),
            opening: Mutex::new(HashMap::new()),
            renderers: Arc::new(Mutex::new(LruCache::new(nonzero(limits.renderers)))),
            limits,
            layout,
            store,
        }
    }

    /// Is a source with this id open? (For the cache collector: it never evicts one in use.)
    pub fn in_use(&self) -> impl Fn(&str) -> bool + Send + 'static {
        let map = self.map.clone();
        move |sid| map.lock().expect("sources").contains(sid)
    }

    /// Open sources and the bytes they hold.
    pub fn held(&self) -> (usize, u64) {
        let s = self.map.lock().expect("sources");
        (s.len(), s.iter().map(|(_, o)| o.bytes).sum())
    }

    /// Colour tables held by all open sources.
    pub fn renderers_held(&self) -> usize {
        self.renderers.lock().expect("renderers").len()
    }

    /// The open source with this id, if any (marked used: the cache keeps recently used ones).
    pub fn get(&self, sid: &str) -> Option<Arc<OpenSource>> {
        let s = self.map.lock().expect("sources").get(sid).cloned()?;
        // One touch of its manifest a minute at most.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = s.touched.load(Relaxed);
        if now >= last + 60
            && s.touched
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            toyz_pyramid::gc::touch(&self.layout, sid);
        }
        Some(s)
    }

    /// A source open long enough after its level build failed is opened again (not reused).
    pub fn retry_due(&self, s: &OpenSource) -> bool {
        s.retry_due(self.limits.retry)
    }

    /// Open (or find) the source at a resolved path, reusing the open source while the file is
    /// unchanged. `started` is called with a source that is new and has levels to build.
    pub async fn open(
        &self,
        r: &Resolved,
        hdu: &HduSel,
        plane: usize,
        started: impl FnOnce(Arc<OpenSource>, watch::Sender<Levels>),
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
        let r = self.open_new(r, hdu, plane, key.clone(), started).await;
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
        let s = self.get(&sid).filter(|s| s.unchanged())?;
        if self.retry_due(&s) {
            self.forget(&sid);
            return None;
        }
        Some(s)
    }

    async fn open_new(
        &self,
        r: &Resolved,
        hdu: &HduSel,
        plane: usize,
        key: OpenKey,
        started: impl FnOnce(Arc<OpenSource>, watch::Sender<Levels>),
    ) -> Result<Arc<OpenSource>, ApiError> {
        // Opened through the descriptor the path was resolved to, never by name again.
        let (file, public, target, sel) =
            (r.clone(), r.public.clone(), r.target.clone(), hdu.clone());
        let shown = public.clone();
        let shown_log = public.clone();
        let layout = self.layout.clone();
        let store = self.store.clone();
        let unpacked = self.limits.unpacked;
        let src = actix_web::web::block(move || {
            // A gzip'd file is decompressed once into the cache and read from there by every thread.
            // Never more than the cache may hold (0: no limit).
            let pinned = toyz_fits::Pinned::open_unpacked_within(
                &file.open_path(),
                &layout.unpacked(),
                if unpacked == 0 { u64::MAX } else { unpacked },
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
        let s = match self.get(&sid) {
            Some(s) => s,
            None => {
                let (s, building) = self.register(src, public, target);
                if let Some(tx) = building {
                    started(s.clone(), tx);
                }
                s
            }
        };
        self.by_request.lock().expect("by_request").put(key, sid);
        Ok(s)
    }

    /// Forget an open source (its level build stops); the next request opens it again.
    pub fn forget(&self, sid: &str) {
        if let Some(s) = self.map.lock().expect("sources").pop(sid) {
            s.cancel.store(true, Relaxed);
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

    /// Add a newly opened source, pushing out the least recently used ones beyond the bounds. The
    /// sender is returned when its levels are still to be built (the caller starts the build).
    fn register(
        &self,
        src: Source,
        public: String,
        target: String,
    ) -> (Arc<OpenSource>, Option<watch::Sender<Levels>>) {
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
            specs: Mutex::new(LruCache::new(nonzero(self.limits.renderers))),
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
            let mut sources = self.map.lock().expect("sources");
            let mut out = Vec::new();
            if let Some((_, old)) = sources.push(open.src.id.clone(), open.clone()) {
                if old.src.id != open.src.id {
                    out.push(old);
                }
            }
            let mut held: u64 = sources.iter().map(|(_, s)| s.bytes).sum();
            while held > self.limits.bytes && sources.len() > 1 {
                match sources.pop_lru() {
                    Some((_, old)) => {
                        held -= old.bytes;
                        out.push(old);
                    }
                    None => break,
                }
            }
            for old in out {
                old.cancel.store(true, Relaxed);
            }
        }
        if ready {
            // Bring the file's pages in ahead of tile requests (blocking: in the background); with
            // levels to build, after them.
            let o = open.clone();
            std::thread::spawn(move || o.src.image.prefault());
            (open, None)
        } else {
            (open, Some(tx))
        }
    }
}
