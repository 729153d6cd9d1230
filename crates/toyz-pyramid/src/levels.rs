//! Float levels: the NaN-aware 2×2 mean that builds level z−1 from level z. Rows are top-origin (row 0
//! is the top of the displayed image), blocks are anchored at the top-left like the tiles.

use rayon::prelude::*;

/// Shrink `src` (`w`×`h`, row-major) by two into `dst` (`ceil(w/2)`×`ceil(h/2)`). Each output pixel is the
/// mean of the finite pixels of its block (partial blocks at the right/bottom edge use what exists);
/// a block with no finite pixel stays NaN, so NaN never spreads and a star never vanishes next to one.
pub fn downsample(src: &[f32], w: usize, h: usize, dst: &mut [f32]) {
    let (ow, oh) = (w.div_ceil(2), h.div_ceil(2));
    assert!(src.len() >= w * h && dst.len() >= ow * oh);
    dst[..ow * oh]
        .par_chunks_mut(ow)
        .enumerate()
        .for_each(|(j, out)| {
            let r0 = &src[2 * j * w..(2 * j + 1) * w];
            let r1 = if 2 * j + 1 < h {
                Some(&src[(2 * j + 1) * w..(2 * j + 2) * w])
            } else {
                None
            };
            downsample_row(r0, r1, w, out);
        });
}

#[inline]
fn downsample_row(r0: &[f32], r1: Option<&[f32]>, w: usize, out: &mut [f32]) {
    let full = w / 2;
    match r1 {
        Some(r1) => {
            for (i, o) in out[..full].iter_mut().enumerate() {
                let (a, b, c, d) = (r0[2 * i], r0[2 * i + 1], r1[2 * i], r1[2 * i + 1]);
                let s = a + b + c + d;
                *o = if s.is_nan() {
                    mean_finite(&[a, b, c, d])
                } else {
                    s * 0.25
                };
            }
            if w % 2 == 1 {
                out[full] = mean_finite(&[r0[w - 1], r1[w - 1]]);
            }
        }
        None => {
            for (i, o) in out[..full].iter_mut().enumerate() {
                *o = mean_finite(&[r0[2 * i], r0[2 * i + 1]]);
            }
            if w % 2 == 1 {
                out[full] = r0[w - 1];
            }
        }
    }
}

#[inline]
fn mean_finite(v: &[f32]) -> f32 {
    let (mut s, mut n) = (0f32, 0u32);
    for &x in v {
        if x.is_finite() {
            s += x;
            n += 1;
        }
    }
    if n == 0 {
        f32::NAN
    } else {
        s / n as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_of_blocks() {
        #[rustfmt::skip]
        let src = [
            1.0, 3.0, 5.0,
            5.0, 7.0, 9.0,
            2.0, 2.0, 4.0,
        ];
        let mut dst = [0f32; 4];
        downsample(&src, 3, 3, &mut dst);
        assert_eq!(dst, [4.0, 7.0, 2.0, 4.0]);
    }

    #[test]
    fn nan_does_not_spread_and_all_nan_stays_nan() {
        let n = f32::NAN;
        #[rustfmt::skip]
        let src = [
            n, 8.0, n, n,
            n, n,   n, n,
        ];
        let mut dst = [0f32; 2];
        downsample(&src, 4, 2, &mut dst);
        assert_eq!(dst[0], 8.0, "a star next to NaNs keeps its value");
        assert!(dst[1].is_nan());
    }

    #[test]
    fn infinities_count_as_missing() {
        let src = [f32::INFINITY, 2.0, 4.0, f32::NEG_INFINITY];
        let mut dst = [0f32; 1];
        downsample(&src, 2, 2, &mut dst);
        assert_eq!(dst[0], 3.0);
    }
}
