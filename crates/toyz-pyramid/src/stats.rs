//! NaN-aware statistics from a sample of the image: min/max, mean, median, std, percentiles, histogram
//! and IRAF's zscale, plus resolving a `Cut` to lo/hi levels. Sampling reads blocks spread over the image.

use crate::spec::Cut;
use serde::{Deserialize, Serialize};
use toyz_fits::Raster;

/// Pixels read for statistics (about): enough for stable percentiles, cheap even on .fz files.
pub const SAMPLE_TARGET: usize = 1 << 20;

/// A sample of finite pixel values (sorted) and how many NaNs were seen.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Finite values, in the order they were read (for zscale's strided subsample).
    pub raw: Vec<f32>,
    /// The same values, sorted.
    pub sorted: Vec<f32>,
    pub nan_count: usize,
    /// Infinite values (+inf and -inf): no finite value either, but not NaN.
    pub inf_count: usize,
}

impl Sample {
    pub fn from_values(values: impl IntoIterator<Item = f32>) -> Sample {
        let mut raw = Vec::new();
        let (mut nan_count, mut inf_count) = (0, 0);
        for v in values {
            if v.is_finite() {
                raw.push(v);
            } else {
                if v.is_infinite() {
                    inf_count += 1;
                } else {
                    nan_count += 1;
                }
            }
        }
        let mut sorted = raw.clone();
        sorted.sort_unstable_by(f32::total_cmp);
        Sample {
            raw,
            sorted,
            nan_count,
            inf_count,
        }
    }

    /// Read about `target` pixels of `img` as a grid of square blocks (all of it when small).
    pub fn read(img: &dyn Raster, target: usize) -> toyz_fits::Result<Sample> {
        let (w, h) = (img.width(), img.height());
        if w * h <= target {
            let mut buf = vec![0f32; w * h];
            img.read_rect(0, 0, w, h, &mut buf)?;
            return Ok(Sample::from_values(buf));
        }
        let b = 64.min(w).min(h);
        let blocks = (target / (b * b)).max(1);
        // A grid of nx × ny blocks with the image's aspect ratio.
        let aspect = w as f64 / h as f64;
        let nx = ((blocks as f64 * aspect).sqrt().round() as usize).clamp(1, w / b);
        let ny = (blocks / nx).clamp(1, h / b);
        let mut coords = Vec::with_capacity(nx * ny);
        for j in 0..ny {
            for i in 0..nx {
                let x = (i * (w - b)) / (nx.max(2) - 1).max(1);
                let y = (j * (h - b)) / (ny.max(2) - 1).max(1);
                coords.push((x.min(w - b), y.min(h - b)));
            }
        }
        use rayon::prelude::*;
        let parts: Vec<Vec<f32>> = coords
            .par_iter()
            .map(|&(x, y)| {
                let mut buf = vec![0f32; b * b];
                img.read_rect(x, y, b, b, &mut buf).map(|_| buf)
            })
            .collect::<Result<_, _>>()?;
        Ok(Sample::from_values(parts.into_iter().flatten()))
    }

    /// numpy-style percentile (linear interpolation), p in [0, 100].
    pub fn percentile(&self, p: f64) -> Option<f64> {
        percentile_sorted(&self.sorted, p)
    }
}

pub fn percentile_sorted(sorted: &[f32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let f = pos - i as f64;
    let a = sorted[i] as f64;
    let b = sorted[(i + 1).min(sorted.len() - 1)] as f64;
    Some(a + (b - a) * f)
}

/// IRAF zscale as astropy's ZScaleInterval implements it (nsamples 1000, contrast 0.25, krej 2.5,
/// max_reject 0.5, min_npixels 5, 5 iterations), on a strided subsample of `values`.
pub fn zscale(values: &[f32]) -> Option<(f64, f64)> {
    const N_SAMPLES: usize = 1000;
    const CONTRAST: f64 = 0.25;
    const KREJ: f64 = 2.5;
    const MAX_REJECT: f64 = 0.5;
    const MIN_NPIXELS: usize = 5;
    const MAX_ITER: usize = 5;
    let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let stride = ((finite.len() as f64 / N_SAMPLES as f64).max(1.0)) as usize;
    let mut s: Vec<f64> = finite
        .iter()
        .step_by(stride)
        .take(N_SAMPLES)
        .map(|&v| v as f64)
        .collect();
    s.sort_unstable_by(f64::total_cmp);
    let npix = s.len();
    let (mut vmin, mut vmax) = (s[0], s[npix - 1]);
    let minpix = MIN_NPIXELS.max((npix as f64 * MAX_REJECT) as usize);
    let ngrow = 1.max((npix as f64 * 0.01) as usize);
    let mut bad = vec![false; npix];
    let mut ngood = npix;
    let mut last_ngood = npix + 1;
    let mut fit = (0.0, 0.0);
    for _ in 0..MAX_ITER {
        if ngood >= last_ngood || ngood < minpix {
            break;
        }
        // Weighted least-squares line through the good points.
        let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &v) in s.iter().enumerate() {
            if !bad[i] {
                let x = i as f64;
                sw += 1.0;
                sx += x;
                sy += v;
                sxx += x * x;
                sxy += x * v;
            }
        }
        let den = sw * sxx - sx * sx;
        let slope = if den != 0.0 {
            (sw * sxy - sx * sy) / den
        } else {
            0.0
        };
        let icpt = (sy - slope * sx) / sw;
        fit = (slope, icpt);
        let flat: Vec<f64> = s
            .iter()
            .enumerate()
            .map(|(i, &v)| v - (slope * i as f64 + icpt))
            .collect();
        let good: Vec<f64> = flat
            .iter()
            .zip(&bad)
            .filter(|(_, &b)| !b)
            .map(|(&f, _)| f)
            .collect();
        let mean = good.iter().sum::<f64>() / good.len() as f64;
        let std = (good.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / good.len() as f64).sqrt();
        let thr = KREJ * std;
        for (i, f) in flat.iter().enumerate() {
            if *f < -thr || *f > thr {
                bad[i] = true;
            }
        }
        // Grow rejected points like numpy.convolve(bad, ones(ngrow), "same").
        let mut grown = vec![false; npix];
        for (i, g) in grown.iter_mut().enumerate() {
            let lo = i.saturating_sub(ngrow / 2);
            let hi = (i + (ngrow - 1) / 2).min(npix - 1);
            *g = bad[lo..=hi].iter().any(|&b| b);
        }
        bad = grown;
        last_ngood = ngood;
        ngood = bad.iter().filter(|&&b| !b).count();
    }
    if ngood >= minpix {
        let slope = fit.0 / CONTRAST;
        let center = (npix - 1) / 2;
        let median = if npix % 2 == 1 {
            s[npix / 2]
        } else {
            0.5 * (s[npix / 2 - 1] + s[npix / 2])
        };
        vmin = vmin.max(median - (center as f64 - 1.0) * slope);
        vmax = vmax.min(median + (npix - center) as f64 * slope);
    }
    Some((vmin, vmax))
}

/// A histogram of the sample between `lo` and `hi`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn of(sorted: &[f32], lo: f64, hi: f64, bins: usize) -> Histogram {
        let bins = bins.max(1);
        let mut counts = vec![0u64; bins];
        let span = hi - lo;
        for &v in sorted {
            let v = v as f64;
            if v < lo || v > hi {
                continue;
            }
            let i = if span > 0.0 {
                (((v - lo) / span) * bins as f64) as usize
            } else {
                0
            };
            counts[i.min(bins - 1)] += 1;
        }
        Histogram { lo, hi, counts }
    }
}

/// What is stored once per source and shown by `toyz info`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Stats {
    pub sample_size: usize,
    /// NaN and BLANK pixels of the sample.
    pub sample_nan: usize,
    /// Infinite pixels of the sample (an all-inf image is not reported as NaN).
    #[serde(default)]
    pub sample_inf: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub std: Option<f64>,
    pub zscale: Option<[f64; 2]>,
    /// 0.5, 1, 5, 25, 75, 95, 99, 99.5 percentiles.
    pub percentiles: Vec<[f64; 2]>,
    /// 256 bins between min and max.
    pub histogram: Histogram,
}

impl Stats {
    pub fn of(sample: &Sample) -> Stats {
        let s = &sample.sorted;
        let n = s.len();
        let mean = (n > 0).then(|| s.iter().map(|&v| v as f64).sum::<f64>() / n as f64);
        let std = mean
            .map(|m| (s.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n as f64).sqrt());
        let min = s.first().map(|&v| v as f64);
        let max = s.last().map(|&v| v as f64);
        Stats {
            sample_size: n + sample.nan_count + sample.inf_count,
            sample_nan: sample.nan_count,
            sample_inf: sample.inf_count,
            min,
            max,
            mean,
            median: sample.percentile(50.0),
            std,
            zscale: zscale(&sample.raw).map(|(a, b)| [a, b]),
            percentiles: [0.5, 1.0, 5.0, 25.0, 75.0, 95.0, 99.0, 99.5]
                .iter()
                .filter_map(|&p| sample.percentile(p).map(|v| [p, v]))
                .collect(),
            histogram: Histogram::of(s, min.unwrap_or(0.0), max.unwrap_or(0.0), 256),
        }
    }
}

/// Resolve a cut to (lo, hi) levels. `exact_minmax` overrides the sample's min/max when known.
/// Degenerate ranges (flat images) are widened so rendering never divides by zero.
pub fn resolve_cut(cut: &Cut, sample: &Sample, exact_minmax: Option<(f64, f64)>) -> (f64, f64) {
    let (lo, hi) = match *cut {
        Cut::Range { lo, hi } => (lo, hi),
        Cut::MinMax => exact_minmax.unwrap_or((
            sample.percentile(0.0).unwrap_or(0.0),
            sample.percentile(100.0).unwrap_or(1.0),
        )),
        Cut::Percentile { lo, hi } => (
            sample.percentile(lo).unwrap_or(0.0),
            sample.percentile(hi).unwrap_or(1.0),
        ),
        Cut::Zscale => zscale(&sample.raw).unwrap_or((0.0, 1.0)),
    };
    if hi > lo {
        (lo, hi)
    } else {
        let d = (lo.abs() * 1e-6).max(1e-6);
        (lo - d, lo + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        let s = Sample::from_values([4.0, 1.0, f32::NAN, 3.0, 2.0]);
        assert_eq!(s.nan_count, 1);
        assert_eq!(s.percentile(0.0), Some(1.0));
        assert_eq!(s.percentile(100.0), Some(4.0));
        assert_eq!(s.percentile(50.0), Some(2.5));
        // numpy.percentile([1,2,3,4], 10) = 1.3
        assert!((s.percentile(10.0).unwrap() - 1.3).abs() < 1e-12);
    }

    /// Reference from astropy 8.0.2 `ZScaleInterval().get_limits(d)` on the same float32 data:
    /// u = frac(i·0.6180339887), d = 1000 + 240 (u − 0.5)³ for i < 20000, then 200 outliers at 5e4.
    #[test]
    fn zscale_matches_astropy() {
        let mut data: Vec<f32> = (0..20000)
            .map(|i| {
                let u = (i as f64 * 0.6180339887) % 1.0;
                (1000.0 + 240.0 * (u - 0.5).powi(3)) as f32
            })
            .collect();
        data.extend(std::iter::repeat_n(5e4f32, 200));
        let (lo, hi) = zscale(&data).unwrap();
        assert!((lo - 970.0).abs() < 1e-2, "lo {lo} vs astropy 970.0");
        assert!(
            (hi - 1029.8444).abs() < 1e-2,
            "hi {hi} vs astropy 1029.8444"
        );
    }

    #[test]
    fn flat_image_gets_a_usable_range() {
        let s = Sample::from_values(vec![5.0; 100]);
        let (lo, hi) = resolve_cut(&Cut::MinMax, &s, None);
        assert!(lo < 5.0 && hi > 5.0);
        let empty = Sample::from_values(vec![f32::NAN; 10]);
        let (lo, hi) = resolve_cut(&Cut::Zscale, &empty, None);
        assert!(hi > lo);
    }

    #[test]
    fn histogram_counts_everything_in_range() {
        let s = Sample::from_values((0..100).map(|v| v as f32));
        let h = Histogram::of(&s.sorted, 0.0, 99.0, 10);
        assert_eq!(h.counts.iter().sum::<u64>(), 100);
        assert_eq!(h.counts[0], 10);
    }
}
