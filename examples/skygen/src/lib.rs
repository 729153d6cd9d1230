//! Synthetic DECam-like sky for toyz demos, tests and benchmarks: background, noise, thousands of stars,
//! a TAN WCS at 0.263"/px, NaN patches, every BITPIX with BSCALE/BZERO/BLANK, written row band by row
//! band so any size fits in constant memory; plain, gzip'd, tile-compressed (.fz) and multi-extension.

mod decam;
mod fz;
pub mod hostile;
mod writer;

pub use decam::{Ccd, Exposure, SkyStar};
pub use fz::{write_fz, write_fz_quantised, Compression};
pub use writer::{write_fits, write_mef, write_table_fits, Extension};

use rayon::prelude::*;

/// DECam's pixel scale in arcsec.
pub const DECAM_SCALE: f64 = 0.263;

/// What the pixels are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    /// Background + stars + noise.
    Sky,
    /// value = x + y·width (0-based FITS order): tells exactly which pixel landed where.
    Ramp,
}

/// A tangent-plane WCS: reference sky position at the image centre, scale, rotation (deg, east of north).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TanWcs {
    pub ra: f64,
    pub dec: f64,
    pub scale_arcsec: f64,
    pub rotation_deg: f64,
}

impl TanWcs {
    pub fn cd(&self) -> [[f64; 2]; 2] {
        let s = self.scale_arcsec / 3600.0;
        let (sn, cs) = self.rotation_deg.to_radians().sin_cos();
        // East to the left (RA decreases with x), north up, rotated.
        [[-s * cs, s * sn], [s * sn, s * cs]]
    }

    /// FITS 1-based pixel → (ra, dec) degrees, gnomonic projection written out by hand (an independent
    /// reference for the WCS library used by toyz).
    pub fn pixel_to_world(&self, crpix: (f64, f64), x: f64, y: f64) -> (f64, f64) {
        let cd = self.cd();
        let (dx, dy) = (x - crpix.0, y - crpix.1);
        let xi = (cd[0][0] * dx + cd[0][1] * dy).to_radians();
        let eta = (cd[1][0] * dx + cd[1][1] * dy).to_radians();
        let (a0, d0) = (self.ra.to_radians(), self.dec.to_radians());
        let den = d0.cos() - eta * d0.sin();
        let ra = a0 + xi.atan2(den);
        let dec = (d0.sin() + eta * d0.cos()).atan2((xi * xi + den * den).sqrt());
        (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
    }
}

/// Everything that defines a generated image. Same spec, same pixels (the generator is deterministic).
#[derive(Debug, Clone)]
pub struct SkySpec {
    pub width: usize,
    pub height: usize,
    pub seed: u64,
    pub pattern: Pattern,
    /// 8, 16, 32, 64, -32, -64.
    pub bitpix: i32,
    pub bscale: f64,
    pub bzero: f64,
    /// BLANK for integer BITPIX: NaN pixels are stored as this value.
    pub blank: Option<i64>,
    pub background: f64,
    pub noise: f64,
    /// Number of stars; None: one per 4 000 pixels.
    pub stars: Option<usize>,
    /// Rectangular NaN patches (blank columns, a missing amplifier, ...).
    pub nan_patches: bool,
    pub wcs: Option<TanWcs>,
    pub bunit: Option<String>,
    /// Extra header cards, written as given (already formatted or "KEY = value").
    pub extra_cards: Vec<String>,
    /// Write a cube with NAXIS3 = n (1 gives a degenerate third axis). Plane p of a ramp adds p·w·h.
    pub cube: Option<usize>,
}

impl SkySpec {
    /// A float32 DECam-like star field with a TAN WCS near COSMOS.
    pub fn new(width: usize, height: usize) -> SkySpec {
        SkySpec {
            width,
            height,
            seed: 1,
            pattern: Pattern::Sky,
            bitpix: -32,
            bscale: 1.0,
            bzero: 0.0,
            blank: None,
            background: 1000.0,
            noise: 30.0,
            stars: None,
            nan_patches: false,
            wcs: Some(TanWcs {
                ra: 150.1,
                dec: 2.2,
                scale_arcsec: DECAM_SCALE,
                rotation_deg: 0.0,
            }),
            bunit: Some("ADU".to_owned()),
            extra_cards: Vec::new(),
            cube: None,
        }
    }

    /// A ramp image (value = x + y·width) without WCS or noise.
    pub fn ramp(width: usize, height: usize) -> SkySpec {
        SkySpec {
            pattern: Pattern::Ramp,
            wcs: None,
            ..SkySpec::new(width, height)
        }
    }

    pub fn crpix(&self) -> (f64, f64) {
        (
            (self.width as f64 + 1.0) / 2.0,
            (self.height as f64 + 1.0) / 2.0,
        )
    }

    /// The stars planted, sorted by y.
    pub fn star_list(&self) -> Vec<Star> {
        if self.pattern != Pattern::Sky {
            return Vec::new();
        }
        let n = self.stars.unwrap_or((self.width * self.height / 4_000).max(
            if self.width * self.height >= 400 {
                5
            } else {
                0
            },
        ));
        let mut rng = Rng::new(self.seed ^ 0x5eed_57a2);
        let mut stars: Vec<Star> = (0..n)
            .map(|_| {
                let x = rng.uniform() * self.width as f64 + 0.5;
                let y = rng.uniform() * self.height as f64 + 0.5;
                // Power-law fluxes: many faint stars, a few bright ones.
                // Integrated flux from ~2σ detections up to saturating stars.
                let flux = 2000.0 * (1.0 - rng.uniform()).powf(-1.0).min(5000.0);
                let fwhm = 3.0 + 2.0 * rng.uniform();
                Star { x, y, flux, fwhm }
            })
            .collect();
        stars.sort_by(|a, b| a.y.total_cmp(&b.y));
        stars
    }

    /// Physical values of rows `y0..y0+n` (0-based, bottom first), NaN where a patch is.
    pub fn rows(&self, stars: &[Star], y0: usize, n: usize) -> Vec<f64> {
        self.plane_rows(stars, 0, y0, n)
    }

    /// Rows of plane `p` of a cube (plane 0 is what `rows` gives).
    pub fn plane_rows(&self, stars: &[Star], p: usize, y0: usize, n: usize) -> Vec<f64> {
        let w = self.width;
        let mut out = vec![0f64; w * n];
        out.par_chunks_mut(w).enumerate().for_each(|(r, row)| {
            let y = y0 + r;
            self.fill_row(stars, p, y, row);
        });
        out
    }

    fn fill_row(&self, stars: &[Star], p: usize, y: usize, row: &mut [f64]) {
        let w = self.width;
        match self.pattern {
            Pattern::Ramp => {
                for (x, v) in row.iter_mut().enumerate() {
                    *v = (x + y * w + p * w * self.height) as f64;
                }
            }
            Pattern::Sky => {
                let row_seed = (y as u64 + 1) ^ ((p as u64) << 40);
                let mut rng = Rng::new(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ row_seed);
                let grad = 0.05 * self.background / (self.width + self.height) as f64;
                for (x, v) in row.iter_mut().enumerate() {
                    *v = self.background + grad * (x + y) as f64 + self.noise * rng.gauss();
                }
                let fy = y as f64 + 1.0; // FITS row of this line
                let lo = stars.partition_point(|s| s.y < fy - 12.0);
                for s in stars[lo..].iter().take_while(|s| s.y <= fy + 12.0) {
                    let sigma = s.fwhm / 2.3548;
                    let peak = s.flux / (2.0 * std::f64::consts::PI * sigma * sigma);
                    let r = (4.0 * sigma).ceil();
                    let dy = fy - s.y;
                    if dy.abs() > r {
                        continue;
                    }
                    let x0 = ((s.x - r).floor().max(1.0)) as usize;
                    let x1 = ((s.x + r).ceil() as usize).min(w);
                    for fx in x0..=x1 {
                        let dx = fx as f64 - s.x;
                        row[fx - 1] += peak * (-(dx * dx + dy * dy) / (2.0 * sigma * sigma)).exp();
                    }
                }
                if self.nan_patches {
                    for (x, v) in row.iter_mut().enumerate() {
                        if self.in_nan_patch(x, y) {
                            *v = f64::NAN;
                        }
                    }
                }
            }
        }
    }

    /// A blank column band, and a rectangle in the upper right: what bad columns and a dead amp look like.
    pub fn in_nan_patch(&self, x: usize, y: usize) -> bool {
        let (w, h) = (self.width, self.height);
        let col = w / 3;
        (x >= col && x < col + (w / 100).max(1))
            || (x >= w * 3 / 4 && x < w * 7 / 8 && y >= h * 3 / 4 && y < h * 7 / 8)
    }

    /// Physical value → stored value for this spec's BITPIX (rounded, clamped), BLANK for NaN.
    pub fn stored(&self, v: f64) -> f64 {
        if self.bitpix < 0 {
            return if v.is_nan() {
                v
            } else {
                (v - self.bzero) / self.bscale
            };
        }
        if v.is_nan() {
            return self.blank.unwrap_or(0) as f64;
        }
        let (lo, hi) = match self.bitpix {
            8 => (0.0, 255.0),
            16 => (i16::MIN as f64, i16::MAX as f64),
            32 => (i32::MIN as f64, i32::MAX as f64),
            _ => (-9.2e18, 9.2e18),
        };
        ((v - self.bzero) / self.bscale).round().clamp(lo, hi)
    }

    /// What a reader should get back for a physical value (after quantisation to the stored type).
    pub fn expected(&self, v: f64) -> f64 {
        let s = self.stored(v);
        if self.bitpix > 0 && self.blank == Some(s as i64) {
            return f64::NAN;
        }
        match self.bitpix {
            -32 => (s as f32) as f64 * self.bscale + self.bzero,
            _ => s * self.bscale + self.bzero,
        }
    }

    /// Header cards (80 columns each) for the WCS and the description, without structural keys.
    pub fn cards(&self) -> Vec<String> {
        let mut c = Vec::new();
        if self.bitpix > 0 || self.bscale != 1.0 || self.bzero != 0.0 {
            c.push(card_f(
                "BSCALE",
                self.bscale,
                "physical = BSCALE * stored + BZERO",
            ));
            c.push(card_f("BZERO", self.bzero, ""));
        }
        if let (Some(b), true) = (self.blank, self.bitpix > 0) {
            c.push(card_i("BLANK", b, "stored value of undefined pixels"));
        }
        if let Some(u) = &self.bunit {
            c.push(card_s("BUNIT", u, "pixel unit"));
        }
        if let Some(w) = &self.wcs {
            let cd = w.cd();
            let (cx, cy) = self.crpix();
            c.push(card_s("RADESYS", "ICRS", ""));
            c.push(card_f("EQUINOX", 2000.0, ""));
            c.push(card_s("CTYPE1", "RA---TAN", ""));
            c.push(card_s("CTYPE2", "DEC--TAN", ""));
            c.push(card_f("CRPIX1", cx, ""));
            c.push(card_f("CRPIX2", cy, ""));
            c.push(card_f("CRVAL1", w.ra, ""));
            c.push(card_f("CRVAL2", w.dec, ""));
            c.push(card_f("CD1_1", cd[0][0], ""));
            c.push(card_f("CD1_2", cd[0][1], ""));
            c.push(card_f("CD2_1", cd[1][0], ""));
            c.push(card_f("CD2_2", cd[1][1], ""));
        }
        c.push(card_s("OBJECT", "toyz synthetic field", ""));
        c.push(card_s("ORIGIN", "toyz-skygen", "deterministic from SEED"));
        c.push(card_i("SEED", self.seed as i64, ""));
        for e in &self.extra_cards {
            c.push(pad80(e));
        }
        c
    }
}

/// A planted star: FITS 1-based position, total flux (ADU), FWHM (px).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Star {
    pub x: f64,
    pub y: f64,
    pub flux: f64,
    pub fwhm: f64,
}

/// Write the stars as CSV with pixel and (when the spec has a WCS) sky positions.
pub fn write_catalog(path: &std::path::Path, spec: &SkySpec) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "id,x,y,ra,dec,flux,fwhm")?;
    for (i, s) in spec.star_list().iter().enumerate() {
        let (ra, dec) = spec
            .wcs
            .map(|w| w.pixel_to_world(spec.crpix(), s.x, s.y))
            .unwrap_or((f64::NAN, f64::NAN));
        writeln!(
            f,
            "{},{:.4},{:.4},{:.8},{:.8},{:.2},{:.3}",
            i + 1,
            s.x,
            s.y,
            ra,
            dec,
            s.flux,
            s.fwhm
        )?;
    }
    f.flush()
}

pub(crate) fn pad80(s: &str) -> String {
    let mut s: String = s.chars().take(80).collect();
    while s.len() < 80 {
        s.push(' ');
    }
    s
}

pub fn card_f(key: &str, v: f64, comment: &str) -> String {
    let mut val = format!("{v:.15E}");
    if v.fract() == 0.0 && v.abs() < 1e15 {
        val = format!("{v:.1}");
    }
    pad80(&format!("{key:<8}= {val:>20} / {comment}"))
}

pub fn card_i(key: &str, v: i64, comment: &str) -> String {
    pad80(&format!("{key:<8}= {v:>20} / {comment}"))
}

pub fn card_s(key: &str, v: &str, comment: &str) -> String {
    let q = format!("'{:<8}'", v.replace('\'', "''"));
    pad80(&format!("{key:<8}= {q:<20} / {comment}"))
}

pub fn card_l(key: &str, v: bool, comment: &str) -> String {
    pad80(&format!(
        "{key:<8}= {:>20} / {comment}",
        if v { "T" } else { "F" }
    ))
}

/// The primary header block (2880 bytes) of a `w`×`h` float32 image with nothing else in it: for
/// tests that write exact pixel values (infinities, repeated values) or stream huge data themselves.
pub fn f32_header(w: usize, h: usize) -> Vec<u8> {
    let mut b: Vec<u8> = [
        card_l("SIMPLE", true, ""),
        card_i("BITPIX", -32, ""),
        card_i("NAXIS", 2, ""),
        card_i("NAXIS1", w as i64, ""),
        card_i("NAXIS2", h as i64, ""),
        pad80("END"),
    ]
    .concat()
    .into_bytes();
    b.resize(2880, b' ');
    b
}

/// A float32 FITS file holding exactly `values` (`w`×`h`, FITS row order: bottom row first).
pub fn write_f32(
    path: &std::path::Path,
    w: usize,
    h: usize,
    values: &[f32],
) -> std::io::Result<()> {
    assert_eq!(values.len(), w * h, "{w}x{h} values");
    let mut b = f32_header(w, h);
    for v in values {
        b.extend(v.to_be_bytes());
    }
    b.resize(b.len().div_ceil(2880) * 2880, 0);
    std::fs::write(path, b)
}

/// splitmix64 + Box-Muller: fast, deterministic, good enough for sky noise.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x853c_49e6_748f_ea9b)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
