//! Coordinate grid (graticule) and compass for a view of an image: lines of constant longitude and
//! latitude at round sexagesimal steps, traced through the exact WCS (distortion included) as pixel
//! polylines with a label position on the view's edge, and the north/east directions at its centre.
//! Also frame conversion between equatorial and galactic positions.

use crate::wcs::Wcs;
use serde::Serialize;
use wcs::coo_system::CooSystem;
use wcs::LonLat;

/// One grid line: constant `lon` (axis "lon") or `lat` (axis "lat") at `value` degrees.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GridLine {
    /// "lon" or "lat".
    pub axis: &'static str,
    pub value: f64,
    pub label: String,
    /// Polylines in FITS pixels (the line is broken where it leaves the projection).
    pub segments: Vec<Vec<[f64; 2]>>,
    /// Where the line crosses the edge of the view (bottom or left preferred), for its label.
    pub label_at: Option<[f64; 2]>,
}

/// A coordinate grid over a view (`image.graticule`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Graticule {
    pub frame: String,
    /// Grid steps in degrees.
    pub step: [f64; 2],
    pub lines: Vec<GridLine>,
    /// Unit vectors in FITS pixels pointing north and east at the centre of the view.
    pub north: Option<[f64; 2]>,
    pub east: Option<[f64; 2]>,
}

/// Steps in arcsec for latitude-like axes (and galactic longitude).
const DEG_STEPS: [f64; 25] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    900.0, 1800.0, 3600.0, 7200.0, 18000.0, 36000.0, 72000.0, 108000.0, 162000.0,
];
/// Steps in seconds of time for right ascension (1 s = 15 arcsec).
const TIME_STEPS: [f64; 22] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
];

fn equatorial(frame: &str) -> bool {
    matches!(frame, "icrs" | "fk5" | "fk4" | "j2000")
}

/// Convert (lon, lat) in degrees between frames: equatorial ("icrs", "fk5", "j2000", treated as one —
/// they differ by tens of milliarcseconds), "galactic" and "ecliptic" (mean ecliptic and equinox of J2000,
/// IAU 2006 obliquity; without the 23 mas frame bias). `None` for any other frame (FK4, supergalactic).
pub fn convert_frame(lon: f64, lat: f64, from: &str, to: &str) -> Option<(f64, f64)> {
    let eq = |f: &str| matches!(f, "icrs" | "fk5" | "j2000");
    if from == to || (eq(from) && eq(to)) {
        return Some((lon, lat));
    }
    let ll = LonLat::new(lon.to_radians(), lat.to_radians());
    let icrs = match from {
        f if eq(f) => ll,
        "galactic" => CooSystem::GALACTIC.to_icrs(ll),
        "ecliptic" => ecliptic(ll, -1.0),
        _ => return None,
    };
    let out = match to {
        t if eq(t) => icrs,
        "galactic" => CooSystem::GALACTIC.from_icrs(icrs),
        "ecliptic" => ecliptic(icrs, 1.0),
        _ => return None,
    };
    Some((
        out.lon().to_degrees().rem_euclid(360.0),
        out.lat().to_degrees(),
    ))
}

/// Equatorial → ecliptic (`sign` 1) or back (−1): a turn about the equinox's axis by the obliquity.
fn ecliptic(ll: LonLat, sign: f64) -> LonLat {
    const OBLIQUITY_ARCSEC: f64 = 84_381.406;
    let e = sign * (OBLIQUITY_ARCSEC / 3600.0).to_radians();
    let (sl, cl) = ll.lon().sin_cos();
    let (sb, cb) = ll.lat().sin_cos();
    let (x, y, z) = (cb * cl, cb * sl, sb);
    let (y2, z2) = (e.cos() * y + e.sin() * z, -e.sin() * y + e.cos() * z);
    LonLat::new(
        y2.atan2(x).rem_euclid(std::f64::consts::TAU),
        z2.clamp(-1.0, 1.0).asin(),
    )
}

/// The smallest step (from `steps`, in arcsec) giving at most `target` lines over `span` degrees.
fn pick(span: f64, target: f64, steps: &[f64], unit: f64) -> f64 {
    for &s in steps {
        let deg = s * unit / 3600.0;
        if span / deg <= target {
            return deg;
        }
    }
    steps[steps.len() - 1] * unit / 3600.0
}

/// Decimal places of a step given in units (seconds of time or arcsec).
fn decimals(step_units: f64) -> usize {
    let mut d = 0;
    while d < 3 && (step_units * 10f64.powi(d as i32)).fract().abs() > 1e-6 {
        d += 1;
    }
    d
}

/// `units` (seconds of time or arcsec, ≥ 0) as three sexagesimal fields with the unit marks `marks`,
/// rounded to what a `step_units` grid needs: only whole hours/degrees or minutes for coarse steps.
fn sexagesimal(units: f64, step_units: f64, marks: [&str; 3]) -> String {
    let d = decimals(step_units);
    let scale = 10f64.powi(d as i32);
    let total = (units * scale).round() / scale;
    let a = (total / 3600.0).floor();
    let m = ((total - a * 3600.0) / 60.0).floor();
    let s = total - a * 3600.0 - m * 60.0;
    let [ma, mm, ms] = marks;
    if step_units >= 3600.0 {
        format!("{a:02}{ma}")
    } else if step_units >= 60.0 {
        format!("{a:02}{ma}{m:02}{mm}")
    } else {
        let w = if d > 0 { d + 3 } else { 2 };
        format!("{a:02}{ma}{m:02}{mm}{s:0w$.d$}{ms}")
    }
}

/// Sexagesimal (or decimal-degree) label of a grid value.
fn label(axis: &str, value: f64, step: f64, frame: &str) -> String {
    if axis == "lon" && equatorial(frame) {
        let secs = (value.rem_euclid(360.0) * 240.0).rem_euclid(86400.0);
        let text = sexagesimal(secs, step * 240.0, ["h", "m", "s"]);
        // 23h59m59.96s rounds up to 24h: say 00h.
        text.strip_prefix("24")
            .map_or(text.clone(), |t| format!("00{t}"))
    } else if axis == "lat" && equatorial(frame) {
        let sign = if value < 0.0 { '−' } else { '+' };
        format!(
            "{sign}{}",
            sexagesimal(value.abs() * 3600.0, step * 3600.0, ["°", "′", "″"])
        )
    } else {
        // Enough decimals to tell neighbouring lines apart (steps are 1, 2, 5 × 10^k degrees).
        let d = (-(step * (1.0 + 1e-9)).log10().floor()).clamp(0.0, 6.0) as usize;
        let v = if axis == "lon" {
            value.rem_euclid(360.0)
        } else {
            value
        };
        format!("{v:.d$}°", d = d.min(6))
    }
}

/// Where segment a→b crosses the vertical line x = c (or horizontal y = c with `horizontal`), if it does
/// within [lo, hi] on the other axis.
fn cross(a: [f64; 2], b: [f64; 2], c: f64, horizontal: bool, lo: f64, hi: f64) -> Option<[f64; 2]> {
    let (i, j) = if horizontal { (1, 0) } else { (0, 1) };
    if (a[i] - c) * (b[i] - c) > 0.0 || a[i] == b[i] {
        return None;
    }
    let t = (c - a[i]) / (b[i] - a[i]);
    let o = a[j] + t * (b[j] - a[j]);
    if !(lo..=hi).contains(&o) {
        return None;
    }
    let mut p = [0.0; 2];
    p[i] = c;
    p[j] = o;
    Some(p)
}

/// Grid lines over the view `rect` = [x1, y1, x2, y2] (FITS pixels, x1 < x2, y1 < y2) with about
/// `target` lines per axis.
pub fn graticule(wcs: &Wcs, rect: [f64; 4], target: usize) -> Graticule {
    let [x1, y1, x2, y2] = rect;
    let frame = wcs.frame().to_owned();
    let target = target.clamp(2, 20) as f64;
    let (w, h) = (x2 - x1, y2 - y1);
    let (cx, cy) = (x1 + w / 2.0, y1 + h / 2.0);
    // Sample the view to find the sky range it covers.
    let n = 24;
    let mut samples = Vec::with_capacity((n + 1) * (n + 1));
    for j in 0..=n {
        for i in 0..=n {
            let x = x1 + w * i as f64 / n as f64;
            let y = y1 + h * j as f64 / n as f64;
            if let Some(p) = wcs.pixel_to_world(x, y) {
                samples.push(p);
            }
        }
    }
    let centre = wcs
        .pixel_to_world(cx, cy)
        .or_else(|| samples.first().copied());
    let (north, east) = compass(wcs, cx, cy);
    let Some((lon0, _)) = centre else {
        return Graticule {
            frame,
            step: [0.0, 0.0],
            lines: vec![],
            north,
            east,
        };
    };
    let unwrap = |l: f64| lon0 + (l - lon0 + 540.0).rem_euclid(360.0) - 180.0;
    let (mut lon_lo, mut lon_hi, mut lat_lo, mut lat_hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(l, b) in &samples {
        let l = unwrap(l);
        lon_lo = lon_lo.min(l);
        lon_hi = lon_hi.max(l);
        lat_lo = lat_lo.min(b);
        lat_hi = lat_hi.max(b);
    }
    // A pole inside the view: every longitude crosses it.
    let inside = |p: Option<(f64, f64)>| {
        p.is_some_and(|(x, y)| {
            x >= x1 - w * 0.05 && x <= x2 + w * 0.05 && y >= y1 - h * 0.05 && y <= y2 + h * 0.05
        })
    };
    let mut full_circle = lon_hi - lon_lo > 300.0;
    if inside(wcs.world_to_pixel(0.0, 90.0)) {
        lat_hi = 90.0;
        full_circle = true;
    }
    if inside(wcs.world_to_pixel(0.0, -90.0)) {
        lat_lo = -90.0;
        full_circle = true;
    }
    if full_circle {
        lon_lo = lon0 - 180.0;
        lon_hi = lon0 + 180.0;
    }
    // Margins: the samples may miss the extremes between them.
    let (dl, db) = ((lon_hi - lon_lo) * 0.1, (lat_hi - lat_lo) * 0.1);
    let (lon_lo, lon_hi) = if full_circle {
        (lon_lo, lon_hi)
    } else {
        (lon_lo - dl, lon_hi + dl)
    };
    let (lat_lo, lat_hi) = ((lat_lo - db).max(-90.0), (lat_hi + db).min(90.0));
    let eq = equatorial(&frame);
    // Equatorial: sexagesimal steps (Dec in arcsec, RA in seconds of time); other frames are labelled in
    // decimal degrees, so their steps are 1, 2, 5 × 10^k degrees.
    let decimal: Vec<f64> = (-6..=1)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k) * 3600.0))
        .chain([30.0 * 3600.0, 45.0 * 3600.0])
        .collect();
    let (lat_step, lon_step) = if eq {
        (
            pick(lat_hi - lat_lo, target, &DEG_STEPS, 1.0),
            pick(lon_hi - lon_lo, target, &TIME_STEPS, 15.0),
        )
    } else {
        (
            pick(lat_hi - lat_lo, target, &decimal, 1.0),
            pick(lon_hi - lon_lo, target, &decimal, 1.0),
        )
    };
    // Keep polylines near the view; a line that runs off far (or jumps) is cut there.
    let margin = w.max(h) * 0.5;
    let near = |x: f64, y: f64| {
        x >= x1 - margin && x <= x2 + margin && y >= y1 - margin && y <= y2 + margin
    };
    let jump = w.hypot(h) * 0.5;
    let trace = |pts: &mut dyn Iterator<Item = (f64, f64)>| -> Vec<Vec<[f64; 2]>> {
        let mut segs: Vec<Vec<[f64; 2]>> = vec![];
        let mut cur: Vec<[f64; 2]> = vec![];
        for (l, b) in pts {
            match wcs.world_to_pixel(l.rem_euclid(360.0), b) {
                Some((x, y))
                    if near(x, y)
                        && cur
                            .last()
                            .is_none_or(|p: &[f64; 2]| (p[0] - x).hypot(p[1] - y) < jump) =>
                {
                    cur.push([x, y])
                }
                Some((x, y)) if near(x, y) => {
                    if cur.len() > 1 {
                        segs.push(std::mem::take(&mut cur));
                    }
                    cur = vec![[x, y]];
                }
                _ => {
                    if cur.len() > 1 {
                        segs.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                }
            }
        }
        if cur.len() > 1 {
            segs.push(cur);
        }
        segs
    };
    // A line that crosses the view is labelled where it enters it (edges in `order`), one wholly
    // inside at its first point; one that never enters the view is not kept.
    let edge_label = |segs: &[Vec<[f64; 2]>], order: &[(f64, bool)]| -> Option<[f64; 2]> {
        for &(c, horizontal) in order {
            let (lo, hi) = if horizontal { (x1, x2) } else { (y1, y2) };
            for s in segs {
                for p in s.windows(2) {
                    if let Some(q) = cross(p[0], p[1], c, horizontal, lo, hi) {
                        return Some(q);
                    }
                }
            }
        }
        segs.iter()
            .flatten()
            .find(|p| p[0] >= x1 && p[0] <= x2 && p[1] >= y1 && p[1] <= y2)
            .copied()
    };
    // Lines of constant longitude (traced along latitude, labelled preferably at the bottom edge), then
    // of constant latitude (traced along longitude, labelled preferably at the left edge).
    let steps = 120;
    let mut lines = vec![];
    let axes = [
        (
            "lon",
            lon_step,
            (lon_lo, lon_hi),
            (lat_lo, lat_hi),
            [(y1, true), (x1, false), (y2, true), (x2, false)],
        ),
        (
            "lat",
            lat_step,
            (lat_lo, lat_hi),
            (lon_lo, lon_hi),
            [(x1, false), (y1, true), (x2, false), (y2, true)],
        ),
    ];
    for (axis, step, (lo, hi), (a, b), order) in axes {
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        for k in first..=last.min(first + 400) {
            let value = k as f64 * step;
            let repeat = axis == "lon"
                && full_circle
                && k == last
                && ((k - first) as f64 * step - 360.0).abs() < 1e-9;
            if repeat || (axis == "lat" && value.abs() >= 90.0) {
                continue; // the first meridian again, or a pole
            }
            let along = (0..=steps).map(|i| a + (b - a) * i as f64 / steps as f64);
            let segs = if axis == "lon" {
                trace(&mut along.map(|t| (value, t)))
            } else {
                trace(&mut along.map(|t| (t, value)))
            };
            if segs.is_empty() {
                continue;
            }
            let Some(at) = edge_label(&segs, &order) else {
                continue;
            };
            lines.push(GridLine {
                axis,
                value: if axis == "lon" {
                    value.rem_euclid(360.0)
                } else {
                    value
                },
                label: label(axis, value, step, &frame),
                segments: segs,
                label_at: Some(at),
            });
        }
    }
    Graticule {
        frame,
        step: [lon_step, lat_step],
        lines,
        north,
        east,
    }
}

/// Unit vectors (FITS pixels) towards north and east at pixel (x, y).
pub fn compass(wcs: &Wcs, x: f64, y: f64) -> (Option<[f64; 2]>, Option<[f64; 2]>) {
    let Some((lon, lat)) = wcs.pixel_to_world(x, y) else {
        return (None, None);
    };
    let d = (wcs.summary().pixel_scale_arcsec * 10.0 / 3600.0).clamp(1e-7, 0.5);
    let unit = |p: Option<(f64, f64)>, sign: f64| {
        p.and_then(|(px, py)| {
            let (dx, dy) = ((px - x) * sign, (py - y) * sign);
            let n = dx.hypot(dy);
            (n > 0.0 && n.is_finite()).then(|| [dx / n, dy / n])
        })
    };
    let north = if lat + d < 90.0 {
        unit(wcs.world_to_pixel(lon, lat + d), 1.0)
    } else {
        unit(wcs.world_to_pixel(lon, lat - d), -1.0)
    };
    let cos = lat.to_radians().cos().max(1e-6);
    let east = unit(wcs.world_to_pixel(lon + d / cos, lat), 1.0);
    (north, east)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(label("lon", 150.125, 30.0 / 240.0, "icrs"), "10h00m30s");
        assert_eq!(label("lon", 150.0, 1.0, "fk5"), "10h00m");
        assert_eq!(label("lat", 2.25, 5.0 / 60.0, "icrs"), "+02°15′");
        assert_eq!(label("lat", -2.2525, 1.0 / 3600.0, "icrs"), "−02°15′09″");
        assert_eq!(label("lon", 150.0, 0.5 / 240.0, "icrs"), "10h00m00.0s");
        assert_eq!(label("lon", 120.5, 0.5, "galactic"), "120.5°");
        assert_eq!(label("lat", -1.23, 0.01, "galactic"), "-1.23°");
        assert_eq!(label("lon", 10.0, 5.0, "galactic"), "10°");
        assert_eq!(label("lon", 10.000002, 2e-6, "galactic"), "10.000002°");
        assert_eq!(label("lon", 359.99999, 1.0 / 240.0, "icrs"), "00h00m00s");
    }

    #[test]
    fn frames() {
        // The galactic centre and the north galactic pole (IAU definitions, J2000).
        let (l, b) = convert_frame(266.40499, -28.93617, "icrs", "galactic").unwrap();
        assert!(
            (l.rem_euclid(360.0) - 0.0).min(360.0 - l) < 1e-3 && b.abs() < 1e-3,
            "{l} {b}"
        );
        let (ra, dec) = convert_frame(0.0, 90.0, "galactic", "fk5").unwrap();
        assert!(
            (ra - 192.85948).abs() < 1e-3 && (dec - 27.12825).abs() < 1e-3,
            "{ra} {dec}"
        );
        assert_eq!(convert_frame(1.0, 2.0, "icrs", "fk5"), Some((1.0, 2.0)));
        assert_eq!(convert_frame(1.0, 2.0, "fk4", "icrs"), None);
        assert_eq!(convert_frame(1.0, 2.0, "supergalactic", "galactic"), None);
    }
}
