//! WCS against independent references: hand-written gnomonic projections (with arbitrary, asymmetric
//! CD matrices and SIP terms), galactic headers that must read out galactic coordinates, round trips.

use toyz_fits::{Header, Wcs};
use toyz_skygen::TanWcs;

fn header(cards: &[(&str, &str)]) -> Header {
    Header::from_records(cards.iter().map(|(k, v)| format!("{k:<8}= {v}")))
}

/// TAN by hand for any CD matrix, with optional SIP (A, B polynomials as (p, q, coef)).
fn tan(
    crpix: (f64, f64),
    crval: (f64, f64),
    cd: [[f64; 2]; 2],
    sip: &[(char, usize, usize, f64)],
    x: f64,
    y: f64,
) -> (f64, f64) {
    let (mut u, mut v) = (x - crpix.0, y - crpix.1);
    let (mut du, mut dv) = (0.0, 0.0);
    for &(ab, p, q, c) in sip {
        let t = c * u.powi(p as i32) * v.powi(q as i32);
        if ab == 'A' {
            du += t
        } else {
            dv += t
        }
    }
    u += du;
    v += dv;
    let xi = (cd[0][0] * u + cd[0][1] * v).to_radians();
    let eta = (cd[1][0] * u + cd[1][1] * v).to_radians();
    let (a0, d0) = (crval.0.to_radians(), crval.1.to_radians());
    let den = d0.cos() - eta * d0.sin();
    let ra = a0 + xi.atan2(den);
    let dec = (d0.sin() + eta * d0.cos()).atan2((xi * xi + den * den).sqrt());
    (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
}

fn sep_arcsec(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dra = (a.0 - b.0 + 540.0).rem_euclid(360.0) - 180.0;
    let x = dra * b.1.to_radians().cos();
    ((x * x + (a.1 - b.1).powi(2)).sqrt()) * 3600.0
}

fn cd_header(
    ctype: (&str, &str),
    crval: (f64, f64),
    cd: [[f64; 2]; 2],
    extra: &[(&str, String)],
) -> Header {
    let mut cards: Vec<(String, String)> = vec![
        ("CTYPE1".into(), format!("'{}'", ctype.0)),
        ("CTYPE2".into(), format!("'{}'", ctype.1)),
        ("CRPIX1".into(), "1024.5".into()),
        ("CRPIX2".into(), "2048.5".into()),
        ("CRVAL1".into(), crval.0.to_string()),
        ("CRVAL2".into(), crval.1.to_string()),
        ("CD1_1".into(), format!("{:E}", cd[0][0])),
        ("CD1_2".into(), format!("{:E}", cd[0][1])),
        ("CD2_1".into(), format!("{:E}", cd[1][0])),
        ("CD2_2".into(), format!("{:E}", cd[1][1])),
    ];
    for (k, v) in extra {
        cards.push((k.to_string(), v.clone()));
    }
    let refs: Vec<(&str, &str)> = cards
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    header(&refs)
}

/// The generator's TAN WCS on a 2048×4096 image centred at CRPIX (1024.5, 2048.5).
fn tan_wcs(t: &TanWcs) -> Wcs {
    let h = cd_header(("RA---TAN", "DEC--TAN"), (t.ra, t.dec), t.cd(), &[]);
    Wcs::from_header(&h, 2048, 4096).unwrap().unwrap()
}

const PIXELS: [(f64, f64); 6] = [
    (1.0, 1.0),
    (2048.0, 4096.0),
    (1024.5, 2048.5),
    (1.0, 4096.0),
    (1500.3, 17.9),
    (-200.0, 5000.0),
];

#[test]
fn tan_matches_the_hand_projection_and_the_generator() {
    let t = TanWcs {
        ra: 150.1,
        dec: 2.2,
        scale_arcsec: 0.263,
        rotation_deg: 30.0,
    };
    let w = tan_wcs(&t);
    assert_eq!(w.frame(), "icrs");
    assert!((w.summary().pixel_scale_arcsec - 0.263).abs() < 1e-9);
    for (x, y) in PIXELS {
        let got = w.pixel_to_world(x, y).unwrap();
        let want = t.pixel_to_world((1024.5, 2048.5), x, y);
        assert!(
            sep_arcsec(got, want) < 1e-6,
            "({x},{y}): {got:?} vs {want:?}"
        );
        let (px, py) = w.world_to_pixel(got.0, got.1).unwrap();
        assert!(
            (px - x).abs() < 1e-6 && (py - y).abs() < 1e-6,
            "round trip ({x},{y}) -> ({px},{py})"
        );
    }
}

#[test]
fn asymmetric_cd_both_ways() {
    // A sheared, rotated matrix: CD1_2 != CD2_1 (the crate's own inverse gets this wrong).
    let cd = [[-7.3e-5, 2.1e-5], [-0.9e-5, 6.8e-5]];
    let crval = (210.0, -45.0);
    let h = cd_header(("RA---TAN", "DEC--TAN"), crval, cd, &[]);
    let w = Wcs::from_header(&h, 2048, 4096).unwrap().unwrap();
    for (x, y) in PIXELS {
        let got = w.pixel_to_world(x, y).unwrap();
        let want = tan((1024.5, 2048.5), crval, cd, &[], x, y);
        assert!(
            sep_arcsec(got, want) < 1e-6,
            "pixel->world ({x},{y}): {got:?} vs {want:?}"
        );
        // World -> pixel from the independent reference position.
        let (px, py) = w.world_to_pixel(want.0, want.1).unwrap();
        assert!(
            (px - x).abs() < 1e-6 && (py - y).abs() < 1e-6,
            "world->pixel ({x},{y}) -> ({px},{py})"
        );
    }
}

#[test]
fn sip_distortion() {
    let cd = [[-7.3e-5, 0.0], [0.0, 7.3e-5]];
    let crval = (10.0, 41.0);
    let sip = [
        ('A', 2, 0, 2.0e-6),
        ('A', 0, 2, -1.5e-6),
        ('B', 1, 1, 3.0e-6),
        ('B', 0, 2, 1.0e-6),
    ];
    let extra: Vec<(&str, String)> = vec![
        ("A_ORDER", "2".into()),
        ("B_ORDER", "2".into()),
        ("A_2_0", "2.0E-6".into()),
        ("A_0_2", "-1.5E-6".into()),
        ("B_1_1", "3.0E-6".into()),
        ("B_0_2", "1.0E-6".into()),
    ];
    let h = cd_header(("RA---TAN-SIP", "DEC--TAN-SIP"), crval, cd, &extra);
    let w = Wcs::from_header(&h, 2048, 4096).unwrap().unwrap();
    for (x, y) in PIXELS {
        let got = w.pixel_to_world(x, y).unwrap();
        let want = tan((1024.5, 2048.5), crval, cd, &sip, x, y);
        assert!(
            sep_arcsec(got, want) < 1e-5,
            "({x},{y}): {got:?} vs {want:?}"
        );
        let (px, py) = w.world_to_pixel(got.0, got.1).unwrap();
        assert!((px - x).abs() < 1e-5 && (py - y).abs() < 1e-5);
    }
    // The distortion is real: far from CRPIX it moves positions by arcseconds.
    let plain = tan((1024.5, 2048.5), crval, cd, &[], 1.0, 1.0);
    assert!(sep_arcsec(w.pixel_to_world(1.0, 1.0).unwrap(), plain) > 1.0);
}

#[test]
fn galactic_header_reads_galactic_coordinates() {
    let cd = [[-1e-3, 0.0], [0.0, 1e-3]];
    let crval = (120.5, -3.25);
    let h = cd_header(("GLON-TAN", "GLAT-TAN"), crval, cd, &[]);
    let w = Wcs::from_header(&h, 2048, 4096).unwrap().unwrap();
    assert_eq!(w.frame(), "galactic");
    let c = w.pixel_to_world(1024.5, 2048.5).unwrap();
    assert!(sep_arcsec(c, crval) < 1e-6, "{c:?}");
    for (x, y) in PIXELS {
        let got = w.pixel_to_world(x, y).unwrap();
        let want = tan((1024.5, 2048.5), crval, cd, &[], x, y);
        assert!(
            sep_arcsec(got, want) < 1e-6,
            "({x},{y}): {got:?} vs {want:?}"
        );
        let (px, py) = w.world_to_pixel(got.0, got.1).unwrap();
        assert!((px - x).abs() < 1e-6 && (py - y).abs() < 1e-6);
    }
}

#[test]
fn frames_and_missing_wcs() {
    let cd = [[-1e-4, 0.0], [0.0, 1e-4]];
    let fk5 = cd_header(
        ("RA---TAN", "DEC--TAN"),
        (1.0, 2.0),
        cd,
        &[("EQUINOX", "2000.0".into())],
    );
    assert_eq!(
        Wcs::from_header(&fk5, 10, 10).unwrap().unwrap().frame(),
        "fk5"
    );
    let icrs = cd_header(
        ("RA---TAN", "DEC--TAN"),
        (1.0, 2.0),
        cd,
        &[("RADESYS", "'ICRS'".into())],
    );
    assert_eq!(
        Wcs::from_header(&icrs, 10, 10).unwrap().unwrap().frame(),
        "icrs"
    );
    assert!(Wcs::from_header(&header(&[("NAXIS", "2")]), 10, 10)
        .unwrap()
        .is_none());
    let linear = header(&[("CTYPE1", "'LINEAR'"), ("CTYPE2", "'LINEAR'")]);
    assert!(Wcs::from_header(&linear, 10, 10).unwrap().is_none());
    // Near the pole the inverse still converges.
    let pole = cd_header(("RA---TAN", "DEC--TAN"), (0.0, 89.99), cd, &[]);
    let w = Wcs::from_header(&pole, 2048, 4096).unwrap().unwrap();
    let p = w.pixel_to_world(100.0, 100.0).unwrap();
    let (x, y) = w.world_to_pixel(p.0, p.1).unwrap();
    assert!((x - 100.0).abs() < 1e-6 && (y - 100.0).abs() < 1e-6);
}

/// The grid: every traced point lies on its line (checked through the hand projection), steps are
/// round, labels sit on the view's edge, and the compass follows a rotated CD matrix.
#[test]
fn graticule_and_compass() {
    let t = TanWcs {
        ra: 150.1,
        dec: 2.2,
        scale_arcsec: 0.263,
        rotation_deg: 30.0,
    };
    let w = tan_wcs(&t);
    let rect = [1.0, 1.0, 2048.0, 4096.0];
    let g = toyz_fits::graticule(&w, rect, 6);
    assert_eq!(g.frame, "icrs");
    let lon: Vec<_> = g.lines.iter().filter(|l| l.axis == "lon").collect();
    let lat: Vec<_> = g.lines.iter().filter(|l| l.axis == "lat").collect();
    assert!(
        (2..=14).contains(&lon.len()) && (2..=14).contains(&lat.len()),
        "{} {}",
        lon.len(),
        lat.len()
    );
    // 0.263"/px × 4096 ≈ 18′ of declination: a round step in arcmin, and RA in seconds of time.
    assert!(
        [60.0, 120.0, 300.0].contains(&(g.step[1] * 3600.0).round()),
        "{:?}",
        g.step
    );
    assert!(
        [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0].contains(&(g.step[0] * 240.0).round()),
        "{:?}",
        g.step
    );
    for l in &g.lines {
        assert!(!l.segments.is_empty());
        let step = if l.axis == "lon" {
            g.step[0]
        } else {
            g.step[1]
        };
        let k = l.value / step;
        assert!(
            (k - k.round()).abs() < 1e-6,
            "{} is a multiple of the step",
            l.value
        );
        for s in &l.segments {
            for &[x, y] in s {
                let (ra, dec) = t.pixel_to_world((1024.5, 2048.5), x, y);
                let off = if l.axis == "lon" {
                    ((ra - l.value + 540.0).rem_euclid(360.0) - 180.0).abs() * 3600.0
                } else {
                    (dec - l.value).abs() * 3600.0
                };
                assert!(
                    off < 1e-4,
                    "{} {} ({x}, {y}) is {off}\" off",
                    l.axis,
                    l.label
                );
            }
        }
        let at = l
            .label_at
            .expect("a line through the view has a label position");
        let on_edge = [
            at[0] - rect[0],
            at[1] - rect[1],
            rect[2] - at[0],
            rect[3] - at[1],
        ]
        .iter()
        .any(|d| d.abs() < 1e-6);
        assert!(on_edge, "{} label at {at:?}", l.label);
    }
    assert!(lon
        .iter()
        .all(|l| l.label.ends_with('s') || l.label.ends_with('m')));
    assert!(lat.iter().all(|l| l.label.starts_with('+')));
    // North is the gradient of Dec: CD row 2 = s·(sin 30°, cos 30°).
    let (n, e) = toyz_fits::compass(&w, 1024.5, 2048.5);
    let (n, e) = (n.unwrap(), e.unwrap());
    let want_n = [30f64.to_radians().sin(), 30f64.to_radians().cos()];
    assert!(
        (n[0] - want_n[0]).abs() < 1e-3 && (n[1] - want_n[1]).abs() < 1e-3,
        "north {n:?} want {want_n:?}"
    );
    // East is 90° counter-clockwise from north on the sky as seen (east left of north).
    assert!(
        (e[0] + n[1]).abs() < 1e-3 && (e[1] - n[0]).abs() < 1e-3,
        "east {e:?} north {n:?}"
    );
}

/// A gnomonic projection sends a position and its antipode to the same pixel: only the position
/// itself may come back from world_to_pixel.
#[test]
fn the_far_side_of_the_sky_has_no_pixel() {
    let t = TanWcs {
        ra: 150.1,
        dec: 2.2,
        scale_arcsec: 0.263,
        rotation_deg: 0.0,
    };
    let w = tan_wcs(&t);
    let (ra, dec) = w.pixel_to_world(100.0, 200.0).unwrap();
    assert!(w.world_to_pixel(ra, dec).is_some());
    assert_eq!(w.world_to_pixel(ra + 180.0, -dec), None);
    assert_eq!(w.world_to_pixel(t.ra + 120.0, 0.0), None);
}

/// At the celestial pole every meridian crosses the view and circles of Dec lie wholly inside it.
#[test]
fn graticule_around_the_pole() {
    let t = TanWcs {
        ra: 10.0,
        dec: 90.0,
        scale_arcsec: 1.0,
        rotation_deg: 0.0,
    };
    let w = tan_wcs(&t);
    let g = toyz_fits::graticule(&w, [1.0, 1.0, 2048.0, 4096.0], 6);
    let lon = g.lines.iter().filter(|l| l.axis == "lon").count();
    let lat = g.lines.iter().filter(|l| l.axis == "lat").count();
    assert!(lon >= 4, "meridians through the pole: {lon}");
    assert!(lat >= 1, "Dec circles: {lat}");
    let values: Vec<f64> = g
        .lines
        .iter()
        .filter(|l| l.axis == "lon")
        .map(|l| l.value)
        .collect();
    let mut dedup = values.clone();
    dedup.sort_by(f64::total_cmp);
    dedup.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    assert_eq!(dedup.len(), values.len(), "no meridian twice: {values:?}");
}
