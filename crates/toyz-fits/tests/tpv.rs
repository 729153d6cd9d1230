//! TPV through `Wcs` (header → pixel ↔ sky) against astropy/WCSLIB: every one of the 40 terms on each
//! axis alone, all 80 together, a DES CCD header and SCAMP's TAN + PV. The data comes from
//! `tools/gen_tpv_ref.py` (committed output; CI needs no Python).

use toyz_fits::{Header, Wcs};

struct Case {
    name: String,
    cards: Vec<String>,
    /// (px, py, lon, lat)
    points: Vec<[f64; 4]>,
}

/// Sections of a reference file: `H` cards before the first `S` line are common to all sections.
fn cases(name: &str, text: &str) -> Vec<Case> {
    let mut common = Vec::new();
    let mut out: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("S ") {
            out.push(Case {
                name: format!("{name} [{s}]"),
                cards: common.clone(),
                points: Vec::new(),
            });
        } else if let Some(card) = line.strip_prefix("H ") {
            match out.last_mut() {
                Some(c) => c.cards.push(card.to_owned()),
                None => common.push(card.to_owned()),
            }
        } else if let Some(p) = line.strip_prefix("P ") {
            let v: Vec<f64> = p.split_whitespace().map(|t| t.parse().unwrap()).collect();
            let (lon, lat) = (v[v.len() - 2], v[v.len() - 1]);
            if out.is_empty() {
                out.push(Case {
                    name: name.to_owned(),
                    cards: common.clone(),
                    points: Vec::new(),
                });
            }
            out.last_mut().unwrap().points.push([v[0], v[1], lon, lat]);
        }
    }
    out
}

fn sep_mas(a: (f64, f64), b: (f64, f64)) -> f64 {
    toyz_fits::separation(a, b) * 3.6e6
}

macro_rules! data {
    ($($f:literal),*) => {
        [$(($f, include_str!(concat!("data/tpv/", $f, ".txt")))),*]
    };
}

#[test]
fn tpv_matches_wcslib_term_by_term_and_on_real_headers() {
    let mut checked = 0;
    let mut worst = (0f64, 0f64);
    for (file, text) in data!("terms", "all_terms", "des_ccd", "scamp_tan", "absent") {
        for case in cases(file, text) {
            let header = Header::from_records(case.cards.clone());
            let wcs = Wcs::from_header(&header, 2046, 4094);
            // A polynomial that squashes an axis (no x or y term) gives no coordinates at all:
            // astropy puts every pixel on one line; toyz says it cannot.
            let degenerate = case.points.windows(2).all(|p| p[0][2..] == p[1][2..])
                || case.name.contains("pv2 absent");
            if degenerate {
                assert!(
                    wcs.is_err(),
                    "{}: should refuse a degenerate TPV",
                    case.name
                );
                continue;
            }
            let wcs = wcs
                .unwrap_or_else(|e| panic!("{}: {e}", case.name))
                .unwrap_or_else(|| panic!("{}: no WCS", case.name));
            for &[px, py, lon, lat] in &case.points {
                let got = wcs.pixel_to_world(px, py).expect("a position");
                let e = sep_mas(got, (lon, lat));
                assert!(e < 1.0, "{}: pixel ({px}, {py}) is {e} mas off", case.name);
                let (x, y) = wcs.world_to_pixel(lon, lat).expect("a pixel");
                let d = (x - px).hypot(y - py);
                assert!(d < 1e-3, "{}: ({lon}, {lat}) inverts {d} px off", case.name);
                worst = (worst.0.max(e), worst.1.max(d));
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "only {checked} points");
    eprintln!(
        "{checked} points: worst {:.2e} mas forward, {:.2e} px inverse",
        worst.0, worst.1
    );
}
