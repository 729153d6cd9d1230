//! Files changing under a running server (issue 9): a FITS file rewritten in place as `cp` does it, and a
//! level file of the cache truncated in place, while tiles render. The server is a real child process,
//! so a fatal signal (SIGBUS from a shrunken memory map) shows as a dead child, not a crashed test.

mod common;
use common::{get, json, serve_root, Server};
use std::io::Write;
use std::path::Path;
use toyz_skygen::{write_fits, SkySpec};

fn alive(srv: &mut Server) {
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "the server died: {:?}",
        srv.child.try_wait()
    );
    assert_eq!(get(&format!("{}/healthz", srv.url)).0, 200);
}

/// Open `path` with a colour map and wait until every tile can be served; returns (source id, tiles URL
/// template).
fn open_ready(srv: &Server, path: &str, cmap: &str) -> (String, String) {
    loop {
        let (st, b) = get(&format!("{}/api/sources?path={path}&cmap={cmap}", srv.url));
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        let v = json(&b);
        if v["levels"]["state"] == "ready" {
            return (
                v["id"].as_str().unwrap().to_owned(),
                v["tiles"].as_str().unwrap().to_owned(),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn tile(srv: &Server, template: &str, z: u32, x: u32, y: u32) -> u16 {
    let t = template.replace("{z}/{x}/{y}", &format!("{z}/{x}/{y}"));
    get(&format!("{}{t}", srv.url)).0
}

#[test]
fn files_changed_in_place_under_tile_load_never_kill_the_server() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fits = data.join("sky.fits");
    write_fits(&fits, &SkySpec::new(1024, 1024)).unwrap();
    let cache = d.path().join("cache");
    let mut srv = serve_root("sky", &data, &cache, &[]);

    // A level file truncated in place after the server has opened it: the next tile of a lower level
    // must be an error answer (and the levels are rebuilt), not a fault.
    let (sid, gray) = open_ready(&srv, "sky/sky.fits", "gray");
    assert_eq!(tile(&srv, &gray, 0, 0, 0), 200);
    let level0 = cache.join(&sid).join("levels").join("0.f32");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&level0)
        .unwrap();
    f.set_len(16).unwrap();
    drop(f);
    let (_, viridis) = open_ready(&srv, "sky/sky.fits", "viridis");
    let st = tile(&srv, &viridis, 0, 0, 0);
    assert!(st == 200 || st == 503, "status {st}");
    alive(&mut srv);
    // Rebuilt: once the levels are whole again, the tile comes back.
    let (_, magma) = open_ready(&srv, "sky/sky.fits", "magma");
    assert_eq!(tile(&srv, &magma, 0, 0, 0), 200);
    assert_eq!(std::fs::metadata(&level0).unwrap().len(), 256 * 256 * 4);

    // The FITS file rewritten in place (truncate, then write) again and again while full-resolution
    // tiles of fresh render specs are read from it.
    let bytes = std::fs::read(&fits).unwrap();
    let templates: Vec<String> = (0..32)
        .map(|k| {
            let (st, b) = get(&format!(
                "{}/api/sources?path=sky/sky.fits&contrast={}",
                srv.url,
                1.0 + k as f64 / 64.0
            ));
            assert_eq!(st, 200);
            json(&b)["tiles"].as_str().unwrap().to_owned()
        })
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|sc| {
        let writer = sc.spawn(|| {
            for _ in 0..40 {
                rewrite(&fits, &bytes);
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        for k in 0..2 {
            let (srv, templates, stop) = (&srv, &templates, &stop);
            sc.spawn(move || {
                let mut n = k;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 32 * 16 {
                    let (t, i) = (&templates[n / 16], n as u32 % 16);
                    let st = tile(srv, t, 2, i % 4, i / 4);
                    assert!([200, 404, 422, 500, 503].contains(&st), "status {st}");
                    n += 2;
                }
            });
        }
        writer.join().unwrap();
    });
    alive(&mut srv);
}

fn rewrite(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    for chunk in bytes.chunks(1 << 16) {
        f.write_all(chunk).unwrap();
    }
}
