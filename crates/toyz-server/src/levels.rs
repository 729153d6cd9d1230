//! Building the float levels of sources in the background: a few builds at once (one per core, at
//! least two), progress reported through each source's `watch` channel, a build that could never
//! fit the cache refused up front, and a failure said without a server path.

use crate::sources::{Levels, OpenSource};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use toyz_pyramid::CacheLayout;

/// A counting lock for level builds: each reads a whole image and writes its levels, so only a few
/// run at once; the others wait, or give up when cancelled.
struct BuildSlots {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

impl BuildSlots {
    fn acquire(&self, cancel: &AtomicBool) -> bool {
        let mut n = self.running.lock().expect("builds");
        while *n >= self.max {
            if cancel.load(Relaxed) {
                return false;
            }
            n = self
                .freed
                .wait_timeout(n, Duration::from_millis(200))
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

/// Starts level builds (see [`LevelBuilder::start`]).
pub struct LevelBuilder {
    layout: CacheLayout,
    slots: Arc<BuildSlots>,
    /// Wakes the cache collector when a build ends.
    collect: SyncSender<()>,
    /// The disk cache's size limit (0: none).
    cache_max: u64,
}

impl LevelBuilder {
    pub fn new(layout: CacheLayout, collect: SyncSender<()>, cache_max: u64) -> LevelBuilder {
        let max = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(2);
        LevelBuilder {
            layout,
            slots: Arc::new(BuildSlots {
                running: Mutex::new(0),
                freed: Condvar::new(),
                max,
            }),
            collect,
            cache_max,
        }
    }

    /// Build the levels of `o` on a thread of their own once a slot is free, reporting on `tx`;
    /// tile requests for lower levels wait for `Ready`. Levels that could never fit the cache are
    /// not written at all (a sparse 65536² file wrote 5.4 GB under a 512 MiB limit, then the
    /// collector removed them while in use): `TooLarge` at once.
    pub fn start(&self, o: Arc<OpenSource>, tx: watch::Sender<Levels>) {
        let need = level_bytes(&o.src.geometry);
        let max = self.cache_max;
        if max > 0 && need > max / 10 * 9 {
            let m = format!(
                "the float levels of {} need {} MiB, more than the cache may hold (cache_max {} MiB)",
                o.public,
                need >> 20,
                max >> 20
            );
            tx.send_replace(Levels::TooLarge(m));
            return;
        }
        let (layout, slots, kick) = (
            self.layout.clone(),
            self.slots.clone(),
            self.collect.clone(),
        );
        let total = o.src.geometry.height as u64;
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
                    *o.failed_at.lock().expect("failed_at") = Some(Instant::now());
                    tx.send_replace(Levels::Failed(shown_failure(e, &o.public)));
                }
            };
        });
    }
}

/// What clients are told of a failed build: never a server path.
fn shown_failure(e: toyz_pyramid::EngineError, public: &str) -> String {
    match &e {
        toyz_pyramid::EngineError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull =>
        {
            "the cache's disk is full; retried shortly".to_owned()
        }
        toyz_pyramid::EngineError::Io { .. } => {
            "writing the cache failed (see the server log); retried shortly".to_owned()
        }
        _ => crate::error::engine_error(e, public).message,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_bound_the_builds_and_a_cancelled_wait_gives_up() {
        let slots = BuildSlots {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: 2,
        };
        let go = AtomicBool::new(false);
        assert!(slots.acquire(&go));
        assert!(slots.acquire(&go));
        // Full: a cancelled waiter returns false instead of waiting for ever.
        let stop = AtomicBool::new(true);
        assert!(!slots.acquire(&stop));
        slots.release();
        assert!(slots.acquire(&go));
        assert_eq!(*slots.running.lock().unwrap(), 2);
    }

    #[test]
    fn level_bytes_sum_the_halved_levels() {
        let g = toyz_pyramid::Geometry::new(1024, 1024);
        // Levels below full resolution: 512², 256² (zmax 2).
        assert_eq!(g.zmax, 2);
        assert_eq!(level_bytes(&g), (512 * 512 + 256 * 256) * 4);
    }
}
