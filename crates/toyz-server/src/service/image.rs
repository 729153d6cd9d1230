//! Operations on an open image, shared by the HTTP handlers and the WebSocket jobs.

use crate::error::{ApiError, Kind};
use crate::state::OpenSource;
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
