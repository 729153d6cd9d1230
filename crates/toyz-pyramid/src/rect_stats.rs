//! Exact statistics of any rectangle in flat memory: the rectangle is read in bands of about a million
//! pixels, once for count, sum, mean, standard deviation (Welford), minimum and maximum, then again
//! for the exact median, found by narrowing a 65 536-bin histogram onto the bin that holds the middle
//! rank until few enough values remain to sort. Memory stays at a band plus a histogram whatever the
//! rectangle's size, and a stop flag is checked between bands.

use crate::error::{EngineError, Result};
use toyz_fits::Raster;

/// Pixels per band read (about 4 MiB of f32).
const BAND_PIXELS: usize = 1 << 20;
const BINS: usize = 1 << 16;
/// Values collected and sorted once the middle rank's bin holds no more than this many.
const COLLECT: usize = 1 << 20;

/// Statistics of every pixel of a rectangle (`image.stats`); the median is exact.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RectStats {
    pub npix: usize,
    /// Pixels without a finite value (NaN, BLANK, infinities, gaps).
    pub nan: usize,
    pub sum: f64,
    /// None when no pixel is finite.
    pub mean: Option<f64>,
    pub median: Option<f64>,
    /// The population standard deviation.
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// The bytes [`rect_stats`] holds at most (for a memory budget).
pub const RECT_STATS_BYTES: u64 = (BAND_PIXELS * 4 + BINS * 24 + COLLECT * 8) as u64;

type Rect = (usize, usize, usize, usize);

/// Visit the finite values of `rect` band by band.
fn each_band(
    img: &dyn Raster,
    (x0, y0, w, h): Rect,
    stop: &dyn Fn() -> bool,
    mut f: impl FnMut(&[f32]),
) -> Result<()> {
    let rows = (BAND_PIXELS / w.max(1)).max(1);
    let mut buf = vec![0f32; w * rows.min(h)];
    let mut y = y0;
    while y < y0 + h {
        if stop() {
            return Err(EngineError::Cancelled);
        }
        let n = rows.min(y0 + h - y);
        let b = &mut buf[..w * n];
        img.read_rect(x0, y, w, n, b)?;
        f(b);
        y += n;
    }
    Ok(())
}

#[inline]
fn bin(v: f64, lo: f64, hi: f64) -> usize {
    if hi <= lo {
        return 0;
    }
    (((v - lo) / (hi - lo) * BINS as f64) as usize).min(BINS - 1)
}

pub fn rect_stats(img: &dyn Raster, rect: Rect, stop: &dyn Fn() -> bool) -> Result<RectStats> {
    let npix = rect.2 * rect.3;
    let (mut n, mut mean, mut m2, mut sum) = (0usize, 0f64, 0f64, 0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    each_band(img, rect, stop, |b| {
        for &v in b.iter().filter(|v| v.is_finite()) {
            let v = v as f64;
            n += 1;
            sum += v;
            let d = v - mean;
            mean += d / n as f64;
            m2 += d * (v - mean);
            min = min.min(v);
            max = max.max(v);
        }
    })?;
    if n == 0 {
        return Ok(RectStats {
            npix,
            nan: npix,
            sum: 0.0,
            mean: None,
            median: None,
            std: None,
            min: None,
            max: None,
        });
    }
    let lo_rank = kth(img, rect, stop, (n - 1) / 2, min, max)?;
    let median = if n % 2 == 1 {
        lo_rank
    } else {
        0.5 * (lo_rank + kth(img, rect, stop, n / 2, min, max)?)
    };
    Ok(RectStats {
        npix,
        nan: npix - n,
        sum,
        // The plain mean (as a sum divided) rounds like the textbook formula; Welford's running
        // mean only feeds the standard deviation.
        mean: Some(sum / n as f64),
        median: Some(median),
        std: Some((m2 / n as f64).sqrt()),
        min: Some(min),
        max: Some(max),
    })
}

/// The `k`-th smallest finite value (0-based) of `rect`, whose finite values lie in [min, max].
fn kth(
    img: &dyn Raster,
    rect: Rect,
    stop: &dyn Fn() -> bool,
    k: usize,
    min: f64,
    max: f64,
) -> Result<f64> {
    // The bins chosen so far: a value is still a candidate if it falls in each of them.
    let mut chain: Vec<(f64, f64, usize)> = Vec::new();
    let (mut lo, mut hi, mut below, mut count) = (min, max, 0usize, usize::MAX);
    let inside =
        |chain: &[(f64, f64, usize)], v: f64| chain.iter().all(|&(l, h, b)| bin(v, l, h) == b);
    loop {
        if lo == hi {
            return Ok(lo);
        }
        if count <= COLLECT {
            let mut vals = Vec::with_capacity(count);
            each_band(img, rect, stop, |b| {
                vals.extend(
                    b.iter()
                        .filter(|v| v.is_finite())
                        .map(|&v| v as f64)
                        .filter(|&v| inside(&chain, v)),
                );
            })?;
            vals.sort_unstable_by(f64::total_cmp);
            return Ok(vals[k - below]);
        }
        let mut counts = vec![0usize; BINS];
        let mut bmin = vec![f64::INFINITY; BINS];
        let mut bmax = vec![f64::NEG_INFINITY; BINS];
        each_band(img, rect, stop, |b| {
            for v in b.iter().filter(|v| v.is_finite()).map(|&v| v as f64) {
                if inside(&chain, v) {
                    let i = bin(v, lo, hi);
                    counts[i] += 1;
                    bmin[i] = bmin[i].min(v);
                    bmax[i] = bmax[i].max(v);
                }
            }
        })?;
        let mut acc = below;
        let i = (0..BINS)
            .find(|&i| {
                acc += counts[i];
                acc > k
            })
            .expect("the rank lies in the range");
        below = acc - counts[i];
        count = counts[i];
        chain.push((lo, hi, i));
        (lo, hi) = (bmin[i], bmax[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toyz_skygen::{write_fits, SkySpec};

    fn reference(v: &[f32]) -> (usize, f64, f64, f64, f64) {
        let mut f: Vec<f64> = v
            .iter()
            .filter(|x| x.is_finite())
            .map(|&x| x as f64)
            .collect();
        f.sort_by(f64::total_cmp);
        let n = f.len();
        let median = if n % 2 == 1 {
            f[n / 2]
        } else {
            0.5 * (f[n / 2 - 1] + f[n / 2])
        };
        let mean = f.iter().sum::<f64>() / n as f64;
        let std = (f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        (n, median, mean, std, f[n - 1])
    }

    #[test]
    fn exact_median_in_flat_memory_matches_a_full_sort() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.fits");
        let mut spec = SkySpec::new(1500, 1400);
        spec.nan_patches = true;
        write_fits(&p, &spec).unwrap();
        let img = toyz_fits::open_raster(&p, &toyz_fits::HduSel::Auto, 0).unwrap();
        let never = || false;
        for rect in [
            (0, 0, 1500, 1400),
            (3, 7, 1001, 999),
            (10, 10, 1, 1),
            (0, 0, 1500, 1),
        ] {
            let mut v = vec![0f32; rect.2 * rect.3];
            img.read_rect(rect.0, rect.1, rect.2, rect.3, &mut v)
                .unwrap();
            let (n, median, mean, std, max) = reference(&v);
            let s = rect_stats(&*img, rect, &never).unwrap();
            assert_eq!(
                (s.npix - s.nan, s.median, s.max),
                (n, Some(median), Some(max)),
                "{rect:?}"
            );
            assert!((s.mean.unwrap() - mean).abs() <= 1e-9 * mean.abs().max(1.0));
            assert!((s.std.unwrap() - std).abs() <= 1e-6 * std.max(1.0));
        }
        // Cancelled between bands.
        let e = rect_stats(&*img, (0, 0, 1500, 1400), &|| true).unwrap_err();
        assert!(matches!(e, EngineError::Cancelled));
    }

    #[test]
    fn narrowing_terminates_on_repeated_and_extreme_values() {
        // Many equal values and one far outlier per thousand: everything but the outliers lands in
        // the first bin at every level.
        let v: Vec<f32> = (0..3_000_000)
            .map(|i| match i % 1000 {
                0 => 1e30,
                1 => f32::NAN,
                2 => -(i as f32),
                3 => f32::INFINITY,
                _ => 5.0,
            })
            .collect();
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.fits");
        toyz_skygen::write_f32(&p, 3000, 1000, &v).unwrap();
        let img = toyz_fits::open_raster(&p, &toyz_fits::HduSel::Auto, 0).unwrap();
        let (n, median, _, _, max) = reference(&v);
        let s = rect_stats(&*img, (0, 0, 3000, 1000), &|| false).unwrap();
        assert_eq!(
            (s.npix - s.nan, s.median, s.max),
            (n, Some(median), Some(max))
        );
        // An even count: the mean of the two middle values.
        let s = rect_stats(&*img, (0, 0, 3000, 2), &|| false).unwrap();
        let mut two = vec![0f32; 6000];
        img.read_rect(0, 0, 3000, 2, &mut two).unwrap();
        assert_eq!(s.median, Some(reference(&two).1));
    }
}
