//! Source detection: robust background and noise, pixels above `threshold`·σ, 8-connected groups of at
//! least `min_pixels`, then centroid, peak, flux and FWHM of each. The image is read in overlapping row
//! bands, so memory stays flat whatever its size.

use crate::error::{EngineError, Result};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use toyz_fits::Raster;

#[derive(Debug, Clone)]
pub struct DetectParams {
    /// Detection threshold in units of the background noise.
    pub threshold: f64,
    /// Smallest group of connected pixels above the threshold.
    pub min_pixels: usize,
    /// At most this many sources (the brightest) are returned.
    pub max_sources: usize,
    /// Rectangle (x0, y0, w, h), 0-based FITS order; None = the whole image.
    pub region: Option<(usize, usize, usize, usize)>,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            threshold: 5.0,
            min_pixels: 5,
            max_sources: 10_000,
            region: None,
        }
    }
}

/// One detected source.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Detection {
    /// Flux-weighted centroid, FITS pixels (1-based).
    pub x: f64,
    pub y: f64,
    /// Sky position in the image's frame (degrees), when it has a WCS.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// Highest background-subtracted value.
    pub peak: f64,
    /// Background-subtracted sum over the group.
    pub flux: f64,
    pub npix: usize,
    /// Full width at half maximum (pixels), from the area above half the peak.
    pub fwhm: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectResult {
    pub background: f64,
    pub noise: f64,
    /// Absolute level (physical units) pixels had to exceed.
    pub level: f64,
    pub sources: Vec<Detection>,
    /// True when more sources than `max_sources` were found.
    pub truncated: bool,
}

/// Median and 1.4826 × MAD of the finite values (a robust mean and σ for sky-dominated data).
pub fn robust_stats(values: &mut [f32]) -> Option<(f64, f64)> {
    let n = values.iter().filter(|v| v.is_finite()).count();
    if n == 0 {
        return None;
    }
    let mut v: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    let median = *m as f64;
    let mut dev: Vec<f32> = v
        .iter()
        .map(|x| ((*x as f64) - median).abs() as f32)
        .collect();
    let (_, d, _) = dev.select_nth_unstable_by(mid, f32::total_cmp);
    Some((median, 1.4826 * *d as f64))
}

const BAND: usize = 512;
const OVERLAP: usize = 32;

pub fn detect(
    img: &dyn Raster,
    sample: &crate::stats::Sample,
    p: &DetectParams,
    cancel: &AtomicBool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<DetectResult> {
    let (x0, y0, w, h) = p.region.unwrap_or((0, 0, img.width(), img.height()));
    if w == 0 || h == 0 || x0 + w > img.width() || y0 + h > img.height() {
        return Err(EngineError::Fits(toyz_fits::FitsError::OutOfBounds {
            x: x0 as i64,
            y: y0 as i64,
            w,
            h,
            width: img.width(),
            height: img.height(),
        }));
    }
    // Background and noise: from the region itself when it is small, else from the image's sample.
    let (background, noise) = if w * h <= 4 << 20 {
        let mut buf = vec![0f32; w * h];
        img.read_rect(x0, y0, w, h, &mut buf)?;
        robust_stats(&mut buf)
    } else {
        robust_stats(&mut sample.raw.clone())
    }
    .unwrap_or((0.0, 0.0));
    let level = background + p.threshold * noise.max(f64::MIN_POSITIVE);
    let mut sources = Vec::new();
    let bands = h.div_ceil(BAND) as u64;
    for (k, c0) in (y0..y0 + h).step_by(BAND).enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let c1 = (c0 + BAND).min(y0 + h);
        let r0 = c0.saturating_sub(OVERLAP).max(y0);
        let r1 = (c1 + OVERLAP).min(y0 + h);
        let rows = r1 - r0;
        let mut px = vec![0f32; w * rows];
        img.read_rect(x0, r0, w, rows, &mut px)?;
        for d in groups(&px, w, rows, level, p.min_pixels) {
            let (sx, sy, sw) = d.moments(&px, w, background);
            if sw <= 0.0 {
                continue;
            }
            let cy = sy / sw; // band row (0-based)
            let fy = r0 as f64 + cy; // 0-based image row
                                     // Each source belongs to the band whose core holds its centroid.
            if fy < c0 as f64 - 0.5 || fy >= c1 as f64 - 0.5 {
                continue;
            }
            let peak = d
                .pixels
                .iter()
                .map(|&i| px[i] as f64 - background)
                .fold(f64::MIN, f64::max);
            let half = d
                .pixels
                .iter()
                .filter(|&&i| px[i] as f64 - background >= peak / 2.0)
                .count();
            let (fx, fyy) = (x0 as f64 + sx / sw + 1.0, fy + 1.0);
            let world = img.wcs().and_then(|wcs| wcs.pixel_to_world(fx, fyy));
            sources.push(Detection {
                x: fx,
                y: fyy,
                lon: world.map(|w| w.0),
                lat: world.map(|w| w.1),
                peak,
                flux: sw,
                npix: d.pixels.len(),
                fwhm: 2.0 * (half as f64 / std::f64::consts::PI).sqrt(),
            });
        }
        progress(k as u64 + 1, bands);
    }
    sources.sort_by(|a, b| b.flux.total_cmp(&a.flux));
    let truncated = sources.len() > p.max_sources;
    sources.truncate(p.max_sources);
    Ok(DetectResult {
        background,
        noise,
        level,
        sources,
        truncated,
    })
}

struct Group {
    pixels: Vec<usize>,
}

impl Group {
    /// Σw·x, Σw·y, Σw with w = value − background, over the group (x, y in band pixel units).
    fn moments(&self, px: &[f32], w: usize, bg: f64) -> (f64, f64, f64) {
        let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
        for &i in &self.pixels {
            let v = px[i] as f64 - bg;
            sx += v * (i % w) as f64;
            sy += v * (i / w) as f64;
            sw += v;
        }
        (sx, sy, sw)
    }
}

/// 8-connected groups of finite pixels above `level` with at least `min` pixels.
fn groups(px: &[f32], w: usize, h: usize, level: f64, min: usize) -> Vec<Group> {
    let level = level as f32;
    let mut seen = vec![false; px.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..px.len() {
        if seen[start] || px[start].is_nan() || px[start] <= level {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut pixels = Vec::new();
        while let Some(i) = stack.pop() {
            pixels.push(i);
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if !seen[j] && px[j] > level {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if pixels.len() >= min {
            out.push(Group { pixels });
        }
    }
    out
}
