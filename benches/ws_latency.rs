//! Round-trip latency of the `image.pixels` job (one point: the viewer's cursor readout) over real
//! WebSockets on loopback, with 1 and with 64 concurrent sessions each sending requests back to back.
//! Prints p50 / p99 / max and throughput. Target on the 2-core dev machine: p99 < 5 ms with 64 sessions.
//! Run: `cargo bench -p toyz-server --bench ws_latency` (ROUNDS=N requests per session, default 500).

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use toyz_server::{Config, JobRegistry, Overrides};
use tungstenite::Message;

fn main() {
    // As the toyz binary does: files are read through guarded memory maps.
    toyz_fits::install_sigbus_guard();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    toyz_skygen::write_fits(
        &data.join("sky.fits"),
        &toyz_skygen::SkySpec::new(4096, 4096),
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (d2, c2) = (data.clone(), dir.path().join("cache"));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let o = Overrides {
                bind: Some("127.0.0.1:0".into()),
                cache: Some(c2),
                roots: vec![("data".into(), d2)],
                ..Default::default()
            };
            let (server, addr) = toyz_server::start_with(
                Config::load(None, o).unwrap(),
                JobRegistry::with_builtins(),
            )
            .unwrap();
            tx.send(addr).unwrap();
            server.await.unwrap();
        })
    });
    let addr = rx.recv().unwrap();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    println!("image.pixels round trips over ws://{addr}/ws, {rounds} per session");
    println!(
        "{:>9} {:>9} {:>9} {:>9} {:>12}",
        "sessions", "p50 ms", "p99 ms", "max ms", "requests/s"
    );
    for sessions in [1usize, 64] {
        let t0 = Instant::now();
        let handles: Vec<_> = (0..sessions)
            .map(|s| {
                std::thread::spawn(move || {
                    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
                    let _ready = ws.read().unwrap();
                    let mut lat = Vec::with_capacity(rounds);
                    for i in 0..rounds + 10 {
                        let (x, y) = (1 + (s * 61 + i * 17) % 4096, 1 + (s * 37 + i * 29) % 4096);
                        let msg = json!({"id": i, "job": "image.pixels", "params": {"path": "data/sky.fits", "points": [[x, y]]}});
                        let a = Instant::now();
                        ws.send(Message::text(msg.to_string())).unwrap();
                        loop {
                            if let Message::Text(t) = ws.read().unwrap() {
                                let v: Value = serde_json::from_str(&t).unwrap();
                                if v["id"] == json!(i) {
                                    assert_eq!(v["status"], "ok", "{v}");
                                    break;
                                }
                            }
                        }
                        if i >= 10 {
                            // The first requests open the source; they are warm-up.
                            lat.push(a.elapsed());
                        }
                    }
                    lat
                })
            })
            .collect();
        let mut all: Vec<Duration> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let secs = t0.elapsed().as_secs_f64();
        all.sort();
        let q = |p: f64| all[((all.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
        println!(
            "{sessions:>9} {:>9.3} {:>9.3} {:>9.3} {:>12.0}",
            q(0.5),
            q(0.99),
            all.last().unwrap().as_secs_f64() * 1e3,
            all.len() as f64 / secs
        );
    }
}
