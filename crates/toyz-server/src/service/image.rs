//! Operations on an open image, shared by the HTTP handlers and the WebSocket jobs.

use crate::error::{ApiError, Kind};
use crate::sources::OpenSource;
use serde::Serialize;
use std::borrow::Cow;

/// A rectangle of FITS pixels `[x1, y1, x2, y2]` (inclusive; default the whole image) checked against
/// the image: its 0-based corner and size `(x0, y0, w, h)`.
pub fn rect(
    o: &OpenSource,
    r: Option<[usize; 4]>,
) -> Result<(usize, usize, usize, usize), ApiError> {
    let (w, h) = (o.src.image.width(), o.src.image.height());
    let [x1, y1, x2, y2] = r.unwrap_or([1, 1, w, h]);
    if x1 < 1 || y1 < 1 || x2 < x1 || y2 < y1 || x2 > w || y2 > h {
        return Err(ApiError::of(
            Kind::BadParams,
            format!(
            "rect [{x1}, {y1}, {x2}, {y2}] is not inside the {w}x{h} image (FITS pixels, inclusive)"
        ),
        ));
    }
    Ok((x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1))
}

/// What a histogram is of: bins (1…65 536, default 256), a range (default the values' min and max),
/// and a rectangle (default the image's statistics sample).
#[derive(Default)]
pub struct HistogramArgs {
    pub bins: Option<usize>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub rect: Option<[usize; 4]>,
}

/// Memory a histogram of a rectangle holds: its values read with a stride that keeps them near
/// 4 Mpixels (16 MiB of f32), and a row.
pub const HISTOGRAM_RECT_BYTES: u64 = 32 << 20;

/// A histogram: `GET /api/histogram` and `image.histogram`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct HistogramReply {
    pub path: String,
    pub hdu: usize,
    pub lo: f64,
    pub hi: f64,
    pub bins: usize,
    pub counts: Vec<u64>,
    /// Pixels counted: the sample's (finite, NaN and infinite), or those the stride read.
    pub sample_size: usize,
    /// Of those, the ones that are not finite.
    pub sample_nan: usize,
    /// The rectangle read (FITS pixels, inclusive) and the stride of its rows and columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rect: Option<[usize; 4]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
}

/// The histogram of the image's statistics sample, or of a rectangle read with a stride that keeps it
/// near 4 Mpixels (the caller reserves [`HISTOGRAM_RECT_BYTES`] for it). Blocking; `stop` is asked
/// between rows.
pub fn histogram(
    o: &OpenSource,
    a: &HistogramArgs,
    stop: &dyn Fn() -> bool,
) -> Result<HistogramReply, ApiError> {
    let bins = a.bins.unwrap_or(256);
    if !(1..=65536).contains(&bins) {
        return Err(ApiError::of(
            Kind::BadParams,
            "bins must be between 1 and 65536",
        ));
    }
    let st = &o.src.stats;
    let (vals, min, max, size, nan, rect_read) = match a.rect {
        None => (
            Cow::Borrowed(&o.src.sample.sorted[..]),
            st.min,
            st.max,
            st.sample_size,
            st.sample_nan,
            None,
        ),
        Some(r) => {
            let (x0, y0, w, h) = rect(o, Some(r))?;
            let stride = ((w * h) as f64 / (4 << 20) as f64).sqrt().ceil().max(1.0) as usize;
            let mut row = vec![0f32; w];
            let mut vals: Vec<f32> = Vec::with_capacity((w / stride + 1) * (h / stride + 1));
            let mut nan = 0usize;
            for y in (y0..y0 + h).step_by(stride) {
                if stop() {
                    return Err(ApiError::of(Kind::Cancelled, "the job was stopped"));
                }
                o.src
                    .image
                    .read_rect(x0, y, w, 1, &mut row)
                    .map_err(|e| o.read_error(toyz_pyramid::EngineError::Fits(e)))?;
                for &v in row.iter().step_by(stride) {
                    if v.is_finite() {
                        vals.push(v)
                    } else {
                        nan += 1
                    }
                }
            }
            let min = vals.iter().map(|&v| v as f64).reduce(f64::min);
            let max = vals.iter().map(|&v| v as f64).reduce(f64::max);
            let size = vals.len() + nan;
            let read = ([x0 + 1, y0 + 1, x0 + w, y0 + h], stride);
            (Cow::Owned(vals), min, max, size, nan, Some(read))
        }
    };
    let lo = a.lo.or(min).unwrap_or(0.0);
    let hi = a.hi.or(max).unwrap_or(1.0);
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(ApiError::of(Kind::BadParams, "need finite lo <= hi"));
    }
    let h = toyz_pyramid::Histogram::of(&vals, lo, hi, bins);
    Ok(HistogramReply {
        path: o.public.clone(),
        hdu: o.src.image.hdu(),
        lo: h.lo,
        hi: h.hi,
        bins,
        counts: h.counts,
        sample_size: size,
        sample_nan: nan,
        rect: rect_read.map(|r| r.0),
        stride: rect_read.map(|r| r.1),
    })
}

/// The readout at FITS pixel (`x`, `y`): `Ok(Ok(pixel))` inside the image (the stored value exactly,
/// its world position, its CCD on a mosaic), `Ok(Err(outside))` for a point outside it, and `Err` for
/// a read that failed (the file changed since it was opened: `not_found`; a disk error). The cursor
/// readout (`image.pixels`) shows an outside point; `/api/pixel` answers it `out_of_bounds`. Blocking.
pub fn pixel(
    o: &OpenSource,
    x: f64,
    y: f64,
) -> Result<Result<toyz_fits::PixelValue, toyz_fits::FitsError>, ApiError> {
    match toyz_fits::pixel_at(&*o.src.image, x, y) {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.error_kind() == toyz_fits::ErrorKind::OutOfBounds => Ok(Err(e)),
        Err(e) => Err(o.read_error(toyz_pyramid::EngineError::Fits(e))),
    }
}

/// The image's celestial WCS, or `no_wcs`.
pub fn wcs(o: &OpenSource) -> Result<&toyz_fits::Wcs, ApiError> {
    o.src
        .image
        .wcs()
        .ok_or_else(|| ApiError::of(Kind::NoWcs, format!("{} has no celestial WCS", o.public)))
}

/// FITS pixels of sky positions.
#[derive(Serialize, schemars::JsonSchema)]
pub struct SkyPixels {
    /// The image's celestial frame the positions were converted to.
    pub frame: String,
    /// [x, y] per position; null where it does not project.
    pub pixels: Vec<Option<[f64; 2]>>,
}

/// FITS pixels of sky positions (degrees) given in `frame` (default the image's): `image.sky_to_pixel`.
pub fn sky_to_pixels(
    o: &OpenSource,
    points: &[[f64; 2]],
    frame: Option<&str>,
) -> Result<SkyPixels, ApiError> {
    let to = wcs(o)?.frame().to_owned();
    let from = frame
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| to.clone());
    if toyz_fits::convert_frame(0.0, 0.0, &from, &to).is_none() {
        return Err(ApiError::of(
            Kind::BadParams,
            format!(
                "cannot convert {from} positions to this image's {to} frame \
                 (icrs, fk5, j2000, galactic and ecliptic are known)"
            ),
        ));
    }
    let pixels = points
        .iter()
        .map(|&[l, b]| {
            toyz_fits::convert_frame(l, b, &from, &to)
                .and_then(|(l, b)| toyz_fits::sky_to_pixel(&*o.src.image, l, b).ok())
                .map(|(x, y)| [x, y])
        })
        .collect();
    Ok(SkyPixels { frame: to, pixels })
}

/// The coordinate grid over `rect` (FITS pixels, default the image) with about `lines` lines per axis
/// (default 6): `image.graticule`.
pub fn graticule(
    o: &OpenSource,
    rect: Option<[f64; 4]>,
    lines: Option<usize>,
) -> Result<toyz_fits::Graticule, ApiError> {
    let wcs = wcs(o)?;
    let (w, h) = (o.src.image.width() as f64, o.src.image.height() as f64);
    let rect = rect.unwrap_or([0.5, 0.5, w + 0.5, h + 0.5]);
    let [x1, y1, x2, y2] = rect;
    let finite = rect.iter().all(|v| v.is_finite());
    if !finite || x2 <= x1 || y2 <= y1 || (x2 - x1).max(y2 - y1) > 64.0 * w.max(h) {
        return Err(ApiError::of(
            Kind::BadParams,
            format!("rect {rect:?} must be [x1, y1, x2, y2] with x1 < x2, y1 < y2, near the image"),
        ));
    }
    Ok(toyz_fits::graticule(wcs, rect, lines.unwrap_or(6)))
}

/// A sample of a profile.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ProfilePoint {
    /// Distance from `from`, in pixels.
    pub d: f64,
    pub x: f64,
    pub y: f64,
    /// The value of the nearest pixel (null outside the image or undefined).
    #[schemars(with = "Option<f64>")]
    pub value: Option<toyz_fits::Value>,
}

/// Values along a line.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Profile {
    pub length: f64,
    pub points: Vec<ProfilePoint>,
}

/// The values along the line `from` → `to` (FITS pixels, nearest pixel), `samples` of them (default one
/// a pixel, 2…100 000): `image.profile`.
pub fn profile(
    o: &OpenSource,
    from: [f64; 2],
    to: [f64; 2],
    samples: Option<usize>,
) -> Result<Profile, ApiError> {
    let img = &*o.src.image;
    let ([x1, y1], [x2, y2]) = (from, to);
    if ![x1, y1, x2, y2].iter().all(|v| v.is_finite()) {
        return Err(ApiError::of(Kind::BadParams, "from and to must be finite"));
    }
    let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt();
    let n = samples.unwrap_or(len.ceil() as usize + 1).clamp(2, 100_000);
    let points = (0..n)
        .map(|i| {
            let t = i as f64 / (n - 1) as f64;
            let (x, y) = (x1 + t * (x2 - x1), y1 + t * (y2 - y1));
            let value = toyz_fits::pixel_at(img, x, y).ok().and_then(|v| v.value);
            ProfilePoint {
                d: t * len,
                x,
                y,
                value,
            }
        })
        .collect();
    Ok(Profile {
        length: len,
        points,
    })
}

/// Statistics of every pixel of a rectangle.
#[derive(Serialize, schemars::JsonSchema)]
pub struct RectStats {
    /// The rectangle read, FITS pixels [x1, y1, x2, y2] inclusive.
    pub rect: [usize; 4],
    #[serde(flatten)]
    pub stats: toyz_pyramid::rect_stats::RectStats,
}

/// Statistics of every pixel of `rect` (default the image), read in bands so memory stays flat
/// (`RECT_STATS_BYTES`, which the caller reserves); `stop` is asked between bands (`cancelled`):
/// `image.stats`.
pub fn rect_stats(
    o: &OpenSource,
    r: Option<[usize; 4]>,
    stop: &dyn Fn() -> bool,
) -> Result<RectStats, ApiError> {
    let (x0, y0, w, h) = rect(o, r)?;
    let stats =
        toyz_pyramid::rect_stats::rect_stats(&*o.src.image, (x0, y0, w, h), stop).map_err(|e| {
            match e {
                toyz_pyramid::EngineError::Cancelled => {
                    ApiError::of(Kind::Cancelled, "the job was stopped")
                }
                e => o.read_error(e),
            }
        })?;
    Ok(RectStats {
        rect: [x0 + 1, y0 + 1, x0 + w, y0 + h],
        stats,
    })
}

/// What to detect sources in, and how: a rectangle (default the image), the threshold in σ above the
/// background (default 5), the fewest connected pixels (5), the most sources kept (10 000).
#[derive(Default)]
pub struct DetectArgs {
    pub rect: Option<[usize; 4]>,
    pub threshold: Option<f64>,
    pub min_pixels: Option<usize>,
    pub max_sources: Option<usize>,
}

/// Sources found, brightest first.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Detected {
    /// The robust background and noise (σ) of the rectangle, in the image's unit.
    pub background: f64,
    pub noise: f64,
    /// The level a pixel had to exceed (background + threshold × noise).
    pub level: f64,
    /// The image's celestial frame of `lon`/`lat` (null without a WCS).
    pub frame: Option<String>,
    pub count: usize,
    /// True when more than `max_sources` were found.
    pub truncated: bool,
    pub sources: Vec<toyz_pyramid::detect::Detection>,
}

/// The bytes [`detect`] holds for a rectangle `w` pixels wide: bands of up to 576 rows with their
/// labels and masks (the caller reserves them).
pub fn detect_bytes(w: usize) -> u64 {
    (576 * w * 16) as u64
}

/// Find sources (`sources.detect`): background and noise, connected pixels above the threshold,
/// centroid, peak, flux, FWHM and sky position; `cancel` is asked between bands, `progress` told after each.
pub fn detect(
    o: &OpenSource,
    a: &DetectArgs,
    cancel: &std::sync::atomic::AtomicBool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Detected, ApiError> {
    let (x0, y0, w, h) = rect(o, a.rect)?;
    let params = toyz_pyramid::detect::DetectParams {
        threshold: a.threshold.unwrap_or(5.0),
        min_pixels: a.min_pixels.unwrap_or(5).max(1),
        max_sources: a.max_sources.unwrap_or(10_000),
        region: Some((x0, y0, w, h)),
    };
    if !(params.threshold.is_finite() && params.threshold > 0.0) {
        return Err(ApiError::of(
            Kind::BadParams,
            "threshold must be a positive number of σ",
        ));
    }
    let r = toyz_pyramid::detect::detect(&*o.src.image, &o.src.sample, &params, cancel, progress)
        .map_err(|e| crate::error::engine_error(e, &o.public))?;
    Ok(Detected {
        background: r.background,
        noise: r.noise,
        level: r.level,
        frame: o.src.image.wcs().map(|w| w.frame().to_owned()),
        count: r.sources.len(),
        truncated: r.truncated,
        sources: r.sources,
    })
}
