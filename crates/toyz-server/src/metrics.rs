//! Prometheus metrics (`GET /metrics`, text format 0.0.4) from the `prometheus-client` crate:
//! requests by route and status, tile lookups by outcome, render time, WebSocket sessions. What is
//! read at scrape time (what clients make the server hold, account counts) is added by the handler
//! as constant metrics of a snapshot registry ([`Snapshot`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

/// Upper bounds (seconds) of the render-time histogram buckets.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2.0];

/// Route labels (tile URLs collapse to one, unknown paths to `other`: the label set is bounded).
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Statuses whose request counters are kept at hand (the hot path takes no lock for them).
const STATUSES: [u16; 9] = [101, 200, 304, 400, 403, 404, 422, 500, 503];

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// Handles of `requests` by (route, status in `STATUSES`), made on first use (a counter that never
    /// counted is not shown).
    at_hand: [[OnceLock<Counter>; STATUSES.len()]; ROUTES.len()],
    pub tile_memory_hits: Counter,
    pub tile_disk_hits: Counter,
    /// Tiles found in an object store (`--cache s3://…`), not on this machine's disk.
    pub tile_store_hits: Counter,
    pub tile_renders: Counter,
    pub tile_not_modified: Counter,
    pub busy_rejections: Counter,
    pub disk_writes_skipped: Counter,
    render_seconds: Histogram,
    /// Open WebSocket sessions.
    pub sessions_open: Gauge,
    /// Finished jobs whose reply waits for room in its session's outbox.
    pub replies_waiting: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "toyz_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "toyz_tile_cache",
            "Tile lookups by outcome",
            outcomes.clone(),
        );
        let outcome = |o: &'static str| {
            outcomes
                .get_or_create(&OutcomeLabels { outcome: o })
                .clone()
        };
        let render_seconds = Histogram::new(BUCKETS);
        registry.register(
            "toyz_tile_render_seconds",
            "Time to render and encode one tile",
            render_seconds.clone(),
        );
        let (sessions_open, replies_waiting) = (Gauge::default(), Gauge::default());
        registry.register(
            "toyz_sessions",
            "Open WebSocket sessions",
            sessions_open.clone(),
        );
        registry.register(
            "toyz_ws_replies_waiting",
            "Job replies waiting for room in a session whose client is not reading",
            replies_waiting.clone(),
        );
        Metrics {
            tile_memory_hits: outcome("memory_hit"),
            tile_disk_hits: outcome("disk_hit"),
            tile_store_hits: outcome("store_hit"),
            tile_renders: outcome("miss_rendered"),
            tile_not_modified: outcome("not_modified"),
            busy_rejections: outcome("busy"),
            disk_writes_skipped: outcome("disk_write_skipped"),
            registry,
            requests,
            at_hand: Default::default(),
            render_seconds,
            sessions_open,
            replies_waiting,
        }
    }
}

impl Metrics {
    /// Count one request.
    pub fn request(&self, route: usize, status: u16) {
        let route = route.min(ROUTES.len() - 1);
        let labels = || RequestLabels {
            route: ROUTES[route],
            status,
        };
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => self.at_hand[route][i]
                .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                .inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
    }

    pub fn render_time(&self, secs: f64) {
        self.render_seconds.observe(secs);
    }

    /// The text of `/metrics`: these metrics, then the snapshot's.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut s = String::new();
        for r in [&self.registry, &snapshot.0] {
            prometheus_client::encoding::prometheus_text::encode(&mut s, r)
                .expect("writing to a String");
        }
        s
    }
}

/// Values read at scrape time, as constant metrics.
#[derive(Default)]
pub struct Snapshot(Registry);

impl Snapshot {
    pub fn gauge(&mut self, name: &str, help: &str, v: u64) {
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        self.0.register(name, help, ConstGauge::new(v));
    }
    /// A counter (`_total` is added to `name`).
    pub fn counter(&mut self, name: &str, help: &str, v: u64) {
        self.0.register(name, help, ConstCounter::new(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_the_names_labels_and_values_dashboards_read() {
        let m = Metrics::default();
        m.request(route_index("/tiles/0123/ab/1/2/3.png"), 200);
        m.request(route_index("/tiles/x"), 200);
        m.request(route_index("/no/such/route"), 404);
        m.request(route_index("/api/pixel"), 418);
        m.tile_renders.inc();
        m.sessions_open.inc();
        m.render_time(0.003);
        let mut snap = Snapshot::default();
        snap.gauge("toyz_sources", "open sources", 3);
        snap.counter("toyz_logins", "successful logins", 2);
        let text = m.render(&snap);
        for line in [
            "toyz_http_requests_total{route=\"/tiles\",status=\"200\"} 2",
            "toyz_http_requests_total{route=\"other\",status=\"404\"} 1",
            "toyz_http_requests_total{route=\"/api/pixel\",status=\"418\"} 1",
            "toyz_tile_cache_total{outcome=\"miss_rendered\"} 1",
            "toyz_tile_cache_total{outcome=\"memory_hit\"} 0",
            "toyz_tile_render_seconds_bucket{le=\"0.002\"} 0",
            "toyz_tile_render_seconds_bucket{le=\"0.005\"} 1",
            "toyz_tile_render_seconds_bucket{le=\"+Inf\"} 1",
            "toyz_tile_render_seconds_count 1",
            "toyz_sessions 1",
            "toyz_sources 3",
            "toyz_logins_total 2",
            "# TYPE toyz_http_requests_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Counters that never counted are not listed.
        assert!(!text.contains("status=\"503\""), "{text}");
    }
}
