//! The real binary serving on 127.0.0.1:0: `toyz serve` with roots and a config file, `toyz demo`,
//! HTTP from a real client, bad configuration, and a graceful stop on SIGTERM.

use std::process::Command;
use toyz_skygen::{write_fits, SkySpec};

mod common;
use common::{get, json, s, serve_root, start};

#[test]
fn serve_answers_over_http_and_stops_on_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_fits(&data.join("sky.fits"), &SkySpec::new(700, 600)).unwrap();
    let cache = d.path().join("cache");
    let mut srv = serve_root("sky", &data, &cache, &[]);
    assert!(srv.url.starts_with("http://127.0.0.1:"));
    let (st, b) = get(&format!("{}/healthz", srv.url));
    assert_eq!((st, json(&b)), (200, serde_json::json!({"status": "ok"})));
    let (st, b) = get(&format!(
        "{}/api/sources?path=sky/sky.fits&cmap=inferno",
        srv.url
    ));
    assert_eq!(st, 200);
    let v = json(&b);
    let tile = v["tiles"].as_str().unwrap().replace("{z}/{x}/{y}", "0/0/0");
    let (st, png) = get(&format!("{}{tile}", srv.url));
    assert_eq!(st, 200);
    assert_eq!(&png[1..4], b"PNG");
    let (st, b) = get(&format!("{}/api/files?path=sky/../..", srv.url));
    assert_eq!(st, 403);
    assert!(json(&b)["error"]["message"].is_string());

    Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    let status = srv.child.wait().unwrap();
    assert!(status.success(), "graceful stop: {status:?}");
}

#[test]
fn config_file_and_bad_settings() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_fits(&data.join("a.fits"), &SkySpec::ramp(50, 40)).unwrap();
    let cfg = d.path().join("toyz.toml");
    std::fs::write(&cfg, "bind = \"127.0.0.1:0\"\ncache = \"cache\"\nmemory_cache = \"8MiB\"\n[roots]\nobs = \"data\"\n").unwrap();
    let srv = start(&["serve", "--config", s(&cfg)]);
    let (st, b) = get(&format!("{}/api/pixel?path=obs/a.fits&x=2&y=1", srv.url));
    assert_eq!(st, 200);
    assert_eq!(json(&b)["value"], 1.0);
    drop(srv);
    assert!(
        d.path().join("cache").exists(),
        "relative paths in the file are relative to it"
    );

    std::fs::write(&cfg, "bind = \"127.0.0.1:0\"\nroots_typo = 1\n").unwrap();
    for args in [
        vec!["serve", "--config", s(&cfg)],
        vec!["serve"],
        vec!["serve", "--root", "obs"],
        vec!["serve", "--root", "obs=/definitely/not/here"],
        vec![
            "serve",
            "--root",
            &format!("obs={}", s(&data)),
            "--memory-cache",
            "lots",
        ],
        vec![
            "serve",
            "--root",
            &format!("obs={}", s(&data)),
            "--bind",
            "256.0.0.1:80",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_toyz"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn demo_writes_data_and_serves_it() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("demo");
    let srv = start(&[
        "demo",
        "--data",
        s(&data),
        "--bind",
        "127.0.0.1:0",
        "--cache",
        s(&d.path().join("cache")),
    ]);
    for f in [
        "field.fits",
        "compressed.fits.fz",
        "mosaic.fits",
        "exposure.fits.fz",
        "field-stars.csv",
    ] {
        assert!(data.join(f).exists(), "{f}");
    }
    let (st, b) = get(&format!("{}/api/files?path=demo", srv.url));
    assert_eq!(st, 200);
    assert_eq!(json(&b)["entries"].as_array().unwrap().len(), 5);
    for p in [
        "demo/field.fits",
        "demo/compressed.fits.fz",
        "demo/mosaic.fits",
        "demo/exposure.fits.fz&hdu=mosaic",
    ] {
        let (st, b) = get(&format!("{}/api/sources?path={p}", srv.url));
        assert_eq!(st, 200, "{p}");
        let v = json(&b);
        let tile = v["tiles"].as_str().unwrap().replace("{z}/{x}/{y}", "0/0/0");
        assert_eq!(
            get(&format!("{}{tile}", srv.url)).0,
            200,
            "{p}: level 0 once levels are built"
        );
    }
}

/// A cache folder the server cannot write is named as such, with exit code 2 (it said "cannot listen").
#[test]
fn an_unwritable_cache_is_named() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // /proc accepts no new folders, for root too (as a read-only file system).
    let out = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args([
            "serve",
            "--root",
            &format!("sky={}", s(&data)),
            "--bind",
            "127.0.0.1:0",
            "--cache",
            "/proc/toyz-cache",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cache folder /proc/toyz-cache cannot be written"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Logs written to a pipe or a file are plain text: colour codes only on a terminal (a log collected
/// by systemd, a file or `2>&1 | tee` held `ESC[2m…` before).
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    use std::io::Read;
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let root = format!("sky={}", s(&data));
    let cache = d.path().join("cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args([
            "serve",
            "--root",
            &root,
            "--bind",
            "127.0.0.1:0",
            "--cache",
            s(&cache),
        ])
        .env("TOYZ_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = common::banner_url(&mut child);
    assert_eq!(get(&format!("{url}/api/files?path=")).0, 200);
    // Stopped: its log is complete once the pipe closes.
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(log.contains("GET /api/files 200"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
}
