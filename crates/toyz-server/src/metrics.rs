//! Prometheus text metrics: requests by route and status class, tile cache hits/misses, render time.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Upper bounds (seconds) of the render-time histogram buckets.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2.0];

/// Route labels (tile URLs collapse to one).
pub const ROUTES: [&str; 12] = [
    "/tiles",
    "/api/sources",
    "/api/files",
    "/api/header",
    "/api/pixel",
    "/api/histogram",
    "/api/cutout",
    "/api/colorbar",
    "/healthz",
    "/metrics",
    "/ws",
    "other",
];
const STATUSES: [u16; 10] = [101, 200, 304, 400, 403, 404, 422, 500, 503, 0];

/// The index in `ROUTES` of a request path.
pub fn route_index(path: &str) -> usize {
    if path.starts_with("/tiles/") {
        return 0;
    }
    ROUTES[1..ROUTES.len() - 1]
        .iter()
        .position(|r| *r == path)
        .map_or(ROUTES.len() - 1, |i| i + 1)
}

#[derive(Default)]
pub struct Metrics {
    /// Counts by (route, known status); other statuses go to the map (rare).
    requests: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
    other_statuses: Mutex<std::collections::BTreeMap<(usize, u16), u64>>,
    pub tile_memory_hits: AtomicU64,
    pub tile_disk_hits: AtomicU64,
    pub tile_renders: AtomicU64,
    pub tile_not_modified: AtomicU64,
    pub busy_rejections: AtomicU64,
    pub disk_writes_skipped: AtomicU64,
    /// Open WebSocket sessions.
    pub sessions_open: AtomicU64,
    /// Finished jobs whose reply waits for room in its session's outbox.
    pub replies_waiting: AtomicU64,
    render_buckets: [AtomicU64; BUCKETS.len()],
    render_count: AtomicU64,
    render_sum_us: AtomicU64,
}

impl Metrics {
    /// Count one request (lock-free for the statuses toyz normally answers).
    pub fn request(&self, route: usize, status: u16) {
        match STATUSES[..9].iter().position(|s| *s == status) {
            Some(i) => {
                self.requests[route][i].fetch_add(1, Relaxed);
            }
            None => {
                *self
                    .other_statuses
                    .lock()
                    .expect("metrics")
                    .entry((route, status))
                    .or_insert(0) += 1;
            }
        }
    }

    pub fn render_time(&self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.render_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.render_count.fetch_add(1, Relaxed);
        self.render_sum_us.fetch_add((secs * 1e6) as u64, Relaxed);
    }

    pub fn render(&self, memory_cache_bytes: u64) -> String {
        let mut s = String::new();
        s.push_str("# HELP toyz_http_requests_total HTTP requests by route and status.\n");
        s.push_str("# TYPE toyz_http_requests_total counter\n");
        for (r, row) in self.requests.iter().enumerate() {
            for (i, n) in row.iter().enumerate().take(9) {
                let n = n.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        s,
                        "toyz_http_requests_total{{route=\"{}\",status=\"{}\"}} {n}",
                        ROUTES[r], STATUSES[i]
                    );
                }
            }
        }
        for ((r, status), n) in self.other_statuses.lock().expect("metrics").iter() {
            let _ = writeln!(
                s,
                "toyz_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                ROUTES[*r]
            );
        }
        s.push_str("# HELP toyz_tile_cache_total Tile lookups by outcome.\n# TYPE toyz_tile_cache_total counter\n");
        for (what, v) in [
            ("memory_hit", &self.tile_memory_hits),
            ("disk_hit", &self.tile_disk_hits),
            ("miss_rendered", &self.tile_renders),
            ("not_modified", &self.tile_not_modified),
            ("busy", &self.busy_rejections),
            ("disk_write_skipped", &self.disk_writes_skipped),
        ] {
            let _ = writeln!(
                s,
                "toyz_tile_cache_total{{outcome=\"{what}\"}} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP toyz_tile_memory_cache_bytes Bytes of tiles held in memory.\n# TYPE toyz_tile_memory_cache_bytes gauge\ntoyz_tile_memory_cache_bytes {memory_cache_bytes}"
        );
        s.push_str("# HELP toyz_tile_render_seconds Time to render and encode one tile.\n");
        s.push_str("# TYPE toyz_tile_render_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "toyz_tile_render_seconds_bucket{{le=\"{b}\"}} {}",
                self.render_buckets[i].load(Relaxed)
            );
        }
        let n = self.render_count.load(Relaxed);
        let _ = writeln!(s, "toyz_tile_render_seconds_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            s,
            "toyz_tile_render_seconds_sum {}",
            self.render_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "toyz_tile_render_seconds_count {n}");
        s
    }
}
