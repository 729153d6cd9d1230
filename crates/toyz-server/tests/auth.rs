//! Accounts against a real server (`--auth`) on 127.0.0.1:0: the matrix of who (anonymous, a forged
//! cookie, an expired session, a logged-out session, a user without a grant, a user with a grant, an
//! admin) × what (every HTTP endpoint, tile URLs, WebSocket jobs), the holes of the original framework
//! (an id sent by the client, pixel reads and data loads past folder permissions, a default account),
//! throttling, the Origin check and logins surviving a restart. On SQLite, or on PostgreSQL when
//! `TOYZ_TEST_POSTGRES` names a server (each test in a database of its own: see `test_db`).

mod common;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use toyz_server::accounts::{Level, Who};
use toyz_server::test_db::TestDb;
use toyz_server::{Config, JobRegistry, Overrides};
use toyz_skygen::{write_catalog, write_fits, SkySpec};

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request on a fresh connection (Connection: close), as a browser would send it.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req += &format!("Cookie: toyz_session={c}\r\n");
    }
    if !body.is_empty() {
        req += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    req += "\r\n";
    req += &body;
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&out[..at]).into_owned();
    let status = head[9..12].parse().unwrap();
    let mut body = out[at..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Reply { status, head, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..line]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[line + 2..line + 2 + n]);
        b = &b[line + 4 + n..];
    }
}

fn login(addr: SocketAddr, user: &str, password: &str) -> String {
    let r = http(
        addr,
        "POST",
        "/api/login",
        None,
        Some(&json!({"user": user, "password": password})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let set = r.header("set-cookie").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    let v = set.strip_prefix("toyz_session=").unwrap();
    v[..v.find(';').unwrap_or(v.len())].to_owned()
}

struct World {
    _dir: tempfile::TempDir,
    db: TestDb,
    data: std::path::PathBuf,
    cache: std::path::PathBuf,
}

/// data/public/a.fits (class may read), data/private/b.fits (nobody but admins), data/private/ok/c.fits
/// (class again), data/cat.csv; users root (admin), ada (class), bob (no group).
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for d in ["public", "private/ok"] {
        std::fs::create_dir_all(data.join(d)).unwrap();
    }
    write_fits(&data.join("public/a.fits"), &SkySpec::new(300, 200)).unwrap();
    write_fits(&data.join("private/b.fits"), &SkySpec::new(300, 200)).unwrap();
    write_fits(&data.join("private/ok/c.fits"), &SkySpec::new(100, 80)).unwrap();
    write_catalog(&data.join("private/cat.csv"), &SkySpec::new(300, 200)).unwrap();
    let db = TestDb::new(dir.path().join("toyz.sqlite"));
    let s = db.open();
    s.add_user("root", "root password", true).unwrap();
    s.add_user("ada", "ada password", false).unwrap();
    s.add_user("bob", "bob password", false).unwrap();
    s.add_group("class", &["ada".into()]).unwrap();
    let class = Who::Group("class".into());
    s.grant(&class, "data", Level::Read).unwrap();
    s.grant(&Who::Everyone, "data/private", Level::None)
        .unwrap();
    s.grant(&class, "data/private/ok", Level::Read).unwrap();
    let cache = dir.path().join("cache");
    World {
        _dir: dir,
        db,
        data,
        cache,
    }
}

fn start(w: &World) -> SocketAddr {
    let o = Overrides {
        cache: Some(w.cache.clone()),
        roots: vec![("data".into(), w.data.clone())],
        auth: true,
        database: Some(w.db.path().to_owned()),
        ..Default::default()
    };
    common::start_server(JobRegistry::with_builtins(), o, |_| {})
}

/// A WebSocket session with a cookie: the job's reply (`result` or `error`) for one request.
fn ws_job(
    addr: SocketAddr,
    cookie: Option<&str>,
    origin: Option<&str>,
    job: Value,
) -> Result<Value, u16> {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(c) = cookie {
        req.headers_mut()
            .insert("Cookie", format!("toyz_session={c}").parse().unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let (mut ws, _) = match tungstenite::connect(req) {
        Ok(x) => x,
        Err(tungstenite::Error::Http(r)) => return Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    };
    let mut job = job;
    job["id"] = json!(1);
    ws.send(tungstenite::Message::text(job.to_string()))
        .unwrap();
    loop {
        let m = ws.read().unwrap();
        let Ok(t) = m.to_text() else { continue };
        let v: Value = match serde_json::from_str(t) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v["id"] == 1 && v["status"] != "progress" {
            return Ok(v);
        }
    }
}

#[test]
fn who_may_do_what() {
    let w = world();
    let addr = start(&w);
    let root = login(addr, "root", "root password");
    let ada = login(addr, "ada", "ada password");
    let bob = login(addr, "bob", "bob password");
    let gone = login(addr, "ada", "ada password");
    assert_eq!(
        http(addr, "POST", "/api/logout", Some(&gone), None).status,
        200
    );
    let expired = login(addr, "ada", "ada password");
    {
        // Idle for longer than the idle lifetime (8 h by default).
        let hash = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(expired.as_bytes());
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let n = w.db.execute(&format!(
            "UPDATE sessions SET last_seen = last_seen - 9 * 3600 WHERE token_hash = '{hash}'"
        ));
        assert_eq!(n, 1);
    }
    let forged = "ab".repeat(32);

    // A tile URL of a public and of a private image, as the admin sees them.
    let tiles = |path: &str| {
        let r = http(
            addr,
            "GET",
            &format!("/api/sources?path={path}"),
            Some(&root),
            None,
        );
        assert_eq!(r.status, 200);
        r.json()["tiles"]
            .as_str()
            .unwrap()
            .replace("{z}/{x}/{y}", "0/0/0")
    };
    let (pub_tile, priv_tile) = (tiles("data/public/a.fits"), tiles("data/private/b.fits"));

    let a = "data/public/a.fits";
    let b = "data/private/b.fits";
    let endpoints: Vec<(String, &str)> = vec![
        ("/api/files?path=data/public".to_string(), "pub"),
        ("/api/files?path=data/private".to_string(), "priv-dir"),
        (format!("/api/sources?path={a}"), "pub"),
        (format!("/api/sources?path={b}"), "priv"),
        (format!("/api/header?path={b}"), "priv"),
        (format!("/api/pixel?path={b}&x=10&y=10"), "priv"),
        (format!("/api/histogram?path={b}"), "priv"),
        (format!("/api/cutout?path={b}&x=50&y=50&size=20"), "priv"),
        (format!("/api/header?path={a}"), "pub"),
        (format!("/api/pixel?path={a}&x=10&y=10"), "pub"),
        (format!("/api/cutout?path={a}&x=50&y=50&size=20"), "pub"),
        (pub_tile.clone(), "pub"),
        (priv_tile.clone(), "priv"),
        ("/api/colorbar?cmap=viridis".into(), "any"),
        ("/metrics".into(), "any"),
        ("/api/me".into(), "any"),
        ("/api/workspaces".into(), "any"),
        ("/admin".into(), "page"),
        ("/api/admin/accounts".into(), "admin"),
    ];
    type Asker<'a> = (&'a str, Option<&'a str>);
    let whos: [Asker; 7] = [
        ("anonymous", None),
        ("forged", Some(&forged)),
        ("expired", Some(&expired)),
        ("logged out", Some(&gone)),
        ("no grant", Some(&bob)),
        ("grant", Some(&ada)),
        ("admin", Some(&root)),
    ];
    for (who, cookie) in whos {
        for (path, class) in &endpoints {
            let r = http(addr, "GET", path, cookie, None);
            let want = match (who, *class) {
                ("anonymous" | "forged" | "expired" | "logged out", "page") => 302,
                ("anonymous" | "forged" | "expired" | "logged out", _) => 401,
                ("admin", "admin") | (_, "page") => 200,
                (_, "admin") => 403,
                (_, "any") | ("admin", _) => 200,
                ("grant", "pub") => 200,
                // A folder above something readable is listed (without what is hidden).
                ("grant", "priv-dir") => 200,
                _ => 404,
            };
            assert_eq!(
                r.status,
                want,
                "{who} GET {path}: {}",
                String::from_utf8_lossy(&r.body)
            );
            if r.status >= 400 {
                assert!(
                    r.json()["error"]["message"].is_string(),
                    "{who} {path}: JSON error"
                );
                let text = String::from_utf8_lossy(&r.body);
                assert!(
                    !text.contains("SIMPLE"),
                    "{who} {path}: no data in a refusal"
                );
            }
        }
        // Pages send those without a session to the login page, keeping where they were going.
        let r = http(
            addr,
            "GET",
            "/view?path=data/public/a.fits&zoom=2",
            cookie,
            None,
        );
        if matches!(who, "anonymous" | "forged" | "expired" | "logged out") {
            assert_eq!(r.status, 302, "{who}");
            let to = r.header("location").unwrap();
            assert_eq!(
                to, "/login?next=/view%3Fpath%3Ddata/public/a.fits%26zoom%3D2",
                "{who}"
            );
        } else {
            assert_eq!(r.status, 200, "{who}");
        }
        // Open to all: the login page, health, the viewer's files.
        for open in ["/login", "/healthz", "/web/style.css"] {
            assert_eq!(
                http(addr, "GET", open, cookie, None).status,
                200,
                "{who} {open}"
            );
        }
        // Every WebSocket job goes through the same check.
        let jobs = [
            (json!({"job": "image.open", "params": {"path": a}}), "pub"),
            (json!({"job": "image.open", "params": {"path": b}}), "priv"),
            (
                json!({"job": "image.levels", "params": {"path": b}}),
                "priv",
            ),
            (
                json!({"job": "image.header", "params": {"path": b}}),
                "priv",
            ),
            (
                json!({"job": "image.pixels", "params": {"path": b, "points": [[3, 3]]}}),
                "priv",
            ),
            (
                json!({"job": "image.sky_to_pixel", "params": {"path": b, "points": [[150.1, 2.2]]}}),
                "priv",
            ),
            (
                json!({"job": "image.graticule", "params": {"path": b}}),
                "priv",
            ),
            (json!({"job": "image.stats", "params": {"path": b}}), "priv"),
            (
                json!({"job": "image.histogram", "params": {"path": b}}),
                "priv",
            ),
            (
                json!({"job": "image.profile", "params": {"path": b, "from": [1, 1], "to": [20, 20]}}),
                "priv",
            ),
            (
                json!({"job": "image.cutout", "params": {"path": b, "x": 50, "y": 50, "size": 10}}),
                "priv",
            ),
            (
                json!({"job": "sources.detect", "params": {"path": b}}),
                "priv",
            ),
            (
                json!({"job": "catalog.load", "params": {"path": "data/private/cat.csv"}}),
                "priv",
            ),
            (
                json!({"job": "tiles.build", "params": {"path": b, "zoom": [0, 0]}}),
                "priv",
            ),
            (
                json!({"job": "image.header", "params": {"path": "data/private/ok/c.fits"}}),
                "pub",
            ),
        ];
        for (job, class) in jobs {
            let r = ws_job(addr, cookie, None, job.clone());
            match (who, class) {
                ("anonymous" | "forged" | "expired" | "logged out", _) => {
                    assert_eq!(r, Err(401), "{who} {job}")
                }
                ("admin", _) | ("grant", "pub") => {
                    let v = r.unwrap();
                    assert_eq!(v["status"], "ok", "{who} {job}: {v}");
                }
                _ => {
                    let v = r.unwrap();
                    assert_eq!(v["error"]["kind"], "not_found", "{who} {job}: {v}");
                }
            }
        }
    }
    // Listings show only what may be read: roots with nothing readable are not listed.
    let names = |cookie: &str, path: &str| -> Vec<String> {
        let r = http(
            addr,
            "GET",
            &format!("/api/files?path={path}"),
            Some(cookie),
            None,
        );
        r.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&bob, ""), Vec::<String>::new());
    assert_eq!(names(&ada, ""), vec!["data"]);
    assert_eq!(names(&ada, "data/private"), vec!["ok"]);
    assert_eq!(
        names(&root, "data/private"),
        vec!["ok", "b.fits", "cat.csv"]
    );
    // Logins are counted.
    let m = String::from_utf8(http(addr, "GET", "/metrics", Some(&root), None).body).unwrap();
    assert!(m.contains("toyz_logins_total 5"), "{m}");
    assert!(
        m.lines().any(|l| l.starts_with("toyz_login_sessions ")),
        "{m}"
    );
    // Who I am is the server's record, whatever the client says.
    let me = http(
        addr,
        "GET",
        "/api/me?user=root&admin=true",
        Some(&ada),
        None,
    )
    .json();
    assert_eq!(
        me,
        json!({"user": "ada", "admin": false, "groups": ["class"], "auth": true})
    );
    // A grant given while logged in applies at once (within the one-second recheck) to open sessions.
    w.db.open()
        .grant(&Who::User("bob".into()), "data/private/b.fits", Level::Read)
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        if http(
            addr,
            "GET",
            &format!("/api/header?path={b}"),
            Some(&bob),
            None,
        )
        .status
            == 200
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the new grant never applied"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn throttling_origins_and_restarts() {
    let w = world();
    let addr = start(&w);
    // Wrong passwords: 401 with the same message for an unknown name, then 429 with Retry-After.
    let bad = |user: &str| {
        http(
            addr,
            "POST",
            "/api/login",
            None,
            Some(&json!({"user": user, "password": "nope nope"})),
        )
    };
    let unknown = bad("nobody");
    let wrong = bad("ada");
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(
        unknown.json()["error"]["message"],
        wrong.json()["error"]["message"]
    );
    for _ in 0..3 {
        assert_eq!(bad("ada").status, 401);
    }
    let r = bad("ada");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // Even the right password waits (the address is throttled too).
    let r = http(
        addr,
        "POST",
        "/api/login",
        None,
        Some(&json!({"user": "ada", "password": "ada password"})),
    );
    assert_eq!(r.status, 429);
    // Sessions live in the database: a second server on the same database knows them.
    let w2 = World {
        _dir: tempfile::tempdir().unwrap(),
        db: w.db.clone(),
        data: w.data.clone(),
        cache: w.cache.clone(),
    };
    let addr2 = start(&w2);
    let token = login(addr2, "root", "root password");
    let addr3 = start(&w2);
    assert_eq!(
        http(addr3, "GET", "/api/me", Some(&token), None).json()["user"],
        "root"
    );
    // WebSockets from another site's page are refused; the server's own page and listed ones pass.
    let job = json!({"job": "session.info", "params": {}});
    assert_eq!(
        ws_job(
            addr3,
            Some(&token),
            Some("http://evil.example"),
            job.clone()
        ),
        Err(403)
    );
    let own = format!("http://{addr3}");
    assert_eq!(
        ws_job(addr3, Some(&token), Some(&own), job.clone()).unwrap()["status"],
        "ok"
    );
    // Without a session the upgrade is refused before any job.
    assert_eq!(ws_job(addr3, None, Some(&own), job), Err(401));
}

/// No default account: `--auth` with an empty database refuses to start and says how to add a user.
#[test]
fn auth_without_users_refuses_to_start() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("data")).unwrap();
    let db = TestDb::new(d.path().join("empty.sqlite"));
    let config = Config::load(
        None,
        Overrides {
            roots: vec![("data".into(), d.path().join("data"))],
            auth: true,
            database: Some(db.path().to_owned()),
            ..Default::default()
        },
    )
    .unwrap();
    let e = toyz_server::auth::open(&config).err().expect("refused");
    assert!(e.contains("toyz user add"), "{e}");
}

/// The admin console's API: admins only (403 for others, 401 without a session); a user and a grant
/// made there work at once, a deleted user's session ends, bad input is 4xx JSON.
#[test]
fn the_admin_api_is_for_admins_and_takes_effect_at_once() {
    let w = world();
    let addr = start(&w);
    let root = login(addr, "root", "root password");
    let ada = login(addr, "ada", "ada password");
    let post = |path: &str, cookie: Option<&str>, body: Value| {
        http(addr, "POST", path, cookie, Some(&body))
    };
    assert_eq!(
        http(addr, "GET", "/api/admin/accounts", None, None).status,
        401
    );
    assert_eq!(
        http(addr, "GET", "/api/admin/accounts", Some(&ada), None).status,
        403
    );
    let new_user = json!({"name": "carl", "password": "carl password"});
    assert_eq!(
        post("/api/admin/users", Some(&ada), new_user.clone()).status,
        403
    );
    assert_eq!(
        post("/api/admin/users", Some(&root), new_user.clone()).status,
        200
    );
    assert_eq!(post("/api/admin/users", Some(&root), new_user).status, 409);
    let short = post(
        "/api/admin/users",
        Some(&root),
        json!({"name": "dan", "password": "short"}),
    );
    assert_eq!(short.status, 400);
    assert!(short.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at least 8"));
    assert_eq!(
        post("/api/admin/users", Some(&root), json!({"name": 5})).status,
        400
    );
    let carl = login(addr, "carl", "carl password");
    let a = "/api/header?path=data/public/a.fits";
    assert_eq!(http(addr, "GET", a, Some(&carl), None).status, 404);
    // A grant made in the console applies at once (no one-second wait: the change was made here).
    let g = json!({"who": "user:carl", "path": "data/public", "level": "read"});
    assert_eq!(post("/api/admin/grants", Some(&root), g).status, 200);
    assert_eq!(http(addr, "GET", a, Some(&carl), None).status, 200);
    let bad = post(
        "/api/admin/grants",
        Some(&root),
        json!({"who": "carl", "path": "data", "level": "read"}),
    );
    assert_eq!(bad.status, 400);
    // Groups and members.
    assert_eq!(
        post(
            "/api/admin/groups",
            Some(&root),
            json!({"name": "late", "members": ["carl"]})
        )
        .status,
        200
    );
    let acc = http(addr, "GET", "/api/admin/accounts", Some(&root), None).json();
    let late = acc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "late")
        .unwrap()
        .clone();
    assert_eq!(late["members"], json!(["carl"]));
    let r = post(
        "/api/admin/groups/late/members",
        Some(&root),
        json!({"remove": ["carl"], "add": ["ada"]}),
    );
    assert_eq!(r.status, 200);
    // Revoking takes the file away; deleting the user ends their session.
    let r = post(
        "/api/admin/grants/revoke",
        Some(&root),
        json!({"who": "user:carl", "path": "data/public"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(http(addr, "GET", a, Some(&carl), None).status, 404);
    assert_eq!(
        http(addr, "DELETE", "/api/admin/users/carl", Some(&root), None).status,
        200
    );
    assert_eq!(http(addr, "GET", "/api/me", Some(&carl), None).status, 401);
    assert_eq!(
        http(addr, "DELETE", "/api/admin/users/root", Some(&root), None).status,
        400
    );
    // The console page: admins' page like the viewer's (a redirect to the login page without a session).
    assert_eq!(http(addr, "GET", "/admin", None, None).status, 302);
    assert_eq!(http(addr, "GET", "/admin", Some(&root), None).status, 200);
}

/// The console's sessions and cache (`/api/admin/sessions`, `/api/admin/cache`): admins list who is
/// logged in and end one session or all of a user's (their cookies answer 401 at once), read what the
/// cache holds and prune it. Others get 403.
#[test]
fn the_console_lists_and_ends_sessions_and_prunes_the_cache() {
    let w = world();
    let addr = start(&w);
    let root = login(addr, "root", "root password");
    let ada = login(addr, "ada", "ada password");
    let bob1 = login(addr, "bob", "bob password");
    let bob2 = login(addr, "bob", "bob password");
    assert_eq!(
        http(addr, "GET", "/api/admin/sessions", Some(&ada), None).status,
        403
    );
    let list = http(addr, "GET", "/api/admin/sessions", Some(&root), None).json();
    let sessions = list["sessions"].as_array().unwrap().clone();
    let of = |user: &str| sessions.iter().filter(|s| s["user"] == user).count();
    assert_eq!((of("root"), of("ada"), of("bob")), (1, 1, 2), "{list}");
    for s in &sessions {
        let id = s["id"].as_str().unwrap();
        assert_eq!(id.len(), 16, "{s}");
        assert!(
            ![&root, &ada, &bob1, &bob2].iter().any(|c| c.contains(id)),
            "an id is not a cookie"
        );
        assert!(s["created"].as_i64().unwrap() <= s["last_seen"].as_i64().unwrap());
    }
    // One session ends: ada's cookie answers 401 at once, and she cannot open a socket with it.
    let ada_id = sessions.iter().find(|s| s["user"] == "ada").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http(
        addr,
        "DELETE",
        &format!("/api/admin/sessions?id={ada_id}"),
        Some(&root),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ended"], 1);
    assert_eq!(http(addr, "GET", "/api/me", Some(&ada), None).status, 401);
    let info = json!({"job": "session.info", "params": {}});
    assert_eq!(ws_job(addr, Some(&ada), None, info.clone()), Err(401));
    // All of bob's: both his logins.
    let r = http(
        addr,
        "DELETE",
        "/api/admin/sessions?user=bob",
        Some(&root),
        None,
    );
    assert_eq!(r.json()["ended"], 2);
    for c in [&bob1, &bob2] {
        assert_eq!(http(addr, "GET", "/api/me", Some(c), None).status, 401);
    }
    assert_eq!(http(addr, "GET", "/api/me", Some(&root), None).status, 200);
    for bad in [
        "/api/admin/sessions",
        "/api/admin/sessions?id=xyz",
        "/api/admin/sessions?id=0123456789abcdef&user=bob",
    ] {
        assert_eq!(
            http(addr, "DELETE", bad, Some(&root), None).status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        http(
            addr,
            "DELETE",
            "/api/admin/sessions?user=nobody",
            Some(&root),
            None
        )
        .status,
        404
    );
    // The cache: what it holds, then a prune; for admins only.
    let bea = {
        let store = w.db.open();
        store.add_user("bea", "bea password", false).unwrap();
        login(addr, "bea", "bea password")
    };
    assert_eq!(
        http(addr, "GET", "/api/admin/cache", Some(&bea), None).status,
        403
    );
    assert_eq!(
        http(addr, "POST", "/api/admin/cache/prune", Some(&bea), None).status,
        403
    );
    // A tile makes the cache hold a source.
    assert_eq!(
        http(
            addr,
            "GET",
            "/api/sources?path=data/public/a.fits",
            Some(&root),
            None
        )
        .status,
        200
    );
    let c = http(addr, "GET", "/api/admin/cache", Some(&root), None).json();
    for k in [
        "folder",
        "tiles",
        "max_bytes",
        "bytes",
        "sources",
        "stale_sources",
        "orphan_temp_files",
    ] {
        assert!(c.get(k).is_some(), "{k} in {c}");
    }
    assert!(c["sources"].as_u64().unwrap() >= 1, "{c}");
    let r = http(addr, "POST", "/api/admin/cache/prune", Some(&root), None);
    assert_eq!(r.status, 200);
    for k in [
        "stale_removed",
        "evicted",
        "temp_removed",
        "freed_bytes",
        "bytes",
    ] {
        assert!(r.json().get(k).is_some(), "{k} in {}", r.json());
    }
}

/// The holes of the original framework, each closed: a job told who the user is, pixel reads and
/// data loads past folder permissions (covered in the matrix), a default account (refused at start),
/// and a static route that served the whole disk.
#[test]
fn the_original_frameworks_holes_stay_closed() {
    let w = world();
    let addr = start(&w);
    let ada = login(addr, "ada", "ada password");
    // A client that claims to be the admin, in the job's parameters or beside them, is still ada.
    let b = "data/private/b.fits";
    let claims = [
        json!({"job": "image.header", "params": {"path": b, "user": "root"}}),
        json!({"job": "image.header", "params": {"path": b}, "user": "root", "admin": true}),
    ];
    for job in claims {
        let v = ws_job(addr, Some(&ada), None, job.clone()).unwrap();
        assert_eq!(v["status"], "error", "{job}: {v}");
        assert!(!v.to_string().contains("SIMPLE"), "{job}: {v}");
    }
    let v = ws_job(
        addr,
        Some(&ada),
        None,
        json!({"job": "session.info", "params": {}}),
    )
    .unwrap();
    assert_eq!(v["status"], "ok");
    // The viewer's static files are the embedded ones: no path reaches the disk.
    for p in [
        "/web/../../../../etc/passwd",
        "/web/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/web/..%2f..%2f..%2fetc%2fpasswd",
        "/web//etc/passwd",
    ] {
        let r = http(addr, "GET", p, Some(&ada), None);
        assert!(r.status == 404 || r.status == 400, "{p}: {}", r.status);
        assert!(!String::from_utf8_lossy(&r.body).contains("root:"), "{p}");
    }
}

/// Workspaces: saved by their owner, listed for those they are shared with, opened (view) or saved
/// over (modify) by them, shared and deleted by the owner only; others get 404 as for a missing one.
/// A workspace never grants its images.
#[test]
fn workspaces_are_saved_shared_and_checked() {
    let w = world();
    let addr = start(&w);
    let (ada, bob, root) = (
        login(addr, "ada", "ada password"),
        login(addr, "bob", "bob password"),
        login(addr, "root", "root password"),
    );
    let state = json!({"link": "path=data/private/b.fits&cmap=viridis&zoom=2", "regions": "circle(10,10,5)"});
    let r = http(
        addr,
        "POST",
        "/api/workspaces",
        Some(&root),
        Some(&json!({"name": "night 1", "state": state})),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let one = format!("/api/workspaces/{id}");
    // Not shared yet: ada sees nothing, and the workspace answers as missing.
    assert_eq!(http(addr, "GET", &one, Some(&ada), None).status, 404);
    let list =
        |c: &str| http(addr, "GET", "/api/workspaces", Some(c), None).json()["workspaces"].clone();
    assert_eq!(list(&ada), json!([]));
    // Shared with the class to view.
    let share = json!({"shares": [{"who": "group:class", "level": "view"}]});
    assert_eq!(
        http(addr, "PUT", &one, Some(&root), Some(&share)).status,
        200
    );
    assert_eq!(list(&ada)[0]["name"], "night 1");
    assert_eq!(list(&ada)[0]["access"], "view");
    assert_eq!(list(&bob), json!([]), "bob is not in the class");
    let got = http(addr, "GET", &one, Some(&ada), None).json();
    assert_eq!(got["state"], state);
    // Viewing is not modifying, and only the owner shares or deletes.
    let rename = json!({"name": "mine now"});
    assert_eq!(
        http(addr, "PUT", &one, Some(&ada), Some(&rename)).status,
        403
    );
    assert_eq!(
        http(addr, "PUT", &one, Some(&ada), Some(&share)).status,
        403
    );
    assert_eq!(http(addr, "DELETE", &one, Some(&ada), None).status, 403);
    let modify = json!({"shares": [{"who": "user:ada", "level": "modify"}]});
    assert_eq!(
        http(addr, "PUT", &one, Some(&root), Some(&modify)).status,
        200
    );
    assert_eq!(
        http(addr, "PUT", &one, Some(&ada), Some(&rename)).status,
        200
    );
    assert_eq!(list(&root)[0]["name"], "mine now");
    // The workspace names a private image: ada still cannot read it.
    let r = http(
        addr,
        "GET",
        "/api/sources?path=data/private/b.fits",
        Some(&ada),
        None,
    );
    assert_eq!(r.status, 404);
    // Bad input and limits.
    let bad = json!({"shares": [{"who": "everyone", "level": "modify"}]});
    assert_eq!(http(addr, "PUT", &one, Some(&root), Some(&bad)).status, 400);
    let big = json!({"name": "big", "state": {"link": "x".repeat(1_100_000)}});
    assert_eq!(
        http(addr, "POST", "/api/workspaces", Some(&ada), Some(&big)).status,
        413
    );
    let huge = json!({"name": "huge", "state": {"link": "x".repeat(5_000_000)}});
    assert_eq!(
        http(addr, "POST", "/api/workspaces", Some(&ada), Some(&huge)).status,
        413
    );
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/workspaces",
            Some(&ada),
            Some(&json!({"name": ""}))
        )
        .status,
        400
    );
    assert_eq!(http(addr, "GET", "/api/workspaces", None, None).status, 401);
    assert_eq!(http(addr, "DELETE", &one, Some(&root), None).status, 200);
    assert_eq!(http(addr, "GET", &one, Some(&root), None).status, 404);
}

/// The cookie is `Secure` when a proxy on this machine says the browser used HTTPS (and only then), and
/// pages of an origin listed in the config may open WebSockets.
#[test]
fn secure_cookies_behind_tls_and_listed_origins() {
    let w = world();
    let o = Overrides {
        cache: Some(w.cache.clone()),
        roots: vec![("data".into(), w.data.clone())],
        auth: true,
        database: Some(w.db.path().to_owned()),
        ..Default::default()
    };
    let addr = common::start_server(JobRegistry::with_builtins(), o, |c| {
        c.auth_settings.origins = vec!["https://obs.example.org".into()];
    });
    let set_cookie = |proto: Option<&str>| {
        let body = r#"{"user":"ada","password":"ada password"}"#;
        let mut s = TcpStream::connect(addr).unwrap();
        let fwd = proto
            .map(|p| format!("X-Forwarded-Proto: {p}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "POST /api/login HTTP/1.1\r\nHost: x\r\n{fwd}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.lines()
            .find_map(|l| l.strip_prefix("set-cookie: ").map(str::to_owned))
            .expect("a cookie")
    };
    assert!(set_cookie(Some("https")).contains("Secure"));
    assert!(!set_cookie(None).contains("Secure"));
    assert!(!set_cookie(Some("http")).contains("Secure"));
    let token = login(addr, "ada", "ada password");
    let job = json!({"job": "session.info", "params": {}});
    let ok = ws_job(
        addr,
        Some(&token),
        Some("https://obs.example.org"),
        job.clone(),
    )
    .unwrap();
    assert_eq!(ok["status"], "ok");
    assert_eq!(
        ws_job(addr, Some(&token), Some("https://other.example.org"), job),
        Err(403)
    );
}

/// Grants are checked on where a path leads as well as on the path asked for: a link in a folder the
/// class may read, to a file or a folder it may not, gives nothing by HTTP, by WebSocket jobs, in
/// listings or by a tile URL someone else opened; a link to something granted still works.
#[test]
fn links_are_checked_where_they_lead() {
    let w = world();
    let public = w.data.join("public");
    std::os::unix::fs::symlink("../private/b.fits", public.join("alias.fits")).unwrap();
    std::os::unix::fs::symlink("../private", public.join("linked")).unwrap();
    std::os::unix::fs::symlink("../private/ok/c.fits", public.join("granted.fits")).unwrap();
    let addr = start(&w);
    let ada = login(addr, "ada", "ada password");
    let root = login(addr, "root", "root password");
    for p in [
        "data/public/alias.fits",
        "data/public/linked/b.fits",
        "data/public/linked/cat.csv",
    ] {
        for route in ["sources", "header", "histogram"] {
            let r = http(
                addr,
                "GET",
                &format!("/api/{route}?path={p}"),
                Some(&ada),
                None,
            );
            assert_eq!(r.status, 404, "{route} {p}: {}", r.json());
        }
        let r = http(
            addr,
            "GET",
            &format!("/api/pixel?path={p}&x=3&y=4"),
            Some(&ada),
            None,
        );
        assert_eq!(r.status, 404, "pixel {p}");
        for job in [
            json!({"job": "image.header", "params": {"path": p}}),
            json!({"job": "image.open", "params": {"path": p}}),
            json!({"job": "catalog.load", "params": {"path": p}}),
        ] {
            let v = ws_job(addr, Some(&ada), None, job.clone()).unwrap();
            assert_eq!(v["status"], "error", "{job}: {v}");
            assert_eq!(v["error"]["kind"], "not_found", "{job}: {v}");
        }
    }
    let names = |path: &str| -> Vec<String> {
        let r = http(
            addr,
            "GET",
            &format!("/api/files?path={path}"),
            Some(&ada),
            None,
        );
        assert_eq!(r.status, 200, "{path}");
        r.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = names("data/public");
    assert!(listed.contains(&"a.fits".to_owned()), "{listed:?}");
    assert!(listed.contains(&"granted.fits".to_owned()), "{listed:?}");
    assert!(!listed.contains(&"alias.fits".to_owned()), "{listed:?}");
    // The linked folder lists as the folder it leads to does for ada: only the granted part.
    assert_eq!(names("data/public/linked"), vec!["ok".to_owned()]);
    assert_eq!(names("data/private"), vec!["ok".to_owned()]);
    // A link to what the class may read is read.
    let r = http(
        addr,
        "GET",
        "/api/sources?path=data/public/granted.fits",
        Some(&ada),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.json());
    // The admin opens the secret through the link; its tile URL gives ada nothing.
    let r = http(
        addr,
        "GET",
        "/api/sources?path=data/public/alias.fits",
        Some(&root),
        None,
    );
    assert_eq!(r.status, 200);
    let tile = r.json()["tiles"]
        .as_str()
        .unwrap()
        .replace("{z}/{x}/{y}", "0/0/0");
    assert_eq!(http(addr, "GET", &tile, Some(&root), None).status, 200);
    assert_eq!(http(addr, "GET", &tile, Some(&ada), None).status, 404);
}

/// An open socket whose login ends (the user deleted in the console or by the CLI, the password
/// changed) or whose account changes under it (groups) is closed with code 1008, its jobs with it.
#[test]
fn open_sockets_close_when_their_login_ends() {
    use tungstenite::client::IntoClientRequest;
    let w = world();
    let addr = start(&w);
    let store = w.db.open();
    store.add_user("cy", "cy password", false).unwrap();
    store.set_members("class", &["cy".into()], true).unwrap();
    let open = |cookie: &str| {
        let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
        req.headers_mut()
            .insert("Cookie", format!("toyz_session={cookie}").parse().unwrap());
        let (mut ws, _) = tungstenite::connect(req).unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        }
        ws.send(tungstenite::Message::text(
            json!({"id": 1, "job": "session.info", "params": {}}).to_string(),
        ))
        .unwrap();
        loop {
            let m = ws.read().unwrap();
            let v: Value = serde_json::from_str(m.to_text().unwrap_or("{}")).unwrap_or(Value::Null);
            if v["id"] == 1 {
                assert_eq!(v["status"], "ok", "{v}");
                return ws;
            }
        }
    };
    // Waits for the close frame (a state, not a time): any other message before it is a job's.
    let closes = |mut ws: tungstenite::WebSocket<_>, what: &str| loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => {
                assert_eq!(u16::from(f.code), 1008, "{what}: {f:?}");
                break;
            }
            Ok(tungstenite::Message::Close(None)) => panic!("{what}: closed without a reason"),
            Ok(_) => continue,
            Err(e) => panic!("{what}: {e}"),
        }
    };
    let root = login(addr, "root", "root password");

    let bob_cookie = login(addr, "bob", "bob password");
    let ada = open(&login(addr, "ada", "ada password"));
    let bob = open(&bob_cookie);
    let cy = open(&login(addr, "cy", "cy password"));
    // Deleted in the console: at once.
    let r = http(addr, "DELETE", "/api/admin/users/ada", Some(&root), None);
    assert_eq!(r.status, 200, "{}", r.json());
    closes(ada, "ada deleted");
    // A new password set by the CLI (another process: seen within the reload second).
    store.set_password("bob", "bob's new password").unwrap();
    closes(bob, "bob's password changed");
    // Taken out of a group: the session's rights changed; it reconnects with the new ones.
    store.set_members("class", &["cy".into()], false).unwrap();
    closes(cy, "cy left the class");
    // A login that ended cannot open a new socket; a login that still holds can.
    let info = json!({"job": "session.info", "params": {}});
    assert_eq!(
        ws_job(addr, Some(&bob_cookie), None, info.clone()),
        Err(401)
    );
    let v = ws_job(addr, Some(&login(addr, "cy", "cy password")), None, info).unwrap();
    assert_eq!(v["status"], "ok");
}

/// Wrong passwords sent all at once are counted before any is checked: of 40 concurrent attempts
/// for one user, only the 5 free ones are tried (401), the rest wait (429).
#[test]
fn concurrent_wrong_passwords_are_throttled_like_sequential_ones() {
    let w = world();
    let addr = start(&w);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let all: Vec<_> = (0..40)
            .map(|_| {
                s.spawn(|| {
                    http(
                        addr,
                        "POST",
                        "/api/login",
                        None,
                        Some(&json!({"user": "ada", "password": "wrong password"})),
                    )
                    .status
                })
            })
            .collect();
        all.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let tried = statuses.iter().filter(|&&s| s == 401).count();
    let waited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((tried, waited), (5, 35), "{statuses:?}");
    // A name no account can have is refused before anything is hashed or remembered.
    let huge = "x".repeat(1 << 20);
    let r = http(
        addr,
        "POST",
        "/api/login",
        None,
        Some(&json!({"user": huge, "password": "wrong password"})),
    );
    assert_eq!(r.status, 400, "{}", r.json());
}
