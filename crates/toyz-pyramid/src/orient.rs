//! A view's orientation: a flip of x, then 0–3 quarter turns counter-clockwise on screen — the 8 ways a
//! pixel grid maps onto itself. Tiles of an oriented view are addressed in the oriented image; each
//! display pixel is read from the level pixel it comes from.

use crate::error::Result;
use crate::geometry::{Geometry, TileCoord, TILE};
use crate::render::Renderer;
use crate::source::Source;
use crate::spec::SpecError;
use crate::store::{level_rect, LevelStore};

/// Names in code order: bit 2 flips x, bits 0–1 count quarter turns counter-clockwise.
pub const NAMES: [&str; 8] = [
    "none", "r90", "r180", "r270", "fx", "fx+r90", "fy", "fx+r270",
];

pub fn is_none(o: &u8) -> bool {
    *o == 0
}

pub fn is_zero(a: &f64) -> bool {
    *a == 0.0
}

/// Rounding room: a quarter turn's bounding box is the image's own size, not one pixel more.
const EPS: f64 = 1e-6;

/// Width and height of the display: the oriented `w`×`h` image turned by `angle` degrees (its bounding box).
pub fn display_size(o: u8, angle: f64, w: usize, h: usize) -> (usize, usize) {
    let (ow, oh) = size(o, w, h);
    if angle == 0.0 {
        return (ow, oh);
    }
    let (s, c) = angle.to_radians().sin_cos();
    let (ow, oh) = (ow as f64, oh as f64);
    let bw = (ow * c.abs() + oh * s.abs() - EPS).ceil().max(1.0) as usize;
    let bh = (ow * s.abs() + oh * c.abs() - EPS).ceil().max(1.0) as usize;
    (bw, bh)
}

/// Where display pixel (`r`, `c`) of level `z` (rows from the top, 0-based) comes from: the oriented
/// image's level pixel (row, column), if inside. Worked at full resolution in continuous coordinates
/// (pixel n covers n − 0.5 … n + 0.5, y up) so that every level turns about the same centre.
fn turned_source(
    angle: f64,
    (ow, oh): (f64, f64),
    (dw, dh): (f64, f64),
    f: f64,
    (olw, olh): (usize, usize),
    r: usize,
    c: usize,
) -> Option<(usize, usize)> {
    let x = c as f64 * f + f / 2.0 + 0.5;
    let y = dh + 0.5 - (r as f64 + 0.5) * f;
    let (dx, dy) = (x - (dw + 1.0) / 2.0, y - (dh + 1.0) / 2.0);
    let (s, co) = (-angle).to_radians().sin_cos();
    let xo = dx * co - dy * s + (ow + 1.0) / 2.0;
    let yo = dx * s + dy * co + (oh + 1.0) / 2.0;
    let col = ((xo - 0.5) / f).floor();
    let row = ((oh + 0.5 - yo) / f).floor();
    (col >= 0.0 && row >= 0.0 && (col as usize) < olw && (row as usize) < olh)
        .then_some((row as usize, col as usize))
}

pub fn name(o: u8) -> &'static str {
    NAMES[(o & 7) as usize]
}

/// `none`, `r90`, `r180`, `r270`, `fx`, `fy` (= `fx+r180`), `fx+r90`, `fx+r270`.
pub fn parse(s: &str) -> Result<u8, SpecError> {
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        return Ok(0);
    }
    let alias = if t == "fx+r180" { "fy" } else { t.as_str() };
    NAMES
        .iter()
        .position(|n| *n == alias)
        .map(|i| i as u8)
        .ok_or_else(|| {
            SpecError(format!(
                "orient '{s}': none, fx, fy, r90, r180, r270, fx+r90 or fx+r270"
            ))
        })
}

/// Width and height of a `w`×`h` image as oriented.
pub fn size(o: u8, w: usize, h: usize) -> (usize, usize) {
    if o & 1 == 1 {
        (h, w)
    } else {
        (w, h)
    }
}

/// The level pixel (row, column from the top-left, 0-based) shown at display pixel (`r`, `c`) of a
/// level of `w`×`h` pixels.
pub fn source_of(o: u8, w: usize, h: usize, r: usize, c: usize) -> (usize, usize) {
    // Undo the turns: one counter-clockwise turn of an image X (w×h) shows X[c][w-1-r] at (r, c).
    let (rr, cc) = match o & 3 {
        0 => (r, c),
        1 => (c, w - 1 - r),
        2 => (h - 1 - r, w - 1 - c),
        _ => (h - 1 - c, r),
    };
    if o & 4 != 0 {
        (rr, w - 1 - cc)
    } else {
        (rr, cc)
    }
}

/// Level `z`'s size in the display (the oriented and turned image).
pub fn level_display(g: &Geometry, o: u8, angle: f64, z: u32) -> (usize, usize) {
    if angle == 0.0 {
        let (lw, lh) = g.level_size(z);
        return size(o, lw, lh);
    }
    let (dw, dh) = display_size(o, angle, g.width, g.height);
    let f = 1usize << g.zmax.saturating_sub(z);
    (dw.div_ceil(f), dh.div_ceil(f))
}

/// Tile (`z`, `x`, `y`) of the oriented (and turned) image, if it exists.
pub fn tile(g: &Geometry, o: u8, angle: f64, z: u32, x: u32, y: u32) -> Option<TileCoord> {
    if z > g.zmax {
        return None;
    }
    let (dw, dh) = level_display(g, o, angle, z);
    (x < dw.div_ceil(TILE) as u32 && y < dh.div_ceil(TILE) as u32).then_some(TileCoord { z, x, y })
}

/// Render tile `t` of the oriented image turned by `angle` degrees (nearest pixel) to PNG bytes.
pub fn render_tile_turned(
    src: &Source,
    store: Option<&LevelStore>,
    renderer: &Renderer,
    t: TileCoord,
    o: u8,
    angle: f64,
) -> Result<Vec<u8>> {
    if angle == 0.0 {
        return render_tile(src, store, renderer, t, o);
    }
    let g = src.geometry;
    let f = (1u64 << g.zmax.saturating_sub(t.z)) as f64;
    let (lw, lh) = g.level_size(t.z);
    let (olw, olh) = size(o, lw, lh);
    let (ow, oh) = size(o, g.width, g.height);
    let (fdw, fdh) = display_size(o, angle, g.width, g.height);
    let (dw, dh) = level_display(&g, o, angle, t.z);
    let (x0, top) = (t.x as usize * TILE, t.y as usize * TILE);
    let (w, h) = (TILE.min(dw - x0), TILE.min(dh - top));
    let at = |r: usize, c: usize| {
        turned_source(
            angle,
            (ow as f64, oh as f64),
            (fdw as f64, fdh as f64),
            f,
            (olw, olh),
            r,
            c,
        )
        .map(|(orow, ocol)| source_of(o, lw, lh, orow, ocol))
    };
    // The level rectangle the tile's pixels come from.
    let mut bb: Option<(usize, usize, usize, usize)> = None;
    for r in 0..h {
        for c in 0..w {
            if let Some((sr, sc)) = at(top + r, x0 + c) {
                bb = Some(match bb {
                    None => (sr, sr, sc, sc),
                    Some((a, b, d, e)) => (a.min(sr), b.max(sr), d.min(sc), e.max(sc)),
                });
            }
        }
    }
    let mut px = vec![f32::NAN; w * h];
    if let Some((r0, r1, c0, c1)) = bb {
        let sw = c1 - c0 + 1;
        let mut buf = Vec::new();
        level_rect(src, store, t.z, (c0, r0, sw, r1 - r0 + 1), &mut buf)?;
        for r in 0..h {
            for c in 0..w {
                if let Some((sr, sc)) = at(top + r, x0 + c) {
                    px[r * w + c] = buf[(sr - r0) * sw + (sc - c0)];
                }
            }
        }
    }
    // What lies outside the turned image is transparent, even with a NaN colour.
    Ok(renderer.tile_png_masked(&px, w, h, |i| {
        let (r, c) = (i / w, i % w);
        at(top + r, x0 + c).is_some()
    }))
}

/// Render tile `t` of the oriented image to PNG bytes.
pub fn render_tile(
    src: &Source,
    store: Option<&LevelStore>,
    renderer: &Renderer,
    t: TileCoord,
    o: u8,
) -> Result<Vec<u8>> {
    let (lw, lh) = src.geometry.level_size(t.z);
    let (dw, dh) = size(o, lw, lh);
    let (x0, top) = (t.x as usize * TILE, t.y as usize * TILE);
    let (w, h) = (TILE.min(dw - x0), TILE.min(dh - top));
    // The level rectangle the display tile comes from: the box of its corners' sources.
    let corners = [
        (top, x0),
        (top, x0 + w - 1),
        (top + h - 1, x0),
        (top + h - 1, x0 + w - 1),
    ]
    .map(|(r, c)| source_of(o, lw, lh, r, c));
    let (r0, r1) = (
        corners.iter().map(|p| p.0).min().unwrap_or(0),
        corners.iter().map(|p| p.0).max().unwrap_or(0),
    );
    let (c0, c1) = (
        corners.iter().map(|p| p.1).min().unwrap_or(0),
        corners.iter().map(|p| p.1).max().unwrap_or(0),
    );
    let sw = c1 - c0 + 1;
    let mut buf = Vec::new();
    level_rect(src, store, t.z, (c0, r0, sw, r1 - r0 + 1), &mut buf)?;
    let mut px = vec![0f32; w * h];
    for r in 0..h {
        for c in 0..w {
            let (sr, sc) = source_of(o, lw, lh, top + r, x0 + c);
            px[r * w + c] = buf[(sr - r0) * sw + (sc - c0)];
        }
    }
    Ok(renderer.tile_png(&px, w, h, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every orientation maps the display grid one-to-one onto the image, and the turns and flips
    /// compose as they should.
    #[test]
    fn bijections() {
        let (w, h) = (5, 3);
        for o in 0..8u8 {
            let (dw, dh) = size(o, w, h);
            let mut seen = vec![false; w * h];
            for r in 0..dh {
                for c in 0..dw {
                    let (sr, sc) = source_of(o, w, h, r, c);
                    assert!(sr < h && sc < w, "{o}");
                    assert!(!seen[sr * w + sc], "{o}: ({sr}, {sc}) twice");
                    seen[sr * w + sc] = true;
                }
            }
            assert_eq!(parse(name(o)).unwrap(), o);
        }
        // A quarter turn counter-clockwise puts the top-right corner at the top-left.
        assert_eq!(source_of(1, w, h, 0, 0), (0, w - 1));
        // fx mirrors columns; fy (fx + r180) mirrors rows.
        assert_eq!(source_of(4, w, h, 0, 0), (0, w - 1));
        assert_eq!(source_of(6, w, h, 0, 0), (h - 1, 0));
        assert_eq!(parse("fx+r180").unwrap(), 6);
        assert!(parse("r45").is_err());
    }
}
