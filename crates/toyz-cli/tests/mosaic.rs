//! A DECam exposure through the `toyz` binary: `info --hdu mosaic --json`, `pixel --hdu mosaic` both
//! ways, `tiles build --hdu mosaic` (gaps transparent), and the errors a user meets.

use std::path::Path;
use std::process::{Command, Output};
use toyz_skygen::Exposure;

fn toyz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(args)
        .output()
        .expect("run toyz")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn mosaic_info_pixel_and_tiles() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("c4d_exposure.fits.fz");
    let e = Exposure::decam_scaled(32);
    e.write(&f, true).unwrap();
    let truth = e.ccds();

    let info = json(&toyz(&["info", s(&f), "--hdu", "mosaic", "--json"]));
    let m = &info["mosaic"];
    assert_eq!(m["layout"], "wcs");
    let ccds = m["ccds"].as_array().unwrap();
    assert_eq!(ccds.len(), truth.len());
    let keys: Vec<&String> = ccds[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["datasec", "hdu", "height", "name", "width", "x0", "y0"]
    );
    let right = ccds
        .iter()
        .map(|c| c["x0"].as_i64().unwrap() + c["datasec"][1].as_i64().unwrap())
        .max()
        .unwrap();
    assert_eq!(info["width"].as_i64(), Some(right));
    assert!(info["wcs"]["note"]
        .as_str()
        .unwrap()
        .contains("mosaic of 61 CCDs"));
    // One sample and one pair of cut levels for the whole plane, gaps left out.
    assert!(info["stats"]["sample_size"].as_u64().unwrap() > 100_000);

    // A pixel of CCD N4, both ways.
    let (i, c) = ccds
        .iter()
        .enumerate()
        .find(|(_, c)| c["name"] == "N4")
        .unwrap();
    let (x, y) = (
        c["x0"].as_i64().unwrap() + 20,
        c["y0"].as_i64().unwrap() + 30,
    );
    let px = json(&toyz(&[
        "pixel",
        s(&f),
        &x.to_string(),
        &y.to_string(),
        "--hdu",
        "mosaic",
        "--json",
    ]));
    let keys: Vec<&String> = px.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ccd", "text", "value", "world", "x", "y"]);
    assert_eq!(
        px["ccd"],
        serde_json::json!({"name": "N4", "hdu": truth[i].hdu, "x": 20.0, "y": 30.0})
    );
    let (ra, dec) = e.pixel_to_world(&truth[i], 20.0, 30.0);
    assert!((px["world"]["lon"].as_f64().unwrap() - ra).abs() < 1e-9);
    assert!((px["world"]["lat"].as_f64().unwrap() - dec).abs() < 1e-9);
    let one = json(&toyz(&[
        "pixel",
        s(&f),
        "20",
        "30",
        "--hdu",
        "N4",
        "--json",
    ]));
    assert_eq!(px["value"], one["value"], "the CCD's own value");
    let back = json(&toyz(&[
        "pixel",
        s(&f),
        "--sky",
        &ra.to_string(),
        &dec.to_string(),
        "--hdu",
        "mosaic",
        "--json",
    ]));
    assert!((back["x"].as_f64().unwrap() - x as f64).abs() < 1e-3);
    assert!((back["y"].as_f64().unwrap() - y as f64).abs() < 1e-3);
    assert_eq!(back["ccd"]["name"], "N4");

    // A pixel in a gap: no value, no CCD, still a sky position.
    let gap = json(&toyz(&[
        "pixel",
        s(&f),
        &(c["x0"].as_i64().unwrap() + c["datasec"][1].as_i64().unwrap() + 2).to_string(),
        &y.to_string(),
        "--hdu",
        "mosaic",
        "--json",
    ]));
    assert_eq!(gap["value"], serde_json::Value::Null);
    assert_eq!(gap["ccd"], serde_json::Value::Null);
    assert!(gap["world"]["lon"].is_number());

    // The whole focal plane as one pyramid; the top tile shows the chip gaps as transparent pixels.
    let out = d.path().join("site");
    let built = toyz(&["tiles", "build", s(&f), "--hdu", "mosaic", "--out", s(&out)]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let tj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tiles.json")).unwrap()).unwrap();
    assert_eq!(tj["width"].as_i64(), Some(right));
    let top = std::fs::File::open(out.join("0/0/0.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(top))
        .read_info()
        .unwrap();
    let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    let trns = reader
        .info()
        .trns
        .as_ref()
        .expect("a transparent palette entry")
        .to_vec();
    assert_eq!(trns[0], 0, "index 0 (no data) is transparent");
    assert!(buf.contains(&0), "gaps are no data");
    assert!(buf.iter().any(|&i| i > 0), "CCDs have data");
}

#[test]
fn mosaic_errors_are_one_line() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("plain.fits");
    let mut spec = toyz_skygen::SkySpec::new(64, 64);
    spec.wcs = None;
    toyz_skygen::write_fits(&f, &spec).unwrap();
    for (args, needle) in [
        (vec!["info", s(&f), "--hdu", "mosaic"], "two or more"),
        (vec!["info", s(&f), "--hdu", "mosaic:detsec"], "two or more"),
        (
            vec!["pixel", s(&f), "1", "1", "--hdu", "mosaic:grid"],
            "mosaic:detsec",
        ),
    ] {
        let out = toyz(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}
