//! Where rendered tiles are kept: in memory (bounded in bytes, least recently used out first), in
//! flight (one render per tile however many requests want it), and in the tile store (written
//! behind, off the request path, by one low-priority thread). The cache collector that keeps the
//! disk cache under `cache_max` runs here too.

use crate::error::ApiError;
use crate::tile_lru::TileLru;
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use toyz_pyramid::{CacheLayout, TileStore};

/// A rendered tile: final (cached, immutable) or drawn from the overview while levels build.
#[derive(Clone)]
pub enum Tile {
    Final(Bytes),
    Provisional(Bytes),
}

/// Tiles waiting to be written to the disk cache; beyond this, writes are skipped (the tile stays in
/// memory and can be rendered again), so a flood of cold tiles never queues without bound.
const WRITE_QUEUE: usize = 512;

type Inflight = HashMap<String, Arc<OnceCell<Result<Tile, ApiError>>>>;

pub struct TileCache {
    memory: Mutex<TileLru>,
    inflight: Mutex<Inflight>,
    /// Tiles, render specs and source manifests (see `toyz_pyramid::tilestore`); the float levels
    /// stay in the local cache folder.
    pub store: Arc<dyn TileStore>,
    writes: SyncSender<(String, Bytes)>,
    /// Wakes the cache collector (see `toyz_pyramid::gc`): after a level build and every few MiB
    /// of tiles written.
    collect: SyncSender<()>,
}

impl TileCache {
    /// A cache of `memory` bytes over `store`, with its writer and collector threads started. The
    /// collector keeps the cache folder `layout` at 90 % of `cache_max` (0: no limit), never
    /// evicting a source `in_use` says is open.
    pub fn start(
        store: Arc<dyn TileStore>,
        layout: &CacheLayout,
        memory: u64,
        cache_max: u64,
        in_use: impl Fn(&str) -> bool + Send + 'static,
    ) -> TileCache {
        let collect = start_collector(layout.clone(), cache_max, in_use);
        let writes = start_writer(store.clone(), collect.clone(), cache_max);
        TileCache {
            memory: Mutex::new(TileLru::new(memory)),
            inflight: Mutex::new(HashMap::new()),
            store,
            writes,
            collect,
        }
    }

    /// What wakes the cache collector (level builds send to it when they end).
    pub fn collector(&self) -> SyncSender<()> {
        self.collect.clone()
    }

    /// A tile in memory.
    pub fn memory_get(&self, key: &str) -> Option<Bytes> {
        self.memory.lock().expect("tiles").get(key)
    }

    /// Bytes of tiles held in memory.
    pub fn memory_bytes(&self) -> u64 {
        self.memory.lock().expect("tiles").bytes()
    }

    /// The tile for `key`: from memory, else made by `make` once for all the requests that want it
    /// meanwhile. A final tile is kept in memory; a provisional one and an error are not.
    pub async fn get_or_make(
        &self,
        key: &str,
        make: impl Future<Output = Result<Tile, ApiError>>,
    ) -> Result<Tile, ApiError> {
        if let Some(b) = self.memory_get(key) {
            return Ok(Tile::Final(b));
        }
        let cell = self
            .inflight
            .lock()
            .expect("inflight")
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let result = cell.get_or_init(|| make).await.clone();
        {
            let mut m = self.inflight.lock().expect("inflight");
            if m.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                m.remove(key);
            }
        }
        if let Ok(Tile::Final(b)) = &result {
            self.memory
                .lock()
                .expect("tiles")
                .put(key.to_owned(), b.clone());
        }
        result
    }

    /// Queue a rendered tile for the tile store; false when the queue is full and it was dropped.
    pub fn write_behind(&self, key: String, bytes: Bytes) -> bool {
        self.writes.try_send((key, bytes)).is_ok()
    }
}

/// The cache collector: at start (sweeping what a killed process left), then whenever kicked.
fn start_collector(
    layout: CacheLayout,
    max: u64,
    in_use: impl Fn(&str) -> bool + Send + 'static,
) -> SyncSender<()> {
    let (kick, kicks) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("toyz-cache-gc".into())
        .spawn(move || {
            let run = || {
                // Down to 90 % of the limit, so that what is written until the next run (every
                // 1/64 of it) keeps the cache under the limit itself.
                let r = toyz_pyramid::gc::prune(&layout, max - max / 10, &in_use);
                if r.freed_bytes > 0 {
                    tracing::info!(
                        "cache: {} stale, {} evicted, {} temp files removed, {} MiB freed, {} MiB held",
                        r.stale_removed,
                        r.evicted,
                        r.temp_removed,
                        r.freed_bytes >> 20,
                        r.bytes >> 20
                    );
                }
            };
            run();
            for () in kicks {
                run();
            }
        })
        .expect("spawn the cache collector");
    kick
}

/// Rendered tiles reach the tile store from one writer thread, off the request path; the collector
/// is woken every 1/64 of `cache_max` written.
fn start_writer(
    store: Arc<dyn TileStore>,
    kick: SyncSender<()>,
    cache_max: u64,
) -> SyncSender<(String, Bytes)> {
    let (writes, rx) = std::sync::mpsc::sync_channel::<(String, Bytes)>(WRITE_QUEUE);
    let every = (cache_max / 64).clamp(64 << 10, 256 << 20);
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
                if let Err(e) = store.put(&key, &bytes) {
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
    writes
}
