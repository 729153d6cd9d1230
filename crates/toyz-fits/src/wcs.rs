//! World coordinates of an image through the `wcs` crate (cds-astro wcs-rs): pixel ↔ sky in the header's
//! own frame, FITS 1-based pixels, degrees. Works around the crate's quirks (radians, ICRS conversion,
//! wrong inverse for asymmetric CD matrices, a broken SIP polynomial) here so nothing downstream has to know.

use crate::error::{FitsError, Result};
use crate::header::Header;
use crate::proj::Celestial;
use crate::tpv::{Tpv, NTERMS};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use wcs::{ImgXY, LonLat, WCSParams, WCS};

/// A celestial WCS. Pixels are FITS 1-based: (1, 1) is the centre of the bottom-left pixel.
///
/// pixel → (SIP, in pixel offsets) → linear matrix → intermediate (degrees, header axis order) →
/// (TPV) → projection and spherical rotation → (lon, lat) in the header's own frame.
#[derive(Debug)]
pub struct Wcs {
    sky: Sky,
    /// SIP distortion, applied here: mapproj 0.4's SIP polynomial evaluation is wrong (it squares
    /// the running powers and pairs coefficients with the wrong terms), so the crate sees plain TAN.
    sip: Option<Sip>,
    /// TPV distortion of the intermediate coordinates.
    tpv: Option<Tpv>,
    crpix: [f64; 2],
    /// Pixel offsets → intermediate coordinates (the CD matrix or its equivalent), and its inverse.
    m: Matrix,
    inv: Matrix,
    /// The latitude axis comes first (CTYPE1 = 'DEC--…').
    lat_first: bool,
    summary: WcsSummary,
    /// A mosaic's CCDs: each position is answered by the WCS of the CCD that holds it (or the nearest
    /// one, in a gap). Empty for a single image.
    parts: Vec<WcsPart>,
}

/// Who does the projection and the spherical rotation.
#[derive(Debug)]
enum Sky {
    /// The `wcs` crate, for plain TAN (its answers are converted back from ICRS to the header's frame).
    Crate(Box<WCS>),
    /// toyz's own port of WCSLIB's 28 projections (proj.rs), for everything else.
    Own(Box<Celestial>),
    /// A mosaic: every position goes to one of its parts.
    Parts,
}

/// One CCD of a mosaic WCS: its own WCS, the offset from its pixels to the mosaic's (mosaic = CCD +
/// offset) and the rectangle it covers in mosaic pixels (FITS 1-based edges: x_lo, x_hi, y_lo, y_hi).
#[derive(Debug)]
pub struct WcsPart {
    pub name: String,
    pub wcs: Wcs,
    pub offset: [f64; 2],
    pub rect: [f64; 4],
}

impl WcsPart {
    /// Squared distance in pixels from (x, y) to the rectangle (0 inside).
    fn distance2(&self, x: f64, y: f64) -> f64 {
        let dx = (self.rect[0] - x).max(x - self.rect[1]).max(0.0);
        let dy = (self.rect[2] - y).max(y - self.rect[3]).max(0.0);
        dx * dx + dy * dy
    }
    fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.rect[0] && x < self.rect[1] && y >= self.rect[2] && y < self.rect[3]
    }
}

/// SIP forward polynomials: u' = u + Σ A_p_q u^p v^q, v' = v + Σ B_p_q u^p v^q (u, v relative to CRPIX).
#[derive(Debug, Clone)]
struct Sip {
    a: Vec<(i32, i32, f64)>,
    b: Vec<(i32, i32, f64)>,
}

impl Sip {
    fn from_header(h: &Header) -> Option<Sip> {
        let terms = |name: &str| -> Vec<(i32, i32, f64)> {
            let order = h.i64(&format!("{name}_ORDER")).unwrap_or(0).clamp(0, 9) as i32;
            let mut t = Vec::new();
            for p in 0..=order {
                for q in 0..=(order - p) {
                    if let Some(c) = h.f64(&format!("{name}_{p}_{q}")) {
                        if c != 0.0 {
                            t.push((p, q, c));
                        }
                    }
                }
            }
            t
        };
        let sip = Sip {
            a: terms("A"),
            b: terms("B"),
        };
        (!sip.a.is_empty() || !sip.b.is_empty()).then_some(sip)
    }

    fn apply(&self, u: f64, v: f64) -> (f64, f64) {
        let poly = |t: &[(i32, i32, f64)]| {
            t.iter()
                .map(|&(p, q, c)| c * u.powi(p) * v.powi(q))
                .sum::<f64>()
        };
        (u + poly(&self.a), v + poly(&self.b))
    }
}

/// What the viewer and `toyz info` show about a WCS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct WcsSummary {
    /// Sky frame of the header: icrs, fk5, fk4, galactic, ecliptic, supergalactic, helioecliptic.
    pub frame: String,
    pub ctype: [String; 2],
    pub crpix: [f64; 2],
    pub crval: [f64; 2],
    /// Linear transform pixel → intermediate world (degrees/pixel), rows for axes 1 and 2.
    pub cd: [[f64; 2]; 2],
    /// Mean pixel scale in arcsec/pixel (sqrt |det CD|).
    pub pixel_scale_arcsec: f64,
    /// Sky position of the image centre.
    pub center: Option<[f64; 2]>,
    /// Set when part of the header could not be honoured (e.g. TPV distortion read as plain TAN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

const STRING_KEYS: [&str; 4] = ["CTYPE1", "CTYPE2", "CTYPE3", "RADESYS"];
const NUMBER_PREFIXES: [&str; 10] = [
    "CRPIX", "CRVAL", "CDELT", "CROTA", "CD1_", "CD2_", "PC1_", "PC2_", "PV1_", "PV2_",
];
const NUMBER_KEYS: [&str; 4] = ["EQUINOX", "EPOCH", "LONPOLE", "LATPOLE"];

impl Wcs {
    /// Build the celestial WCS of an image of `width`×`height`. `Ok(None)` when the header has none.
    pub fn from_header(h: &Header, width: usize, height: usize) -> Result<Option<Wcs>> {
        let (Some(ctype1), ctype2) = (h.str("CTYPE1"), h.str("CTYPE2").unwrap_or("")) else {
            return Ok(None);
        };
        // The celestial pair in either order (DEC first is legal FITS).
        let lat_first = is_lat(ctype1);
        let (lon_ct, lat_ct) = if lat_first {
            (ctype2, ctype1)
        } else {
            (ctype1, ctype2)
        };
        let (lon_axis, lat_axis) = if lat_first { (2, 1) } else { (1, 2) };
        let frame = match lon_ct.get(..4).unwrap_or("") {
            "RA--" => {
                match h
                    .str("RADESYS")
                    .or(h.str("RADECSYS"))
                    .map(|s| s.trim().to_ascii_lowercase())
                {
                    Some(s) if !s.is_empty() => s,
                    _ => match h.f64("EQUINOX").or(h.f64("EPOCH")) {
                        Some(e) if e < 1984.0 => "fk4".to_owned(),
                        Some(_) => "fk5".to_owned(),
                        None => "icrs".to_owned(),
                    },
                }
            }
            "GLON" => "galactic".into(),
            "ELON" => "ecliptic".into(),
            "SLON" => "supergalactic".into(),
            "HLON" => "helioecliptic".into(),
            _ => return Ok(None),
        };
        let bad = |m: String| FitsError::Wcs(format!("{ctype1}/{ctype2}: {m}"));
        let partner = match lon_ct.get(..4) {
            Some("RA--") => "DEC-",
            Some(l) => &format!("{}LAT", &l[..1]),
            None => "",
        };
        if lat_ct.get(..4) != Some(partner) || lat_ct.get(4..) != lon_ct.get(4..) {
            return Err(bad(
                "the two celestial axes do not pair (CTYPE1/CTYPE2)".into()
            ));
        }
        // "RA---TAN-SIP": the projection code, then an optional distortion suffix.
        let code = lon_ct.get(5..8).unwrap_or("").trim_end_matches('-');
        let suffix = lon_ct.get(8..).unwrap_or("");
        let mut note = None;
        // TPV, and SCAMP's older TAN + PVi_j (j ≥ 5) that astropy also reads as TPV.
        let scamp = code == "TAN"
            && h.cards()
                .iter()
                .any(|c| pv_index(&c.keyword).is_some_and(|(_, j)| (5..NTERMS).contains(&j)));
        let tpv_header = code == "TPV" || scamp;
        let code = if code == "TPV" { "TAN" } else { code };
        let tpv = if tpv_header {
            let pv = |axis: usize| move |j: usize| h.f64(&format!("PV{axis}_{j}"));
            let poly = Tpv::new(&pv(1), &pv(2));
            if poly.as_ref().is_some_and(Tpv::is_degenerate) {
                return Err(bad("the TPV polynomial of an axis has no x or y term \
                                (PV1_1/PV2_1 missing?), so positions cannot be given"
                    .into()));
            }
            if h.f64("CD1_1").is_none() && h.f64("CD2_2").is_none() {
                note = Some(
                    "TPV applied to CDELT·PC intermediate coordinates (the TPV convention); \
                     WCSLIB applies it before CDELT"
                        .to_owned(),
                );
            }
            poly
        } else {
            None
        };
        let sip = match suffix {
            "-SIP" => Sip::from_header(h),
            "" => None,
            other => return Err(bad(format!("unknown distortion '{other}'"))),
        };

        let crpix = [
            h.f64("CRPIX1").unwrap_or(0.0),
            h.f64("CRPIX2").unwrap_or(0.0),
        ];
        let crval = [
            h.f64("CRVAL1").unwrap_or(0.0),
            h.f64("CRVAL2").unwrap_or(0.0),
        ];
        let m = linear_matrix(h);
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        if det == 0.0 || !det.is_finite() {
            return Err(bad("singular CD/PC matrix".into()));
        }
        let inv = [
            [m[1][1] / det, -m[0][1] / det],
            [-m[1][0] / det, m[0][0] / det],
        ];

        // Plain TAN goes to the wcs crate (matched astropy to 4e-10″); LONPOLE/LATPOLE, projection
        // parameters, DEC-first axes and the other 27 projections to toyz's port of WCSLIB.
        let extras = ["LONPOLE", "LATPOLE"].iter().any(|k| h.get(k).is_some())
            || (!tpv_header && h.cards().iter().any(|c| pv_index(&c.keyword).is_some()));
        let sky = if code == "TAN" && !lat_first && !extras {
            Sky::Crate(Box::new(crate_tan(h, width, height, tpv_header)?))
        } else {
            let pv = |axis: usize| {
                move |j: usize| {
                    if tpv_header {
                        None
                    } else {
                        h.f64(&format!("PV{axis}_{j}"))
                    }
                }
            };
            let lonlat_crval = if lat_first {
                [crval[1], crval[0]]
            } else {
                crval
            };
            Sky::Own(Box::new(
                Celestial::new(
                    code,
                    lonlat_crval,
                    h.f64("LONPOLE"),
                    h.f64("LATPOLE"),
                    &pv(lat_axis),
                    &pv(lon_axis),
                )
                .map_err(bad)?,
            ))
        };
        let mut w = Wcs {
            sky,
            sip,
            tpv,
            crpix,
            m,
            inv,
            lat_first,
            parts: Vec::new(),
            summary: WcsSummary {
                frame,
                ctype: [ctype1.to_owned(), ctype2.to_owned()],
                crpix,
                crval,
                cd: m,
                pixel_scale_arcsec: det.abs().sqrt() * 3600.0,
                center: None,
                note,
            },
        };
        w.summary.center = w
            .pixel_to_world((width as f64 + 1.0) / 2.0, (height as f64 + 1.0) / 2.0)
            .map(|(a, b)| [a, b]);
        Ok(Some(w))
    }

    /// The WCS of a mosaic of `width`×`height` pixels made of `parts` (not empty). Its summary is that of
    /// the CCD at the mosaic's centre, moved to mosaic pixels, with a note saying so.
    pub fn mosaic(parts: Vec<WcsPart>, width: usize, height: usize) -> Wcs {
        let (cx, cy) = ((width as f64 + 1.0) / 2.0, (height as f64 + 1.0) / 2.0);
        let centre = nearest(&parts, cx, cy);
        let mut summary = parts[centre].summary_moved();
        summary.note = Some(format!(
            "mosaic of {} CCDs: every position uses its own CCD's WCS; the keywords shown are {}'s{}",
            parts.len(),
            parts[centre].name,
            parts[centre]
                .wcs
                .summary
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ));
        let mut w = Wcs {
            sky: Sky::Parts,
            sip: None,
            tpv: None,
            crpix: summary.crpix,
            m: summary.cd,
            inv: [[0.0; 2]; 2],
            lat_first: false,
            summary,
            parts,
        };
        w.summary.center = w.pixel_to_world(cx, cy).map(|(a, b)| [a, b]);
        w
    }

    pub fn summary(&self) -> &WcsSummary {
        &self.summary
    }

    pub fn frame(&self) -> &str {
        &self.summary.frame
    }

    /// FITS pixel (1-based) → (lon, lat) in degrees in the header's frame; lon in [0, 360).
    pub fn pixel_to_world(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        if !self.parts.is_empty() {
            let p = &self.parts[nearest(&self.parts, x, y)];
            return p.wcs.pixel_to_world(x - p.offset[0], y - p.offset[1]);
        }
        let (mut u, mut v) = (x - self.crpix[0], y - self.crpix[1]);
        if let Some(sip) = &self.sip {
            (u, v) = sip.apply(u, v);
        }
        let (mut i1, mut i2) = mul(&self.m, u, v);
        if let Some(tpv) = &self.tpv {
            (i1, i2) = tpv.forward(i1, i2);
        }
        let (lon, lat) = match &self.sky {
            Sky::Crate(inner) => {
                // The crate wants a pixel: the one whose plain linear transform gives (i1, i2). It
                // returns radians (despite its docs) converted to ICRS: undo the conversion so a
                // galactic image reads out galactic coordinates.
                let (pu, pv) = mul(&self.inv, i1, i2);
                let icrs = inner.unproj(&ImgXY::new(pu + self.crpix[0], pv + self.crpix[1]))?;
                let native = inner.coo_system().from_icrs(icrs);
                (native.lon().to_degrees(), native.lat().to_degrees())
            }
            Sky::Own(cel) if self.lat_first => cel.to_sky(i2, i1)?,
            Sky::Own(cel) => cel.to_sky(i1, i2)?,
            Sky::Parts => return None,
        };
        let lon = lon.rem_euclid(360.0);
        (lon.is_finite() && lat.is_finite()).then_some((lon, lat))
    }

    /// A cone on the sky that holds a `width`×`height` image (to its farthest corner, radius times
    /// `margin`): a position outside it cannot be on the image, a test far cheaper than inverting the
    /// projection. `None` when the cone would reach past a hemisphere (then nothing is excluded).
    pub fn cap(&self, width: f64, height: f64, margin: f64) -> Option<SkyCap> {
        let (l0, b0) = self.pixel_to_world(width / 2.0 + 0.5, height / 2.0 + 0.5)?;
        let centre = unit_vector(l0, b0);
        let mut min_dot = 1f64;
        for (x, y) in [
            (0.5, 0.5),
            (width + 0.5, 0.5),
            (0.5, height + 0.5),
            (width + 0.5, height + 0.5),
        ] {
            let (l, b) = self.pixel_to_world(x, y)?;
            min_dot = min_dot.min(dot(unit_vector(l, b), centre));
        }
        let radius = min_dot.clamp(-1.0, 1.0).acos() * margin + 1e-6;
        (radius < std::f64::consts::FRAC_PI_2).then(|| SkyCap {
            centre,
            cos_radius: radius.cos(),
        })
    }

    /// (lon, lat) in degrees in the header's frame → FITS pixel (1-based).
    ///
    /// The crate's own inverse is wrong for asymmetric CD matrices (mapproj swaps the off-diagonal terms),
    /// so its answer is only a starting point: Newton iterations on `pixel_to_world` make the result the
    /// exact inverse of the forward transform, whatever the matrix or distortion.
    pub fn world_to_pixel(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        if !lon.is_finite() || !lat.is_finite() || lat.abs() > 90.0 {
            return None;
        }
        if !self.parts.is_empty() {
            return self.mosaic_world_to_pixel(lon, lat);
        }
        let target = unit_vector(lon, lat);
        let (sl, cl) = lon.to_radians().sin_cos();
        let (sb, cb) = lat.to_radians().sin_cos();
        let east = [-sl, cl, 0.0];
        let north = [-sb * cl, -sb * sl, cb];
        let offset = |x: f64, y: f64| -> Option<[f64; 2]> {
            let (a, b) = self.pixel_to_world(x, y)?;
            let v = unit_vector(a, b);
            let d = [v[0] - target[0], v[1] - target[1], v[2] - target[2]];
            Some([dot(d, east), dot(d, north)])
        };
        // A starting point from the exact inverse of everything but SIP (TPV is inverted by Newton with
        // its analytic Jacobian); the iterations below make it the exact inverse of pixel_to_world.
        let plane = match &self.sky {
            Sky::Crate(inner) => {
                let icrs = inner
                    .coo_system()
                    .to_icrs(LonLat::new(lon.to_radians(), lat.to_radians()));
                inner
                    .proj(&icrs)
                    .map(|p| mul(&self.m, p.x() - self.crpix[0], p.y() - self.crpix[1]))
            }
            Sky::Own(cel) => {
                cel.to_plane(lon, lat)
                    .map(|(a, b)| if self.lat_first { (b, a) } else { (a, b) })
            }
            Sky::Parts => None,
        };
        let guess = plane
            .and_then(|(i1, i2)| match &self.tpv {
                Some(tpv) => tpv.inverse(i1, i2),
                None => Some((i1, i2)),
            })
            .map(|(i1, i2)| {
                let (u, v) = mul(&self.inv, i1, i2);
                (u + self.crpix[0], v + self.crpix[1])
            });
        let (x, y, exact_start) = match guess {
            // The crate's inverse is wrong for asymmetric CD matrices (mapproj swaps the
            // off-diagonal terms): only toyz's own inverse is exact.
            Some((x, y)) if x.is_finite() && y.is_finite() && offset(x, y).is_some() => {
                (x, y, self.sip.is_none() && matches!(self.sky, Sky::Own(_)))
            }
            _ => (self.summary.crpix[0], self.summary.crpix[1], false),
        };
        // From an exact inverse the answer is within a pixel: longer steps would only jump across a
        // seam of the projection (a cube face, the ±180° meridian) to another copy of the position.
        let max_step = if exact_start { 2.0 } else { f64::INFINITY };
        // The offset is measured in the target's tangent plane, where its antipode also reads zero
        // (and zenithal projections send both to the same pixel): a solution must be the target itself.
        let same_side = |x: f64, y: f64| {
            self.pixel_to_world(x, y)
                .is_some_and(|(a, b)| dot(unit_vector(a, b), target) > 0.999_999)
        };
        // The best point seen: projections computed in single precision (WCSLIB's CSC) cannot reach
        // the tolerance, but get within a small fraction of a pixel.
        let px_rad = (self.summary.pixel_scale_arcsec / 3600.0).to_radians();
        let newton = || -> Option<(f64, f64)> {
            let (mut x, mut y) = (x, y);
            let mut best = (f64::INFINITY, x, y);
            for _ in 0..60 {
                let f = offset(x, y)?;
                let tol = 1e-12; // radians: ~2e-7 arcsec
                if f[0].abs() < tol && f[1].abs() < tol {
                    return same_side(x, y).then_some((x, y));
                }
                let r = f[0].hypot(f[1]);
                if r < best.0 {
                    best = (r, x, y);
                }
                // A small step: cube faces and other seams make larger differences straddle an edge.
                let h = 1e-3;
                let fx = offset(x + h, y)?;
                let fy = offset(x, y + h)?;
                let j = [
                    [(fx[0] - f[0]) / h, (fy[0] - f[0]) / h],
                    [(fx[1] - f[1]) / h, (fy[1] - f[1]) / h],
                ];
                let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
                if det == 0.0 || !det.is_finite() {
                    return None;
                }
                let mut dx = (j[1][1] * f[0] - j[0][1] * f[1]) / det;
                let mut dy = (-j[1][0] * f[0] + j[0][0] * f[1]) / det;
                let len = dx.hypot(dy);
                if len > max_step {
                    (dx, dy) = (dx * max_step / len, dy * max_step / len);
                }
                x -= dx;
                y -= dy;
                if !x.is_finite() || !y.is_finite() {
                    return None;
                }
                if dx.abs() < 1e-9 && dy.abs() < 1e-9 {
                    return (offset(x, y).is_some() && same_side(x, y)).then_some((x, y));
                }
            }
            let (r, bx, by) = best;
            (r < 1e-5 * px_rad && same_side(bx, by)).then_some((bx, by))
        };
        if let Some(found) = newton() {
            return Some(found);
        }
        // Beside a seam where the forward transform jumps (a quad-cube face edge), Newton cannot
        // settle: the projection's own inverse is then the answer, as WCSLIB gives it.
        let (gx, gy) = guess.filter(|_| exact_start)?;
        same_side(gx, gy).then_some((gx, gy))
    }
}

impl Wcs {
    /// A mosaic's inverse: the CCD whose rectangle holds the position answers; in a gap, the CCD
    /// nearest to where its own inverse puts the position (so gaps stay continuous).
    fn mosaic_world_to_pixel(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let target = unit_vector(lon, lat);
        // Try the CCDs in order of their centre's distance from the position: usually the first holds it.
        let mut order: Vec<(f64, usize)> = self
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let d = p
                    .wcs
                    .summary
                    .center
                    .map_or(-2.0, |[a, b]| dot(unit_vector(a, b), target));
                (-d, i)
            })
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut best: Option<(f64, (f64, f64))> = None;
        for &(_, i) in &order {
            let p = &self.parts[i];
            let Some((x, y)) = p.wcs.world_to_pixel(lon, lat) else {
                continue;
            };
            let (x, y) = (x + p.offset[0], y + p.offset[1]);
            if p.contains(x, y) {
                return Some((x, y));
            }
            let d = p.distance2(x, y);
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, (x, y)));
            }
        }
        best.map(|(_, xy)| xy)
    }
}

/// Index of the part that holds (x, y), else the nearest one.
fn nearest(parts: &[WcsPart], x: f64, y: f64) -> usize {
    if let Some(i) = parts.iter().position(|p| p.contains(x, y)) {
        return i;
    }
    let mut best = (f64::INFINITY, 0);
    for (i, p) in parts.iter().enumerate() {
        let d = p.distance2(x, y);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

impl WcsPart {
    fn summary_moved(&self) -> WcsSummary {
        let mut s = self.wcs.summary.clone();
        s.crpix = [s.crpix[0] + self.offset[0], s.crpix[1] + self.offset[1]];
        s
    }
}

/// A cone on the sky around an image, from [`Wcs::cap`].
#[derive(Debug, Clone, Copy)]
pub struct SkyCap {
    centre: [f64; 3],
    cos_radius: f64,
}

impl SkyCap {
    /// Whether (lon, lat), degrees in the image's frame, is inside the cone.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        dot(unit_vector(lon, lat), self.centre) >= self.cos_radius
    }
}

type Matrix = [[f64; 2]; 2];

/// A latitude CTYPE: DEC-, xLAT (GLAT, ELAT, SLAT, HLAT) or yzLT.
fn is_lat(ctype: &str) -> bool {
    ctype.starts_with("DEC-") || ctype.get(1..4) == Some("LAT") || ctype.get(2..4) == Some("LT")
}

/// The `wcs` crate's plain TAN for a header (TPV and SIP stripped: toyz applies them itself).
fn crate_tan(h: &Header, width: usize, height: usize, tpv: bool) -> Result<WCS> {
    let mut map = Map::new();
    for c in h.cards() {
        let (Some(v), k) = (c.value.as_deref(), c.keyword.as_str()) else {
            continue;
        };
        if STRING_KEYS.contains(&k) {
            let s = v.replace("-TPV", "-TAN");
            let s = s.strip_suffix("-SIP").unwrap_or(&s);
            map.insert(k.to_owned(), Value::String(s.to_owned()));
        } else if NUMBER_KEYS.contains(&k) || NUMBER_PREFIXES.iter().any(|p| k.starts_with(p)) {
            if tpv && (k.starts_with("PV1_") || k.starts_with("PV2_")) {
                continue;
            }
            if let Some(n) = v
                .replace(['D', 'd'], "E")
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
            {
                map.insert(k.to_owned(), Value::Number(n));
            }
        }
    }
    map.insert("NAXIS".into(), 2.into());
    map.insert("NAXIS1".into(), (width as i64).into());
    map.insert("NAXIS2".into(), (height as i64).into());
    let params: WCSParams = serde_json::from_value(Value::Object(map))
        .map_err(|e| FitsError::Wcs(format!("bad WCS keywords: {e}")))?;
    WCS::new(&params).map_err(|e| FitsError::Wcs(format!("TAN: {e}")))
}

fn mul(m: &Matrix, x: f64, y: f64) -> (f64, f64) {
    (m[0][0] * x + m[0][1] * y, m[1][0] * x + m[1][1] * y)
}

/// (axis, j) of a `PVi_j` keyword.
fn pv_index(k: &str) -> Option<(usize, usize)> {
    let (a, j) = k.strip_prefix("PV")?.split_once('_')?;
    Some((a.parse().ok()?, j.parse().ok()?))
}

/// Angle between two sky positions, degrees (atan2 of the cross and dot products: exact at any
/// separation, a few microarcseconds included).
pub fn separation(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (u, v) = (unit_vector(a.0, a.1), unit_vector(b.0, b.1));
    let c = [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ];
    (c[0] * c[0] + c[1] * c[1] + c[2] * c[2])
        .sqrt()
        .atan2(dot(u, v))
        .to_degrees()
}

/// Unit vector of a sky position in degrees.
pub fn unit_vector(lon: f64, lat: f64) -> [f64; 3] {
    let (sl, cl) = lon.to_radians().sin_cos();
    let (sb, cb) = lat.to_radians().sin_cos();
    [cb * cl, cb * sl, sb]
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// CD matrix, or PC × CDELT, or CROTA2 + CDELT (the FITS WCS paper I precedence).
fn linear_matrix(h: &Header) -> [[f64; 2]; 2] {
    if let Some(cd11) = h.f64("CD1_1") {
        return [
            [cd11, h.f64("CD1_2").unwrap_or(0.0)],
            [h.f64("CD2_1").unwrap_or(0.0), h.f64("CD2_2").unwrap_or(0.0)],
        ];
    }
    let c1 = h.f64("CDELT1").unwrap_or(1.0);
    let c2 = h.f64("CDELT2").unwrap_or(1.0);
    if h.get("PC1_1").is_some() || h.get("PC1_2").is_some() {
        let pc = |k, d| h.f64(k).unwrap_or(d);
        return [
            [c1 * pc("PC1_1", 1.0), c1 * pc("PC1_2", 0.0)],
            [c2 * pc("PC2_1", 0.0), c2 * pc("PC2_2", 1.0)],
        ];
    }
    let rho = h.f64("CROTA2").unwrap_or(0.0).to_radians();
    let (s, c) = rho.sin_cos();
    [[c1 * c, -c2 * s], [c1 * s, c2 * c]]
}
