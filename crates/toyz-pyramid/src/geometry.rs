//! Pyramid geometry: zoom levels, level sizes and tile coordinates, as Leaflet's CRS.Simple sees them
//! (y = 0 at the top of the displayed image; FITS pixel (1, 1) at the bottom-left). Pure arithmetic.

use serde::{Deserialize, Serialize};

pub const TILE: usize = 256;

/// The zoom levels of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    pub width: usize,
    pub height: usize,
    /// The level showing one image pixel per screen pixel: ceil(log2(max(W, H) / 256)), 0 up to 256 px.
    pub zmax: u32,
}

/// A tile address that is valid for the geometry it was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileCoord {
    pub z: u32,
    pub x: u32,
    pub y: u32,
}

impl Geometry {
    pub fn new(width: usize, height: usize) -> Geometry {
        let m = width.max(height).max(1);
        let mut zmax = 0;
        while (TILE << zmax) < m {
            zmax += 1;
        }
        Geometry {
            width,
            height,
            zmax,
        }
    }

    /// Size in pixels of level `z` (≤ zmax): the image shrunk by 2^(zmax − z), rounded up.
    pub fn level_size(&self, z: u32) -> (usize, usize) {
        let s = self.zmax.saturating_sub(z);
        (self.width.div_ceil(1 << s), self.height.div_ceil(1 << s))
    }

    /// Number of tiles (columns, rows) of level `z`.
    pub fn tiles(&self, z: u32) -> (u32, u32) {
        let (w, h) = self.level_size(z);
        (w.div_ceil(TILE) as u32, h.div_ceil(TILE) as u32)
    }

    pub fn tile_count(&self, zmin: u32, zmax: u32) -> u64 {
        (zmin..=zmax.min(self.zmax))
            .map(|z| {
                let (a, b) = self.tiles(z);
                a as u64 * b as u64
            })
            .sum()
    }

    /// Check a tile address: `None` when z, x or y is outside the pyramid.
    pub fn tile(&self, z: u32, x: u32, y: u32) -> Option<TileCoord> {
        if z > self.zmax {
            return None;
        }
        let (nx, ny) = self.tiles(z);
        (x < nx && y < ny).then_some(TileCoord { z, x, y })
    }

    /// Level-`z` pixel (column, row-from-top) of FITS pixel (1-based) `(fx, fy)`: for tests and readouts.
    pub fn fits_to_level(&self, z: u32, fx: f64, fy: f64) -> (f64, f64) {
        let f = (1u64 << self.zmax.saturating_sub(z)) as f64;
        ((fx - 0.5) / f, (self.height as f64 - (fy - 0.5)) / f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_levels_follow_the_design_formula() {
        for (w, h, z) in [
            (1, 1, 0),
            (256, 256, 0),
            (257, 10, 1),
            (512, 512, 1),
            (513, 2, 2),
            (2048, 4096, 4),
            (16384, 16384, 6),
            (30000, 30000, 7),
        ] {
            let g = Geometry::new(w, h);
            assert_eq!(g.zmax, z, "{w}x{h}");
            let expect = ((w.max(h) as f64) / 256.0).log2().ceil().max(0.0) as u32;
            assert_eq!(g.zmax, expect);
        }
    }

    #[test]
    fn level_sizes_and_tile_ranges() {
        let g = Geometry::new(1000, 300);
        assert_eq!(g.zmax, 2);
        assert_eq!(g.level_size(2), (1000, 300));
        assert_eq!(g.level_size(1), (500, 150));
        assert_eq!(g.level_size(0), (250, 75));
        assert_eq!(g.tiles(2), (4, 2));
        assert_eq!(g.tiles(0), (1, 1));
        assert_eq!(g.tile_count(0, 2), 8 + 2 + 1);
        assert!(g.tile(2, 3, 1).is_some());
        assert!(g.tile(2, 4, 0).is_none());
        assert!(g.tile(3, 0, 0).is_none());
        // 16384² as in the benchmark: 64² + 32² + ... + 1 tiles.
        assert_eq!(Geometry::new(16384, 16384).tile_count(0, 6), 5461);
    }

    #[test]
    fn fits_origin_is_bottom_left() {
        let g = Geometry::new(512, 512);
        // FITS (1,1) is the bottom-left pixel: level column 0, last row.
        assert_eq!(g.fits_to_level(1, 1.0, 1.0), (0.5, 511.5));
        assert_eq!(g.fits_to_level(1, 512.0, 512.0), (511.5, 0.5));
    }
}
