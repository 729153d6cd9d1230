//! The service in-process through the shared router: every endpoint and its errors, caching headers,
//! pre-built caches served as is, one render per missing tile, the render bound, changed files, and a
//! path-traversal corpus.

use actix_web::http::StatusCode;
use actix_web::{test, web};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use toyz_server::{AppState, Config, Overrides};
use toyz_skygen::{write_fits, write_fz, write_mef, Compression, Extension, SkySpec};

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    cache: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let mut sky = SkySpec::new(600, 500);
    sky.nan_patches = true;
    write_fits(&data.join("sky.fits"), &sky).unwrap();
    write_fits(&data.join("ramp.fits"), &SkySpec::ramp(300, 200)).unwrap();
    write_fz(
        &data.join("sub/small.fits.fz"),
        &SkySpec::new(300, 300),
        Compression::Rice,
    )
    .unwrap();
    write_mef(
        &data.join("mef.fits"),
        &[Extension {
            name: "SCI".into(),
            spec: SkySpec::new(100, 80),
        }],
        true,
    )
    .unwrap();
    std::fs::write(data.join("notes.txt"), "observing log").unwrap();
    std::fs::write(
        data.join("corrupt.fits"),
        "SIMPLE? no, just text\n".repeat(200),
    )
    .unwrap();
    let bytes = std::fs::read(data.join("sky.fits")).unwrap();
    std::fs::write(data.join("truncated.fits"), &bytes[..bytes.len() / 2]).unwrap();
    write_fits(&data.join(".hidden.fits"), &SkySpec::ramp(10, 10)).unwrap();
    write_fits(&outside.join("secret.fits"), &SkySpec::ramp(10, 10)).unwrap();
    std::os::unix::fs::symlink(&outside, data.join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.fits"), data.join("secret-link.fits")).unwrap();
    std::os::unix::fs::symlink(data.join("ramp.fits"), data.join("sub/ramp-link.fits")).unwrap();
    let cache = dir.path().join("cache");
    Fixture {
        data,
        cache,
        _dir: dir,
    }
}

fn config(f: &Fixture, max_renders: Option<usize>) -> Config {
    // As the toyz binary does: files are read through guarded memory maps.
    toyz_fits::install_sigbus_guard();
    let mut c = Config::load(
        None,
        Overrides {
            cache: Some(f.cache.clone()),
            roots: vec![("data".into(), f.data.clone())],
            ..Default::default()
        },
    )
    .unwrap();
    if let Some(m) = max_renders {
        c.max_renders = m;
    }
    c
}

macro_rules! service {
    ($cfg:expr) => {{
        let state = web::Data::new(AppState::new($cfg).unwrap());
        (
            test::init_service(toyz_server::app(state.clone())).await,
            state,
        )
    }};
}

async fn get<S, B>(app: &S, uri: &str) -> (StatusCode, actix_web::http::header::HeaderMap, Vec<u8>)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = test::call_service(app, test::TestRequest::get().uri(uri).to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let body = test::read_body(res).await.to_vec();
    (status, headers, body)
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(b)))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn decode_png(b: &[u8]) -> (Vec<u8>, u32, u32) {
    let mut d = png::Decoder::new(std::io::Cursor::new(b));
    d.set_transformations(png::Transformations::EXPAND);
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    (buf, info.width, info.height)
}

fn tile_url(src: &Value, z: u32, x: u32, y: u32) -> String {
    src["tiles"]
        .as_str()
        .unwrap()
        .replace("{z}", &z.to_string())
        .replace("{x}", &x.to_string())
        .replace("{y}", &y.to_string())
}

#[actix_web::test]
async fn files_lists_roots_and_folders_safely() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let (s, _, b) = get(&app, "/api/files?path=").await;
    assert_eq!(s, 200);
    assert_eq!(
        json(&b),
        serde_json::json!({"path": "", "entries": [{"name": "data", "kind": "dir", "size": null, "mtime": json(&b)["entries"][0]["mtime"]}]})
    );
    let (s, _, b) = get(&app, "/api/files?path=data").await;
    assert_eq!(s, 200);
    let v = json(&b);
    let names: Vec<(&str, &str)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("sub", "dir"),
            ("corrupt.fits", "file"),
            ("mef.fits", "fits"),
            ("notes.txt", "file"),
            ("ramp.fits", "fits"),
            ("sky.fits", "fits"),
            ("truncated.fits", "fits"),
        ],
        "hidden files and symlinks leaving the root are not listed"
    );
    let sky = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "sky.fits")
        .unwrap();
    assert_eq!(
        sky["size"],
        std::fs::metadata(f.data.join("sky.fits")).unwrap().len()
    );
    let (s, _, b) = get(&app, "/api/files?path=data/sub").await;
    assert_eq!(s, 200);
    assert_eq!(
        json(&b)["entries"].as_array().unwrap().len(),
        2,
        "a symlink inside the root is fine"
    );
    let (s, _, b) = get(&app, "/api/files?path=data/sky.fits").await;
    assert_eq!(s, 400);
    assert_eq!(json(&b)["error"]["kind"], "bad_request");
}

#[actix_web::test]
async fn sources_describe_and_errors() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let (s, h, b) = get(
        &app,
        "/api/sources?path=data/sky.fits&stretch=asinh&cut=percentile%3D99.5&cmap=viridis",
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    assert!(h
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v = json(&b);
    assert_eq!(v["path"], "data/sky.fits");
    assert_eq!(
        (
            v["width"].as_u64(),
            v["height"].as_u64(),
            v["zmax"].as_u64()
        ),
        (Some(600), Some(500), Some(2))
    );
    assert_eq!(v["bitpix"], -32);
    assert_eq!(v["bunit"], "ADU");
    assert_eq!(v["wcs"]["frame"], "icrs");
    assert_eq!(v["render"]["cmap"], "viridis");
    assert!(v["render"]["spec"]
        .as_str()
        .unwrap()
        .starts_with("stretch=asinh=0.1;cut=percentile=0.25,99.75"));
    assert!(v["render"]["lo"].as_f64().unwrap() < v["render"]["hi"].as_f64().unwrap());
    let id = v["id"].as_str().unwrap();
    let rid = v["render"]["id"].as_str().unwrap();
    assert_eq!(
        v["tiles"],
        format!("/tiles/{id}/{rid}/{{z}}/{{x}}/{{y}}.png")
    );
    assert!(v["stats"]["median"].as_f64().is_some());
    assert_eq!(v["hdus"].as_array().unwrap().len(), 1);

    let (s, _, b) = get(&app, "/api/sources?path=data/mef.fits").await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)["hdu"], 1, "the empty primary is skipped");

    for (uri, status, kind) in [
        ("/api/sources", 400, "bad_request"),
        ("/api/sources?path=data/nope.fits", 404, "not_found"),
        ("/api/sources?path=data/notes.txt", 422, "not_fits"),
        ("/api/sources?path=data/corrupt.fits", 422, "not_fits"),
        ("/api/sources?path=data/truncated.fits", 422, "truncated"),
        ("/api/sources?path=data/mef.fits&hdu=2", 422, "not_an_image"),
        ("/api/sources?path=data/mef.fits&hdu=7", 404, "no_such_hdu"),
        (
            "/api/sources?path=data/mef.fits&hdu=NOPE",
            404,
            "no_such_hdu",
        ),
        (
            "/api/sources?path=data/sky.fits&plane=3",
            404,
            "no_such_plane",
        ),
        (
            "/api/sources?path=data/sky.fits&cut=median",
            400,
            "bad_spec",
        ),
        (
            "/api/sources?path=data/sky.fits&stretch=log%3D-1",
            400,
            "bad_spec",
        ),
        ("/api/sources?path=data/sky.fits&cmap=nope", 400, "bad_spec"),
        (
            "/api/sources?path=data/sky.fits&contrast=abc",
            400,
            "bad_request",
        ),
        ("/api/sources?path=data/sky.fits&bias=7", 400, "bad_spec"),
        (
            "/api/sources?path=data/sky.fits&plane=-1",
            400,
            "bad_request",
        ),
        ("/api/sources?path=data/sub", 400, "bad_request"),
    ] {
        let (s, _, b) = get(&app, uri).await;
        assert_eq!(s.as_u16(), status, "{uri}: {}", String::from_utf8_lossy(&b));
        let v = json(&b);
        assert_eq!(v["error"]["kind"], kind, "{uri}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            !msg.contains(f.data.to_str().unwrap()),
            "{uri}: server path revealed: {msg}"
        );
    }
}

#[actix_web::test]
async fn tiles_are_correct_immutable_and_cached() {
    let f = fixture();
    let (app, state) = service!(config(&f, None));
    let (_, _, b) = get(&app, "/api/sources?path=data/ramp.fits&cut=range%3D0,59999").await;
    let src = json(&b);
    // FITS (1,1) (value 0: black) is the bottom-left pixel: level 1, tile (0, 0), row 199.
    let (s, h, b) = get(&app, &tile_url(&src, 1, 0, 0)).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    assert_eq!(h.get("content-type").unwrap(), "image/png");
    assert_eq!(
        h.get("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    let etag = h.get("etag").unwrap().to_str().unwrap().to_owned();
    let (px, w, hgt) = decode_png(&b);
    assert_eq!((w, hgt), (256, 256));
    assert_eq!(&px[(199 * 256) * 4..(199 * 256) * 4 + 4], &[0, 0, 0, 255]);
    assert_eq!(px[(200 * 256) * 4 + 3], 0, "below the image: transparent");
    // FITS (300, 200) = 59999 = white, top row of tile (1, 1, 0), column 43.
    let (_, _, b) = get(&app, &tile_url(&src, 1, 1, 0)).await;
    let (px, _, _) = decode_png(&b);
    assert_eq!(&px[43 * 4..43 * 4 + 4], &[255, 255, 255, 255]);
    // Level 0 needs the float levels: built in the background, the request waits for them.
    let (s, _, _) = get(&app, &tile_url(&src, 0, 0, 0)).await;
    assert_eq!(s, 200);

    let req = test::TestRequest::get()
        .uri(&tile_url(&src, 1, 0, 0))
        .insert_header(("If-None-Match", etag.as_str()))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 304);
    let before = state.metrics.tile_memory_hits.get();
    let (s, _, _) = get(&app, &tile_url(&src, 1, 0, 0)).await;
    assert_eq!(s, 200);
    assert_eq!(
        state.metrics.tile_memory_hits.get(),
        before + 1,
        "second fetch from memory"
    );

    let t = src["tiles"].as_str().unwrap();
    for (uri, status) in [
        (tile_url(&src, 2, 0, 0), 404),
        (tile_url(&src, 1, 2, 0), 404),
        (tile_url(&src, 0, 0, 1), 404),
        (t.replace("{z}/{x}/{y}", "1/x/0"), 400),
        (t.replace("{z}/{x}/{y}", "1/-1/0"), 400),
        (t.replace("{z}/{x}/{y}", "1/0/0.jpg"), 400),
        (t.replace("{z}/{x}/{y}", "1/99999999999/0"), 400),
        (
            "/tiles/0123456789abcdef/0123456789ab/0/0/0.png".to_owned(),
            404,
        ),
        ("/tiles/zz/0123456789ab/0/0/0.png".to_owned(), 400),
        (
            format!(
                "/tiles/{}/0123456789ab/0/0/0.png",
                src["id"].as_str().unwrap()
            ),
            404,
        ),
        ("/tiles/a/b".to_owned(), 404),
    ] {
        let (s, _, b) = get(&app, &uri).await;
        assert_eq!(s.as_u16(), status, "{uri}");
        assert!(json(&b)["error"]["message"].is_string());
    }
    // Rendered tiles reach the disk cache (from the background writer, so allow it a moment).
    let sid = src["id"].as_str().unwrap();
    let rid = src["render"]["id"].as_str().unwrap();
    let t0 = std::time::Instant::now();
    while !f.cache.join(sid).join(rid).join("1/0/0.png").exists() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "tile written to the disk cache"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(f.cache.join(sid).join(rid).join("spec.json").exists());
}

/// `data/sky.fits` built into the fixture's cache as `toyz tiles build` does (sqrt, minmax, heat).
fn build_sky_cache(f: &Fixture) -> (toyz_pyramid::Source, toyz_pyramid::BuildOptions) {
    let src =
        toyz_pyramid::Source::open(&f.data.join("sky.fits"), &toyz_fits::HduSel::Auto, 0).unwrap();
    let spec = toyz_pyramid::RenderSpec::parse(Some("sqrt"), Some("minmax"), Some("heat")).unwrap();
    let opts = toyz_pyramid::BuildOptions {
        spec,
        ..Default::default()
    };
    let target = toyz_pyramid::Target::Cache(f.cache.clone());
    toyz_pyramid::build(&src, &target, &opts, &|_| {}, &AtomicBool::new(false)).unwrap();
    (src, opts)
}

#[actix_web::test]
async fn a_cache_built_by_the_cli_is_served_as_is() {
    let f = fixture();
    let (src, opts) = build_sky_cache(&f);
    let (app, state) = service!(config(&f, None));
    let (_, _, b) = get(
        &app,
        "/api/sources?path=data/sky.fits&stretch=sqrt&cut=minmax&cmap=heat",
    )
    .await;
    let v = json(&b);
    assert_eq!(v["id"].as_str().unwrap(), src.id);
    assert_eq!(
        v["levels"]["state"], "ready",
        "levels written by the CLI are reused"
    );
    for (z, x, y) in [(0, 0, 0), (1, 1, 0), (2, 2, 1)] {
        let (s, _, body) = get(&app, &tile_url(&v, z, x, y)).await;
        assert_eq!(s, 200);
        let on_disk = std::fs::read(toyz_pyramid::CacheLayout::new(&f.cache).tile(
            &src.id,
            &opts.spec.id(),
            z,
            x,
            y,
        ))
        .unwrap();
        assert_eq!(body, on_disk);
    }
    assert_eq!(state.metrics.tile_renders.get(), 0);
    assert_eq!(state.metrics.tile_disk_hits.get(), 3);
}

#[actix_web::test]
async fn one_render_per_missing_tile_under_concurrency() {
    let f = fixture();
    let (app, state) = service!(config(&f, None));
    let (_, _, b) = get(&app, "/api/sources?path=data/sky.fits").await;
    let v = json(&b);
    let url = tile_url(&v, 2, 1, 1);
    let reqs = (0..32).map(|_| get(&app, &url));
    let results = futures_util::future::join_all(reqs).await;
    let first = &results[0].2;
    for (s, _, b) in &results {
        assert_eq!(*s, 200);
        assert_eq!(b, first);
    }
    assert_eq!(
        state.metrics.tile_renders.get(),
        1,
        "32 concurrent requests, one render"
    );
}

#[actix_web::test]
async fn saturated_renders_answer_503_with_retry_after() {
    let f = fixture();
    let (app, state) = service!(config(&f, Some(1)));
    let (_, _, b) = get(&app, "/api/sources?path=data/sky.fits").await;
    let v = json(&b);
    let urls: Vec<String> = (0..3)
        .flat_map(|x| (0..2).map(move |y| (x, y)))
        .map(|(x, y)| tile_url(&v, 2, x, y))
        .collect();
    let results = futures_util::future::join_all(urls.iter().map(|u| {
        let req = test::TestRequest::get().uri(u).to_request();
        test::call_service(&app, req)
    }))
    .await;
    let busy: Vec<_> = results.iter().filter(|r| r.status() == 503).collect();
    assert!(
        !busy.is_empty(),
        "with one render slot, concurrent misses are refused"
    );
    assert!(results.iter().any(|r| r.status() == 200));
    for r in busy {
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    }
    assert!(state.metrics.busy_rejections.get() > 0);
    // Retried later, they succeed.
    for u in &urls {
        assert_eq!(get(&app, u).await.0, 200);
    }
}

#[actix_web::test]
async fn a_modified_file_gets_new_tile_urls() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let (_, _, b) = get(&app, "/api/sources?path=data/ramp.fits").await;
    let old = json(&b);
    assert_eq!(get(&app, &tile_url(&old, 1, 0, 0)).await.0, 200);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut s = SkySpec::ramp(300, 200);
    s.extra_cards.push("OBSERVER= 'someone else'".into());
    write_fits(&f.data.join("ramp.fits"), &s).unwrap();
    let (_, _, b) = get(&app, "/api/sources?path=data/ramp.fits").await;
    let new = json(&b);
    assert_ne!(old["tiles"], new["tiles"]);
    assert_eq!(get(&app, &tile_url(&new, 1, 0, 0)).await.0, 200);
}

#[actix_web::test]
async fn old_tile_urls_of_a_file_rewritten_in_place_answer_404() {
    use std::os::unix::fs::FileExt;
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let (_, _, b) = get(&app, "/api/sources?path=data/ramp.fits").await;
    let old = json(&b);
    assert_eq!(get(&app, &tile_url(&old, 1, 0, 0)).await.0, 200);
    // Other pixels written into the same inode, and the same size and mtime as before.
    let p = f.data.join("ramp.fits");
    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    file.write_all_at(&[0x41; 64], 2880 + 1000).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    // The tile in memory, a tile never rendered, and a lower level: all gone with the old pixels.
    for (z, x, y) in [(1, 0, 0), (1, 1, 0), (0, 0, 0)] {
        let (s, _, b) = get(&app, &tile_url(&old, z, x, y)).await;
        assert_eq!(s, 404, "{z}/{x}/{y}: {}", String::from_utf8_lossy(&b));
    }
    let (_, _, b) = get(&app, "/api/sources?path=data/ramp.fits").await;
    let new = json(&b);
    assert_ne!(new["id"], old["id"]);
    assert_eq!(get(&app, &tile_url(&new, 1, 1, 0)).await.0, 200);
}

#[actix_web::test]
async fn tile_urls_survive_a_restart() {
    let f = fixture();
    let url;
    {
        let (app, _) = service!(config(&f, None));
        let (_, _, b) = get(&app, "/api/sources?path=data/sky.fits&cmap=magma").await;
        url = tile_url(&json(&b), 1, 1, 0);
    }
    // A fresh server (or another replica sharing the cache) knows nothing in memory.
    let (app, state) = service!(config(&f, None));
    // While its levels build again, the tile may come from the overview (marked provisional): wait
    // for the final one, which is rendered once.
    loop {
        let (s, h, b) = get(&app, &url).await;
        assert_eq!(s, 200, "{url}: {}", String::from_utf8_lossy(&b));
        if h.get("x-toyz-tile").is_none() {
            break;
        }
    }
    assert_eq!(state.metrics.tile_renders.get(), 1);
}

#[actix_web::test]
async fn header_pixel_histogram_cutout_health_metrics() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let (s, _, b) = get(&app, "/api/header?path=data/sky.fits").await;
    assert_eq!(s, 200);
    let v = json(&b);
    let cards = v["cards"].as_array().unwrap();
    assert_eq!(cards[0]["keyword"], "SIMPLE");
    assert!(cards
        .iter()
        .any(|c| c["keyword"] == "CTYPE1" && c["value"] == "RA---TAN"));

    let (s, _, b) = get(&app, "/api/pixel?path=data/ramp.fits&x=11&y=21").await;
    assert_eq!(s, 200);
    assert_eq!(
        json(&b),
        serde_json::json!({"x": 11.0, "y": 21.0, "value": 6010.0, "world": null})
    );
    let (_, _, b) = get(&app, "/api/pixel?path=data/sky.fits&x=1&y=1").await;
    let v = json(&b);
    let (ra, dec) = (
        v["world"]["lon"].as_f64().unwrap(),
        v["world"]["lat"].as_f64().unwrap(),
    );
    let (_, _, b) = get(
        &app,
        &format!("/api/pixel?path=data/sky.fits&ra={ra}&dec={dec}"),
    )
    .await;
    let back = json(&b);
    assert!((back["x"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    for (uri, status) in [
        ("/api/pixel?path=data/sky.fits&x=0&y=1", 400),
        ("/api/pixel?path=data/sky.fits&x=1", 400),
        ("/api/pixel?path=data/sky.fits&x=a&y=1", 400),
        ("/api/pixel?path=data/ramp.fits&ra=1&dec=2", 422),
    ] {
        let (s, _, b) = get(&app, uri).await;
        assert_eq!(s.as_u16(), status, "{uri}: {}", String::from_utf8_lossy(&b));
    }

    let (s, _, b) = get(&app, "/api/histogram?path=data/sky.fits&bins=16").await;
    assert_eq!(s, 200);
    let v = json(&b);
    assert_eq!(v["counts"].as_array().unwrap().len(), 16);
    let total: u64 = v["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total + v["sample_nan"].as_u64().unwrap(), 600 * 500);
    assert_eq!(
        get(&app, "/api/histogram?path=data/sky.fits&bins=0")
            .await
            .0,
        400
    );

    // FITS cutout: the ramp's values and a shifted WCS.
    let (s, h, b) = get(&app, "/api/cutout?path=data/ramp.fits&x=100&y=50&w=10&h=6").await;
    assert_eq!(s, 200);
    assert_eq!(h.get("content-type").unwrap(), "application/fits");
    assert_eq!(b.len() % 2880, 0);
    let p = f.data.join("../cut.fits");
    std::fs::write(&p, &b).unwrap();
    let img = toyz_fits::Image::open(&p, &toyz_fits::HduSel::Auto, 0).unwrap();
    assert_eq!((img.width(), img.height()), (10, 6));
    // Centre 100 with width 10: FITS columns 96..105 (0-based 95..104), rows 48..53 (0-based 47..52).
    assert_eq!(img.value(0, 0).unwrap(), (95 + 47 * 300) as f32);
    assert_eq!(img.header().f64("LTV1"), Some(-95.0));
    assert_eq!(img.header().f64("LTV2"), Some(-47.0));
    let (_, _, b) = get(&app, "/api/cutout?path=data/sky.fits&x=300&y=250&w=64&h=64").await;
    let p = f.data.join("../cut2.fits");
    std::fs::write(&p, &b).unwrap();
    let cut = toyz_fits::Image::open(&p, &toyz_fits::HduSel::Auto, 0).unwrap();
    let orig =
        toyz_fits::Image::open(&f.data.join("sky.fits"), &toyz_fits::HduSel::Auto, 0).unwrap();
    let (a, b2) = (
        cut.wcs().unwrap().pixel_to_world(1.0, 1.0).unwrap(),
        orig.wcs().unwrap().pixel_to_world(269.0, 219.0).unwrap(),
    );
    assert!(
        (a.0 - b2.0).abs() < 1e-9 && (a.1 - b2.1).abs() < 1e-9,
        "WCS follows the cutout"
    );
    assert_eq!(cut.value(5, 5).unwrap(), orig.value(273, 223).unwrap());

    let (s, h, b) = get(
        &app,
        "/api/cutout?path=data/sky.fits&ra=150.1&dec=2.2&size=30&format=png&cmap=viridis",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h.get("content-type").unwrap(), "image/png");
    let (_, w, hh) = decode_png(&b);
    assert_eq!((w, hh), (114, 114), "30 arcsec at 0.263\"/px");

    // The image link as the viewer shows the view: w×h as displayed, turned a quarter (the stored
    // region of h×w turned counter-clockwise, pixel for pixel), by an angle (90° gives the same
    // picture), at most `max` pixels, transparent off the image.
    let q = "/api/cutout?path=data/sky.fits&x=300&y=250&format=png&cmap=viridis";
    let (_, _, b) = get(&app, &format!("{q}&w=41&h=61")).await;
    let (stored, sw, sh) = decode_png(&b);
    assert_eq!((sw, sh), (41, 61));
    let (s, _, b) = get(&app, &format!("{q}&w=61&h=41&orient=r90")).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let (turned, tw, th) = decode_png(&b);
    assert_eq!((tw, th), (61, 41));
    let px = |v: &[u8], w: u32, r: u32, c: u32| v[((r * w + c) * 4) as usize..][..4].to_vec();
    for r in 0..th {
        for c in 0..tw {
            // One counter-clockwise turn shows stored[c][w - 1 - r] at (r, c).
            assert_eq!(
                px(&turned, tw, r, c),
                px(&stored, sw, c, sw - 1 - r),
                "({r}, {c})"
            );
        }
    }
    let (_, _, b) = get(&app, &format!("{q}&w=61&h=41&angle=90")).await;
    assert_eq!(
        decode_png(&b).0,
        turned,
        "angle=90 is a quarter turn counter-clockwise"
    );
    let (s, _, b) = get(
        &app,
        "/api/cutout?path=data/sky.fits&x=300.5&y=250.5&w=600&h=500&format=png&max=100",
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let (_, mw, mh) = decode_png(&b);
    assert_eq!((mw, mh), (100, 83), "the whole image in 100 pixels");
    let (_, _, b) = get(
        &app,
        "/api/cutout?path=data/sky.fits&x=1&y=1&w=21&h=21&format=png&max=21",
    )
    .await;
    let (edge, ew, _) = decode_png(&b);
    assert_eq!(px(&edge, ew, 20, 0)[3], 0, "off the image: transparent");
    assert_eq!(px(&edge, ew, 5, 15)[3], 255, "on the image: opaque");
    for uri in [
        "/api/cutout?path=data/sky.fits&x=300&y=250&w=60&h=40&orient=r90",
        "/api/cutout?path=data/sky.fits&x=300&y=250&w=60&h=40&format=png&orient=r45",
        "/api/cutout?path=data/sky.fits&x=300&y=250&w=60&h=40&format=png&max=0",
        "/api/cutout?path=data/sky.fits&x=300&y=250&w=60&h=40&format=png&max=5000",
    ] {
        let (s, _, b) = get(&app, uri).await;
        assert_eq!(s, 400, "{uri}: {}", String::from_utf8_lossy(&b));
    }
    for uri in [
        "/api/cutout?path=data/sky.fits&x=-500&y=-500&w=10&h=10",
        "/api/cutout?path=data/sky.fits&x=10&y=10&w=0&h=10",
        "/api/cutout?path=data/sky.fits&x=10&y=10&w=5000&h=10",
        "/api/cutout?path=data/sky.fits&x=10&y=10",
        "/api/cutout?path=data/sky.fits&x=10&y=10&w=5&h=5&format=gif",
        "/api/cutout?path=data/ramp.fits&x=10&y=10&size=5",
    ] {
        let (s, _, b) = get(&app, uri).await;
        assert_eq!(s, 400, "{uri}: {}", String::from_utf8_lossy(&b));
    }

    let (s, _, b) = get(&app, "/healthz").await;
    assert_eq!(
        (s.as_u16(), json(&b)),
        (200, serde_json::json!({"status": "ok"}))
    );
    let (s, _, b) = get(&app, "/metrics").await;
    assert_eq!(s, 200);
    let text = String::from_utf8(b).unwrap();
    assert!(text.contains("toyz_http_requests_total{route=\"/api/cutout\",status=\"200\"}"));
    assert!(text.contains("toyz_tile_render_seconds_count"));
    let (s, _, b) = get(&app, "/nope").await;
    assert_eq!(s, 404);
    assert_eq!(json(&b)["error"]["kind"], "not_found");
}

/// Every way out of the root fails with 4xx and never reveals a file or a server path.
#[actix_web::test]
async fn path_traversal_corpus() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let evil = [
        "..",
        "../outside/secret.fits",
        "data/..",
        "data/../outside/secret.fits",
        "data/../../etc/passwd",
        "data/sub/../../outside/secret.fits",
        "/etc/passwd",
        "//etc/passwd",
        "data//../outside/secret.fits",
        "data/./sky.fits",
        "data/escape/secret.fits",
        "data/escape",
        "data/secret-link.fits",
        "data/.hidden.fits",
        "data\\..\\outside\\secret.fits",
        "data/sky.fits\0.txt",
        "nosuchroot/sky.fits",
        "data/%2e%2e/outside/secret.fits",
        "data/%2E%2E%2Foutside%2Fsecret.fits",
        "%2e%2e",
        "data/..%2fsecret.fits",
        "data/sub/../../../",
        "~/secret.fits",
        "data/sky.fits/..",
    ];
    let secret = std::fs::read(f.data.join("../outside/secret.fits")).unwrap();
    for p in evil {
        for endpoint in [
            "/api/files",
            "/api/sources",
            "/api/header",
            "/api/pixel",
            "/api/cutout",
        ] {
            let extra = match endpoint {
                "/api/pixel" => "&x=1&y=1",
                "/api/cutout" => "&x=1&y=1&w=2&h=2",
                _ => "",
            };
            // Encode once (what a browser sends) and, for the encoded-slash cases, also as typed.
            for uri in [
                format!("{endpoint}?path={}{extra}", enc(p)),
                format!("{endpoint}?path={p}{extra}"),
            ] {
                if uri.contains('\0') {
                    continue;
                }
                let req = test::TestRequest::get().uri(&uri).to_request();
                let res = test::call_service(&app, req).await;
                let s = res.status().as_u16();
                let body = test::read_body(res).await;
                let ok_listing = endpoint == "/api/files" && s == 200;
                if ok_listing {
                    // Only a listing of something inside the root: "data/sub/../../../" normalises
                    // to nothing outside because '..' is refused; so 200 must never happen here.
                    panic!("{uri}: listed {}", String::from_utf8_lossy(&body));
                }
                assert!((400..500).contains(&s), "{uri}: status {s}");
                let v = json(&body);
                assert!(v["error"]["message"].is_string(), "{uri}");
                let text = String::from_utf8_lossy(&body);
                assert!(
                    !text.contains(f.data.to_str().unwrap()),
                    "{uri}: server path in {text}"
                );
                let outside = std::fs::canonicalize(f.data.join("../outside")).unwrap();
                assert!(!text.contains(outside.to_str().unwrap()), "{uri}: {text}");
                assert!(body
                    .windows(secret.len().min(2880))
                    .all(|w| w != &secret[..secret.len().min(2880)]));
            }
        }
    }
}

/// A tile waiting for an image's float levels holds no render slot: with one slot, a tile of another,
/// ready image is still served while it waits (it answered 503 when the slot was taken first).
#[actix_web::test]
async fn tiles_waiting_for_levels_leave_the_render_slots_free() {
    let f = fixture();
    toyz_skygen::Exposure::decam_scaled(4)
        .write(&f.data.join("exp.fits.fz"), true)
        .unwrap();
    let (app, _state) = service!(config(&f, Some(1)));
    let (st, _, b) = get(&app, "/api/sources?path=data/exp.fits.fz&hdu=mosaic").await;
    assert_eq!(st, 200);
    let exp = json(&b);
    assert_eq!(exp["levels"]["state"], "building");
    let zmax = exp["zmax"].as_u64().unwrap() as u32;
    let (_, _, b) = get(&app, "/api/sources?path=data/sky.fits").await;
    let sky = json(&b);
    let sky_zmax = sky["zmax"].as_u64().unwrap() as u32;
    // One level below full resolution: above the overview, so it waits for the levels.
    let waiting = tile_url(&exp, zmax - 1, 0, 0);
    let other = tile_url(&sky, sky_zmax, 0, 0);
    let results = futures_util::future::join_all([waiting, other].iter().map(|u| {
        let req = test::TestRequest::get().uri(u).to_request();
        test::call_service(&app, req)
    }))
    .await;
    let status: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(status, [200, 200]);
}

/// A garbage, empty or torn PNG in the disk cache is not served (it went out as a 200 with a year of
/// immutable caching): it is rendered again and served whole.
#[actix_web::test]
async fn broken_tiles_on_disk_are_rendered_again() {
    let f = fixture();
    let (src, opts) = build_sky_cache(&f);
    let layout = toyz_pyramid::CacheLayout::new(&f.cache);
    let tile = |z, x, y| layout.tile(&src.id, &opts.spec.id(), z, x, y);
    let good = std::fs::read(tile(2, 1, 1)).unwrap();
    std::fs::write(tile(0, 0, 0), b"").unwrap();
    std::fs::write(tile(1, 1, 0), b"not a png at all").unwrap();
    std::fs::write(tile(2, 1, 1), &good[..good.len() / 2]).unwrap();
    let (app, state) = service!(config(&f, None));
    let (_, _, b) = get(
        &app,
        "/api/sources?path=data/sky.fits&stretch=sqrt&cut=minmax&cmap=heat",
    )
    .await;
    let v = json(&b);
    for (z, x, y) in [(0, 0, 0), (1, 1, 0), (2, 1, 1)] {
        let (s, _, body) = get(&app, &tile_url(&v, z, x, y)).await;
        assert_eq!(s, 200);
        let (_, w, h) = decode_png(&body);
        assert_eq!((w, h), (256, 256), "tile {z}/{x}/{y} is whole");
    }
    assert_eq!(state.metrics.tile_renders.get(), 3);
    assert_eq!(state.metrics.tile_disk_hits.get(), 0);
}

/// A file outside the root answers exactly as a missing one: no existence oracle, even through a link
/// to `/`.
#[actix_web::test]
async fn outside_files_and_missing_files_answer_alike() {
    let f = fixture();
    std::os::unix::fs::symlink("/", f.data.join("slash")).unwrap();
    let (app, _) = service!(config(&f, None));
    for (there, absent) in [
        ("data/escape/secret.fits", "data/escape/nothing.fits"),
        ("data/slash/etc/passwd", "data/slash/etc/no-such-file"),
        ("data/secret-link.fits", "data/no-such-link.fits"),
    ] {
        for endpoint in ["/api/files", "/api/sources", "/api/header"] {
            let (s1, _, b1) = get(&app, &format!("{endpoint}?path={}", enc(there))).await;
            let (s2, _, b2) = get(&app, &format!("{endpoint}?path={}", enc(absent))).await;
            assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
            let (m1, m2) = (json(&b1), json(&b2));
            assert_eq!(
                m1["error"]["message"].as_str().unwrap().replace(there, "P"),
                m2["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace(absent, "P"),
            );
        }
    }
}

/// A FIFO in a root is listed as a plain file and refused as a source, without hanging either request.
#[actix_web::test]
async fn a_fifo_never_hangs_the_server() {
    let f = fixture();
    let c = std::ffi::CString::new(f.data.join("pipe.fits").to_str().unwrap()).unwrap();
    // SAFETY: plain syscall with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (app, _) = service!(config(&f, None));
    let (s, _, b) = get(&app, "/api/files?path=data").await;
    assert_eq!(s, 200);
    let v = json(&b);
    let pipe = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "pipe.fits")
        .unwrap();
    assert_eq!(pipe["kind"], "file");
    for endpoint in ["/api/sources", "/api/header", "/api/pixel"] {
        let (s, _, b) = get(&app, &format!("{endpoint}?path=data/pipe.fits&x=1&y=1")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{endpoint}");
        assert_eq!(json(&b)["error"]["kind"], "not_a_file");
    }
    assert_eq!(get(&app, "/api/sources?path=data/sky.fits").await.0, 200);
}

/// A folder swapped for a link to outside the root (renameat2 RENAME_EXCHANGE) while requests resolve
/// paths through it: what was checked is what is read, so the outside file never shows. (The name was
/// resolved, then opened again: thousands of answers leaked the outside file.)
#[actix_web::test]
async fn swapping_a_folder_for_a_link_never_leaks_outside_files() {
    let f = fixture();
    let outside = f.data.join("../outside");
    let mut secret = SkySpec::ramp(20, 10);
    secret.extra_cards.push("OBSERVER= 'TOPSECRET'".into());
    write_fits(&outside.join("in.fits"), &secret).unwrap();
    std::fs::create_dir(f.data.join("swap")).unwrap();
    write_fits(&f.data.join("swap/in.fits"), &SkySpec::ramp(20, 10)).unwrap();
    std::os::unix::fs::symlink(&outside, f.data.join("link")).unwrap();
    let (app, _) = service!(config(&f, None));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, a, b) = (stop.clone(), f.data.join("swap"), f.data.join("link"));
        std::thread::spawn(move || {
            let a = std::ffi::CString::new(a.to_str().unwrap()).unwrap();
            let b = std::ffi::CString::new(b.to_str().unwrap()).unwrap();
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                // SAFETY: plain syscall with valid C strings.
                let r = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
                n += 1;
            }
            n
        })
    };
    let (mut ok, mut leaks) = (0, 0);
    for i in 0..3000 {
        let uri = match i % 3 {
            0 => "/api/header?path=data/swap/in.fits",
            1 => "/api/cutout?path=data/swap/in.fits&x=10&y=5&w=4&h=4",
            _ => "/api/pixel?path=data/swap/in.fits&x=3&y=3",
        };
        let (s, _, b) = get(&app, uri).await;
        if s == 200 {
            ok += 1;
        }
        if String::from_utf8_lossy(&b).contains("TOPSECRET") {
            leaks += 1;
        }
    }
    stop.store(true, Relaxed);
    let swaps = swapper.join().unwrap();
    assert_eq!(
        leaks, 0,
        "{leaks} answers showed the outside file ({ok} ok, {swaps} swaps)"
    );
    assert!(ok > 0 && swaps > 100, "{ok} ok, {swaps} swaps");
}

/// A gzip'd FITS file is decompressed once into the cache and read from there by every thread (each
/// thread's cfitsio handle held a whole decompressed copy); a truncated one is refused consistently.
#[actix_web::test]
async fn a_gzip_file_is_decompressed_once() {
    use std::io::Write;
    let f = fixture();
    let plain = std::fs::read(f.data.join("sky.fits")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(f.data.join("sky.fits.gz"), &gz).unwrap();
    std::fs::write(f.data.join("cut.fits.gz"), &gz[..gz.len() / 2]).unwrap();
    let (app, _) = service!(config(&f, None));
    let (s, _, b) = get(&app, "/api/sources?path=data/sky.fits.gz").await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let src = json(&b);
    let reqs: Vec<String> = (0..12)
        .map(|i| match i % 3 {
            0 => tile_url(&src, 1, (i / 3) % 2, 0),
            1 => format!(
                "/api/cutout?path=data/sky.fits.gz&x={}&y=50&w=40&h=40",
                30 + i
            ),
            _ => format!("/api/pixel?path=data/sky.fits.gz&x={}&y=7", 10 + i),
        })
        .collect();
    let answers = futures_util::future::join_all(reqs.iter().map(|r| get(&app, r))).await;
    for (r, (s, _, b)) in reqs.iter().zip(answers) {
        assert_eq!(s, 200, "{r}: {}", String::from_utf8_lossy(&b));
    }
    let unpacked: Vec<_> = std::fs::read_dir(f.cache.join("unpacked"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(unpacked.len(), 1, "{unpacked:?}");
    assert_eq!(
        std::fs::read(f.cache.join("unpacked").join(&unpacked[0])).unwrap(),
        plain
    );
    // The same values as the plain file.
    let (_, _, a) = get(&app, "/api/pixel?path=data/sky.fits.gz&x=33&y=44").await;
    let (_, _, b) = get(&app, "/api/pixel?path=data/sky.fits&x=33&y=44").await;
    assert_eq!(json(&a)["value"], json(&b)["value"]);
    // Truncated: refused at open by every route, and nothing half-written is left.
    for uri in [
        "/api/sources?path=data/cut.fits.gz",
        "/api/pixel?path=data/cut.fits.gz&x=1&y=1",
    ] {
        let (s, _, b) = get(&app, uri).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(json(&b)["error"]["kind"], "bad_fits");
    }
    assert_eq!(
        std::fs::read_dir(f.cache.join("unpacked")).unwrap().count(),
        1
    );
}

/// Level files of the wrong size found when a server first reads them (truncated while it was
/// stopped) are built again; they answered 500 on every request before.
#[actix_web::test]
async fn levels_damaged_before_a_start_are_rebuilt() {
    let f = fixture();
    let (src, _) = build_sky_cache(&f);
    let level = toyz_pyramid::CacheLayout::new(&f.cache).level_file(&src.id, 0);
    let good = std::fs::metadata(&level).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&level)
        .unwrap()
        .set_len(good / 3)
        .unwrap();
    let (app, _) = service!(config(&f, None));
    let (_, _, b) = get(&app, "/api/sources?path=data/sky.fits&cmap=cool").await;
    let v = json(&b);
    let (s, _, _) = get(&app, &tile_url(&v, 0, 0, 0)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    // The next requests reopen the source and build its levels (tiles meanwhile are 503 or drawn
    // from the overview, marked provisional): wait for the final tile.
    loop {
        let (s, h, _) = get(&app, &tile_url(&v, 0, 0, 0)).await;
        if s == 200 && h.get("x-toyz-tile").is_none() {
            break;
        }
        assert!(s == 200 || s == StatusCode::SERVICE_UNAVAILABLE, "{s}");
    }
    assert_eq!(std::fs::metadata(&level).unwrap().len(), good);
}

/// The disk cache stays under `cache_max`: the least recently used sources are evicted, temp files of
/// a killed process are swept at start, and a source whose file changed is purged.
#[actix_web::test]
async fn the_disk_cache_is_bounded_and_swept() {
    let f = fixture();
    let (old, _) = build_sky_cache(&f);
    let layout = toyz_pyramid::CacheLayout::new(&f.cache);
    let orphan = layout.source_dir(&old.id).join(".3.png.999999999.1.tmp");
    std::fs::write(&orphan, vec![0u8; 1000]).unwrap();
    // sky.fits changes: its cached levels and tiles can never be served again.
    std::thread::sleep(std::time::Duration::from_millis(5));
    write_fits(&f.data.join("sky.fits"), &SkySpec::new(600, 500)).unwrap();
    let mut c = config(&f, None);
    c.cache_max = 3 << 20;
    let (app, _) = service!(c);
    let du = || toyz_pyramid::gc::stats(&layout);
    // Swept at start (the collector runs in the background: wait for the state).
    while layout.source_dir(&old.id).exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!orphan.exists());
    // Many sources and tiles: far more than 3 MiB written.
    for i in 0..12 {
        let name = format!("many{i}.fits");
        write_fits(&f.data.join(&name), &SkySpec::new(700, 700)).unwrap();
        let (_, _, b) = get(&app, &format!("/api/sources?path=data/{name}")).await;
        let v = json(&b);
        for (z, x, y) in [(0, 0, 0), (1, 0, 0), (1, 1, 1), (2, 1, 1), (2, 2, 2)] {
            assert_eq!(get(&app, &tile_url(&v, z, x, y)).await.0, 200);
        }
    }
    let mut s = du();
    // The collector runs after every few hundred KiB written: wait (up to a minute) for it.
    for _ in 0..6000 {
        if s.bytes <= 3 << 20 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        s = du();
    }
    assert!(s.bytes <= 3 << 20, "{s:?}");
    assert!(s.sources >= 1, "{s:?}");
}

/// A level build that fails (here: the cache cannot hold its level files, as on a full disk) says so
/// without naming a server path, and is tried again once the cause is gone (it stayed failed until a
/// restart).
#[actix_web::test]
async fn a_failed_level_build_is_retried_and_names_no_path() {
    let f = fixture();
    let src =
        toyz_pyramid::Source::open(&f.data.join("sky.fits"), &toyz_fits::HduSel::Auto, 0).unwrap();
    let layout = toyz_pyramid::CacheLayout::new(&f.cache);
    let blocker = layout.source_dir(&src.id).join("levels");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"not a folder").unwrap();
    let mut c = config(&f, None);
    c.level_retry = std::time::Duration::ZERO;
    let (app, _) = service!(c);
    let (_, _, b) = get(&app, "/api/sources?path=data/sky.fits").await;
    let v = json(&b);
    assert_eq!(v["id"], src.id.as_str());
    let state = |v: &Value| v["levels"]["state"].as_str().unwrap().to_owned();
    let mut v = v;
    while state(&v) == "building" {
        v = json(&get(&app, "/api/sources?path=data/sky.fits").await.2);
    }
    assert_eq!(state(&v), "failed", "{v}");
    let text = v.to_string();
    assert!(
        !text.contains(f.cache.to_str().unwrap()),
        "server path in {text}"
    );
    // Room again: the next request opens it anew and builds the levels.
    std::fs::remove_file(&blocker).unwrap();
    while state(&v) != "ready" {
        v = json(&get(&app, "/api/sources?path=data/sky.fits").await.2);
        assert_ne!(state(&v), "failed", "{v}");
    }
    let (s, _, _) = get(&app, &tile_url(&v, 0, 0, 0)).await;
    assert_eq!(s, 200);
}

/// Errors are JSON everywhere: an over-long URL and a plain GET of the WebSocket endpoint (both
/// answered with empty or text bodies before).
#[actix_web::test]
async fn long_urls_and_plain_ws_requests_get_json_errors() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let long = format!("/api/files?path=data/{}", "a".repeat(20_000));
    let (s, _, b) = get(&app, &long).await;
    assert_eq!(s, StatusCode::URI_TOO_LONG);
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most"));
    let (s, _, b) = get(&app, "/ws").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("WebSocket"));
}

/// One slow open never holds up another file: while a 200 MB gzip'd file is being decompressed for its
/// first open, a small file opens at once (a global open lock made it wait 7 s behind a 218 MB .gz).
#[actix_web::test]
async fn a_slow_open_never_blocks_another_file() {
    use std::io::Write;
    let f = fixture();
    let (w, h) = (7168usize, 7168usize);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&toyz_skygen::f32_header(w, h)).unwrap();
    let row = vec![0u8; w * 4];
    for _ in 0..h {
        gz.write_all(&row).unwrap();
    }
    std::fs::write(f.data.join("big.fits.gz"), gz.finish().unwrap()).unwrap();
    let (app, _) = service!(config(&f, None));
    let unpacking = || {
        std::fs::read_dir(f.cache.join("unpacked"))
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
            .unwrap_or(false)
    };
    let slow = get(&app, "/api/sources?path=data/big.fits.gz");
    let fast = async {
        // Once the big file is being decompressed (its open holds its lock and is doing I/O) ...
        while !unpacking() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let (s, _, _) = get(&app, "/api/sources?path=data/ramp.fits").await;
        // ... the small one has opened while the big one is still being decompressed.
        (s, unpacking())
    };
    let ((s_slow, _, _), (s_fast, still)) = futures_util::join!(slow, fast);
    assert_eq!((s_slow, s_fast), (StatusCode::OK, StatusCode::OK));
    assert!(still, "the small file waited for the big one");
}

/// The whole level `z` of a source's (oriented) image, assembled from its tiles: RGBA rows from the top.
async fn level_image<S, B>(app: &S, src: &Value, z: u32) -> (Vec<u8>, usize, usize)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let s = 1usize << (src["zmax"].as_u64().unwrap() as u32 - z);
    let (dw, dh) = (
        src["display"]["width"].as_u64().unwrap() as usize,
        src["display"]["height"].as_u64().unwrap() as usize,
    );
    let (lw, lh) = (dw.div_ceil(s), dh.div_ceil(s));
    let mut out = vec![0u8; lw * lh * 4];
    for ty in 0..lh.div_ceil(256) {
        for tx in 0..lw.div_ceil(256) {
            let (st, _, b) = get(app, &tile_url(src, z, tx as u32, ty as u32)).await;
            assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
            let (px, _, _) = decode_png(&b);
            for r in 0..256.min(lh - ty * 256) {
                for c in 0..256.min(lw - tx * 256) {
                    let (y, x) = (ty * 256 + r, tx * 256 + c);
                    out[(y * lw + x) * 4..][..4].copy_from_slice(&px[(r * 256 + c) * 4..][..4]);
                }
            }
        }
    }
    (out, lw, lh)
}

#[actix_web::test]
async fn oriented_tiles_are_the_image_turned_and_flipped() {
    let f = fixture();
    let (app, _state) = service!(config(&f, None));
    let base = "/api/sources?path=data/ramp.fits&cut=range%3D0,59999";
    let (_, _, b) = get(&app, base).await;
    let plain = json(&b);
    assert_eq!(plain["orient"], "none");
    for z in [1, 0] {
        let (img, w, h) = level_image(&app, &plain, z).await;
        for o in 1..8u8 {
            let name = toyz_pyramid::orient::name(o);
            let (_, _, b) = get(&app, &format!("{base}&orient={}", enc(name))).await;
            let src = json(&b);
            assert_eq!(src["orient"], name);
            let (dw, dh) = toyz_pyramid::orient::size(o, 300, 200);
            assert_eq!(
                (
                    src["display"]["width"].as_u64(),
                    src["display"]["height"].as_u64()
                ),
                (Some(dw as u64), Some(dh as u64))
            );
            assert_ne!(src["render"]["id"], plain["render"]["id"], "its own tiles");
            let (turned, tw, th) = level_image(&app, &src, z).await;
            assert_eq!(
                (tw, th),
                toyz_pyramid::orient::size(o, w, h),
                "{name} level {z}"
            );
            for r in 0..th {
                for c in 0..tw {
                    let (sr, sc) = toyz_pyramid::orient::source_of(o, w, h, r, c);
                    assert_eq!(
                        turned[(r * tw + c) * 4..][..4],
                        img[(sr * w + sc) * 4..][..4],
                        "{name} z {z} at ({r}, {c})"
                    );
                }
            }
            // Past the oriented image: no tile.
            let nx = tw.div_ceil(256) as u32;
            let (st, _, _) = get(&app, &tile_url(&src, z, nx, 0)).await;
            assert_eq!(st, 404, "{name}");
        }
    }
    let (st, _, b) = get(&app, &format!("{base}&orient=r45")).await;
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));

    // Any angle: a turn by 90° is the quarter turn, pixel for pixel, at both levels.
    let (_, _, b) = get(&app, &format!("{base}&orient=r90")).await;
    let quarter = json(&b);
    let (_, _, b) = get(&app, &format!("{base}&angle=90")).await;
    let ninety = json(&b);
    assert_eq!(
        (
            ninety["display"]["width"].as_u64(),
            ninety["display"]["height"].as_u64()
        ),
        (Some(200), Some(300))
    );
    for z in [1, 0] {
        assert_eq!(
            level_image(&app, &ninety, z).await,
            level_image(&app, &quarter, z).await,
            "level {z}"
        );
    }
    // 30°: the display is the turned image's bounding box; its centre shows the image's centre pixel,
    // and its corners, outside the turned image, are transparent.
    let (_, _, b) = get(&app, &format!("{base}&angle=30")).await;
    let turned = json(&b);
    let (s30, c30) = (0.5f64, 3f64.sqrt() / 2.0);
    let (bw, bh) = (
        (300.0 * c30 + 200.0 * s30).ceil() as usize,
        (300.0 * s30 + 200.0 * c30).ceil() as usize,
    );
    assert_eq!(
        (
            turned["display"]["width"].as_u64(),
            turned["display"]["height"].as_u64()
        ),
        (Some(bw as u64), Some(bh as u64))
    );
    let (img, w, _) = level_image(&app, &turned, 1).await;
    let (plain_img, pw, _) = level_image(&app, &plain, 1).await;
    let centre = |im: &[u8], w: usize, r: usize, c: usize| im[(r * w + c) * 4..][..4].to_vec();
    assert_eq!(
        centre(&img, w, bh / 2, bw / 2),
        centre(&plain_img, pw, 100, 150)
    );
    assert_eq!(img[3], 0, "the top-left corner is outside the turned image");
    let (st, _, b) = get(&app, &format!("{base}&angle=400")).await;
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));
}

/// DNS rebinding: a page on another site whose name now resolves to this server sends that name as
/// `Host`. Without accounts only IP addresses, `localhost` and the configured `hosts` are answered
/// (421 JSON otherwise), WebSocket upgrades included.
#[actix_web::test]
async fn only_the_servers_own_host_names_are_answered() {
    let f = fixture();
    let mut c = config(&f, None);
    c.hosts = vec!["toyz.example.org".into()];
    let (app, _) = service!(c);
    let ask = |host: &'static str, uri: &'static str| {
        test::TestRequest::get()
            .uri(uri)
            .insert_header(("Host", host))
            .to_request()
    };
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "10.1.2.3",
        "toyz.example.org",
        "TOYZ.example.org.:443",
    ] {
        let res = test::call_service(&app, ask(host, "/api/files?path=")).await;
        assert_eq!(res.status(), 200, "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1.evil.example",
    ] {
        let res = test::call_service(&app, ask(host, "/api/files?path=")).await;
        assert_eq!(res.status(), 421, "{host}");
        let v = json(&test::read_body(res).await);
        assert_eq!(v["error"]["kind"], "bad_host", "{host}");
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/ws")
                .insert_header(("Host", host))
                .insert_header(("Origin", format!("http://{host}")))
                .insert_header(("Upgrade", "websocket"))
                .insert_header(("Connection", "Upgrade"))
                .insert_header(("Sec-WebSocket-Version", "13"))
                .insert_header(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 421, "ws {host}");
    }
    // With accounts (and no hosts listed) any name is answered: such a page holds no login.
    let mut c = config(&f, None);
    c.auth = false;
    assert!(!c.host_allowed(Some("evil.example")));
    c.auth = true;
    assert!(c.host_allowed(Some("evil.example")));
    c.hosts = vec!["toyz.example.org".into()];
    assert!(!c.host_allowed(Some("evil.example")));
    assert!(c.host_allowed(None));
}

/// What needs no cache works without one: a cache that became unwritable (here its folder replaced
/// by a file, which stops root too) still lets headers, pixels and histograms of new files answer.
/// And HEAD on a tile answers as GET does, without the body.
#[actix_web::test]
async fn an_unwritable_cache_and_head_requests() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let (st, _, b) = get(&app, "/api/sources?path=data/ramp.fits").await;
    assert_eq!(st, 200);
    let tile = tile_url(&json(&b), 0, 0, 0);
    let (st, _, _) = get(&app, &tile).await;
    assert_eq!(st, 200);
    let res = test::call_service(
        &app,
        test::TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri(&tile)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("content-type").unwrap(), "image/png");
    // Once its levels are built (nothing more is written for it), the cache goes away.
    loop {
        let (_, _, b) = get(&app, "/api/sources?path=data/ramp.fits").await;
        if json(&b)["levels"]["state"] == "ready" {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    std::fs::rename(&f.cache, f.cache.with_extension("gone")).unwrap();
    std::fs::write(&f.cache, b"not a folder").unwrap();
    for uri in [
        "/api/header?path=data/sky.fits",
        "/api/pixel?path=data/sky.fits&x=10&y=10",
        "/api/histogram?path=data/sky.fits",
    ] {
        let (st, _, b) = get(&app, uri).await;
        assert_eq!(st, 200, "{uri}: {}", String::from_utf8_lossy(&b));
    }
}

/// Float levels that could never fit the cache are not written: the source says why, and nothing
/// is left on disk for the collector to fight over.
#[actix_web::test]
async fn levels_larger_than_the_cache_are_not_built() {
    let f = fixture();
    let mut c = config(&f, None);
    c.cache_max = 256 << 10;
    let (app, _) = service!(c);
    let (st, _, b) = get(&app, "/api/sources?path=data/sky.fits").await;
    assert_eq!(st, 200);
    let v = json(&b);
    assert_eq!(v["levels"]["state"], "failed", "{v}");
    assert!(
        v["levels"]
            .to_string()
            .contains("more than the cache may hold"),
        "{v}"
    );
    assert_eq!(v["levels"]["permanent"], true, "{v}");
    // Tiles between the overview and full resolution: a lasting 413, never a 503 to retry.
    for z in 0..v["zmax"].as_u64().unwrap() as u32 {
        let (st, _, b) = get(&app, &tile_url(&v, z, 0, 0)).await;
        assert!(
            st == 200 || st == 413,
            "z={z}: {st} {}",
            String::from_utf8_lossy(&b)
        );
    }
    // Full-resolution tiles need no levels and are still served.
    let (st, _, _) = get(
        &app,
        &tile_url(&v, v["zmax"].as_u64().unwrap() as u32, 0, 0),
    )
    .await;
    assert_eq!(st, 200);
    let levels = f.cache.join(v["id"].as_str().unwrap()).join("levels");
    assert!(!levels.exists() || std::fs::read_dir(&levels).unwrap().count() == 0);
}

/// The viewer's files are the embedded web/ (its tests left out), each with an ETag: a browser that
/// has a file gets 304 and no body; a changed or unknown tag gets the file.
#[actix_web::test]
async fn viewer_files_carry_etags_and_answer_304() {
    let f = fixture();
    let (app, _) = service!(config(&f, None));
    let (s, h, b) = get(&app, "/web/app.js").await;
    assert_eq!(s, 200);
    let on_disk = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/app.js")).unwrap();
    assert_eq!(b, on_disk);
    assert!(h
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let tag = h.get("etag").unwrap().to_str().unwrap().to_owned();
    assert!(tag.starts_with('"') && tag.len() == 26, "{tag}");
    let cond = |tag: &str| {
        test::TestRequest::get()
            .uri("/web/app.js")
            .insert_header(("if-none-match", tag.to_owned()))
            .to_request()
    };
    let r = test::call_service(&app, cond(&tag)).await;
    assert_eq!(r.status(), 304);
    assert!(test::read_body(r).await.is_empty());
    let r = test::call_service(&app, cond("\"0123\"")).await;
    assert_eq!(r.status(), 200);
    // Another file, another tag; the pure modules are served; the tests are not.
    let (s, h2, _) = get(&app, "/web/lib/url.js").await;
    assert_eq!(s, 200);
    assert_ne!(h2.get("etag"), h.get("etag"));
    assert_eq!(get(&app, "/web/tests/viewer.test.mjs").await.0, 404);
    assert_eq!(get(&app, "/view").await.0, 200);
}
