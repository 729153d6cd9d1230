//! A multi-extension file of CCDs as one focal-plane image: each CCD keeps its native pixels (DATASEC
//! trims overscan) and sits at an integer offset, found from its WCS in the shared tangent plane or from
//! DETSEC; gaps and missing CCDs read as no data. Reading, exact values and positions go to the CCDs.

use crate::error::{FitsError, Result};
use crate::file::{FileVersion, Pinned};
use crate::handle::Handle;
use crate::header::Header;
use crate::image::{list_with, probe_pinned, HduKind, HduSummary, Image};
use crate::raster::{check_rect, CcdPixel, Raster, RasterKey, Value};
use crate::wcs::{Wcs, WcsPart};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How the CCDs are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// By each CCD's WCS in the tangent plane they share (processed data).
    Wcs,
    /// By the DETSEC keyword (raw or engineering data whose WCS is only nominal).
    Detsec,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Wcs => "wcs",
            Layout::Detsec => "detsec",
        }
    }
    /// The HDU selector that opens this layout.
    pub fn selector(self) -> &'static str {
        match self {
            Layout::Wcs => "mosaic",
            Layout::Detsec => "mosaic:detsec",
        }
    }
}

/// One CCD of a mosaic, as `toyz info` and the API list it: HDU pixel (x, y) is mosaic pixel
/// (x0 + x, y0 + y); `datasec` is the part of the HDU shown (FITS 1-based, inclusive: x1, x2, y1, y2)
/// and `width`×`height` its size.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct MosaicCcd {
    pub name: String,
    pub hdu: usize,
    pub x0: i64,
    pub y0: i64,
    pub width: usize,
    pub height: usize,
    pub datasec: [usize; 4],
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct MosaicInfo {
    pub layout: &'static str,
    pub ccds: Vec<MosaicCcd>,
}

#[derive(Debug)]
struct Part {
    image: Image,
    /// The CCD's name (see `ccd_name`), found once.
    name: String,
    /// Mosaic pixel = HDU pixel + (dx, dy).
    dx: i64,
    dy: i64,
    /// Placed data section in mosaic pixels, 0-based, half-open: [x_lo, x_hi) × [y_lo, y_hi).
    rect: [usize; 4],
}

#[derive(Debug)]
pub struct Mosaic {
    path: PathBuf,
    layout: Layout,
    width: usize,
    height: usize,
    parts: Vec<Part>,
    info: MosaicInfo,
    header: Header,
    hdus: Vec<HduSummary>,
    wcs: Option<Wcs>,
    wcs_error: Option<String>,
    version: FileVersion,
}

/// A FITS section `[x1:x2,y1:y2]` (1-based, inclusive; x1 > x2 means the axis runs backwards).
pub fn parse_section(s: &str) -> Option<[i64; 4]> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (a, b) = inner.split_once(',')?;
    let range = |r: &str| -> Option<(i64, i64)> {
        let (lo, hi) = r.split_once(':')?;
        Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
    };
    let (x1, x2) = range(a)?;
    let (y1, y2) = range(b)?;
    Some([x1, x2, y1, y2])
}

fn is_ccd(s: &HduSummary) -> bool {
    s.kind == HduKind::Image && s.dims.len() == 2 && s.dims.iter().all(|&d| d > 0)
}

impl Mosaic {
    pub fn open(path: &Path, layout: Layout) -> Result<Mosaic> {
        Mosaic::open_pinned(std::sync::Arc::new(Pinned::open(path)?), layout)
    }

    pub fn open_pinned(file: std::sync::Arc<Pinned>, layout: Layout) -> Result<Mosaic> {
        probe_pinned(&file)?;
        let path = file.shown();
        let mut h = Handle::open_pinned(&file)?;
        let hdus = list_with(&mut h)?;
        h.move_to(0)?;
        let header = Header::from_records(h.header_cards()?);
        let bad = |message: String| FitsError::Mosaic {
            path: path.to_owned(),
            message,
        };
        let mut images = Vec::new();
        for s in hdus.iter().filter(|s| is_ccd(s)) {
            images.push(Image::open_listed(&file, &mut h, hdus.clone(), s.index, 0)?);
        }
        if images.len() < 2 {
            return Err(bad(format!(
                "a mosaic needs two or more 2-D image HDUs; this file has {}",
                images.len()
            )));
        }
        // The part of each HDU that holds data, 0-based half-open [x_lo, x_hi, y_lo, y_hi].
        let mut secs = Vec::with_capacity(images.len());
        for img in &images {
            let (w, h) = (img.width() as i64, img.height() as i64);
            let sec = match img.header().str("DATASEC") {
                None => [0, w, 0, h],
                Some(s) => {
                    let [x1, x2, y1, y2] = parse_section(s)
                        .ok_or_else(|| bad(format!("{}: bad DATASEC '{s}'", ccd_name(img))))?;
                    let (xl, xh) = (x1.min(x2), x1.max(x2));
                    let (yl, yh) = (y1.min(y2), y1.max(y2));
                    if xl < 1 || yl < 1 || xh > w || yh > h {
                        return Err(bad(format!(
                            "{}: DATASEC {s} is outside its {w}x{h} pixels",
                            ccd_name(img)
                        )));
                    }
                    [xl - 1, xh, yl - 1, yh]
                }
            };
            secs.push(sec);
        }
        let offsets = match layout {
            Layout::Detsec => detsec_offsets(&images, &secs).map_err(bad)?,
            Layout::Wcs => wcs_offsets(&images, &secs).map_err(bad)?,
        };
        // Shift so the mosaic starts at pixel 0.
        let min_x = (0..images.len())
            .map(|i| secs[i][0] + offsets[i].0)
            .min()
            .unwrap_or(0);
        let min_y = (0..images.len())
            .map(|i| secs[i][2] + offsets[i].1)
            .min()
            .unwrap_or(0);
        let mut width = 0usize;
        let mut height = 0usize;
        let mut parts = Vec::with_capacity(images.len());
        let mut ccds = Vec::with_capacity(images.len());
        for ((img, sec), (ox, oy)) in images.into_iter().zip(secs).zip(offsets) {
            let (dx, dy) = (ox - min_x, oy - min_y);
            let rect = [
                (sec[0] + dx) as usize,
                (sec[1] + dx) as usize,
                (sec[2] + dy) as usize,
                (sec[3] + dy) as usize,
            ];
            let name = ccd_name(&img);
            let max = crate::image::MAX_SIDE as usize;
            if rect[1] > max || rect[3] > max {
                return Err(bad(format!(
                    "{name} lands at pixel ({}, {}): the CCDs do not share one focal plane",
                    rect[1], rect[3]
                )));
            }
            width = width.max(rect[1]);
            height = height.max(rect[3]);
            ccds.push(MosaicCcd {
                name: name.clone(),
                hdu: img.hdu(),
                x0: dx,
                y0: dy,
                width: rect[1] - rect[0],
                height: rect[3] - rect[2],
                datasec: [
                    sec[0] as usize + 1,
                    sec[1] as usize,
                    sec[2] as usize + 1,
                    sec[3] as usize,
                ],
            });
            parts.push(Part {
                image: img,
                name,
                dx,
                dy,
                rect,
            });
        }
        // CCDs of one focal plane never overlap: images that do (an HST SCI/WHT pair, exposures of
        // one field) are not a mosaic.
        for (i, a) in parts.iter().enumerate() {
            for (b, cb) in parts[i + 1..].iter().zip(&ccds[i + 1..]) {
                let r = (a.rect, b.rect);
                if r.0[0] < r.1[1] && r.1[0] < r.0[1] && r.0[2] < r.1[3] && r.1[2] < r.0[3] {
                    return Err(bad(format!(
                        "{} and {} overlap: not the CCDs of one focal plane",
                        ccds[i].name, cb.name
                    )));
                }
            }
        }
        let (wcs, wcs_error) = mosaic_wcs(&mut parts, width, height);
        Ok(Mosaic {
            path: path.to_owned(),
            layout,
            width,
            height,
            parts,
            info: MosaicInfo {
                layout: layout.name(),
                ccds,
            },
            header,
            hdus,
            wcs,
            wcs_error,
            version: file.version(),
        })
    }

    fn part_at(&self, x: usize, y: usize) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| x >= p.rect[0] && x < p.rect[1] && y >= p.rect[2] && y < p.rect[3])
    }
}

/// CCD names: EXTNAME (DECam: the DETPOS, S1…N31), else DETPOS, else the HDU index.
fn ccd_name(img: &Image) -> String {
    let h = img.header();
    h.str("EXTNAME")
        .or(h.str("DETPOS"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("HDU {}", img.hdu()))
}

fn detsec_offsets(
    images: &[Image],
    secs: &[[i64; 4]],
) -> std::result::Result<Vec<(i64, i64)>, String> {
    images
        .iter()
        .zip(secs)
        .map(|(img, sec)| {
            let name = ccd_name(img);
            let s = img
                .header()
                .str("DETSEC")
                .ok_or_else(|| format!("{name} has no DETSEC (open it with hdu=mosaic for WCS placement)"))?;
            let [x1, x2, y1, y2] =
                parse_section(s).ok_or_else(|| format!("{name}: bad DETSEC '{s}'"))?;
            if x1 > x2 || y1 > y2 {
                return Err(format!(
                    "{name}: DETSEC {s} is read out reversed; flipped CCDs cannot be placed without resampling"
                ));
            }
            if x2 - x1 != sec[1] - sec[0] - 1 || y2 - y1 != sec[3] - sec[2] - 1 {
                return Err(format!(
                    "{name}: DETSEC {s} and DATASEC differ in size (binned data is not supported)"
                ));
            }
            Ok((x1 - 1 - sec[0], y1 - 1 - sec[2]))
        })
        .collect()
}

/// Offsets that put each CCD at its WCS position in the tangent plane of the first CCD: the plane
/// position of each data section's centre, in the first CCD's pixel grid, rounded to whole pixels.
fn wcs_offsets(
    images: &[Image],
    secs: &[[i64; 4]],
) -> std::result::Result<Vec<(i64, i64)>, String> {
    fn wcs_of(img: &Image) -> std::result::Result<&Wcs, String> {
        img.wcs().ok_or_else(|| {
            format!(
                "{} has no usable celestial WCS{} (hdu=mosaic:detsec places CCDs by DETSEC)",
                ccd_name(img),
                img.wcs_error()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            )
        })
    }
    let reference = wcs_of(&images[0])?.summary();
    let cd = reference.cd;
    let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
    if det == 0.0 || !det.is_finite() {
        return Err(format!("{}: singular CD matrix", ccd_name(&images[0])));
    }
    let inv = [
        [cd[1][1] / det, -cd[0][1] / det],
        [-cd[1][0] / det, cd[0][0] / det],
    ];
    let (a0, d0) = (
        reference.crval[0].to_radians(),
        reference.crval[1].to_radians(),
    );
    // Gnomonic (xi, eta) about the first CCD's reference point, in degrees, then its pixel grid.
    let plane = |lon: f64, lat: f64| -> Option<(f64, f64)> {
        let (a, d) = (lon.to_radians(), lat.to_radians());
        let cosc = d0.sin() * d.sin() + d0.cos() * d.cos() * (a - a0).cos();
        if cosc <= 0.0 {
            return None;
        }
        let xi = (d.cos() * (a - a0).sin() / cosc).to_degrees();
        let eta = ((d0.cos() * d.sin() - d0.sin() * d.cos() * (a - a0).cos()) / cosc).to_degrees();
        Some((
            inv[0][0] * xi + inv[0][1] * eta,
            inv[1][0] * xi + inv[1][1] * eta,
        ))
    };
    let mut out = Vec::with_capacity(images.len());
    for (img, sec) in images.iter().zip(secs) {
        let w = wcs_of(img)?;
        let name = ccd_name(img);
        // The CCD's pixel grid must match the reference's up to a small rotation and scale change:
        // an integer offset cannot place a flipped or turned CCD.
        let c = w.summary().cd;
        let m = [
            [
                inv[0][0] * c[0][0] + inv[0][1] * c[1][0],
                inv[0][0] * c[0][1] + inv[0][1] * c[1][1],
            ],
            [
                inv[1][0] * c[0][0] + inv[1][1] * c[1][0],
                inv[1][0] * c[0][1] + inv[1][1] * c[1][1],
            ],
        ];
        if m[0][0] < 0.9 || m[1][1] < 0.9 || m[0][1].abs() > 0.1 || m[1][0].abs() > 0.1 {
            return Err(format!(
                "{name}'s pixel grid is flipped, turned or scaled relative to {}'s; \
                 it cannot be placed without resampling",
                ccd_name(&images[0])
            ));
        }
        let (cx, cy) = (
            (sec[0] + sec[1]) as f64 / 2.0 + 0.5,
            (sec[2] + sec[3]) as f64 / 2.0 + 0.5,
        );
        let (lon, lat) = w
            .pixel_to_world(cx, cy)
            .ok_or_else(|| format!("{name}: its centre has no sky position"))?;
        let (px, py) = plane(lon, lat).ok_or_else(|| {
            format!("{name} is more than 90° from the first CCD: not one focal plane")
        })?;
        let (ox, oy) = ((px - cx).round(), (py - cy).round());
        if !(ox.abs() < 1e6 && oy.abs() < 1e6) {
            return Err(format!(
                "{name} lies too far from the first CCD to share its focal plane"
            ));
        }
        out.push((ox as i64, oy as i64));
    }
    Ok(out)
}

/// The mosaic's WCS, made of the CCDs' own (moved out of their images, which need them no more once
/// placed: nothing is parsed twice).
fn mosaic_wcs(parts: &mut [Part], width: usize, height: usize) -> (Option<Wcs>, Option<String>) {
    let mut pieces = Vec::new();
    let mut error = None;
    for p in parts {
        if let Some(e) = p.image.wcs_error() {
            error = Some(format!("{}: {e}", p.name));
        }
        if let Some(w) = p.image.take_wcs() {
            pieces.push(WcsPart {
                name: p.name.clone(),
                wcs: w,
                offset: [p.dx as f64, p.dy as f64],
                rect: [
                    p.rect[0] as f64 + 0.5,
                    p.rect[1] as f64 + 0.5,
                    p.rect[2] as f64 + 0.5,
                    p.rect[3] as f64 + 0.5,
                ],
            });
        }
    }
    if pieces.is_empty() {
        return (None, error);
    }
    (Some(Wcs::mosaic(pieces, width, height)), error)
}

impl Raster for Mosaic {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }

    fn read_rect(&self, x0: usize, y0: usize, w: usize, h: usize, out: &mut [f32]) -> Result<()> {
        check_rect((x0, y0, w, h), (self.width, self.height), out.len())?;
        let out = &mut out[..w * h];
        out.fill(f32::NAN);
        // Only the CCDs the rectangle touches are read, each once and in parallel: a tile-compressed
        // CCD decompresses each of its tiles in the rectangle exactly once.
        let hits: Vec<(&Part, [usize; 4])> = self
            .parts
            .iter()
            .filter_map(|p| {
                let (xl, xh) = (p.rect[0].max(x0), p.rect[1].min(x0 + w));
                let (yl, yh) = (p.rect[2].max(y0), p.rect[3].min(y0 + h));
                (xl < xh && yl < yh).then_some((p, [xl, xh, yl, yh]))
            })
            .collect();
        let reads: Vec<Vec<f32>> = hits
            .par_iter()
            .map(|(p, [xl, xh, yl, yh])| {
                let (iw, ih) = (xh - xl, yh - yl);
                let mut buf = vec![0f32; iw * ih];
                p.image
                    .read_rect(
                        (*xl as i64 - p.dx) as usize,
                        (*yl as i64 - p.dy) as usize,
                        iw,
                        ih,
                        &mut buf,
                    )
                    .map(|_| buf)
            })
            .collect::<Result<_>>()?;
        for ((_, [xl, xh, yl, _]), buf) in hits.iter().zip(reads) {
            let iw = xh - xl;
            for (r, row) in buf.chunks_exact(iw).enumerate() {
                let o = (yl - y0 + r) * w + (xl - x0);
                out[o..o + iw].copy_from_slice(row);
            }
        }
        Ok(())
    }

    fn value(&self, x: usize, y: usize) -> Result<Option<Value>> {
        check_rect((x, y, 1, 1), (self.width, self.height), 1)?;
        match self.part_at(x, y) {
            Some(p) => p
                .image
                .value_exact((x as i64 - p.dx) as usize, (y as i64 - p.dy) as usize),
            None => Ok(None),
        }
    }

    fn locate(&self, x: f64, y: f64) -> Option<CcdPixel> {
        let (ix, iy) = (x.round() - 1.0, y.round() - 1.0);
        if !(ix >= 0.0 && iy >= 0.0) {
            return None;
        }
        let p = self.part_at(ix as usize, iy as usize)?;
        Some(CcdPixel {
            name: p.name.clone(),
            hdu: p.image.hdu(),
            x: x - p.dx as f64,
            y: y - p.dy as f64,
        })
    }

    fn part_header_at(&self, x: f64, y: f64) -> Option<(String, &Header, [i64; 2])> {
        // The CCD whose data section is nearest to (x, y) (0 inside it).
        let (x, y) = (x - 0.5, y - 0.5);
        let p = self.parts.iter().min_by(|a, b| {
            let d = |p: &Part| {
                let dx = (p.rect[0] as f64 - x).max(x - p.rect[1] as f64).max(0.0);
                let dy = (p.rect[2] as f64 - y).max(y - p.rect[3] as f64).max(0.0);
                dx * dx + dy * dy
            };
            d(a).total_cmp(&d(b))
        })?;
        Some((p.name.clone(), p.image.header(), [p.dx, p.dy]))
    }

    fn wcs(&self) -> Option<&Wcs> {
        self.wcs.as_ref()
    }
    fn wcs_error(&self) -> Option<&str> {
        self.wcs_error.as_deref()
    }
    fn cache_key(&self) -> RasterKey {
        RasterKey {
            path: std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone()),
            hdu: 0,
            plane: 0,
            version: self.version,
            variant: Some(self.layout.selector().to_owned()),
        }
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn hdu(&self) -> usize {
        0
    }
    fn selector(&self) -> String {
        self.layout.selector().to_owned()
    }
    fn bitpix(&self) -> i32 {
        self.parts[0].image.bitpix()
    }
    fn scaling(&self) -> (f64, f64, Option<i64>) {
        self.parts[0].image.scaling()
    }
    fn compressed(&self) -> bool {
        self.parts.iter().any(|p| p.image.compressed())
    }
    fn header(&self) -> &Header {
        &self.header
    }
    fn hdus(&self) -> &[HduSummary] {
        &self.hdus
    }
    fn bunit(&self) -> Option<&str> {
        self.header
            .str("BUNIT")
            .or_else(|| self.parts[0].image.bunit())
    }

    fn mosaic(&self) -> Option<&MosaicInfo> {
        Some(&self.info)
    }
    fn prefault(&self) {
        for p in &self.parts {
            p.image.prefault();
        }
    }
    fn raw_reads(&self) -> bool {
        self.parts.iter().all(|p| p.image.raw_reads())
    }
}
