//! Where rendered tiles are kept: in memory (bounded in bytes, least recently used out first), in
//! flight (one render per tile however many requests want it), and in the tile store (written
//! behind, off the request path, by one low-priority thread). The cache collector that keeps the
//! disk cache under `cache_max` runs here too.
//!
//! The memory cache and the in-flight map are one `moka` cache: a byte weigher, least-recently-used
//! eviction, and `try_get_with`, which runs a key's render once for every request that wants it
//! meanwhile and keeps no error (see docs/architecture.md for the measurement).

use crate::error::ApiError;
use bytes::Bytes;
use std::future::Future;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
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

/// What a render gives that the memory cache does not keep (shared with the requests that waited).
enum Uncached {
    Provisional(Bytes),
    Failed(ApiError),
}

/// A memory cache of encoded tiles holding at most `bytes` (keys and values counted).
fn memory_cache(bytes: u64) -> moka::future::Cache<String, Bytes> {
    moka::future::Cache::builder()
        .max_capacity(bytes)
        .weigher(|k: &String, v: &Bytes| u32::try_from(k.len() + v.len()).unwrap_or(u32::MAX))
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .build()
}

pub struct TileCache {
    memory: moka::future::Cache<String, Bytes>,
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
            memory: memory_cache(memory),
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
    pub async fn memory_get(&self, key: &str) -> Option<Bytes> {
        self.memory.get(key).await
    }

    /// Bytes of tiles held in memory (evictions due are done first, so the figure is exact).
    pub async fn memory_bytes(&self) -> u64 {
        self.memory.run_pending_tasks().await;
        self.memory.weighted_size()
    }

    /// The tile for `key`: from memory, else made by `make` once for all the requests that want it
    /// meanwhile. A final tile is kept in memory; a provisional one and an error are not.
    pub async fn get_or_make(
        &self,
        key: &str,
        make: impl Future<Output = Result<Tile, ApiError>>,
    ) -> Result<Tile, ApiError> {
        let made = self
            .memory
            .try_get_with_by_ref(key, async move {
                match make.await {
                    Ok(Tile::Final(b)) => Ok(b),
                    Ok(Tile::Provisional(b)) => Err(Uncached::Provisional(b)),
                    Err(e) => Err(Uncached::Failed(e)),
                }
            })
            .await;
        match made {
            Ok(b) => Ok(Tile::Final(b)),
            Err(u) => match &*u {
                Uncached::Provisional(b) => Ok(Tile::Provisional(b.clone())),
                Uncached::Failed(e) => Err(e.clone()),
            },
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    fn run<F: Future>(f: F) -> F::Output {
        actix_web::rt::System::new().block_on(f)
    }

    fn tile(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn memory_holds_at_most_its_bytes_dropping_the_least_recently_used() {
        run(async {
            let c = memory_cache(100);
            c.insert("a".into(), tile(39)).await; // 40 bytes with its key
            c.insert("b".into(), tile(39)).await;
            c.run_pending_tasks().await;
            assert_eq!(c.weighted_size(), 80);
            assert!(c.get("a").await.is_some()); // a is now the most recent
            c.run_pending_tasks().await;
            c.insert("c".into(), tile(39)).await;
            c.run_pending_tasks().await;
            assert_eq!(c.weighted_size(), 80, "b went to make room");
            assert!(c.get("b").await.is_none());
            assert!(c.get("a").await.is_some() && c.get("c").await.is_some());
            // A tile larger than the whole cache is not kept.
            c.insert("huge".into(), tile(200)).await;
            c.run_pending_tasks().await;
            assert!(c.get("huge").await.is_none());
            assert!(c.weighted_size() <= 100);
        });
    }

    fn cache() -> (tempfile::TempDir, TileCache) {
        let d = tempfile::tempdir().unwrap();
        let store: Arc<dyn TileStore> = Arc::new(toyz_pyramid::FolderStore::new(d.path()));
        let c = TileCache::start(store, &CacheLayout::new(d.path()), 1 << 20, 0, |_| false);
        (d, c)
    }

    #[test]
    fn one_render_for_all_who_wait_and_only_final_tiles_are_kept() {
        run(async {
            let (_d, c) = cache();
            let renders = AtomicUsize::new(0);
            let (tx, rx) = tokio::sync::watch::channel(false);
            let make = |what: &'static str| {
                let (renders, mut rx) = (&renders, rx.clone());
                async move {
                    renders.fetch_add(1, SeqCst);
                    rx.wait_for(|go| *go).await.unwrap();
                    match what {
                        "final" => Ok(Tile::Final(tile(10))),
                        "provisional" => Ok(Tile::Provisional(tile(5))),
                        _ => Err(ApiError::busy("not now")),
                    }
                }
            };
            // Polled in order: the first starts its render, the second waits for it, then the
            // render is let go.
            let (a, b, ()) = tokio::join!(
                c.get_or_make("k", make("final")),
                c.get_or_make("k", make("final")),
                async {
                    tx.send_replace(true);
                }
            );
            assert!(matches!((a, b), (Ok(Tile::Final(x)), Ok(Tile::Final(y))) if x == y));
            assert_eq!(
                renders.load(SeqCst),
                1,
                "the second request waited for the first"
            );
            // Kept: served from memory without a render.
            assert!(c.get_or_make("k", make("final")).await.is_ok());
            assert_eq!(renders.load(SeqCst), 1);
            assert!(c.memory_get("k").await.is_some());
            // Provisional tiles and errors are given to who waited, and not kept.
            for what in ["provisional", "error", "provisional"] {
                let r = c.get_or_make("p", make(what)).await;
                assert_eq!(r.is_ok(), what == "provisional");
            }
            assert_eq!(renders.load(SeqCst), 4);
            assert!(c.memory_get("p").await.is_none());
            assert_eq!(c.memory_bytes().await, 11);
        });
    }
}
