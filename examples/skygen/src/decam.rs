//! A synthetic DECam exposure: 62 (or fewer) CCDs in DECam's 12 columns of 3–7 chips with 150–200 px
//! gaps, each an image extension with EXTNAME/CCDNUM/DETPOS/DETSEC/DATASEC and its own TPV WCS around one
//! tangent point (a small rotation per chip), stars placed through that WCS, written plain or with fpack's
//! RICE (one row per compression tile, dithered quantisation) as the DECam community pipeline does. The
//! geometry and the WCS are also computed here independently of toyz: the truth tests compare against.

use crate::fz::{check, with_new_fits};
use crate::{card_f, card_i, card_s, Rng};
use fitsio::sys;
use rayon::prelude::*;
use std::ffi::CString;
use std::io;
use std::os::raw::{c_int, c_long};
use std::path::Path;

/// CCDs per column, left to right (S side, then N side), and their DETPOS names.
const COLUMNS: [(char, [u32; 7], usize); 12] = [
    ('S', [29, 30, 31, 0, 0, 0, 0], 3),
    ('S', [25, 26, 27, 28, 0, 0, 0], 4),
    ('S', [20, 21, 22, 23, 24, 0, 0], 5),
    ('S', [14, 15, 16, 17, 18, 19, 0], 6),
    ('S', [8, 9, 10, 11, 12, 13, 0], 6),
    ('S', [1, 2, 3, 4, 5, 6, 7], 7),
    ('N', [1, 2, 3, 4, 5, 6, 7], 7),
    ('N', [8, 9, 10, 11, 12, 13, 0], 6),
    ('N', [14, 15, 16, 17, 18, 19, 0], 6),
    ('N', [20, 21, 22, 23, 24, 0, 0], 5),
    ('N', [25, 26, 27, 28, 0, 0, 0], 4),
    ('N', [29, 30, 31, 0, 0, 0, 0], 3),
];

/// Everything that defines a generated exposure (deterministic: same spec, same file).
#[derive(Debug, Clone)]
pub struct Exposure {
    /// Data section of one CCD (DECam: 2046 × 4094 after trimming).
    pub ccd_width: usize,
    pub ccd_height: usize,
    /// Gaps between chips, drawn in [gap_min, gap_max] pixels.
    pub gap_min: usize,
    pub gap_max: usize,
    /// Overscan columns on each side of a CCD (trimmed by DATASEC); 0 for processed data.
    pub overscan: usize,
    /// Tangent point (degrees) and pixel scale.
    pub ra: f64,
    pub dec: f64,
    pub scale_arcsec: f64,
    /// Largest per-chip rotation, degrees (the first CCD has none).
    pub max_rotation_deg: f64,
    /// TPV terms shared by all chips: xi = x (1 + k r²) + q x y, eta = y (1 + k r²) + q x y
    /// (k in deg⁻², q in deg⁻¹).
    pub distortion_k: f64,
    pub distortion_q: f64,
    /// DETPOS names left out (N30 is dead in most DECam exposures).
    pub missing: Vec<String>,
    pub stars_per_ccd: usize,
    pub background: f64,
    pub noise: f64,
    pub seed: u64,
}

/// Where the chips sit on the focal-plane pixel grid (0-based lower-left corners of data sections).
struct Grid {
    size: (usize, usize),
    /// The tangent point's grid position (FITS 1-based).
    tangent: (f64, f64),
    /// Per column: its x, and the y of each chip.
    columns: Vec<(usize, Vec<usize>)>,
}

/// One CCD as the generator placed it.
#[derive(Debug, Clone)]
pub struct Ccd {
    pub name: String,
    pub ccdnum: u32,
    /// HDU index in the file (the primary is 0).
    pub hdu: usize,
    /// HDU pixel (x, y) sits at focal-plane grid pixel (x + gx, y + gy) when the chip is not rotated:
    /// the offset a WCS-placed mosaic should find (to within its rounding and the distortion).
    pub grid_offset: (i64, i64),
    pub rotation_rad: f64,
    pub crpix: (f64, f64),
    pub cd: [[f64; 2]; 2],
    /// DETSEC and DATASEC, FITS 1-based inclusive (x1, x2, y1, y2).
    pub detsec: [usize; 4],
    pub datasec: [usize; 4],
    /// HDU size (data section plus overscan).
    pub width: usize,
    pub height: usize,
}

/// A star of the exposure: sky position (degrees), total flux (ADU), FWHM (px).
#[derive(Debug, Clone, Copy)]
pub struct SkyStar {
    pub ra: f64,
    pub dec: f64,
    /// Focal-plane grid position (FITS 1-based) before distortion.
    pub gx: f64,
    pub gy: f64,
    pub flux: f64,
    pub fwhm: f64,
}

impl Exposure {
    /// A full-size DECam exposure (62 CCDs of 2046 × 4094).
    pub fn decam() -> Exposure {
        Exposure::decam_scaled(1)
    }

    /// DECam's layout shrunk `f` times in pixels (the pixel scale grows `f` times, so the field on the
    /// sky and the distortion stay DECam's): small exposures for tests.
    pub fn decam_scaled(f: usize) -> Exposure {
        let f = f.max(1);
        Exposure {
            ccd_width: 2046 / f,
            ccd_height: 4094 / f,
            gap_min: 150 / f,
            gap_max: 200 / f,
            overscan: 0,
            ra: 35.0,
            dec: -4.5,
            scale_arcsec: 0.263 * f as f64,
            max_rotation_deg: 0.02,
            distortion_k: 1.2e-3,
            distortion_q: 2.0e-4,
            missing: vec!["N30".into()],
            stars_per_ccd: 60,
            background: 1000.0,
            noise: 20.0,
            seed: 7,
        }
    }

    fn base_cd(&self) -> [[f64; 2]; 2] {
        // DECam's CCDs lie across the sky: the pixel axes are turned 90° (CD1_1 ≈ CD2_2 ≈ 0).
        let s = self.scale_arcsec / 3600.0;
        [[0.0, s], [-s, 0.0]]
    }

    /// The focal-plane grid: chip positions, size and the tangent point.
    fn grid(&self) -> Grid {
        let mut rng = Rng::new(self.seed ^ 0xdeca_0001);
        let (w, h) = (self.ccd_width, self.ccd_height);
        let gap = |rng: &mut Rng| {
            self.gap_min + (rng.uniform() * (self.gap_max - self.gap_min + 1) as f64) as usize
        };
        // Column x positions, chip y positions within each column (centred on the tallest column).
        let mut x = 0;
        let mut cols = Vec::new();
        let tallest = 7 * h + 6 * self.gap_max;
        for (_, _, n) in COLUMNS {
            let gaps: Vec<usize> = (0..n - 1).map(|_| gap(&mut rng)).collect();
            let height = n * h + gaps.iter().sum::<usize>();
            let mut y = (tallest - height) / 2;
            let mut ys = Vec::with_capacity(n);
            for i in 0..n {
                ys.push(y);
                y += h + gaps.get(i).copied().unwrap_or(0);
            }
            cols.push((x, ys));
            x += w + gap(&mut rng);
        }
        let width = x - (self.gap_min + self.gap_max) / 2;
        let centre = (width as f64 / 2.0 + 0.5, tallest as f64 / 2.0 + 0.5);
        Grid {
            size: (width, tallest),
            tangent: centre,
            columns: cols,
        }
    }

    /// The CCDs, in HDU order (1, 2, … after the primary), missing ones left out.
    pub fn ccds(&self) -> Vec<Ccd> {
        let Grid {
            tangent: t,
            columns: cols,
            ..
        } = self.grid();
        let (w, h, ov) = (self.ccd_width, self.ccd_height, self.overscan);
        let mut rng = Rng::new(self.seed ^ 0xdeca_0002);
        let base = self.base_cd();
        let mut out = Vec::new();
        let mut ccdnum = 0;
        for ((side, nums, n), (x0, ys)) in COLUMNS.iter().zip(&cols) {
            for (i, y0) in ys.iter().enumerate().take(*n) {
                ccdnum += 1;
                let name = format!("{side}{}", nums[i]);
                let turn = (rng.uniform() * 2.0 - 1.0) * self.max_rotation_deg;
                if self.missing.contains(&name) {
                    continue;
                }
                let theta = if out.is_empty() {
                    0.0
                } else {
                    turn.to_radians()
                };
                let (sn, cs) = theta.sin_cos();
                let cd = [
                    [
                        base[0][0] * cs + base[0][1] * sn,
                        -base[0][0] * sn + base[0][1] * cs,
                    ],
                    [
                        base[1][0] * cs + base[1][1] * sn,
                        -base[1][0] * sn + base[1][1] * cs,
                    ],
                ];
                // Data pixel d (1-based in the data section) is at grid position
                // P_c + R(d − c_d) where P_c is the chip centre; CRPIX = c_d − R⁻¹(P_c − T).
                let c_d = ((w as f64 + 1.0) / 2.0, (h as f64 + 1.0) / 2.0);
                let p_c = (*x0 as f64 + c_d.0, *y0 as f64 + c_d.1);
                let (dx, dy) = (p_c.0 - t.0, p_c.1 - t.1);
                let crpix = (
                    c_d.0 - (cs * dx + sn * dy) + ov as f64,
                    c_d.1 - (-sn * dx + cs * dy),
                );
                out.push(Ccd {
                    name,
                    ccdnum,
                    hdu: out.len() + 1,
                    grid_offset: (*x0 as i64 - ov as i64, *y0 as i64),
                    rotation_rad: theta,
                    crpix,
                    cd,
                    detsec: [x0 + 1, x0 + w, y0 + 1, y0 + h],
                    datasec: [ov + 1, ov + w, 1, h],
                    width: w + 2 * ov,
                    height: h,
                });
            }
        }
        out
    }

    /// The TPV polynomial of every chip (intermediate degrees → distorted).
    fn distort(&self, x: f64, y: f64) -> (f64, f64) {
        let (k, q) = (self.distortion_k, self.distortion_q);
        let r2 = x * x + y * y;
        (
            x * (1.0 + k * r2) + q * x * y,
            y * (1.0 + k * r2) + q * x * y,
        )
    }

    /// TAN deprojection about the tangent point: (xi, eta) degrees → (ra, dec) degrees.
    fn deproject(&self, xi: f64, eta: f64) -> (f64, f64) {
        let (xi, eta) = (xi.to_radians(), eta.to_radians());
        let (a0, d0) = (self.ra.to_radians(), self.dec.to_radians());
        let den = d0.cos() - eta * d0.sin();
        let ra = a0 + xi.atan2(den);
        let dec = (d0.sin() + eta * d0.cos()).atan2((xi * xi + den * den).sqrt());
        (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
    }

    /// HDU pixel (FITS 1-based) of a CCD → (ra, dec), by the chip's header WCS written out by hand.
    pub fn pixel_to_world(&self, c: &Ccd, x: f64, y: f64) -> (f64, f64) {
        let (u, v) = (x - c.crpix.0, y - c.crpix.1);
        let ix = c.cd[0][0] * u + c.cd[0][1] * v;
        let iy = c.cd[1][0] * u + c.cd[1][1] * v;
        let (xi, eta) = self.distort(ix, iy);
        self.deproject(xi, eta)
    }

    /// (ra, dec) → HDU pixel of a CCD (Newton on the distortion; the rest inverts in closed form).
    pub fn world_to_pixel(&self, c: &Ccd, ra: f64, dec: f64) -> (f64, f64) {
        let (a, d) = (ra.to_radians(), dec.to_radians());
        let (a0, d0) = (self.ra.to_radians(), self.dec.to_radians());
        let cosc = d0.sin() * d.sin() + d0.cos() * d.cos() * (a - a0).cos();
        let xi = (d.cos() * (a - a0).sin() / cosc).to_degrees();
        let eta = ((d0.cos() * d.sin() - d0.sin() * d.cos() * (a - a0).cos()) / cosc).to_degrees();
        let (mut x, mut y) = (xi, eta);
        for _ in 0..50 {
            let (fx, fy) = self.distort(x, y);
            let (rx, ry) = (fx - xi, fy - eta);
            if rx.abs() < 1e-15 && ry.abs() < 1e-15 {
                break;
            }
            let h = 1e-7;
            let (ax, ay) = self.distort(x + h, y);
            let (bx, by) = self.distort(x, y + h);
            let j = [
                [(ax - fx) / h, (bx - fx) / h],
                [(ay - fy) / h, (by - fy) / h],
            ];
            let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
            x -= (j[1][1] * rx - j[0][1] * ry) / det;
            y -= (-j[1][0] * rx + j[0][0] * ry) / det;
        }
        let cd = c.cd;
        let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
        let u = (cd[1][1] * x - cd[0][1] * y) / det;
        let v = (-cd[1][0] * x + cd[0][0] * y) / det;
        (u + c.crpix.0, v + c.crpix.1)
    }

    /// The stars over the whole focal plane (gaps included), with their sky positions.
    pub fn stars(&self) -> Vec<SkyStar> {
        let Grid {
            size: (gw, gh),
            tangent: t,
            ..
        } = self.grid();
        let n = self.stars_per_ccd * 62;
        let mut rng = Rng::new(self.seed ^ 0xdeca_0003);
        let base = self.base_cd();
        (0..n)
            .map(|_| {
                let gx = rng.uniform() * gw as f64 + 0.5;
                let gy = rng.uniform() * gh as f64 + 0.5;
                let flux = 3000.0 * (1.0 - rng.uniform()).powf(-1.0).min(3000.0);
                let fwhm = 3.0 + 2.0 * rng.uniform();
                let (u, v) = (gx - t.0, gy - t.1);
                let (xi, eta) = self.distort(
                    base[0][0] * u + base[0][1] * v,
                    base[1][0] * u + base[1][1] * v,
                );
                let (ra, dec) = self.deproject(xi, eta);
                SkyStar {
                    ra,
                    dec,
                    gx,
                    gy,
                    flux,
                    fwhm,
                }
            })
            .collect()
    }

    /// Header cards of one CCD extension (no structural keys).
    pub fn ccd_cards(&self, c: &Ccd) -> Vec<String> {
        let sec = |s: [usize; 4]| format!("[{}:{},{}:{}]", s[0], s[1], s[2], s[3]);
        let mut v = vec![
            card_s("EXTNAME", &c.name, "extension name"),
            card_i("CCDNUM", c.ccdnum as i64, "CCD number"),
            card_s("DETPOS", &c.name, "detector position"),
            card_s("DETSEC", &sec(c.detsec), "detector section"),
            card_s("DATASEC", &sec(c.datasec), "data section"),
            card_s("BUNIT", "ADU", ""),
            card_s("RADESYS", "ICRS", ""),
            card_f("EQUINOX", 2000.0, ""),
            card_s("CTYPE1", "RA---TPV", "TAN with TPV distortion"),
            card_s("CTYPE2", "DEC--TPV", ""),
            card_f("CRVAL1", self.ra, ""),
            card_f("CRVAL2", self.dec, ""),
            card_f("CRPIX1", c.crpix.0, ""),
            card_f("CRPIX2", c.crpix.1, ""),
            card_f("CD1_1", c.cd[0][0], ""),
            card_f("CD1_2", c.cd[0][1], ""),
            card_f("CD2_1", c.cd[1][0], ""),
            card_f("CD2_2", c.cd[1][1], ""),
        ];
        let (k, q) = (self.distortion_k, self.distortion_q);
        // xi = x + k (x³ + x y²) + q x y;  eta (terms in y, x order) = y + k (y³ + y x²) + q y x.
        for axis in 1..=2 {
            for (j, val) in [(0, 0.0), (1, 1.0), (2, 0.0), (5, q), (7, k), (9, k)] {
                v.push(card_f(&format!("PV{axis}_{j}"), val, ""));
            }
        }
        v
    }

    /// Write the exposure: an empty primary HDU and one image extension per CCD, RICE-compressed in
    /// one-row tiles with dithered quantisation (`compressed`), or plain float32.
    pub fn write(&self, path: &Path, compressed: bool) -> io::Result<()> {
        with_new_fits(path, |f| self.write_body(f, compressed))
    }

    fn write_body(&self, f: *mut sys::fitsfile, compressed: bool) -> io::Result<()> {
        let mut st = 0;
        // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
        // live locals, NUL-terminated cards or buffers of the values the call names.
        unsafe { sys::ffcrim(f, 8, 0, std::ptr::null_mut(), &mut st) };
        check(st, "primary")?;
        let ccds = self.ccds();
        for card in [
            card_s("TELESCOP", "CTIO 4.0-m telescope", ""),
            card_s("INSTRUME", "DECam", ""),
            card_s("ORIGIN", "toyz-skygen", "synthetic exposure"),
            card_i("NEXTEND", ccds.len() as i64, ""),
            card_f("RA", self.ra, "pointing, degrees"),
            card_f("DEC", self.dec, ""),
        ] {
            let c = CString::new(card.trim_end()).map_err(io::Error::other)?;
            // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
            // live locals, NUL-terminated cards or buffers of the values the call names.
            unsafe { sys::ffprec(f, c.as_ptr(), &mut st) };
        }
        check(st, "primary header")?;
        let stars = self.stars();
        for c in &ccds {
            if compressed {
                // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
                // live locals, NUL-terminated cards or buffers of the values the call names.
                unsafe {
                    sys::fits_set_compression_type(f, 11, &mut st); // RICE_1
                    let mut tile: [c_long; 2] = [c.width as c_long, 1];
                    sys::fits_set_tile_dim(f, 2, tile.as_mut_ptr(), &mut st);
                    sys::fits_set_quantize_method(f, 1, &mut st); // SUBTRACTIVE_DITHER_1
                    sys::fits_set_dither_seed(f, (c.ccdnum % 10_000) as c_int + 1, &mut st);
                }
            } else {
                // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
                // live locals, NUL-terminated cards or buffers of the values the call names.
                unsafe { sys::fits_set_compression_type(f, 0, &mut st) };
            }
            check(st, "compression settings")?;
            let mut naxes: [c_long; 2] = [c.width as c_long, c.height as c_long];
            // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
            // live locals, NUL-terminated cards or buffers of the values the call names.
            unsafe { sys::ffcrim(f, -32, 2, naxes.as_mut_ptr(), &mut st) };
            check(st, "create image")?;
            for card in self.ccd_cards(c) {
                let cc = CString::new(card.trim_end()).map_err(io::Error::other)?;
                // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
                // live locals, NUL-terminated cards or buffers of the values the call names.
                unsafe { sys::ffprec(f, cc.as_ptr(), &mut st) };
            }
            check(st, "header")?;
            // The stars on this chip, in its own pixels (through the same grid mapping as its WCS).
            let (sn, cs) = c.rotation_rad.sin_cos();
            let (w, h, ov) = (self.ccd_width, self.ccd_height, self.overscan);
            let c_d = ((w as f64 + 1.0) / 2.0, (h as f64 + 1.0) / 2.0);
            let p_c = (
                c.detsec[0] as f64 - 1.0 + c_d.0,
                c.detsec[2] as f64 - 1.0 + c_d.1,
            );
            let mut local: Vec<(f64, f64, f64, f64)> = stars
                .iter()
                .filter_map(|s| {
                    let (gx, gy) = (s.gx - p_c.0, s.gy - p_c.1);
                    let (dx, dy) = (cs * gx + sn * gy + c_d.0, -sn * gx + cs * gy + c_d.1);
                    (dx > -15.0 && dy > -15.0 && dx < w as f64 + 15.0 && dy < h as f64 + 15.0)
                        .then_some((dx + ov as f64, dy, s.flux, s.fwhm))
                })
                .collect();
            local.sort_by(|a, b| a.1.total_cmp(&b.1));
            let level = self.background + 10.0 * (c.ccdnum % 5) as f64;
            let band = 256;
            let mut y0 = 0;
            while y0 < h {
                let n = band.min(h - y0);
                let mut vals = vec![0f32; c.width * n];
                vals.par_chunks_mut(c.width)
                    .enumerate()
                    .for_each(|(r, row)| self.fill(c, &local, level, y0 + r, row));
                // SAFETY: `vals` holds exactly the count of floats written (TFLOAT = 42).
                unsafe {
                    sys::ffppr(
                        f,
                        42,
                        (y0 * c.width + 1) as i64,
                        vals.len() as i64,
                        vals.as_mut_ptr() as *mut std::os::raw::c_void,
                        &mut st,
                    )
                };
                check(st, "write pixels")?;
                y0 += n;
            }
        }
        Ok(())
    }

    /// Row `y` (0-based) of a CCD: sky, noise and stars in the data section, bias in the overscan.
    fn fill(&self, c: &Ccd, stars: &[(f64, f64, f64, f64)], level: f64, y: usize, row: &mut [f32]) {
        let mut rng = Rng::new(self.seed ^ ((c.ccdnum as u64) << 32) ^ (y as u64 + 1));
        let ov = self.overscan;
        for (x, v) in row.iter_mut().enumerate() {
            let bias = x < ov || x >= ov + self.ccd_width;
            let base = if bias { 1500.0 } else { level };
            *v = (base + self.noise * rng.gauss()) as f32;
        }
        let fy = y as f64 + 1.0;
        let lo = stars.partition_point(|s| s.1 < fy - 12.0);
        for &(sx, sy, flux, fwhm) in stars[lo..].iter().take_while(|s| s.1 <= fy + 12.0) {
            let sigma = fwhm / 2.3548;
            let peak = flux / (2.0 * std::f64::consts::PI * sigma * sigma);
            let r = (4.0 * sigma).ceil();
            let dy = fy - sy;
            if dy.abs() > r {
                continue;
            }
            let x0 = ((sx - r).floor().max((ov + 1) as f64)) as usize;
            let x1 = ((sx + r).ceil() as usize).min(ov + self.ccd_width);
            for fx in x0..=x1 {
                let dx = fx as f64 - sx;
                row[fx - 1] += (peak * (-(dx * dx + dy * dy) / (2.0 * sigma * sigma)).exp()) as f32;
            }
        }
    }
}
