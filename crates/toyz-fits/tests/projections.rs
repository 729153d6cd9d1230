//! Every one of the 28 FITS projections through `Wcs` (header → pixel ↔ sky), against astropy/WCSLIB:
//! WCSLIB's own `1904-66_*` test headers (LONPOLE/LATPOLE, the reference point away from the native
//! pole) and headers with other CRVAL, LONPOLE/LATPOLE, PV, rotated PC, DEC-first axes, galactic and
//! ecliptic frames. Data from `tools/gen_wcs_ref.py` (committed output; CI needs no Python).

use toyz_fits::{Header, Wcs, CODES};

fn sep_mas(a: (f64, f64), b: (f64, f64)) -> f64 {
    toyz_fits::separation(a, b) * 3.6e6
}

/// Every reference file (name, text), read from the folder so a new one is checked without listing it.
fn files() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wcs");
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn all_projections_match_wcslib_both_ways() {
    let mut seen = std::collections::BTreeMap::<String, (usize, f64, f64)>::new();
    let files = files();
    assert!(files.len() >= 67, "{} reference files", files.len());
    for (name, text) in &files {
        let cards: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("H "))
            .map(str::to_owned)
            .collect();
        let header = Header::from_records(cards);
        let (w, h) = (
            header.i64("NAXIS1").unwrap() as usize,
            header.i64("NAXIS2").unwrap() as usize,
        );
        let wcs = Wcs::from_header(&header, w, h)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: no WCS"));
        let code = header.str("CTYPE1").unwrap()[5..8].replace("NCP", "SIN");
        let entry = seen.entry(code).or_default();
        for line in text.lines() {
            let mut f = line.split(' ');
            let kind = f.next().unwrap();
            if !matches!(kind, "P" | "C" | "U" | "V") {
                continue;
            }
            let v: Vec<f64> = f
                .filter(|t| !t.is_empty())
                .map(|t| t.parse().unwrap())
                .collect();
            match kind {
                "P" | "C" => {
                    let (px, py, lon, lat) = (v[0], v[1], v[4], v[5]);
                    let got = wcs
                        .pixel_to_world(px, py)
                        .unwrap_or_else(|| panic!("{name}: ({px}, {py}) has no position"));
                    let e = sep_mas(got, (lon, lat));
                    assert!(e < 1.0, "{name}: pixel ({px}, {py}) is {e} mas off");
                    let (x, y) = wcs
                        .world_to_pixel(lon, lat)
                        .unwrap_or_else(|| panic!("{name}: ({lon}, {lat}) has no pixel"));
                    // CSC's forward and inverse are separate single-precision approximations in
                    // WCSLIB (up to 0.013° apart, and its inverse may return the copy of a point
                    // 360° along x): for it, the pixel found must map back to the position within
                    // that accuracy (exactly, away from face edges).
                    let d = if kind == "C" {
                        let back = wcs.pixel_to_world(x, y).expect("a position");
                        let e = sep_mas(back, (lon, lat));
                        assert!(
                            e < 0.015 * 3.6e6,
                            "{name}: ({lon}, {lat}) → ({x}, {y}) → {e} mas off"
                        );
                        0.0
                    } else {
                        (x - px).hypot(y - py)
                    };
                    assert!(
                        d < 1e-3,
                        "{name}: ({lon}, {lat}) inverts {d} px off ({x}, {y} vs {px}, {py})"
                    );
                    entry.0 += 1;
                    entry.1 = entry.1.max(e);
                    entry.2 = entry.2.max(d);
                }
                "U" => assert_eq!(
                    wcs.pixel_to_world(v[0], v[1]),
                    None,
                    "{name}: ({}, {}) is undefined",
                    v[0],
                    v[1]
                ),
                "V" => assert_eq!(
                    wcs.world_to_pixel(v[0], v[1]),
                    None,
                    "{name}: ({}, {}) does not project",
                    v[0],
                    v[1]
                ),
                _ => {}
            }
        }
    }
    let codes: Vec<&str> = seen.keys().map(String::as_str).collect();
    assert_eq!(codes.len(), 28, "{codes:?}");
    for c in CODES {
        let (n, e, d) = seen[c];
        assert!(n >= 100, "{c}: only {n} points");
        eprintln!("{c}: {n} points, worst {e:.1e} mas, {d:.1e} px");
    }
}

/// What cannot be honoured gives no coordinates and says why.
#[test]
fn unsupported_headers_are_refused_with_a_reason() {
    let base = |c1: &str, c2: &str| {
        let cards = [
            format!("CTYPE1  = '{c1}'"),
            format!("CTYPE2  = '{c2}'"),
            "CRPIX1  = 10.0".into(),
            "CRPIX2  = 10.0".into(),
            "CRVAL1  = 150.0".into(),
            "CRVAL2  = 2.0".into(),
            "CDELT1  = -0.001".into(),
            "CDELT2  = 0.001".into(),
        ];
        Header::from_records(cards.iter().map(|c| format!("{c:<80}")))
    };
    for (c1, c2, why) in [
        ("RA---TNX", "DEC--TNX", "TNX"),
        ("RA---TAN", "GLAT-TAN", "do not pair"),
        ("RA---TAN-XYZ", "DEC--TAN-XYZ", "distortion"),
        ("RA---TPV", "DEC--TPV", "TPV polynomial"),
    ] {
        let e = Wcs::from_header(&base(c1, c2), 20, 20)
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{c1}/{c2}: {e}");
    }
    // Not celestial at all: no WCS, no error.
    assert!(Wcs::from_header(&base("FREQ", "STOKES"), 20, 20)
        .unwrap()
        .is_none());
}
