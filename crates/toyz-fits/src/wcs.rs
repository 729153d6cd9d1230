//! World coordinates of an image through the `wcs` crate (cds-astro wcs-rs): pixel ↔ sky in the header's
//! own frame, FITS 1-based pixels, degrees. Works around the crate's quirks (radians, ICRS conversion,
//! wrong inverse for asymmetric CD matrices, a broken SIP polynomial) here so nothing downstream has to know.

use crate::error::{FitsError, Result};
use crate::header::Header;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use wcs::{ImgXY, LonLat, WCSParams, WCS};

/// A celestial WCS. Pixels are FITS 1-based: (1, 1) is the centre of the bottom-left pixel.
#[derive(Debug)]
pub struct Wcs {
    inner: WCS,
    /// SIP distortion, applied here: mapproj 0.4's SIP polynomial evaluation is wrong (it squares
    /// the running powers and pairs coefficients with the wrong terms), so the crate sees plain TAN.
    sip: Option<Sip>,
    crpix: [f64; 2],
    summary: WcsSummary,
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
        let Some(ctype1) = h.str("CTYPE1") else {
            return Ok(None);
        };
        let ctype2 = h.str("CTYPE2").unwrap_or("");
        let lon_kind = &ctype1.get(..4).unwrap_or("");
        let frame = match *lon_kind {
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

        let mut note = None;
        let tpv = ctype1.ends_with("-TPV");
        let sip = if ctype1.ends_with("-SIP") {
            Sip::from_header(h)
        } else {
            None
        };
        let mut map = Map::new();
        for c in h.cards() {
            let (Some(v), k) = (c.value.as_deref(), c.keyword.as_str()) else {
                continue;
            };
            if STRING_KEYS.contains(&k) {
                let mut s = v.to_owned();
                if tpv && s.ends_with("-TPV") {
                    s = s.replace("-TPV", "-TAN");
                }
                if let Some(stripped) = s.strip_suffix("-SIP") {
                    s = stripped.to_owned();
                }
                map.insert(k.to_owned(), Value::String(s));
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
        if tpv {
            note = Some(
                "TPV distortion terms are ignored: positions are those of the TAN core".to_owned(),
            );
        }
        map.insert("NAXIS".into(), 2.into());
        map.insert("NAXIS1".into(), (width as i64).into());
        map.insert("NAXIS2".into(), (height as i64).into());
        let params: WCSParams = serde_json::from_value(Value::Object(map))
            .map_err(|e| FitsError::Wcs(format!("bad WCS keywords: {e}")))?;
        let inner =
            WCS::new(&params).map_err(|e| FitsError::Wcs(format!("{ctype1}/{ctype2}: {e}")))?;

        let crpix = [
            h.f64("CRPIX1").unwrap_or(0.0),
            h.f64("CRPIX2").unwrap_or(0.0),
        ];
        let crval = [
            h.f64("CRVAL1").unwrap_or(0.0),
            h.f64("CRVAL2").unwrap_or(0.0),
        ];
        let cd = linear_matrix(h);
        let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
        let mut w = Wcs {
            inner,
            sip,
            crpix,
            summary: WcsSummary {
                frame,
                ctype: [ctype1.to_owned(), ctype2.to_owned()],
                crpix,
                crval,
                cd,
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
        // The crate returns radians (despite its docs) converted to ICRS: undo the conversion so a
        // galactic image reads out galactic coordinates.
        let (x, y) = match &self.sip {
            Some(sip) => {
                let (u, v) = sip.apply(x - self.crpix[0], y - self.crpix[1]);
                (u + self.crpix[0], v + self.crpix[1])
            }
            None => (x, y),
        };
        let icrs = self.inner.unproj(&ImgXY::new(x, y))?;
        let native = self.inner.coo_system().from_icrs(icrs);
        let lon = native.lon().to_degrees().rem_euclid(360.0);
        let lat = native.lat().to_degrees();
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
        let icrs = self
            .inner
            .coo_system()
            .to_icrs(LonLat::new(lon.to_radians(), lat.to_radians()));
        // With SIP the crate's answer is the undistorted position: still a good start.
        let guess = self.inner.proj(&icrs).map(|p| (p.x(), p.y()));
        let (mut x, mut y) = match guess {
            Some((x, y)) if x.is_finite() && y.is_finite() && offset(x, y).is_some() => (x, y),
            _ => (self.summary.crpix[0], self.summary.crpix[1]),
        };
        // The offset is measured in the target's tangent plane, where its antipode also reads zero
        // (and zenithal projections send both to the same pixel): a solution must be the target itself.
        let same_side = |x: f64, y: f64| {
            self.pixel_to_world(x, y)
                .is_some_and(|(a, b)| dot(unit_vector(a, b), target) > 0.999_999)
        };
        for _ in 0..60 {
            let f = offset(x, y)?;
            let tol = 1e-12; // radians: ~2e-7 arcsec
            if f[0].abs() < tol && f[1].abs() < tol {
                return same_side(x, y).then_some((x, y));
            }
            let h = 0.5;
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
            let dx = (j[1][1] * f[0] - j[0][1] * f[1]) / det;
            let dy = (-j[1][0] * f[0] + j[0][0] * f[1]) / det;
            x -= dx;
            y -= dy;
            if !x.is_finite() || !y.is_finite() {
                return None;
            }
            if dx.abs() < 1e-9 && dy.abs() < 1e-9 {
                return (offset(x, y).is_some() && same_side(x, y)).then_some((x, y));
            }
        }
        None
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
