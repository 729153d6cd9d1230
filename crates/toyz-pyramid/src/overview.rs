//! A quick overview of a never-seen image: one coarse level made from every n-th row (each averaged
//! over n columns), read in a fraction of the time of a full pass, so the first view can be shown while
//! the float levels are built. Its tiles are provisional: the server never caches them.

use crate::error::Result;
use crate::geometry::{TileCoord, TILE};
use crate::levels::downsample;
use crate::render::Renderer;
use crate::source::Source;
use rayon::prelude::*;

/// Level `z` of the pyramid, approximated: row r is the mean of full-resolution row r·f + f/2 over
/// each block of f columns (f = 2^(zmax − z)), top row first.
#[derive(Debug)]
pub struct Overview {
    pub z: u32,
    pub width: usize,
    pub height: usize,
    data: Vec<f32>,
}

impl Overview {
    /// The overview at the largest level whose longer side is at most `max_side` pixels. With
    /// row-tiled compression (fpack's default) only the rows read are decompressed.
    pub fn build(src: &Source, max_side: usize) -> Result<Overview> {
        let g = src.geometry;
        let mut z = g.zmax;
        while z > 0 && {
            let (w, h) = g.level_size(z);
            w.max(h) > max_side
        } {
            z -= 1;
        }
        let (w, h) = g.level_size(z);
        let f = 1usize << (g.zmax - z);
        let full_w = g.width;
        let rows: Vec<Vec<f32>> = (0..h)
            .into_par_iter()
            .map(|r| -> Result<Vec<f32>> {
                let top = (r * f + f / 2).min(g.height - 1);
                let mut row = vec![0f32; full_w];
                src.image.read_band(top, 1, &mut row)?;
                Ok(row
                    .chunks(f)
                    .map(|block| {
                        let (s, n) = block
                            .iter()
                            .filter(|v| v.is_finite())
                            .fold((0f64, 0u32), |(s, n), &v| (s + v as f64, n + 1));
                        if n == 0 {
                            f32::NAN
                        } else {
                            (s / n as f64) as f32
                        }
                    })
                    .collect())
            })
            .collect::<Result<_>>()?;
        let data: Vec<f32> = rows.into_iter().flatten().collect();
        debug_assert_eq!(data.len(), w * h);
        Ok(Overview {
            z,
            width: w,
            height: h,
            data,
        })
    }

    /// The overview's value at column `x`, row `y` (top row first).
    pub fn value(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Render tile `t` (level ≤ the overview's) from the overview, shrinking it by NaN-aware 2×2 means
    /// for lower levels. None for levels above the overview's.
    pub fn render(&self, renderer: &Renderer, t: TileCoord) -> Option<Vec<u8>> {
        if t.z > self.z {
            return None;
        }
        let (mut data, mut w, mut h) = (
            std::borrow::Cow::Borrowed(&self.data[..]),
            self.width,
            self.height,
        );
        for _ in t.z..self.z {
            let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
            let mut next = vec![0f32; nw * nh];
            downsample(&data, w, h, &mut next);
            (data, w, h) = (std::borrow::Cow::Owned(next), nw, nh);
        }
        let (x0, row0) = (t.x as usize * TILE, t.y as usize * TILE);
        if x0 >= w || row0 >= h {
            return None;
        }
        Some(renderer.tile_png(&data, w, h, x0, row0))
    }
}
