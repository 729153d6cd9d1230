//! Sessions and jobs with a real WebSocket client against the real server on 127.0.0.1:0: every
//! built-in job, progress, cancel, panic isolation, the concurrency bound, cleanup on close, and each
//! malformed-frame case.

mod common;

use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use toyz_server::{Config, JobCtx, JobError, JobRegistry, Overrides};
use toyz_skygen::{write_catalog, write_fits, write_mef, Extension, SkySpec};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

fn start(registry: JobRegistry, data: &Path, cache: &Path) -> SocketAddr {
    start_cfg(registry, data, cache, |_| {})
}

/// `start` with settings changed from the defaults (limits).
fn start_cfg(
    registry: JobRegistry,
    data: &Path,
    cache: &Path,
    adjust: impl FnOnce(&mut Config) + Send + 'static,
) -> SocketAddr {
    let o = Overrides {
        cache: Some(cache.to_owned()),
        roots: vec![("data".into(), data.to_owned())],
        ..Default::default()
    };
    common::start_server(registry, o, adjust)
}

struct Client {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        }
        let mut c = Client { ws, next: 1 };
        let hello = c.recv().unwrap();
        assert_eq!(hello["event"], "session.ready");
        c
    }

    fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).unwrap();
    }

    fn recv(&mut self) -> Option<Value> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Run a job; returns (progress messages, final reply).
    fn call(&mut self, job: &str, params: Value) -> (Vec<Value>, Value) {
        let id = self.next;
        self.next += 1;
        self.send(json!({"id": id, "job": job, "params": params}));
        self.wait(id)
    }

    fn wait(&mut self, id: u64) -> (Vec<Value>, Value) {
        let mut progress = Vec::new();
        loop {
            let m = self.recv().expect("connection closed");
            if m["id"] != json!(id) {
                continue;
            }
            match m["status"].as_str() {
                Some("progress") => progress.push(m),
                _ => return (progress, m),
            }
        }
    }

    fn ok(&mut self, job: &str, params: Value) -> Value {
        let (_, r) = self.call(job, params);
        assert_eq!(r["status"], "ok", "{job}: {r}");
        r["result"].clone()
    }
}

struct World {
    _dir: tempfile::TempDir,
    data: PathBuf,
    cache: PathBuf,
    sky: SkySpec,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_fits(&data.join("ramp.fits"), &SkySpec::ramp(300, 200)).unwrap();
    std::fs::write(
        data.join("marks.reg"),
        "image\ncircle(1,2,3) # color=red\nruler(1,2,3,4)\n",
    )
    .unwrap();
    let mut sky = SkySpec::new(1024, 1024);
    sky.stars = Some(60);
    sky.seed = 7;
    write_fits(&data.join("sky.fits"), &sky).unwrap();
    write_catalog(&data.join("stars.csv"), &sky).unwrap();
    write_mef(
        &data.join("mef.fits"),
        &[Extension {
            name: "SCI".into(),
            spec: sky.clone(),
        }],
        true,
    )
    .unwrap();
    let mut big = SkySpec::new(4096, 4096);
    big.stars = Some(200);
    write_fits(&data.join("big.fits"), &big).unwrap();
    let cache = dir.path().join("cache");
    World {
        data,
        cache,
        sky,
        _dir: dir,
    }
}

#[test]
fn jobs_over_a_real_socket() {
    let w = world();
    let addr = start(JobRegistry::with_builtins(), &w.data, &w.cache);
    let mut c = Client::connect(addr);

    let jobs = c.ok("session.jobs", Value::Null);
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    for n in [
        "session.info",
        "session.jobs",
        "image.open",
        "image.header",
        "image.pixels",
        "image.stats",
        "image.histogram",
        "image.profile",
        "image.cutout",
        "sources.detect",
        "catalog.load",
        "catalog.match",
        "catalog.positions",
        "image.sky_to_pixel",
        "image.graticule",
        "regions.import",
        "regions.export",
        "tiles.build",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let pixels = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "image.pixels")
        .unwrap();
    assert!(
        pixels["params"]["properties"]["points"].is_object(),
        "parameter schema: {}",
        pixels["params"]
    );

    // image.open on a never-seen 4096² image: progress while its levels build.
    let (progress, r) = c.call(
        "image.open",
        json!({"path": "data/big.fits", "cmap": "viridis"}),
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert!(
        !progress.is_empty(),
        "progress events while the levels build"
    );
    for p in &progress {
        assert!(p["done"].as_u64().unwrap() <= p["total"].as_u64().unwrap());
    }
    assert_eq!(r["result"]["levels"]["state"], "ready");
    assert_eq!(r["result"]["width"], 4096);

    let r = c.ok(
        "image.pixels",
        json!({"path": "data/ramp.fits", "points": [[11, 21], [1, 1], [0, 5], [300, 200]]}),
    );
    let px = r["pixels"].as_array().unwrap();
    assert_eq!(px[0]["value"], 6010.0);
    assert_eq!(px[1]["value"], 0.0);
    assert_eq!(px[2]["outside"], true);
    assert_eq!(px[3]["value"], 59999.0);

    let r = c.ok(
        "image.stats",
        json!({"path": "data/ramp.fits", "rect": [1, 1, 10, 2]}),
    );
    assert_eq!(r["npix"], 20);
    assert_eq!(r["min"], 0.0);
    assert_eq!(r["max"], 309.0);
    assert_eq!(r["mean"], 154.5);
    assert_eq!(r["median"], 154.5);

    // Region statistics: pixels whose centres are inside, on the 300-wide ramp (value (x-1) + (y-1)·300),
    // checked against the same sums over the pixels a brute-force loop finds inside.
    let text = "image\ncircle(50,40,5)\nellipse(120,80,9,4,30)\nbox(200,100,10,6,20)\n\
                polygon(10.3,150.2,40.7,152.1,25.4,180.6)\nannulus(150,150,3,6,9)\nline(1,1,10,10)\n";
    let regs = c.ok("regions.import", json!({"text": text}))["regions"].clone();
    let st = c.ok(
        "regions.stats",
        json!({"path": "data/ramp.fits", "regions": regs}),
    );
    let ramp = |x: f64, y: f64| (x - 1.0) + (y - 1.0) * 300.0;
    let turn = |dx: f64, dy: f64, deg: f64| {
        let (s, c) = (-deg.to_radians()).sin_cos();
        (dx * c - dy * s, dx * s + dy * c)
    };
    let inside: [&dyn Fn(f64, f64) -> bool; 5] = [
        &|x, y| (x - 50.0).hypot(y - 40.0) <= 5.0,
        &|x, y| {
            let (u, v) = turn(x - 120.0, y - 80.0, 30.0);
            (u / 9.0).powi(2) + (v / 4.0).powi(2) <= 1.0
        },
        &|x, y| {
            let (u, v) = turn(x - 200.0, y - 100.0, 20.0);
            u.abs() <= 5.0 && v.abs() <= 3.0
        },
        &|x, y| {
            // Barycentric test of the triangle (no vertex or edge falls on a pixel centre).
            let (a, b, c) = ([10.3, 150.2], [40.7, 152.1], [25.4, 180.6]);
            let d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
            let l1 = ((b[1] - c[1]) * (x - c[0]) + (c[0] - b[0]) * (y - c[1])) / d;
            let l2 = ((c[1] - a[1]) * (x - c[0]) + (a[0] - c[0]) * (y - c[1])) / d;
            l1 >= 0.0 && l2 >= 0.0 && l1 + l2 <= 1.0
        },
        &|x, y| {
            let d = (x - 150.0).hypot(y - 150.0);
            d > 3.0 && d <= 9.0
        },
    ];
    for (k, f) in inside.iter().enumerate() {
        let mut v: Vec<f64> = Vec::new();
        for y in 1..=200 {
            for x in 1..=300 {
                if f(x as f64, y as f64) {
                    v.push(ramp(x as f64, y as f64));
                }
            }
        }
        let got = &st["regions"][k];
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        assert_eq!(got["npix"], v.len(), "region {k}: {got}");
        assert_eq!(got["area_px"], v.len());
        assert!(
            (got["sum"].as_f64().unwrap() - v.iter().sum::<f64>()).abs() < 1e-6,
            "{got}"
        );
        assert!((got["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{got}");
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((got["std"].as_f64().unwrap() - std).abs() < 1e-6, "{got}");
        v.sort_by(f64::total_cmp);
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        assert_eq!(got["median"].as_f64().unwrap(), median, "{got}");
        assert_eq!(
            (got["min"].as_f64(), got["max"].as_f64()),
            (v.first().copied(), v.last().copied())
        );
        assert!(got["area_arcsec2"].is_null(), "no WCS, no sky area: {got}");
    }
    // The annulus per ring, and a line has no area.
    let rings = st["regions"][4]["rings"].as_array().unwrap();
    assert_eq!(rings.len(), 2);
    assert_eq!(st["regions"][4]["radii"], json!([3.0, 6.0, 9.0]));
    assert_eq!(
        rings[0]["npix"].as_u64().unwrap() + rings[1]["npix"].as_u64().unwrap(),
        st["regions"][4]["npix"].as_u64().unwrap()
    );
    assert_eq!(st["regions"][5]["npix"], 0);
    // A region file on the server reads as the same regions; a folder or a missing file is refused.
    let dir_data = c.ok("image.open", json!({"path": "data/ramp.fits"}))["path"].clone();
    assert_eq!(dir_data, "data/ramp.fits");
    let r = c.ok("regions.load", json!({"path": "data/marks.reg"}));
    assert_eq!(r["regions"][0]["props"]["color"], "red", "{r}");
    assert_eq!(r["unknown"][0]["line"], 3, "{r}");
    let (_, r) = c.call("regions.load", json!({"path": "data"}));
    assert_eq!(r["error"]["kind"], "not_a_file", "{r}");
    let (_, r) = c.call("regions.load", json!({"path": "data/none.reg"}));
    assert_eq!(r["error"]["kind"], "not_found", "{r}");
    // With bins, a histogram of each region's values between its min and max.
    let h = c.ok(
        "regions.stats",
        json!({"path": "data/ramp.fits", "regions": [regs[0].clone()], "bins": 8}),
    );
    let hist = &h["regions"][0]["histogram"];
    let counts: u64 = hist["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counts, h["regions"][0]["npix"].as_u64().unwrap(), "{h}");
    assert_eq!(
        (hist["lo"].clone(), hist["hi"].clone()),
        (
            h["regions"][0]["min"].clone(),
            h["regions"][0]["max"].clone()
        )
    );
    assert!(st["regions"][5]["note"]
        .as_str()
        .unwrap()
        .contains("no area"));
    // On a sky image a sky circle has its area in arcsec² and its surface brightness.
    let pw = c.ok(
        "image.pixels",
        json!({"path": "data/sky.fits", "points": [[100, 100]]}),
    );
    let (lon, lat) = (
        pw["pixels"][0]["world"]["lon"].as_f64().unwrap(),
        pw["pixels"][0]["world"]["lat"].as_f64().unwrap(),
    );
    let skyreg = c.ok(
        "regions.import",
        json!({"text": format!("fk5\ncircle({lon},{lat},2\")")}),
    )["regions"]
        .clone();
    let st = c.ok(
        "regions.stats",
        json!({"path": "data/sky.fits", "regions": skyreg}),
    );
    let g = &st["regions"][0];
    let arcsec = c.ok("image.open", json!({"path": "data/sky.fits"}))["wcs"]["pixel_scale_arcsec"]
        .as_f64()
        .unwrap();
    let npx = g["area_px"].as_f64().unwrap();
    assert!(npx > 0.0, "{g}");
    assert!((g["area_arcsec2"].as_f64().unwrap() - npx * arcsec * arcsec).abs() < 1e-9);
    assert!(
        (g["surface_brightness"].as_f64().unwrap()
            - g["sum"].as_f64().unwrap() / (npx * arcsec * arcsec))
            .abs()
            < 1e-9
    );
    // A region larger than the image reads only the image (its box is clipped); more than 100 regions
    // are refused.
    let big = c.ok(
        "regions.import",
        json!({"text": "image\ncircle(150,100,3000)"}),
    )["regions"]
        .clone();
    let r = c.ok(
        "regions.stats",
        json!({"path": "data/ramp.fits", "regions": big}),
    );
    assert_eq!(r["regions"][0]["npix"], 60000, "{r}");
    assert_eq!(r["regions"][0]["max"], 59999.0);
    let many: Vec<Value> = (0..101).map(|_| regs[0].clone()).collect();
    let (_, r) = c.call(
        "regions.stats",
        json!({"path": "data/ramp.fits", "regions": many}),
    );
    assert_eq!(r["error"]["kind"], "bad_params", "{r}");

    let r = c.ok(
        "image.histogram",
        json!({"path": "data/ramp.fits", "bins": 10}),
    );
    let total: u64 = r["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 60000);
    // The ramp's rows 1..=2, columns 1..=10 hold 0..=9 and 300..=309: a histogram of that rectangle.
    let r = c.ok(
        "image.histogram",
        json!({"path": "data/ramp.fits", "bins": 4, "rect": [1, 1, 10, 2], "lo": 0, "hi": 400}),
    );
    assert_eq!(r["counts"], json!([10, 0, 0, 10]), "{r}");
    assert_eq!(r["stride"], 1);

    let r = c.ok(
        "image.profile",
        json!({"path": "data/ramp.fits", "from": [1, 5], "to": [11, 5]}),
    );
    let vals: Vec<f64> = r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(
        vals,
        (0..11).map(|i| (i + 4 * 300) as f64).collect::<Vec<_>>()
    );

    let r = c.ok("image.header", json!({"path": "data/sky.fits"}));
    assert!(r["cards"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["keyword"] == "CTYPE1"));
    let r = c.ok(
        "image.cutout",
        json!({"path": "data/sky.fits", "ra": 150.1, "dec": 2.2, "size": 30}),
    );
    assert!(r["png"]
        .as_str()
        .unwrap()
        .starts_with("/api/cutout?path=data/sky.fits"));

    // Sources: the planted bright, isolated stars are recovered within 0.5 px.
    let (_, r) = c.call(
        "sources.detect",
        json!({"path": "data/sky.fits", "threshold": 5}),
    );
    assert_eq!(r["status"], "ok", "{r}");
    let found = r["result"]["sources"].as_array().unwrap();
    let stars = w.sky.star_list();
    let mut checked = 0;
    for s in &stars {
        let isolated = stars
            .iter()
            .all(|o| o == s || (o.x - s.x).hypot(o.y - s.y) > 15.0);
        let inside = s.x > 10.0 && s.y > 10.0 && s.x < 1014.0 && s.y < 1014.0;
        if s.flux < 20_000.0 || !isolated || !inside {
            continue;
        }
        let best = found
            .iter()
            .map(|d| (d["x"].as_f64().unwrap() - s.x).hypot(d["y"].as_f64().unwrap() - s.y))
            .fold(f64::MAX, f64::min);
        assert!(
            best < 0.5,
            "star at ({:.2}, {:.2}) flux {:.0}: nearest detection {best:.2} px",
            s.x,
            s.y,
            s.flux
        );
        checked += 1;
    }
    assert!(checked >= 3, "enough bright stars to check ({checked})");
    assert!(found[0]["lon"].is_number() && found[0]["fwhm"].as_f64().unwrap() > 2.0);

    // Catalogs: the generator's CSV, then its FITS table; nearest match on the sky.
    let r = c.ok(
        "catalog.load",
        json!({"path": "data/stars.csv", "limit": 5}),
    );
    assert_eq!(r["total"], 60);
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);
    assert_eq!(r["coordinates"]["ra"], "ra");
    let row0 = &r["rows"][0];
    let (ra, dec) = (row0[3].as_f64().unwrap(), row0[4].as_f64().unwrap());
    let m = c.ok(
        "catalog.match",
        json!({"catalog": 0, "ra": ra + 1e-5, "dec": dec}),
    );
    assert_eq!(m["index"], 0);
    assert!(m["separation_arcsec"].as_f64().unwrap() < 0.05);
    // Catalog rows placed on the image through its WCS land on the generator's own x/y columns.
    let all = c.ok("catalog.rows", json!({"catalog": 0, "limit": 100}));
    let rows = all["rows"].as_array().unwrap();
    let pos = c.ok(
        "catalog.positions",
        json!({"catalog": 0, "path": "data/sky.fits"}),
    );
    assert_eq!(pos["by"], "sky");
    let list = pos["positions"].as_array().unwrap();
    assert!(
        list.len() >= 55,
        "most stars are on the image: {}",
        list.len()
    );
    for p in list {
        let row = &rows[p[0].as_u64().unwrap() as usize];
        let (dx, dy) = (
            p[1].as_f64().unwrap() - row[1].as_f64().unwrap(),
            p[2].as_f64().unwrap() - row[2].as_f64().unwrap(),
        );
        assert!(dx.hypot(dy) < 1e-3, "row {row:?} placed at {p}");
    }
    let px = c.ok(
        "image.sky_to_pixel",
        json!({"path": "data/sky.fits", "points": [[ra, dec], [ra + 180.0, -dec]], "frame": "fk5"}),
    );
    let p0 = &px["pixels"][0];
    assert!(
        (p0[0].as_f64().unwrap() - row0[1].as_f64().unwrap()).abs() < 1e-3,
        "{px}"
    );
    assert!(
        (p0[1].as_f64().unwrap() - row0[2].as_f64().unwrap()).abs() < 1e-3,
        "{px}"
    );
    assert!(
        px["pixels"][1].is_null(),
        "the far side of the sky does not project: {px}"
    );
    let (_, r) = c.call(
        "image.sky_to_pixel",
        json!({"path": "data/sky.fits", "points": [[1, 2]], "frame": "fk4"}),
    );
    assert_eq!(r["error"]["kind"], "bad_params", "{r}");
    // An ecliptic position lands where its equatorial twin does.
    let (lam, bet) = toyz_fits::convert_frame(ra, dec, "icrs", "ecliptic").unwrap();
    let px = c.ok(
        "image.sky_to_pixel",
        json!({"path": "data/sky.fits", "points": [[lam, bet]], "frame": "ecliptic"}),
    );
    assert!(
        (px["pixels"][0][0].as_f64().unwrap() - row0[1].as_f64().unwrap()).abs() < 1e-3,
        "{px}"
    );
    let g = c.ok(
        "image.graticule",
        json!({"path": "data/sky.fits", "rect": [1, 1, 1024, 1024]}),
    );
    assert!(g["lines"].as_array().unwrap().len() >= 4, "{g}");
    assert!(g["north"].is_array() && g["east"].is_array());
    let (_, r) = c.call("image.graticule", json!({"path": "data/ramp.fits"}));
    assert_eq!(r["error"]["kind"], "no_wcs", "{r}");
    let (_, r) = c.call(
        "image.graticule",
        json!({"path": "data/sky.fits", "rect": [10, 10, 5, 5]}),
    );
    assert_eq!(r["error"]["kind"], "bad_params", "{r}");

    let r = c.ok(
        "catalog.load",
        json!({"path": "data/mef.fits", "hdu": "STARS"}),
    );
    assert_eq!(r["total"], 60);
    assert_eq!(r["columns"], json!(["X", "Y", "FLUX", "FWHM"]));
    let (_, r) = c.call("catalog.match", json!({"catalog": 1, "ra": 1, "dec": 2}));
    assert_eq!(
        r["error"]["kind"], "bad_params",
        "x/y catalog has no sky columns"
    );
    // Without sky columns (or without a WCS) rows are placed by their x/y columns: on the 300×200
    // ramp, exactly the generator's stars that fall inside it (plus a 5 % margin).
    let pos = c.ok(
        "catalog.positions",
        json!({"catalog": 1, "path": "data/ramp.fits"}),
    );
    assert_eq!(pos["by"], "pixel");
    let inside = stars
        .iter()
        .filter(|s| s.x <= 300.0 * 1.05 + 0.5 && s.y <= 200.0 * 1.05 + 0.5)
        .count();
    assert_eq!(pos["count"].as_u64().unwrap() as usize, inside, "{pos}");
    // A galactic position lands on the same pixel as its equatorial twin.
    let (l, b) = toyz_fits::convert_frame(ra, dec, "icrs", "galactic").unwrap();
    let px = c.ok(
        "image.sky_to_pixel",
        json!({"path": "data/sky.fits", "points": [[l, b]], "frame": "galactic"}),
    );
    assert!(
        (px["pixels"][0][0].as_f64().unwrap() - row0[1].as_f64().unwrap()).abs() < 1e-3,
        "{px}"
    );
    assert!(
        (px["pixels"][0][1].as_f64().unwrap() - row0[2].as_f64().unwrap()).abs() < 1e-3,
        "{px}"
    );
    // The readout in another system, written out by the formatter `toyz pixel` uses.
    let r = c.ok(
        "image.pixels",
        json!({
            "path": "data/sky.fits",
            "points": [[row0[1], row0[2]]],
            "sky": {"system": "galactic", "format": "degrees"}
        }),
    );
    let w = &r["pixels"][0]["world"];
    let world = toyz_fits::World {
        frame: "icrs".into(),
        lon: w["lon"].as_f64().unwrap(),
        lat: w["lat"].as_f64().unwrap(),
    };
    let want = toyz_fits::sky_text(
        &world,
        toyz_fits::SkySystem::Galactic,
        toyz_fits::SkyFormat::Degrees,
    );
    // (serde_json may read the last digit of a double differently: the texts must agree exactly.)
    let (got, want) = (&r["pixels"][0]["sky"], serde_json::to_value(want).unwrap());
    for k in ["frame", "names", "lon_text", "lat_text"] {
        assert_eq!(got[k], want[k], "{r}");
    }
    assert!((got["lon"].as_f64().unwrap() - want["lon"].as_f64().unwrap()).abs() < 1e-12);
    let r = c.ok(
        "image.pixels",
        json!({"path": "data/sky.fits", "points": [[1, 1]], "sky": {}}),
    );
    assert_eq!(r["pixels"][0]["sky"]["names"], json!(["α", "δ"]), "{r}");
    let (_, r) = c.call(
        "image.pixels",
        json!({"path": "data/sky.fits", "points": [[1, 1]], "sky": {"system": "b1950"}}),
    );
    assert_eq!(r["error"]["kind"], "bad_params", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown sky system"),
        "{r}"
    );

    // DS9 regions round trip.
    let text = "# Region file format: DS9 version 4.1\nfk5\ncircle(150.1,2.2,3\") # text={M1}\nimage\nbox(10,20,5,6,30)\npolygon(1,1,5,1,3,4)\n";
    let r = c.ok("regions.import", json!({"text": text}));
    let regions = r["regions"].clone();
    assert_eq!(regions.as_array().unwrap().len(), 3);
    let out = c.ok("regions.export", json!({"regions": regions}));
    let again = c.ok("regions.import", json!({"text": out["text"]}));
    assert_eq!(again["regions"], regions);

    // tiles.build with progress, and the tiles are then served.
    let (progress, r) = c.call(
        "tiles.build",
        json!({"path": "data/sky.fits", "cmap": "heat"}),
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert!(!progress.is_empty());
    assert_eq!(r["result"]["tiles"], 21);

    let info = c.ok("session.info", Value::Null);
    assert!(info["sources"].as_array().unwrap().len() >= 3);
    assert_eq!(info["catalogs"].as_array().unwrap().len(), 2);
}

#[test]
fn cancel_stops_a_job_promptly() {
    let w = world();
    let addr = start(JobRegistry::with_builtins(), &w.data, &w.cache);
    let mut c = Client::connect(addr);
    c.send(json!({"id": "b", "job": "tiles.build", "params": {"path": "data/big.fits", "stretch": "asinh"}}));
    // Wait for the first progress, then cancel.
    loop {
        let m = c.recv().unwrap();
        if m["id"] == "b" && m["status"] == "progress" {
            break;
        }
        assert_ne!(m["status"], "ok", "finished before it could be cancelled");
    }
    let t0 = Instant::now();
    c.send(json!({"id": "b", "cancel": true}));
    let (_, r) = c.wait_str("b");
    assert_eq!(r["error"]["kind"], "cancelled");
    assert!(t0.elapsed() < Duration::from_secs(2));
    // The session lives on.
    c.ok("session.info", Value::Null);
    let (_, r) = c.call_raw(json!({"id": "zz", "cancel": true}));
    assert_eq!(r["error"]["kind"], "unknown_id");
}

impl Client {
    fn wait_str(&mut self, id: &str) -> (Vec<Value>, Value) {
        let mut progress = Vec::new();
        loop {
            let m = self.recv().expect("connection closed");
            if m["id"] != json!(id) {
                continue;
            }
            match m["status"].as_str() {
                Some("progress") => progress.push(m),
                _ => return (progress, m),
            }
        }
    }

    fn call_raw(&mut self, msg: Value) -> (Vec<Value>, Value) {
        let id = msg["id"].as_str().unwrap().to_owned();
        self.send(msg);
        self.wait_str(&id)
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Empty {}

#[test]
fn panics_bounds_cleanup_and_malformed_frames() {
    let w = world();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let mut reg = JobRegistry::with_builtins();
    reg.register_blocking(
        "test.panic",
        "panics",
        |_ctx: &JobCtx, _: Empty| -> Result<Value, JobError> { panic!("a job bug") },
    );
    reg.register_async(
        "test.async_panic",
        "panics in async code",
        |_ctx: JobCtx, _: Empty| async move {
            if true {
                panic!("an async job bug");
            }
            Ok(Value::Null)
        },
    );
    let (r2, p2) = (running.clone(), peak.clone());
    reg.register_blocking(
        "test.slow",
        "counts concurrency",
        move |_ctx: &JobCtx, _: Empty| {
            let n = r2.fetch_add(1, Ordering::SeqCst) + 1;
            p2.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(150));
            r2.fetch_sub(1, Ordering::SeqCst);
            Ok(json!({"ok": true}))
        },
    );
    let s2 = saw_cancel.clone();
    reg.register_blocking(
        "test.wait_cancel",
        "runs until cancelled",
        move |ctx: &JobCtx, _: Empty| {
            let t0 = Instant::now();
            while !ctx.cancelled() && t0.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(5));
            }
            s2.store(ctx.cancelled(), Ordering::SeqCst);
            Ok(Value::Null)
        },
    );
    let addr = start(reg, &w.data, &w.cache);
    let mut c = Client::connect(addr);

    for job in ["test.panic", "test.async_panic"] {
        let (_, r) = c.call(job, Value::Null);
        assert_eq!(r["error"]["kind"], "panic", "{r}");
    }
    c.ok("session.info", Value::Null);

    // Concurrency bound: 10 slow jobs, at most 4 at once, all answered.
    for i in 0..10 {
        c.send(json!({"id": 1000 + i, "job": "test.slow"}));
    }
    let mut done = 0;
    while done < 10 {
        let m = c.recv().unwrap();
        if m["id"].as_u64().is_some_and(|i| (1000..1010).contains(&i)) {
            assert_eq!(m["status"], "ok");
            done += 1;
        }
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        4,
        "jobs of one session run at most 4 at a time"
    );

    // Malformed messages get error replies and the session goes on.
    let cases: Vec<(Message, Value, &str)> = vec![
        (Message::text("not json"), Value::Null, "bad_message"),
        (Message::text("[1,2]"), Value::Null, "bad_message"),
        (Message::text(json!({"job": "session.info"}).to_string()), Value::Null, "bad_message"),
        (Message::text(json!({"id": 5}).to_string()), json!(5), "bad_message"),
        (Message::text(json!({"id": 6, "job": "no.such"}).to_string()), json!(6), "unknown_job"),
        (Message::text(json!({"id": 7, "job": "image.pixels", "params": {"path": 3}}).to_string()), json!(7), "bad_params"),
        (Message::text(json!({"id": 8, "job": "image.stats", "params": {"path": "data/../x"}}).to_string()), json!(8), "forbidden"),
        (Message::text(json!({"id": 9, "job": "image.stats", "params": {"path": "data/ramp.fits", "rect": [0, 0, 5, 5]}}).to_string()), json!(9), "bad_params"),
        (Message::binary(vec![1u8, 2, 3]), Value::Null, "bad_message"),
    ];
    for (msg, id, kind) in cases {
        c.ws.send(msg).unwrap();
        let r = c.recv().unwrap();
        assert_eq!(r["id"], id, "{r}");
        assert_eq!(r["status"], "error");
        assert_eq!(r["error"]["kind"], kind, "{r}");
        assert!(r["error"]["message"].as_str().unwrap().len() > 3);
    }
    c.ok("session.info", Value::Null);

    // Closing a session cancels its jobs and frees its state.
    let mut other = Client::connect(addr);
    assert_eq!(
        other.ok("session.info", Value::Null)["server"]["sessions"],
        2
    );
    other.send(json!({"id": 1, "job": "test.wait_cancel"}));
    std::thread::sleep(Duration::from_millis(100));
    other.ws.close(None).unwrap();
    let _ = other.ws.flush();
    drop(other);
    let t0 = Instant::now();
    while !saw_cancel.load(Ordering::SeqCst) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "closing the socket cancels its jobs"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let t0 = Instant::now();
    loop {
        if c.ok("session.info", Value::Null)["server"]["sessions"] == 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the closed session is freed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // A 100 MB message closes that session with a reason; the server lives on.
    let mut big = Client::connect(addr);
    let huge = "x".repeat(100 << 20);
    let _ = big
        .ws
        .send(Message::text(format!("{{\"id\":1,\"job\":\"{huge}\"}}")));
    let closed = loop {
        match big.ws.read() {
            Ok(Message::Close(f)) => break f,
            Ok(_) => continue,
            Err(_) => break None,
        }
    };
    if let Some(f) = closed {
        assert_eq!(u16::from(f.code), 1009, "message too big");
    }
    let mut again = Client::connect(addr);
    again.ok("session.info", Value::Null);
}

/// A plain HTTP/1.0 GET against the test server: (status line, body).
fn http_get(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    (
        head.lines().next().unwrap().to_owned(),
        all[split + 4..].to_vec(),
    )
}

#[test]
fn every_image_job_works_on_a_mosaic() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut e = toyz_skygen::Exposure::decam_scaled(16);
    e.stars_per_ccd = 8;
    e.write(&data.join("exp.fits.fz"), true).unwrap();
    let truth = e.ccds();
    let stars = e.stars();
    let mut csv = String::from("id,ra,dec\n");
    for (i, s) in stars.iter().enumerate() {
        csv += &format!("{i},{:.10},{:.10}\n", s.ra, s.dec);
    }
    std::fs::write(data.join("stars.csv"), csv).unwrap();
    let addr = start(
        JobRegistry::with_builtins(),
        &data,
        &dir.path().join("cache"),
    );
    let mut c = Client::connect(addr);
    let src = |extra: Value| {
        let mut v = json!({"path": "data/exp.fits.fz", "hdu": "mosaic"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };

    let o = c.ok("image.open", src(json!({})));
    let ccds = o["mosaic"]["ccds"].as_array().unwrap().clone();
    assert_eq!(ccds.len(), 61);
    assert_eq!(o["selector"], "mosaic");
    let at = |name: &str| {
        let i = ccds.iter().position(|c| c["name"] == name).unwrap();
        let c = &ccds[i];
        (
            i,
            c["x0"].as_i64().unwrap() as f64,
            c["y0"].as_i64().unwrap() as f64,
        )
    };

    // Readout on CCD S5 and the same pixel read through its own HDU.
    let (i, x0, y0) = at("S5");
    let r = c.ok(
        "image.pixels",
        src(json!({"points": [[x0 + 40.0, y0 + 70.0]]})),
    );
    let p = &r["pixels"][0];
    assert_eq!(p["ccd"]["name"], "S5");
    let own = c.ok(
        "image.pixels",
        json!({"path": "data/exp.fits.fz", "hdu": "S5", "points": [[40.0, 70.0]]}),
    );
    assert_eq!(p["value"], own["pixels"][0]["value"]);
    let (ra, dec) = e.pixel_to_world(&truth[i], 40.0, 70.0);
    assert!((p["world"]["lon"].as_f64().unwrap() - ra).abs() < 1e-9);
    assert!((p["world"]["lat"].as_f64().unwrap() - dec).abs() < 1e-9);

    // Region statistics on the focal plane equal those of the same box on the CCD's own HDU.
    let boxes = |x: f64, y: f64| {
        let b =
            json!({"shape": "box", "system": "image", "points": [[x, y]], "size": [21.0, 13.0]});
        json!([b])
    };
    let m = c.ok(
        "regions.stats",
        src(json!({"regions": boxes(x0 + 40.0, y0 + 70.0)})),
    );
    let own = c.ok(
        "regions.stats",
        json!({"path": "data/exp.fits.fz", "hdu": "S5", "regions": boxes(40.0, 70.0)}),
    );
    assert_eq!(m["regions"][0]["npix"], 21 * 13, "{m}");
    for k in ["npix", "sum", "mean", "median", "std", "min", "max"] {
        assert_eq!(
            m["regions"][0][k], own["regions"][0][k],
            "{k}: {m} vs {own}"
        );
    }

    // Sky → pixel lands on that CCD's pixel in the mosaic.
    let r = c.ok("image.sky_to_pixel", src(json!({"points": [[ra, dec]]})));
    let xy = &r["pixels"][0];
    assert!((xy[0].as_f64().unwrap() - (x0 + 40.0)).abs() < 1e-3, "{xy}");
    assert!((xy[1].as_f64().unwrap() - (y0 + 70.0)).abs() < 1e-3, "{xy}");

    // Statistics and profiles across a gap leave the gap out.
    let (_, ax, ay) = at("S29");
    let right = ax + e.ccd_width as f64;
    let rect = [
        right as u64 - 9,
        ay as u64 + 10,
        right as u64 + 3,
        ay as u64 + 19,
    ];
    let st = c.ok("image.stats", src(json!({"rect": rect})));
    assert_eq!(
        (st["npix"].as_u64(), st["nan"].as_u64()),
        (Some(130), Some(30)),
        "{st}"
    );
    assert!((st["sum"].as_f64().unwrap() / 100.0 - st["mean"].as_f64().unwrap()).abs() < 1e-6);
    let prof = c.ok(
        "image.profile",
        src(
            json!({"from": [right - 2.0, ay + 50.0], "to": [right + 2.0, ay + 50.0], "samples": 5}),
        ),
    );
    let vals: Vec<bool> = prof["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].is_null())
        .collect();
    assert_eq!(vals, [false, false, false, true, true]);
    let h = c.ok("image.histogram", src(json!({"rect": rect, "bins": 8})));
    assert_eq!(
        h["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        100
    );

    // Sources over the whole plane come out at their stars' sky positions (per-CCD WCS, TPV
    // included): bright detections match a planted star to a fraction of a pixel.
    let found = c.ok("sources.detect", src(json!({"threshold": 10})));
    let mut matched = 0;
    let bright: Vec<&Value> = found["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["flux"].as_f64().unwrap() > 20_000.0)
        .collect();
    for s in &bright {
        let (lon, lat) = (s["lon"].as_f64().unwrap(), s["lat"].as_f64().unwrap());
        let best = stars
            .iter()
            .map(|t| ((t.ra - lon) * lat.to_radians().cos()).hypot(t.dec - lat) * 3600.0)
            .fold(f64::MAX, f64::min);
        if best < 0.3 * e.scale_arcsec {
            matched += 1;
        }
    }
    assert!(
        matched >= 10 && matched * 10 >= bright.len() * 8,
        "detections at their stars: {matched} of {}",
        bright.len()
    );

    // Catalog rows land on the CCD pixels the generator put the stars at.
    c.ok("catalog.load", json!({"path": "data/stars.csv"}));
    let pos = c.ok("catalog.positions", src(json!({"catalog": 0})));
    assert_eq!(pos["by"], "sky");
    let mut checked = 0;
    for p in pos["positions"].as_array().unwrap() {
        let s = &stars[p[0].as_u64().unwrap() as usize];
        let (mx, my) = (p[1].as_f64().unwrap(), p[2].as_f64().unwrap());
        let r = c.ok("image.pixels", src(json!({"points": [[mx, my]]})));
        let Some(name) = r["pixels"][0]["ccd"]["name"].as_str() else {
            continue;
        };
        let (k, kx, ky) = at(name);
        let (ux, uy) = e.world_to_pixel(&truth[k], s.ra, s.dec);
        assert!(
            (mx - kx - ux).hypot(my - ky - uy) < 1e-3,
            "star {} on {name}",
            p[0]
        );
        checked += 1;
        if checked == 20 {
            break;
        }
    }
    assert!(checked >= 10, "{checked}");

    // The grid is traced through the CCDs' WCS.
    let g = c.ok("image.graticule", src(json!({})));
    assert!(g["lines"].as_array().unwrap().len() >= 4);

    // A cutout across CCDs: one FITS image, gaps NaN, the WCS of its centre CCD, said in the header.
    let cut = c.ok(
        "image.cutout",
        src(json!({"x": right + 1.0, "y": ay + 30.0, "w": 30, "h": 20})),
    );
    let (status, body) = http_get(addr, cut["fits"].as_str().unwrap());
    assert!(status.contains("200"), "{status}");
    let header = String::from_utf8_lossy(&body[..2880 * 2]).to_string();
    let cards: Vec<&str> = (0..header.len() / 80)
        .map(|i| &header[i * 80..i * 80 + 80])
        .collect();
    assert!(
        cards
            .iter()
            .any(|c| c.starts_with("COMMENT toyz mosaic cutout: the WCS is CCD")),
        "{header}"
    );
    let name = if cards.iter().any(|c| c.contains("CCD S29'")) {
        "S29"
    } else {
        "S25"
    };
    let (k, kx, ky) = at(name);
    let crpix1: f64 = cards.iter().find(|c| c.starts_with("CRPIX1")).unwrap()[10..30]
        .trim()
        .parse()
        .unwrap();
    let cut_x0 = (right + 1.0 - 1.0 - 14.5).round();
    assert!(
        (crpix1 - (truth[k].crpix.0 + kx - cut_x0)).abs() < 1e-9,
        "{crpix1}"
    );
    let _ = ky;
    let data_start =
        cards.iter().position(|c| c.starts_with("END")).unwrap() * 80 / 2880 * 2880 + 2880;
    let px: Vec<f32> = body[data_start..data_start + 30 * 20 * 4]
        .chunks_exact(4)
        .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert!(px.iter().any(|v| v.is_nan()) && px.iter().any(|v| v.is_finite()));
}

/// A never-seen exposure is shown at once from its overview: `image.open` with `preview` replies while
/// the levels build, low tiles come back provisional (never cached), and after `image.levels` the same
/// URL gives the final, immutable tile.
#[test]
fn first_view_from_the_overview_then_refined() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    toyz_skygen::Exposure::decam_scaled(4)
        .write(&data.join("exp.fits.fz"), true)
        .unwrap();
    let addr = start(
        JobRegistry::with_builtins(),
        &data,
        &dir.path().join("cache"),
    );
    let mut c = Client::connect(addr);
    let src = json!({"path": "data/exp.fits.fz", "hdu": "mosaic"});
    let mut params = src.clone();
    params["preview"] = json!(true);
    let o = c.ok("image.open", params);
    // 61 CCDs of 511×1023 take far longer to build than the overview.
    assert_eq!(o["levels"]["state"], "building", "{}", o["levels"]);
    let tile = o["tiles"].as_str().unwrap().replace("{z}/{x}/{y}", "0/0/0");
    let get = |path: &str| {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        String::from_utf8_lossy(&all[..all.windows(4).position(|w| w == b"\r\n\r\n").unwrap()])
            .to_lowercase()
    };
    let first = get(&tile);
    assert!(
        first.starts_with("http/1.0 200") || first.starts_with("http/1.1 200"),
        "{first}"
    );
    assert!(
        first.contains("cache-control: no-store") && first.contains("x-toyz-tile: provisional"),
        "{first}"
    );
    assert!(!first.contains("etag"), "{first}");
    let (_, r) = c.call("image.levels", src.clone());
    assert_eq!(r["result"]["state"], "ready", "{r}");
    let last = get(&tile);
    assert!(
        last.contains("immutable") && last.contains("etag") && !last.contains("provisional"),
        "{last}"
    );
}

/// A mosaic's tile URL is answered by another server sharing the cache (or after a restart): the
/// manifest names the source by its selector, so the mosaic, not its primary HDU, is reopened.
#[test]
fn mosaic_tile_urls_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    toyz_skygen::Exposure::decam_scaled(32)
        .write(&data.join("exp.fits.fz"), true)
        .unwrap();
    let cache = dir.path().join("cache");
    let a = start(JobRegistry::with_builtins(), &data, &cache);
    let (status, body) = http_get(a, "/api/sources?path=data/exp.fits.fz&hdu=mosaic");
    assert!(status.contains("200"), "{status}");
    let o: Value = serde_json::from_slice(&body).unwrap();
    let tile = o["tiles"].as_str().unwrap().replace("{z}/{x}/{y}", "1/0/0");
    let o = Client::connect(a).ok(
        "image.open",
        json!({"path": "data/exp.fits.fz", "hdu": "mosaic", "cmap": "viridis", "stretch": "log"}),
    );
    let viewer_tile = o["tiles"].as_str().unwrap().replace("{z}/{x}/{y}", "1/0/0");
    assert_ne!(viewer_tile, tile);
    let b = start(JobRegistry::with_builtins(), &data, &cache);
    for t in [tile, viewer_tile] {
        let (status, body) = http_get(b, &t);
        assert!(
            status.contains("200"),
            "{t}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(&body[1..4], b"PNG");
    }
}

/// Two catalogs loaded at once get different ids (the id was taken before the load's await and both
/// came back as catalog 0).
#[test]
fn concurrent_catalog_loads_get_distinct_ids() {
    let w = world();
    let addr = start(JobRegistry::with_builtins(), &w.data, &w.cache);
    let mut c = Client::connect(addr);
    for id in [1, 2, 3] {
        c.send(json!({"id": id, "job": "catalog.load", "params": {"path": "data/stars.csv", "limit": 0}}));
    }
    // Replies come in any order: collect the three.
    let mut ids = Vec::new();
    while ids.len() < 3 {
        let r = c.recv().expect("a reply");
        if r["status"] == "progress" || r["id"].is_null() {
            continue;
        }
        assert_eq!(r["status"], "ok", "{r}");
        ids.push(r["result"]["catalog"].as_u64().unwrap());
    }
    ids.sort();
    assert_eq!(ids, [0, 1, 2]);
    let info = c.ok("session.info", json!({}));
    assert_eq!(info["catalogs"].as_array().unwrap().len(), 3);
}

fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, b) = http_get(addr, "/metrics");
    String::from_utf8_lossy(&b)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Everything a client can make the server hold has a limit: session values, reply size, colour
/// tables per source, catalog rows per session and per server (given back when a session closes),
/// and the memory budget of heavy work (too large: 413; not now: 503).
#[test]
fn limits_bound_what_clients_can_make_the_server_hold() {
    let w = world();
    let mut reg = JobRegistry::with_builtins();
    reg.register_async(
        "test.hold",
        "reserves 40 MiB of the memory budget until cancelled",
        |ctx: JobCtx, _: Empty| async move {
            let _mem = ctx.reserve(40 << 20, "test.hold")?;
            while !ctx.cancelled() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err::<Value, _>(JobError::cancelled())
        },
    );
    let addr = start_cfg(reg, &w.data, &w.cache, |c| {
        c.limits.session_state = 64 << 10;
        c.limits.reply_bytes = 256 << 10;
        c.limits.renderers = 4;
        c.limits.catalog_rows_session = 100;
        c.limits.catalog_rows_server = 100;
        c.limits.memory_budget = 64 << 20;
        c.limits.sources_memory = 30 << 20;
    });
    let mut a = Client::connect(addr);

    // Session values: 64 KiB in all.
    let blob = |n: usize| json!("x".repeat(n));
    let (_, r) = a.call(
        "session.set",
        json!({"key": "big", "value": blob(600 << 10)}),
    );
    assert_eq!(r["error"]["kind"], "too_large", "{r}");
    a.ok("session.set", json!({"key": "a", "value": blob(30 << 10)}));
    a.ok("session.set", json!({"key": "b", "value": blob(30 << 10)}));
    let (_, r) = a.call("session.set", json!({"key": "c", "value": blob(30 << 10)}));
    assert_eq!(r["error"]["kind"], "too_large", "{r}");
    a.ok("session.set", json!({"key": "a", "value": blob(31 << 10)}));
    assert!(a.ok("session.info", json!({}))["values"]["b"].is_string());

    // Replies: 256 KiB at most.
    let points: Vec<[f64; 2]> = (0..10_000).map(|i| [(i % 1000 + 1) as f64, 5.0]).collect();
    let (_, r) = a.call(
        "image.pixels",
        json!({"path": "data/sky.fits", "points": points}),
    );
    assert_eq!(r["error"]["kind"], "too_large", "{r}");
    assert_eq!(
        a.ok(
            "image.pixels",
            json!({"path": "data/sky.fits", "points": [[1, 1]]})
        )["pixels"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Colour tables: the last 4 specs of a source.
    for k in 0..10 {
        let o = a.ok(
            "image.open",
            json!({"path": "data/ramp.fits", "contrast": 1.0 + k as f64 / 10.0}),
        );
        let t = o["tiles"].as_str().unwrap().replace("{z}/{x}/{y}", "0/0/0");
        assert!(http_get(addr, &t).0.contains(" 200 "));
    }
    assert_eq!(metric(addr, "toyz_renderers"), 4.0);

    // Open sources: about 12 MiB each for a 1024² image (sample and overview), 30 MiB in all.
    for name in ["sky.fits", "mef.fits", "big.fits", "ramp.fits", "sky.fits"] {
        a.ok("image.open", json!({"path": format!("data/{name}")}));
        assert!(metric(addr, "toyz_sources_bytes") <= (30 << 20) as f64);
    }
    assert!(metric(addr, "toyz_sources") >= 1.0);

    // Catalog rows: 60 fit a session of 100, 120 do not; and all sessions share 100.
    a.ok("catalog.load", json!({"path": "data/stars.csv"}));
    let (_, r) = a.call("catalog.load", json!({"path": "data/stars.csv"}));
    assert_eq!(r["error"]["kind"], "too_large", "{r}");
    let mut b = Client::connect(addr);
    let (_, r) = b.call("catalog.load", json!({"path": "data/stars.csv"}));
    assert_eq!(r["error"]["kind"], "busy", "{r}");
    assert_eq!(metric(addr, "toyz_catalog_rows"), 60.0);
    drop(a);
    // Closing a session frees its rows at once.
    while metric(addr, "toyz_catalog_rows") != 0.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    b.ok("catalog.load", json!({"path": "data/stars.csv"}));

    // The memory budget: a cutout that could never fit, one that must wait, then fits.
    let (status, body) = http_get(
        addr,
        "/api/cutout?path=data/big.fits&x=2048&y=2048&w=2100&h=2100",
    );
    assert!(
        status.contains(" 413 "),
        "{status} {}",
        String::from_utf8_lossy(&body)
    );
    b.send(json!({"id": 99, "job": "test.hold", "params": {}}));
    while metric(addr, "toyz_memory_reserved_bytes") < (40 << 20) as f64 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let cut = "/api/cutout?path=data/big.fits&x=2048&y=2048&w=1500&h=1500&format=png";
    let (status, _) = http_get(addr, cut);
    assert!(status.contains(" 503 "), "{status}");
    b.send(json!({"id": 99, "cancel": true}));
    while metric(addr, "toyz_memory_reserved_bytes") != 0.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, _) = http_get(addr, cut);
    assert!(status.contains(" 200 "), "{status}");

    // Statistics of a whole 16 Mpixel image in flat memory, within the 64 MiB budget.
    let s = b.ok("image.stats", json!({"path": "data/big.fits"}));
    assert_eq!(s["npix"], 4096 * 4096);
    assert!(s["median"].is_number());
}

/// What the HTTP codec refuses before any route runs is JSON too: heads over the limit (actix-http
/// answered heads over 128 KiB with an empty 431), too many headers, an unreadable request line (an
/// empty 400); a good request pipelined before a bad one is answered first, and the connection
/// closes after the refusal.
#[test]
fn unreadable_request_heads_get_json_errors() {
    use std::io::{Read, Write};
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let addr = start(JobRegistry::with_builtins(), &data, &d.path().join("cache"));
    let exchange = |req: &[u8]| -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(req).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    let body = |reply: &str| -> Value {
        let at = reply.rfind("\r\n\r\n").expect("a head") + 4;
        serde_json::from_str(&reply[at..]).unwrap_or_else(|e| panic!("{e}: {reply}"))
    };
    let huge = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(200_000));
    let r = exchange(huge.as_bytes());
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    assert!(body(&r)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most"));
    let many: String = (0..120).map(|i| format!("X-{i}: y\r\n")).collect();
    let r = exchange(format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    for bad in [
        &b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET /\x01 HTTP/1.1\r\n\r\n",
    ] {
        let r = exchange(bad);
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        assert_eq!(body(&r)["error"]["kind"], "bad_request");
    }
    let r = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /a b HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert!(r.contains("{\"status\":\"ok\"}HTTP/1.1 400 "), "{r}");
    // A request with a body, then another on the same connection.
    let r = exchange(
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\r\n\r\n\
          GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.matches("HTTP/1.1 ").count(), 2, "{r}");
    assert!(r.ends_with("{\"status\":\"ok\"}"), "{r}");
}

/// Catalogs: a gzip'd FITS file that inflates far beyond its size is refused before it is read
/// (its inflated size counted against the memory budget), a file without a table says so, and a
/// header cut short says the file is truncated.
#[test]
fn catalog_loads_are_bounded_by_what_files_inflate_to() {
    let w = world();
    // 40 MiB of zeros (an image) before a small table: about 40 KB gzip'd.
    let fits = w.data.join("padded.fits");
    let mut pad = SkySpec::ramp(2560, 4096);
    pad.bitpix = 32;
    write_fits(&fits, &pad).unwrap();
    let mut bytes = std::fs::read(&fits).unwrap();
    let data_at = bytes.len() - 2560 * 4096 * 4;
    bytes[data_at..].fill(0);
    let table = w.data.join("t.fits");
    toyz_skygen::write_table_fits(&table, &w.sky).unwrap();
    let t = std::fs::read(&table).unwrap();
    bytes.extend_from_slice(&t[2880..]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 200_000, "{}", gz.len());
    std::fs::write(w.data.join("bomb.fits.gz"), gz).unwrap();
    std::fs::write(
        w.data.join("cut.fits"),
        &std::fs::read(w.data.join("ramp.fits")).unwrap()[..2000 + 2880],
    )
    .unwrap();
    let addr = start_cfg(JobRegistry::with_builtins(), &w.data, &w.cache, |c| {
        c.limits.memory_budget = 64 << 20;
    });
    let mut a = Client::connect(addr);
    let (_, r) = a.call("catalog.load", json!({"path": "data/bomb.fits.gz"}));
    assert_eq!(r["error"]["kind"], "too_large", "{r}");
    let (_, r) = a.call("catalog.load", json!({"path": "data/ramp.fits"}));
    assert_eq!(r["error"]["kind"], "not_a_table", "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("no table"),
        "{r}"
    );
    let (_, r) = a.call("image.open", json!({"path": "data/cut.fits"}));
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{r}"
    );
    // The small table itself loads.
    let r = a.ok("catalog.load", json!({"path": "data/t.fits"}));
    assert!(
        r["rows"].as_u64().unwrap_or(0) > 0 || r["total"].as_u64().unwrap_or(0) > 0,
        "{r}"
    );
}

/// A client that sends jobs and never reads their replies makes them wait (backpressure): once the
/// session's reply room is full and every running slot holds a finished reply, no further job runs,
/// however many were sent. When the client reads, every reply arrives.
#[test]
fn unread_replies_hold_back_the_jobs_of_their_session() {
    let w = world();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut reg = JobRegistry::with_builtins();
    let r2 = runs.clone();
    reg.register_async(
        "test.big",
        "a reply of 3 MiB",
        move |_: JobCtx, _: Empty| {
            let r2 = r2.clone();
            async move {
                r2.fetch_add(1, Ordering::SeqCst);
                Ok(json!("x".repeat(3 << 20)))
            }
        },
    );
    let addr = start_cfg(reg, &w.data, &w.cache, |c| c.limits.reply_bytes = 4 << 20);
    let mut a = Client::connect(addr);
    for id in 1..=64u64 {
        a.send(json!({"id": id, "job": "test.big", "params": {}}));
    }
    // The state to wait for: every running slot of the session holds a reply waiting for room.
    while metric(addr, "toyz_ws_replies_waiting") < 4.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let ran = runs.load(Ordering::SeqCst);
    // 4 waiting, 1 queued, a few in the sockets' buffers: nowhere near 64.
    assert!(ran <= 16, "{ran} jobs ran for a client that reads nothing");
    let mut seen = 0;
    while seen < 64 {
        let m = a.recv().expect("a reply");
        if m["status"] == "ok" {
            assert_eq!(m["result"].as_str().unwrap().len(), 3 << 20);
            seen += 1;
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 64);
}

/// Every job stops when its socket closes: a region's statistics over a polygon of 20,000 vertices
/// (minutes of work) give back their share of the memory budget soon after the client leaves.
#[test]
fn jobs_stop_when_their_socket_closes() {
    let w = world();
    let addr = start(JobRegistry::with_builtins(), &w.data, &w.cache);
    let mut a = Client::connect(addr);
    let n = 20_000;
    let pts: Vec<String> = (0..n)
        .map(|i| {
            let t = i as f64 / n as f64 * std::f64::consts::TAU;
            format!(
                "{:.3},{:.3}",
                2048.0 + 1900.0 * t.cos(),
                2048.0 + 1900.0 * t.sin()
            )
        })
        .collect();
    let text = format!("image\npolygon({})\n", pts.join(","));
    let regs = a.ok("regions.import", json!({"text": text}))["regions"].clone();
    a.send(json!({"id": 99, "job": "regions.stats", "params": {"path": "data/big.fits", "regions": regs}}));
    // Running: it holds its pixels' share of the budget.
    while metric(addr, "toyz_memory_reserved_bytes") == 0.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(a);
    let t0 = Instant::now();
    while metric(addr, "toyz_memory_reserved_bytes") > 0.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the job still runs after its client left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connections are bounded: per client address (here 8), beyond which a new connection is closed
/// as soon as it is accepted; and a body that comes too slowly (a byte now and then) ends its
/// connection instead of holding it open.
#[test]
fn connections_are_capped_and_slow_bodies_time_out() {
    use std::io::{Read, Write};
    let w = world();
    let addr = start_cfg(JobRegistry::with_builtins(), &w.data, &w.cache, |c| {
        c.limits.connections_per_address = 8;
    });
    let held: Vec<Client> = (0..8).map(|_| Client::connect(addr)).collect();
    // The ninth is closed at once: nothing comes back but the end of the stream.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    // One leaves: a new connection is served once the server has seen it go (a state to wait for).
    drop(held);
    loop {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let _ =
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if out.starts_with(b"HTTP/1.1 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // A body that trickles: the connection ends (the read sees its end) without an answer.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let r = s.read_to_end(&mut out);
    assert!(r.is_ok() || out.is_empty(), "{r:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(110),
        "the slow body held its connection"
    );
}

/// `image.cutout`'s links work whatever the file is called: a name with a space, '&', '#', '+' and a
/// non-ASCII letter is escaped in the query, and the links answer the cutout.
#[test]
fn cutout_links_escape_their_path() {
    let w = world();
    std::fs::copy(w.data.join("sky.fits"), w.data.join("a b&c#d+é.fits")).unwrap();
    let addr = start(JobRegistry::with_builtins(), &w.data, &w.cache);
    let mut c = Client::connect(addr);
    let r = c.ok(
        "image.cutout",
        json!({"path": "data/a b&c#d+é.fits", "x": 100, "y": 80, "w": 20, "h": 10}),
    );
    let fits = r["fits"].as_str().unwrap();
    assert!(
        fits.starts_with("/api/cutout?path=data/a%20b%26c%23d%2B%C3%A9.fits&"),
        "{fits}"
    );
    let (status, body) = http_get(addr, fits);
    assert!(status.contains("200"), "{status}");
    assert!(body.starts_with(b"SIMPLE  ="), "a FITS file");
    let (status, body) = http_get(addr, r["png"].as_str().unwrap());
    assert!(status.contains("200"), "{status}");
    assert_eq!(&body[1..4], b"PNG");
}

/// Whether `v` has the shape of the object schema `schema` at its top level: every required field,
/// no field the schema does not name, and numbers, strings, booleans, arrays and nulls where the
/// schema's type says so.
fn conforms(schema: &Value, v: &Value) -> Result<(), String> {
    let props = schema["properties"]
        .as_object()
        .ok_or("the schema has no properties")?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{v} is not an object"))?;
    for r in schema["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap();
        if !obj.contains_key(r) {
            return Err(format!("required field {r} missing from {v}"));
        }
    }
    for (k, x) in obj {
        let p = props
            .get(k)
            .ok_or_else(|| format!("field {k} is not in the schema"))?;
        let types: Vec<&str> = match &p["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => continue, // a reference or any: not checked here
        };
        let ok = types.iter().any(|t| match *t {
            "integer" => x.is_u64() || x.is_i64(),
            "number" => x.is_number(),
            "string" => x.is_string(),
            "boolean" => x.is_boolean(),
            "array" => x.is_array(),
            "object" => x.is_object(),
            "null" => x.is_null(),
            _ => true,
        });
        if !ok {
            return Err(format!("field {k} = {x} is not {types:?}"));
        }
    }
    Ok(())
}

#[test]
fn typed_replies_have_the_shape_their_schemas_say() {
    let w = world();
    let addr = start(JobRegistry::with_builtins(), &w.data, &w.cache);
    let mut c = Client::connect(addr);
    let jobs = c.ok("session.jobs", Value::Null);
    let schema = |name: &str| {
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .unwrap()["reply"]
            .clone()
    };
    let img = json!({"path": "data/sky.fits"});
    let with = |extra: Value| {
        let mut p = img.clone();
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    let cat = c.ok(
        "catalog.load",
        json!({"path": "data/stars.csv", "limit": 2}),
    );
    let id = cat["catalog"].clone();
    let calls: Vec<(&str, Value)> = vec![
        ("session.jobs", Value::Null),
        ("session.set", json!({"key": "k", "value": [1, 2]})),
        ("image.levels", img.clone()),
        ("image.header", img.clone()),
        ("session.info", Value::Null),
        ("image.open", img.clone()),
        (
            "image.open",
            json!({"path": "data/mef.fits", "hdu": "SCI", "preview": true, "stretch": "log", "cut": "percentile=1,99"}),
        ),
        (
            "image.pixels",
            with(json!({"points": [[10, 10], [-5, 3]], "sky": {"system": "galactic"}})),
        ),
        ("image.graticule", with(json!({"lines": 4}))),
        ("sources.detect", with(json!({"rect": [1, 1, 256, 256]}))),
        (
            "regions.import",
            json!({"text": "image\ncircle(1,2,3)\nruler(1,2,3,4)\n"}),
        ),
        ("regions.load", json!({"path": "data/marks.reg"})),
        (
            "regions.stats",
            with(
                json!({"regions": [{"shape": "circle", "system": "image", "points": [[50, 50]], "radius": 5}]}),
            ),
        ),
        (
            "image.sky_to_pixel",
            with(json!({"points": [[150.1, 2.2], [330.0, -80.0]]})),
        ),
        ("image.stats", with(json!({"rect": [1, 1, 40, 30]}))),
        (
            "image.histogram",
            with(json!({"bins": 16, "rect": [1, 1, 40, 30]})),
        ),
        (
            "image.profile",
            with(json!({"from": [1, 1], "to": [20, 5]})),
        ),
        (
            "image.cutout",
            with(json!({"x": 100, "y": 100, "w": 20, "h": 20})),
        ),
        (
            "catalog.rows",
            json!({"catalog": id, "offset": 1, "limit": 3}),
        ),
        (
            "catalog.match",
            json!({"catalog": id, "ra": 150.1, "dec": 2.2}),
        ),
        (
            "catalog.match",
            json!({"catalog": id, "ra": 10.0, "dec": -60.0, "radius": 1.0}),
        ),
        (
            "catalog.positions",
            json!({"catalog": id, "path": "data/sky.fits"}),
        ),
        (
            "regions.export",
            json!({"regions": [{"shape": "circle", "system": "image", "points": [[1, 2]], "radius": 3}]}),
        ),
        ("tiles.build", with(json!({"zoom": [0, 1]}))),
    ];
    conforms(&schema("catalog.load"), &cat).unwrap();
    for (job, params) in calls {
        let s = schema(job);
        assert_eq!(s["type"], "object", "{job} has a typed reply: {s}");
        let reply = c.ok(job, params);
        conforms(&s, &reply).unwrap_or_else(|e| panic!("{job}: {e}\nschema {s}"));
    }
    // The check itself refuses what does not fit.
    let stats = schema("image.stats");
    assert!(
        conforms(&stats, &json!({"rect": [1, 1, 2, 2], "npix": 4})).is_err(),
        "required fields"
    );
    let full = json!({"rect": [1, 1, 2, 2], "npix": 4, "nan": 0, "mean": 1.0, "median": 1.0, "std": 0.0,
                      "min": 1.0, "max": 1.0, "sum": 4.0});
    conforms(&stats, &full).unwrap();
    let mut extra = full.clone();
    extra["colour"] = json!("red");
    assert!(conforms(&stats, &extra).is_err(), "unknown fields");
    let mut wrong = full.clone();
    wrong["npix"] = json!("four");
    assert!(conforms(&stats, &wrong).is_err(), "types");
}
