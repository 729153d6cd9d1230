//! The `toyz` binary as a user runs it: JSON outputs, the bad-input list (exit 2, one line, no panic),
//! directory builds, and a real Ctrl-C (SIGINT) in the middle of a build followed by a resume.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use toyz_skygen::{write_fits, write_fz, write_mef, Compression, Extension, SkySpec};

fn toyz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(args)
        .output()
        .expect("run toyz")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exit code 2 and exactly one line on stderr naming the problem.
fn assert_input_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(
        lines[0].to_lowercase().contains(&needle.to_lowercase()),
        "'{}' should mention '{needle}'",
        lines[0]
    );
}

#[test]
fn pixel_prints_the_sky_in_the_system_and_format_asked_for() {
    let d = tempfile::tempdir().unwrap();
    let sky = d.path().join("sky.fits");
    let spec = SkySpec::new(400, 300);
    write_fits(&sky, &spec).unwrap();
    let (ra, dec) = spec.wcs.unwrap().pixel_to_world(spec.crpix(), 10.0, 20.0);
    let out = toyz(&["pixel", s(&sky), "10", "20"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let native = toyz_fits::sky_text(
        &toyz_fits::World {
            frame: "icrs".into(),
            lon: ra,
            lat: dec,
        },
        toyz_fits::SkySystem::Native,
        toyz_fits::SkyFormat::Sexagesimal,
    )
    .unwrap();
    assert!(text.contains(&format!("  {}", native.line())), "{text}");
    assert!(text.contains("α ") && text.contains(" δ "), "{text}");
    // Galactic in degrees, as JSON: the same conversion and writing the server's readout uses.
    let out = toyz(&[
        "pixel",
        s(&sky),
        "10",
        "20",
        "--system",
        "galactic",
        "--format",
        "degrees",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (l, b) = toyz_fits::convert_frame(ra, dec, "icrs", "galactic").unwrap();
    assert_eq!(v["sky"]["frame"], "galactic");
    assert_eq!(v["sky"]["names"], serde_json::json!(["l", "b"]));
    assert_eq!(v["sky"]["lon_text"], toyz_fits::degrees_lon(l));
    assert_eq!(v["sky"]["lat_text"], toyz_fits::degrees_lat(b));
    assert_input_error(
        &toyz(&["pixel", s(&sky), "10", "20", "--system", "supergalactic"]),
        "unknown sky system",
    );
    assert_input_error(
        &toyz(&["pixel", s(&sky), "10", "20", "--format", "radians"]),
        "unknown sky format",
    );
}

#[test]
fn pixel_json_is_exactly_the_documented_shape() {
    let d = tempfile::tempdir().unwrap();
    let ramp = d.path().join("ramp.fits");
    write_fits(&ramp, &SkySpec::ramp(300, 200)).unwrap();
    let out = toyz(&["pixel", s(&ramp), "11", "21", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"x": 11.0, "y": 21.0, "value": 6010.0, "text": "6010.0", "world": null})
    );

    let sky = d.path().join("sky.fits");
    let spec = SkySpec::new(400, 300);
    write_fits(&sky, &spec).unwrap();
    let out = toyz(&["pixel", s(&sky), "1", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["text", "value", "world", "x", "y"]);
    assert_eq!(v["world"]["frame"], "icrs");
    let (ra, dec) = spec.wcs.unwrap().pixel_to_world(spec.crpix(), 1.0, 1.0);
    assert!((v["world"]["lon"].as_f64().unwrap() - ra).abs() < 1e-9);
    assert!((v["world"]["lat"].as_f64().unwrap() - dec).abs() < 1e-9);
    let want = spec.rows(&spec.star_list(), 0, 1)[0] as f32;
    assert_eq!(v["value"].as_f64().unwrap() as f32, want);

    // And back from the sky.
    let out = toyz(&[
        "pixel",
        s(&sky),
        "--sky",
        &ra.to_string(),
        &dec.to_string(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((v["x"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    assert!((v["y"].as_f64().unwrap() - 1.0).abs() < 1e-6);

    // NaN pixels read as null.
    let mut nan = SkySpec::new(400, 300);
    nan.nan_patches = true;
    let np = d.path().join("nan.fits");
    write_fits(&np, &nan).unwrap();
    let out = toyz(&["pixel", s(&np), "134", "10", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["value"].is_null(), "{v}");
}

#[test]
fn info_lists_hdus_and_statistics() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mef.fits");
    let exts: Vec<Extension> = (1..=2)
        .map(|i| Extension {
            name: format!("CCD{i}"),
            spec: SkySpec::new(120, 80),
        })
        .collect();
    write_mef(&p, &exts, true).unwrap();
    let out = toyz(&["info", s(&p), "--json", "--hdu", "CCD2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hdu"], 2);
    assert_eq!(v["hdus"].as_array().unwrap().len(), 4);
    assert_eq!(v["hdus"][3]["kind"], "table");
    assert_eq!(v["width"], 120);
    assert_eq!(v["wcs"]["frame"], "icrs");
    let med = v["stats"]["median"].as_f64().unwrap();
    assert!((med - 1000.0).abs() < 50.0, "sky level {med}");
    let text = toyz(&["info", s(&p)]);
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(
        t.contains("CCD1") && t.contains("STARS") && t.contains("zscale"),
        "{t}"
    );
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.fits");
    write_fits(&good, &SkySpec::new(200, 150)).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = d.path().join("cut.fits");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let text = d.path().join("text.fits");
    std::fs::write(&text, "SIMPLE? no.\n".repeat(400)).unwrap();
    let mef = d.path().join("mef.fits");
    write_mef(
        &mef,
        &[Extension {
            name: "SCI".into(),
            spec: SkySpec::new(50, 40),
        }],
        true,
    )
    .unwrap();
    let missing = d.path().join("nope.fits");
    let out = d.path().join("out");
    let o = s(&out);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["info", s(&missing)], "no such file"),
        (vec!["info", s(&text)], "not a FITS file"),
        (vec!["info", s(&cut)], "truncated"),
        (vec!["info", s(&mef), "--hdu", "7"], "does not exist"),
        (vec!["info", s(&mef), "--hdu", "2"], "table"),
        (vec!["info", s(&mef), "--hdu", "NOPE"], "EXTNAME"),
        (vec!["pixel", s(&good), "0", "5"], "outside"),
        (vec!["pixel", s(&good), "201", "5"], "outside"),
        (vec!["pixel", s(&good), "--sky", "xx", "2"], "longitude"),
        (vec!["pixel", s(&good), "--sky", "150", "95"], "latitude"),
        (vec!["pixel", s(&good)], "--sky"),
        (
            vec!["tiles", "build", s(&good), "--out", s(&good)],
            "is a file, not a folder",
        ),
        (
            vec!["tiles", "build", s(&good), "--out", o, "--cut", "median"],
            "unknown cut",
        ),
        (
            vec![
                "tiles",
                "build",
                s(&good),
                "--out",
                o,
                "--cut",
                "percentile=120",
            ],
            "percentile",
        ),
        (
            vec![
                "tiles",
                "build",
                s(&good),
                "--out",
                o,
                "--stretch",
                "log=-1",
            ],
            "> 0",
        ),
        (
            vec!["tiles", "build", s(&good), "--out", o, "--cmap", "nope"],
            "colormap",
        ),
        (
            vec!["tiles", "build", s(&good), "--out", o, "--zoom", "3..1"],
            "--zoom",
        ),
        (
            vec!["tiles", "build", s(&good), "--out", o, "--zoom", "0..9"],
            "zoom",
        ),
        (
            vec!["tiles", "build", s(&good), "--out", o, "--nan", "#12"],
            "colour",
        ),
        (
            vec!["tiles", "build", s(&good), "--out", o, "--bias", "3"],
            "bias",
        ),
        (
            vec!["tiles", "build", s(&good), "--out", o, "--jobs", "0"],
            "jobs",
        ),
        (vec!["tiles", "build", s(&cut), "--out", o], "truncated"),
        (
            vec!["tiles", "build", s(&missing), "--out", o],
            "no such file",
        ),
    ];
    for (args, needle) in cases {
        let r = toyz(&args);
        assert_input_error(&r, needle);
    }
    assert!(
        !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
        "nothing written"
    );
}

fn count_pngs(dir: &Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                n += count_pngs(&p);
            } else if p.extension().is_some_and(|e| e == "png") {
                n += 1;
            }
        }
    }
    n
}

fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(d: &Path, base: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn directory_build_makes_one_folder_per_source() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("night");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    write_fits(&data.join("a.fits"), &SkySpec::new(300, 300)).unwrap();
    write_fz(
        &data.join("sub/b.fits.fz"),
        &SkySpec::new(260, 100),
        Compression::Rice,
    )
    .unwrap();
    std::fs::write(data.join("notes.txt"), "not an image").unwrap();
    std::fs::write(data.join(".hidden.fits"), "hidden").unwrap();
    let out = d.path().join("out");
    let r = toyz(&[
        "tiles",
        "build",
        s(&data),
        "--out",
        s(&out),
        "--cmap",
        "viridis",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out.join("a/tiles.json").exists());
    assert!(out.join("b/tiles.json").exists());
    assert_eq!(count_pngs(&out.join("a")), 2 * 2 + 1);
    assert_eq!(count_pngs(&out.join("b")), 2 + 1);
    let tj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("b/tiles.json")).unwrap()).unwrap();
    assert_eq!(tj["width"], 260);
    assert_eq!(tj["source"]["hdu"], 1);
    // Published as it is: no file of the export names the folder the images are in on this machine.
    assert_eq!(tj["source"]["path"], "b.fits.fz");
    for (name, bytes) in all_files(&out) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(s(&data)),
            "{name:?} names {}",
            data.display()
        );
    }
    assert!(tj["render"]["spec"]
        .as_str()
        .unwrap()
        .contains("cmap=viridis"));

    // The default target is the cache the server reads.
    let cache = d.path().join("cache");
    let r = toyz(&[
        "tiles",
        "build",
        s(&data.join("a.fits")),
        "--cache",
        s(&cache),
    ]);
    assert!(r.status.success());
    assert_eq!(count_pngs(&cache), 5);
    let again = toyz(&[
        "tiles",
        "build",
        s(&data.join("a.fits")),
        "--cache",
        s(&cache),
    ]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
}

/// `toyz tiles build FITS --out DIR --jobs 1` started and running: three tiles are in `DIR`.
fn partial_build(fits: &Path, dir: &Path, stderr: Stdio) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(["tiles", "build", s(fits), "--out", s(dir), "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while count_pngs(dir) < 3 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no tiles appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// A build killed outright (SIGKILL: no clean stop) and run again ends with exactly the files of an
/// uninterrupted build: the killed writer's temp files are swept (two of 1,370 were left before).
#[test]
fn a_build_killed_by_sigkill_resumes_to_the_same_files() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("big.fits");
    write_fits(&p, &SkySpec::new(2048, 2048)).unwrap();
    let full = d.path().join("full");
    assert!(toyz(&["tiles", "build", s(&p), "--out", s(&full)])
        .status
        .success());
    let part = d.path().join("part");
    let mut child = partial_build(&p, &part, Stdio::null());
    child.kill().unwrap();
    child.wait().unwrap();
    // What a writer killed mid-tile leaves beside the tiles (whether this kill caught one or not).
    let tile = all_files(&part)
        .into_iter()
        .map(|(name, _)| part.join(name))
        .find(|p| p.extension().is_some_and(|e| e == "png"))
        .unwrap();
    let temp = tile.with_file_name(format!(".9.png.{}.0.tmp", child.id()));
    std::fs::write(&temp, b"\x89PNG half a tile").unwrap();
    assert!(toyz(&["tiles", "build", s(&p), "--out", s(&part)])
        .status
        .success());
    assert_eq!(
        all_files(&part),
        all_files(&full),
        "resumed after SIGKILL == uninterrupted"
    );
}

#[test]
fn ctrl_c_stops_cleanly_and_the_build_resumes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("big.fits");
    write_fits(&p, &SkySpec::new(4096, 4096)).unwrap();
    let full = d.path().join("full");
    let r = toyz(&["tiles", "build", s(&p), "--out", s(&full)]);
    assert!(r.status.success());

    let part = d.path().join("part");
    let child = partial_build(&p, &part, Stdio::piped());
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopping"), "{err}");
    // Tiles, and the claim saying what the folder holds (written before the first tile).
    let partial: Vec<_> = all_files(&part)
        .into_iter()
        .filter(|(name, _)| !name.ends_with("toyz-out.json"))
        .collect();
    assert!(part.join("toyz-out.json").exists());
    assert!(
        partial.len() < 341,
        "stopped before the end ({} files)",
        partial.len()
    );
    for (name, bytes) in &partial {
        assert!(
            !name.to_string_lossy().contains("tmp"),
            "temp file left: {name:?}"
        );
        assert!(
            !name.ends_with("tiles.json"),
            "an interrupted build is not marked complete"
        );
        png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("every tile is whole");
    }
    let r = toyz(&["tiles", "build", s(&p), "--out", s(&part)]);
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stdout).contains(&format!("{} kept", partial.len())));
    assert_eq!(
        all_files(&part),
        all_files(&full),
        "resumed == uninterrupted"
    );
}

/// `toyz info F | head -1`, `toyz info F --json | true`, `toyz tiles build … | true`: a stdout closed
/// before the command writes ends it quietly (exit 0, no panic), and a build still writes its tiles.
#[test]
fn a_closed_stdout_ends_quietly() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("sky.fits");
    write_fits(&img, &SkySpec::new(300, 200)).unwrap();
    let out = d.path().join("site");
    for args in [
        vec!["info", s(&img)],
        vec!["info", s(&img), "--json"],
        vec!["pixel", s(&img), "3", "4"],
        vec!["tiles", "build", s(&img), "--out", s(&out)],
    ] {
        // The read end is closed before the command starts: every write to stdout fails (EPIPE).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_toyz"))
            .args(&args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(out.join("tiles.json").exists(), "the build finished");
}

/// A gzip'd FITS whose header claims 2^32 × 2^32 pixels: every command refuses it with one line
/// (it aborted `tiles build` with a 4 TB allocation and `info` reported a sample of 0 px).
#[test]
fn impossible_sizes_are_refused_before_anything_is_allocated() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let card = |c: &str| format!("{c:<80}");
    let mut head: String = [
        "SIMPLE  =                    T",
        "BITPIX  =                  -32",
        "NAXIS   =                    2",
        "NAXIS1  =           4294967296",
        "NAXIS2  =           4294967296",
        "END",
    ]
    .iter()
    .map(|c| card(c))
    .collect();
    head.push_str(&" ".repeat(2880 - head.len()));
    let mut bytes = head.into_bytes();
    bytes.extend(vec![0u8; 2880]);
    let gz = d.path().join("huge.fits.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&bytes).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let out = d.path().join("site");
    for args in [
        vec!["info", s(&gz)],
        vec!["pixel", s(&gz), "1", "1"],
        vec!["tiles", "build", s(&gz), "--out", s(&out)],
    ] {
        assert_input_error(&toyz(&args), "too large or impossible");
    }
    // A side beyond the limit in a (short) plain file is refused the same way.
    let plain = d.path().join("wide.fits");
    let mut head: String = [
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    2",
        "NAXIS1  =             50000000",
        "NAXIS2  =                    1",
        "END",
    ]
    .iter()
    .map(|c| card(c))
    .collect();
    head.push_str(&" ".repeat(2880 - head.len()));
    std::fs::write(&plain, head).unwrap();
    assert_input_error(&toyz(&["info", s(&plain)]), "pixels a side");
}

/// `toyz cache stats|prune`: sizes, stale sources (their file changed), orphan temp files, and
/// least-recently-used eviction down to `--max`; a build sweeps what a killed one left.
#[test]
fn cache_stats_and_prune() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let (a, b) = (d.path().join("a.fits"), d.path().join("b.fits"));
    write_fits(&a, &SkySpec::new(600, 500)).unwrap();
    write_fits(&b, &SkySpec::new(600, 500)).unwrap();
    for f in [&a, &b] {
        let o = toyz(&["tiles", "build", s(f), "--cache", s(&cache)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let stats = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["cache", "stats", "--cache", s(&cache), "--json"];
        args.extend_from_slice(extra);
        let o = toyz(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = stats(&[]);
    assert_eq!(
        (v["sources"].as_u64(), v["stale_sources"].as_u64()),
        (Some(2), Some(0))
    );
    let one = v["bytes"].as_u64().unwrap() / 2;
    // A killed writer's temp file, swept by the next build; a changed file makes its source stale.
    let sid = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.len() == 16)
        .unwrap();
    let orphan = cache.join(&sid).join(".9.png.999999999.2.tmp");
    std::fs::write(&orphan, b"torn").unwrap();
    assert_eq!(stats(&[])["orphan_temp_files"], 1);
    let o = toyz(&["tiles", "build", s(&b), "--cache", s(&cache)]);
    assert!(o.status.success());
    assert!(!orphan.exists(), "swept by the next build");
    std::thread::sleep(Duration::from_millis(5));
    write_fits(&a, &SkySpec::ramp(600, 500)).unwrap();
    assert_eq!(stats(&[])["stale_sources"], 1);
    let o = toyz(&["cache", "prune", "--cache", s(&cache), "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["stale_removed"], 1);
    // Rebuild a, then keep room for one source only: the least recently used (b) goes.
    let o = toyz(&["tiles", "build", s(&a), "--cache", s(&cache)]);
    assert!(o.status.success());
    let max = format!("{}", one + one / 2);
    let o = toyz(&[
        "cache",
        "prune",
        "--cache",
        s(&cache),
        "--max",
        &max,
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["evicted"], 1, "{r}");
    assert!(r["bytes"].as_u64().unwrap() <= one + one / 2);
    assert_eq!(stats(&[])["sources"], 1);
    // Bad input: exit 2 with one line.
    assert_input_error(
        &toyz(&["cache", "prune", "--cache", s(&cache), "--max", "lots"]),
        "--max",
    );
    assert_input_error(&toyz(&["cache", "stats", "--cache", s(&a)]), "not a folder");
}

/// An --out folder records what it holds: a build of another spec into it exits 2 (also after an
/// interrupted build, and when two start at once) until --force replaces everything.
#[test]
fn an_out_folder_holds_one_render() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("a.fits");
    write_fits(&img, &SkySpec::new(600, 500)).unwrap();
    let out = d.path().join("out");
    let build = |cmap: &str, force: bool| {
        let mut args = vec!["tiles", "build", s(&img), "--out", s(&out), "--cmap", cmap];
        if force {
            args.push("--force");
        }
        toyz(&args)
    };
    assert!(build("viridis", false).status.success());
    let viridis = std::fs::read(out.join("0/0/0.png")).unwrap();
    // As after a stop: the tiles.json marker is gone, the claim stays.
    std::fs::remove_file(out.join("tiles.json")).unwrap();
    assert_input_error(&build("gray", false), "another source or render spec");
    assert_eq!(
        std::fs::read(out.join("0/0/0.png")).unwrap(),
        viridis,
        "nothing was mixed in"
    );
    assert!(
        build("viridis", false).status.success(),
        "the same spec resumes"
    );
    // Two different builds at once: never both.
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| build("magma", false));
        let b = sc.spawn(|| build("heat", false));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        !a.status.success() && !b.status.success(),
        "the folder holds viridis"
    );
    // --force replaces everything: no tile of the old spec is kept.
    std::fs::create_dir_all(out.join("9/9")).unwrap();
    std::fs::write(out.join("9/9/9.png"), b"old").unwrap();
    assert!(build("gray", true).status.success());
    assert!(!out.join("9").exists());
    assert_ne!(std::fs::read(out.join("0/0/0.png")).unwrap(), viridis);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tiles.json")).unwrap()).unwrap();
    assert!(
        m["render"]["spec"].as_str().unwrap().contains("cmap=grey"),
        "{m}"
    );
}

/// An image of infinities is not reported as NaN: `info` counts them apart, `pixel` shows inf.
#[test]
fn infinities_are_not_nan() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("inf.fits");
    let v: Vec<f32> = (0..1200)
        .map(|i| {
            if i % 2 == 0 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect();
    toyz_skygen::write_f32(&p, 40, 30, &v).unwrap();
    let o = toyz(&["info", s(&p)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("0 NaN, 1200 inf"), "{text}");
    let o = toyz(&["pixel", s(&p), "1", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["text"], "inf", "{v}");
    let o = toyz(&["pixel", s(&p), "2", "1"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("-inf"));
}

/// A truncated .gz is refused by every command alike (pixel read values from the part that survived
/// while info exited 2).
#[test]
fn a_truncated_gzip_is_refused_by_every_command() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.fits");
    write_fits(&p, &SkySpec::new(300, 200)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(&p).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let whole = d.path().join("a.fits.gz");
    let cut = d.path().join("cut.fits.gz");
    std::fs::write(&whole, &gz).unwrap();
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    assert!(toyz(&["pixel", s(&whole), "10", "10"]).status.success());
    for args in [
        vec!["info", s(&cut)],
        vec!["pixel", s(&cut), "10", "10"],
        vec!["tiles", "build", s(&cut), "--out", s(&d.path().join("out"))],
    ] {
        assert_input_error(&toyz(&args), "truncated gzip");
    }
}

/// An s3:// cache with no credentials anywhere says so and names the variables and config keys that
/// set them, not the cloud metadata service's refusal (it said "PUT http://169.254.169.254/latest/api/
/// token … 403 Forbidden").
#[test]
fn an_object_store_without_credentials_says_so() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("a.fits");
    write_fits(&img, &SkySpec::new(64, 64)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(["tiles", "build", s(&img), "--cache", "s3://bucket/tiles"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_SKIP_SIGNATURE")
        .output()
        .unwrap();
    assert_input_error(&out, "no credentials were found");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AWS_ACCESS_KEY_ID") && err.contains("[s3]") && !err.contains("169.254"),
        "{err}"
    );
}

/// A cache URL with an unknown scheme is refused with one line (it used to create a local folder
/// named `s3:`); an s3:// cache that cannot be reached is refused at start, not at the first tile;
/// `toyz cache` works on folders only and says so.
#[test]
fn cache_urls_are_checked_not_made_folders() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let img = data.join("a.fits");
    write_fits(&img, &SkySpec::new(64, 64)).unwrap();
    let root = format!("sky={}", s(&data));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_toyz"))
            .args(args)
            .current_dir(d.path())
            // Nothing listens on port 1: the store cannot be reached.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "k")
            .env("AWS_SECRET_ACCESS_KEY", "s")
            .output()
            .unwrap()
    };
    for (out, why) in [
        (
            run(&["serve", "--root", &root, "--cache", "ftp://host/tiles"]),
            "unknown scheme 'ftp://'",
        ),
        (
            run(&["tiles", "build", s(&img), "--cache", "gs://bucket"]),
            "unknown scheme 'gs://'",
        ),
        (
            run(&["tiles", "build", s(&img), "--cache", "s3://A_B"]),
            "not a bucket name",
        ),
        (
            run(&["serve", "--root", &root, "--cache", "s3://bucket/tiles"]),
            "cannot use the tile cache",
        ),
        (
            run(&["tiles", "build", s(&img), "--cache", "s3://bucket/tiles"]),
            "cannot use the tile cache",
        ),
        (
            run(&["cache", "stats", "--cache", "s3://bucket"]),
            "works on a local folder",
        ),
        (
            run(&["tiles", "build", s(&img), "--levels", "lv"]),
            "--levels: only for an s3:// cache",
        ),
    ] {
        assert_input_error(&out, why);
    }
    assert!(!d.path().join("s3:").exists(), "no folder named s3:");
}
