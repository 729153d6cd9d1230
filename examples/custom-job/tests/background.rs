//! Drive the custom job over a real WebSocket against the real server on 127.0.0.1:0.

use serde_json::{json, Value};
use std::net::SocketAddr;
use toyz_server::{Config, Overrides};
use toyz_skygen::{write_fits, SkySpec};
use tungstenite::Message;

fn start(data: &std::path::Path, cache: &std::path::Path) -> SocketAddr {
    start_db(data, cache, None)
}

/// With `db`, accounts are on (`--auth`).
fn start_db(
    data: &std::path::Path,
    cache: &std::path::Path,
    db: Option<&std::path::Path>,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let (data, cache, db) = (data.to_owned(), cache.to_owned(), db.map(|d| d.to_owned()));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let o = Overrides {
                bind: Some("127.0.0.1:0".into()),
                cache: Some(cache),
                roots: vec![("sky".into(), data)],
                auth: db.is_some(),
                database: db,
                ..Default::default()
            };
            let (server, addr) = toyz_server::start_with(
                Config::load(None, o).unwrap(),
                toyz_example_custom_job::registry(),
            )
            .unwrap();
            tx.send(addr).unwrap();
            server.await.unwrap();
        })
    });
    rx.recv().unwrap()
}

/// Send job `id` and return its final reply (progress messages skipped).
fn job_reply<S: std::io::Read + std::io::Write>(
    ws: &mut tungstenite::WebSocket<S>,
    id: u64,
    job: &str,
    params: Value,
) -> Value {
    ws.send(Message::text(
        json!({"id": id, "job": job, "params": params}).to_string(),
    ))
    .unwrap();
    loop {
        if let Message::Text(t) = ws.read().unwrap() {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == json!(id) && v["status"] != "progress" {
                return v;
            }
        }
    }
}

#[test]
fn sky_background_over_a_real_socket() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut spec = SkySpec::new(400, 300);
    spec.stars = Some(0);
    spec.background = 1000.0;
    spec.noise = 30.0;
    write_fits(&data.join("flat.fits"), &spec).unwrap();
    let addr = start(&data, &d.path().join("cache"));
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    let mut call = |id: u64, job: &str, params: Value| job_reply(&mut ws, id, job, params);
    let jobs = call(1, "session.jobs", Value::Null);
    let job = jobs["result"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "sky.background")
        .cloned();
    let job = job.expect("the custom job is registered");
    assert!(job["params"]["properties"]["rect"].is_object());
    // Its reply is typed too: the schema names what the job answers.
    for field in ["median", "sigma", "used", "bunit"] {
        assert!(
            job["reply"]["properties"][field].is_object(),
            "{field} in {}",
            job["reply"]
        );
    }

    let r = call(
        2,
        "sky.background",
        json!({"path": "sky/flat.fits", "rect": [1, 1, 100, 100]}),
    );
    assert_eq!(r["status"], "ok", "{r}");
    let res = &r["result"];
    // The generator's sky: 1000 plus a 5 % gradient across the image, Gaussian noise of σ = 30.
    assert!(
        (res["median"].as_f64().unwrap() - 1008.0).abs() < 5.0,
        "{res}"
    );
    assert!((res["sigma"].as_f64().unwrap() - 30.0).abs() < 2.0, "{res}");
    assert_eq!(res["pixels"], 10000);

    let r = call(
        3,
        "sky.background",
        json!({"path": "sky/flat.fits", "rect": [1, 1, 500, 10]}),
    );
    assert_eq!(r["error"]["kind"], "bad_params");
    let r = call(
        4,
        "sky.background",
        json!({"path": "sky/../etc", "rect": [1, 1, 5, 5]}),
    );
    assert_eq!(r["error"]["kind"], "forbidden");
    let r = call(5, "sky.background", json!({"path": "sky/flat.fits"}));
    assert_eq!(r["error"]["kind"], "bad_params", "missing rect");
}

/// The custom job reads images through the same raster as the built-in jobs: a whole DECam
/// exposure as one focal plane (`"hdu": "mosaic"`, a box inside one CCD equals that CCD's own HDU,
/// and a box over a chip gap counts only the chips' pixels), and its errors name the client's path,
/// never the server's.
#[test]
fn sky_background_of_a_mosaic_and_errors_without_server_paths() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut e = toyz_skygen::Exposure::decam_scaled(16);
    e.stars_per_ccd = 0;
    e.write(&data.join("exp.fits.fz"), true).unwrap();
    std::fs::write(data.join("not.fits"), b"SIMPLE  = this is no FITS file").unwrap();
    let addr = start(&data, &d.path().join("cache"));
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    let mut call = |id: u64, job: &str, params: Value| job_reply(&mut ws, id, job, params);
    let o = call(
        1,
        "image.open",
        json!({"path": "sky/exp.fits.fz", "hdu": "mosaic"}),
    );
    let ccds = o["result"]["mosaic"]["ccds"].as_array().unwrap().clone();
    let s5 = ccds.iter().find(|c| c["name"] == "S5").unwrap();
    let (x0, y0) = (
        s5["x0"].as_u64().unwrap() as usize,
        s5["y0"].as_u64().unwrap() as usize,
    );
    // A box inside S5, on the focal plane and on S5's own HDU: the same pixels.
    let on_plane = call(
        2,
        "sky.background",
        json!({"path": "sky/exp.fits.fz", "hdu": "mosaic", "rect": [x0 + 11, y0 + 11, x0 + 60, y0 + 90]}),
    );
    let own = call(
        3,
        "sky.background",
        json!({"path": "sky/exp.fits.fz", "hdu": "S5", "rect": [11, 11, 60, 90]}),
    );
    assert_eq!(on_plane["status"], "ok", "{on_plane}");
    for k in ["mean", "median", "sigma", "used"] {
        assert_eq!(
            on_plane["result"][k], own["result"][k],
            "{k}: {on_plane} vs {own}"
        );
    }
    // The whole focal plane: its gaps are NaN, not counted.
    let (w, h) = (
        o["result"]["width"].as_u64().unwrap(),
        o["result"]["height"].as_u64().unwrap(),
    );
    let all = call(
        4,
        "sky.background",
        json!({"path": "sky/exp.fits.fz", "hdu": "mosaic", "rect": [1, 1, w, h]}),
    );
    assert_eq!(all["status"], "ok", "{all}");
    let (used, pixels) = (
        all["result"]["used"].as_u64().unwrap(),
        all["result"]["pixels"].as_u64().unwrap(),
    );
    assert!(used < pixels && used > pixels / 2, "{all}");
    // Errors name sky/…, never the server's folder.
    let server = data.to_str().unwrap();
    for (id, path) in [(5, "sky/not.fits"), (6, "sky/missing.fits")] {
        let r = call(
            id,
            "sky.background",
            json!({"path": path, "rect": [1, 1, 5, 5]}),
        );
        let text = r["error"].to_string();
        assert_eq!(r["status"], "error", "{r}");
        assert!(text.contains(path) && !text.contains(server), "{text}");
    }
}

/// With accounts, the custom job acts for the logged-in user: `ctx.resolve` refuses what they may not
/// read exactly as a missing file, and the socket needs a login.
#[test]
fn the_custom_job_runs_for_the_logged_in_user() {
    use std::io::{Read, Write};
    use toyz_server::accounts::{AccountStore, Level, SqliteStore, Who};
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(data.join("open")).unwrap();
    std::fs::create_dir_all(data.join("closed")).unwrap();
    write_fits(&data.join("open/a.fits"), &SkySpec::new(120, 100)).unwrap();
    write_fits(&data.join("closed/b.fits"), &SkySpec::new(120, 100)).unwrap();
    let db = d.path().join("toyz.sqlite");
    let store = SqliteStore::open(&db).unwrap();
    store.add_user("ada", "ada password", false).unwrap();
    store
        .grant(&Who::User("ada".into()), "sky/open", Level::Read)
        .unwrap();
    let addr = start_db(&data, &d.path().join("cache"), Some(&db));
    // Log in over plain HTTP for the cookie.
    let body = r#"{"user":"ada","password":"ada password"}"#;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let cookie = reply
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    // No login: the upgrade itself is refused.
    assert!(tungstenite::connect(format!("ws://{addr}/ws")).is_err());
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    let (mut ws, _) = tungstenite::connect(req).unwrap();
    let mut call = |id: u64, path: &str| {
        let p = json!({"path": path, "rect": [1, 1, 50, 50]});
        job_reply(&mut ws, id, "sky.background", p)
    };
    assert_eq!(call(1, "sky/open/a.fits")["status"], "ok");
    let refused = call(2, "sky/closed/b.fits");
    let missing = call(3, "sky/closed/nothing.fits");
    assert_eq!(refused["error"]["kind"], "not_found", "{refused}");
    assert_eq!(missing["error"]["kind"], "not_found", "{missing}");
}
