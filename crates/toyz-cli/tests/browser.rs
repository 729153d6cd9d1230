//! The viewer in a real browser: Debian's Chromium driven by playwright-core (web/tests) against the
//! real `toyz serve` on 127.0.0.1:0 with generated data. Fails — never skips — when Chromium, Node.js or
//! the npm packages are missing (`.ci/run` installs them; locally: apt-get install chromium nodejs npm,
//! and the test runs `npm ci` in web/tests itself).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use toyz_skygen::{write_catalog, write_fits, SkySpec};

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

const SHAPES_REG: &str = r#"# Region file format: DS9 version 4.1
global color=green width=1
image
circle(150,120,15) # color=cyan width=2 tag={group 1}
ellipse(300,120,25,10,30) # dash=1 dashlist=8 3
box(450,120,40,20,20) # color=yellow background
polygon(100.3,300.2,180.7,310.1,140.4,380.6) # font="helvetica 12 bold roman" text={tri}
annulus(300,300,5,12,20) # color=magenta
line(400,250,520,330) # line=1 0 color=red
point(450,400) # point=diamond 15
# text(80,450) text={Hello there} color=white
# vector(200,450,40,30) vector=1 color=orange
-circle(560,470,10) # move=0 delete=0
ruler(10,10,50,50) # ruler=image
# composite(300,420,0) || composite=1
"#;

/// The viewer's pure modules (web/lib: geometry and orientation, formatting, the render spec and
/// contrast/bias, the permalink codec) under node's own test runner: `node --test web/tests/unit/`.
#[test]
fn viewer_modules_pass_their_unit_tests() {
    assert!(
        have("node"),
        "Node.js is needed for the viewer's unit tests"
    );
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let out = Command::new("node")
        .args(["--test", "tests/unit/"])
        .current_dir(&web)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node --test web/tests/unit/ failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Something ran: a directory of no tests passes too.
    assert!(
        text.contains("# pass") && !text.contains("# pass 0"),
        "{text}"
    );
}

#[test]
fn viewer_in_chromium() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/tests");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is missing at {chromium}: apt-get install chromium (or set CHROMIUM)"
    );
    assert!(
        have("node") && have("npm"),
        "Node.js and npm are needed for the browser tests"
    );
    if !web.join("node_modules/playwright-core").exists() {
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web)
            .status()
            .unwrap();
        assert!(st.success(), "npm ci in web/tests failed");
    }

    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut ramp = SkySpec::ramp(1000, 800);
    ramp.bunit = None;
    write_fits(&data.join("ramp.fits"), &ramp).unwrap();
    // A 200×150×5 cube with a frequency axis: plane p holds the ramp plus p·30000.
    let mut cube = SkySpec::ramp(200, 150);
    cube.cube = Some(5);
    cube.bunit = Some("Jy/beam".into());
    cube.extra_cards = [
        "CTYPE3  = 'FREQ    '",
        "CRVAL3  = 1.4E9",
        "CDELT3  = 1.0E6",
        "CRPIX3  = 1.0",
        "CUNIT3  = 'Hz      '",
    ]
    .map(String::from)
    .to_vec();
    write_fits(&data.join("cube.fits"), &cube).unwrap();
    let mut sky = SkySpec::new(600, 500);
    sky.nan_patches = true;
    write_fits(&data.join("sky.fits"), &sky).unwrap();
    write_catalog(&data.join("stars.csv"), &sky).unwrap();
    // The same stars as a FITS table (a file of tables only opens as a catalog), and a region file with
    // every shape toyz reads, properties, and two lines it does not read (14 and 15).
    toyz_skygen::write_table_fits(&data.join("stars-table.fits"), &sky).unwrap();
    std::fs::write(data.join("shapes.reg"), SHAPES_REG).unwrap();
    // Two catalogs of 2,500 rows (drawn on canvases): a 10-px grid over sky.fits, the second offset by
    // (5, 5) px so no marker of one lies on a marker of the other.
    for (name, off) in [("big1.csv", 5.0), ("big2.csv", 10.0)] {
        let mut csv = String::from("x,y,mag\n");
        for i in 0..50 {
            for j in 0..50 {
                let (x, y) = (10.0 * i as f64 + off, 10.0 * j as f64 + off);
                csv.push_str(&format!("{x},{y},{}\n", 15 + (i + j) % 7));
            }
        }
        std::fs::write(data.join(name), csv).unwrap();
    }
    // A field whose WCS is turned by 30°: north up needs a turn by an arbitrary angle.
    let mut tilted = SkySpec::new(400, 300);
    if let Some(w) = tilted.wcs.as_mut() {
        w.rotation_deg = 30.0;
    }
    write_fits(&data.join("tilted.fits"), &tilted).unwrap();
    // The same field turned 30° in a zenithal perspective (AZP) and in TAN with SIP distortion, WCS
    // written by hand: grid labels after North up on projections other than plain TAN.
    let (sc, (sn, cs)) = (0.263 / 3600.0, 30f64.to_radians().sin_cos());
    let cd = [-sc * cs, sc * sn, sc * sn, sc * cs];
    for (name, ctype, more) in [
        ("azp.fits", "AZP", vec!["PV2_1   =                  2.0"]),
        (
            "sip.fits",
            "TAN-SIP",
            vec![
                "A_ORDER =                    2",
                "A_2_0   =               4.0E-5",
                "A_0_2   =              -3.0E-5",
                "B_ORDER =                    2",
                "B_1_1   =               5.0E-5",
            ],
        ),
    ] {
        let mut spec = SkySpec::new(400, 300);
        spec.wcs = None;
        spec.seed = 3;
        let mut cards: Vec<String> = vec![
            "RADESYS = 'ICRS    '".into(),
            format!("CTYPE1  = '{:<8}'", format!("RA---{ctype}")),
            format!("CTYPE2  = '{:<8}'", format!("DEC--{ctype}")),
            "CRPIX1  =                200.5".into(),
            "CRPIX2  =                150.5".into(),
            "CRVAL1  =                150.1".into(),
            "CRVAL2  =                  2.2".into(),
        ];
        for (k, v) in ["CD1_1", "CD1_2", "CD2_1", "CD2_2"].iter().zip(cd) {
            cards.push(format!("{k:<8}= {v:>20.12E}"));
        }
        cards.extend(more.iter().map(|c| c.to_string()));
        spec.extra_cards = cards;
        write_fits(&data.join(name), &spec).unwrap();
    }
    sky.seed = 2;
    write_fits(&data.join("sky2.fits"), &sky).unwrap();
    // A name too long for the file panel: it is cut with an ellipsis, its size stays in view.
    std::fs::copy(
        data.join("sky2.fits"),
        data.join("c4d_201201_031245_ooi_g_v1-a-long-pipeline-product-name-N4.fits"),
    )
    .unwrap();
    std::fs::write(data.join("corrupt.fits"), "this is not FITS\n".repeat(200)).unwrap();
    // An int64 image whose values a JavaScript number cannot hold (2^53 + 1) and a double one.
    let fits_with = |bitpix: i64, cards: &[&str], data: Vec<u8>| {
        let mut h: String = [
            "SIMPLE  =                    T".to_owned(),
            format!("BITPIX  = {bitpix:>20}"),
            "NAXIS   =                    2".into(),
            "NAXIS1  =                    2".into(),
            "NAXIS2  =                    2".into(),
        ]
        .into_iter()
        .chain(cards.iter().map(|c| c.to_string()))
        .chain(["END".to_owned()])
        .collect::<Vec<_>>()
        .iter()
        .map(|c| format!("{c:<80}"))
        .collect();
        h.push_str(&" ".repeat(2880 - h.len()));
        let mut b = h.into_bytes();
        b.extend(data);
        b.resize(5760, 0);
        b
    };
    let ints: Vec<u8> = [9_007_199_254_740_993i64, 1_000_000_007, -5, 0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let fits = |bitpix: i64, data: Vec<u8>| fits_with(bitpix, &[], data);
    std::fs::write(data.join("int64.fits"), fits(64, ints)).unwrap();
    let doubles: Vec<u8> = [1.000000006363f64, 0.1, 2.5, 0.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    std::fs::write(data.join("double.fits"), fits(-64, doubles)).unwrap();
    // Scaled 16-bit integers: 1496 · 0.01 + 100 is 114.96000000000001 as a double.
    let scaled: Vec<u8> = [1496i16, -7, 0, 3]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let cards = [
        "BSCALE  =                 0.01",
        "BZERO   =                100.0",
    ];
    std::fs::write(data.join("scaled.fits"), fits_with(16, &cards, scaled)).unwrap();
    let mut exposure = toyz_skygen::Exposure::decam_scaled(16);
    exposure.stars_per_ccd = 20;
    exposure
        .write(&data.join("exposure.fits.fz"), true)
        .unwrap();

    let server = common::serve_root("data", &data, &d.path().join("cache"), &[]);

    // A second server with accounts: ada (group class) may read data but not data/private.
    let adata = d.path().join("adata");
    std::fs::create_dir_all(adata.join("public")).unwrap();
    std::fs::create_dir_all(adata.join("private")).unwrap();
    write_fits(&adata.join("public/a.fits"), &SkySpec::new(400, 300)).unwrap();
    write_fits(&adata.join("private/b.fits"), &SkySpec::new(400, 300)).unwrap();
    let db = d.path().join("toyz.sqlite");
    let db = db.to_str().unwrap();
    let admin = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut c = Command::new(env!("CARGO_BIN_EXE_toyz"))
            .args(args)
            .args(["--db", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "toyz {args:?}");
    };
    admin(&["user", "add", "ada"], "ada password\n");
    admin(&["user", "add", "boss", "--admin"], "boss password\n");
    admin(&["user", "add", "bea"], "bea password\n");
    // nia has an account and no grant at all.
    admin(&["user", "add", "nia"], "nia password\n");
    admin(&["group", "add", "class", "ada", "bea"], "");
    admin(&["grant", "group:class", "data", "read"], "");
    admin(&["grant", "everyone", "data/private", "none"], "");
    let auth_server = common::serve_root(
        "data",
        &adata,
        &d.path().join("cache2"),
        &["--auth", "--db", db],
    );

    // A standalone tile tree with its own index.html, for the no-server test.
    let standalone = d.path().join("standalone");
    let st = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(["tiles", "build", data.join("sky.fits").to_str().unwrap()])
        .args(["--out", standalone.to_str().unwrap(), "--cmap", "heat"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "toyz tiles build --out: {}",
        String::from_utf8_lossy(&st.stderr)
    );

    // Two replicas sharing tiles in an S3 store, behind nginx; the test asks (GET KILL_URL) for the
    // replica that holds its session socket to be killed.
    let s3 = toyz_s3_server::start(&d.path().join("s3"), "127.0.0.1:0", &["tiles"]).unwrap();
    let replica = |name: &str| {
        let levels = d.path().join(format!("levels-{name}"));
        let extra = ["--levels", levels.to_str().unwrap()];
        common::serve_root_env("data", &data, "s3://tiles/view", &extra, &s3.env())
    };
    let replicas = vec![replica("a"), replica("b")];
    let lb = common::nginx(
        &d.path().join("nginx"),
        &[&replicas[0].url, &replicas[1].url],
    );
    let replicas = std::sync::Arc::new(std::sync::Mutex::new(replicas));
    let killer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let kill_url = format!("http://{}/kill", killer.local_addr().unwrap());
    {
        let replicas = replicas.clone();
        std::thread::spawn(move || {
            for conn in killer.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 1024];
                let _ = std::io::Read::read(&mut conn, &mut buf);
                // The replica with an open session socket is the one to kill.
                let mut rs = replicas.lock().unwrap();
                let holder = rs.iter().position(|r| {
                    let (_, m) = common::get(&format!("{}/metrics", r.url));
                    String::from_utf8_lossy(&m)
                        .lines()
                        .any(|l| l.starts_with("toyz_sessions ") && !l.ends_with(" 0"))
                });
                let body = match holder {
                    Some(i) => {
                        let mut r = rs.remove(i);
                        let _ = r.child.kill();
                        let _ = r.child.wait();
                        format!("killed {}", r.url)
                    }
                    None => "no replica holds a session".to_owned(),
                };
                let _ = std::io::Write::write_all(
                    &mut conn,
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
    }

    let shots = web.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // TOYZ_TEST_ONLY=PATTERN runs the tests whose names match (while working on one of them).
    let only = std::env::var("TOYZ_TEST_ONLY").ok();
    let mut args = vec!["--test".to_string(), "--test-reporter=spec".into()];
    if let Some(pat) = &only {
        args.push(format!("--test-name-pattern={pat}"));
    }
    args.push("viewer.test.mjs".into());
    let out = Command::new("node")
        .args(&args)
        .current_dir(&web)
        .env("TOYZ_URL", &server.url)
        .env("TOYZ_AUTH_URL", &auth_server.url)
        .env("TOYZ_SHOTS", &shots)
        .env("TOYZ_STATIC", &standalone)
        .env("CHROMIUM", &chromium)
        .env("TOYZ_LB_URL", &lb.url)
        .env("TOYZ_KILL_URL", &kill_url)
        .env("TOYZ_DATA", &data)
        .output()
        .unwrap();
    drop((server, auth_server, lb));
    replicas.lock().unwrap().clear();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser tests failed:\n{text}");
    if only.is_none() {
        // Every test in the file ran and passed (none skipped or left out).
        let file = std::fs::read_to_string(web.join("viewer.test.mjs")).unwrap();
        let n = file.lines().filter(|l| l.starts_with("test(")).count();
        assert!(n >= 26, "{n} tests found in viewer.test.mjs");
        assert!(
            text.contains(&format!("pass {n}\n")),
            "expected pass {n}:\n{text}"
        );
    }
}
