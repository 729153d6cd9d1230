//! Random access to a source's pyramid for serving single tiles: level zmax straight from the FITS file,
//! lower levels from the float level files in the cache, read through guarded maps (one copy per row
//! instead of a system call; a cache file truncated in place under the map is an error, not SIGBUS:
//! see `toyz_fits::GuardedMap`), or with `pread` when no map could be made. The streamed builder writes
//! those files; this reads them.

use crate::cache::CacheLayout;
use crate::error::{io, Result};
use crate::geometry::{TileCoord, TILE};
use crate::render::Renderer;
use crate::source::Source;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use toyz_fits::GuardedMap;

/// The float levels 0..zmax−1 of one source, opened read-only.
pub struct LevelStore {
    files: Vec<(File, PathBuf, Option<GuardedMap>)>,
}

impl LevelStore {
    /// Open the level files of `src` in `layout` (they must be complete: see `SourceManifest`), checking
    /// their sizes.
    pub fn open(layout: &CacheLayout, src: &Source) -> Result<LevelStore> {
        let g = src.geometry;
        let mut files = Vec::with_capacity(g.zmax as usize);
        for z in 0..g.zmax {
            let path = layout.level_file(&src.id, z);
            let f = File::open(&path).map_err(io(&path))?;
            let (w, h) = g.level_size(z);
            let len = f.metadata().map_err(io(&path))?.len();
            if len != (w * h * 4) as u64 {
                return Err(crate::error::EngineError::Io {
                    path,
                    source: std::io::Error::other(format!(
                        "level file holds {len} bytes, expected {}",
                        w * h * 4
                    )),
                });
            }
            let map = GuardedMap::new(&f, 0, len as usize);
            files.push((f, path, map));
        }
        Ok(LevelStore { files })
    }

    /// Row `y` of level `z` from column `x0`, `out.len()` values.
    fn read_row(
        &self,
        z: u32,
        lw: usize,
        x0: usize,
        y: usize,
        bytes: &mut [u8],
        out: &mut [f32],
    ) -> Result<()> {
        let (f, path, map) = &self.files[z as usize];
        let n = out.len();
        let at = (y * lw + x0) * 4;
        let bytes = match map {
            Some(m) => &m.bytes()[at..at + n * 4],
            None => {
                f.read_exact_at(&mut bytes[..n * 4], at as u64)
                    .map_err(io(path))?;
                &bytes[..n * 4]
            }
        };
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }

    /// After reading level `z` through its map: an error if the file was cut short under the read.
    fn check(&self, z: u32) -> Result<()> {
        match &self.files[z as usize] {
            (_, path, Some(m)) if m.faulted() => Err(crate::error::EngineError::Io {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the level file was shortened while it was read",
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// Level `z`'s pixels in the rectangle (`x0`, `top`, `w`, `h`), rows from the top: from the FITS file
/// at full resolution, from the level store below it.
pub fn level_rect(
    src: &Source,
    store: Option<&LevelStore>,
    z: u32,
    (x0, top, w, h): (usize, usize, usize, usize),
    out: &mut Vec<f32>,
) -> Result<()> {
    let g = src.geometry;
    let (lw, lh) = g.level_size(z);
    out.clear();
    out.resize(w * h, 0.0);
    if z == g.zmax {
        let mut fits = vec![0f32; w * h];
        src.image.read_rect(x0, lh - top - h, w, h, &mut fits)?;
        for r in 0..h {
            out[r * w..(r + 1) * w].copy_from_slice(&fits[(h - 1 - r) * w..(h - r) * w]);
        }
    } else {
        let store = store.expect("lower levels need the level store");
        let mut bytes = vec![0u8; w * 4];
        for r in 0..h {
            store.read_row(z, lw, x0, top + r, &mut bytes, &mut out[r * w..(r + 1) * w])?;
        }
        store.check(z)?;
    }
    Ok(())
}

/// The float pixels of a tile: up to 256×256 values of level `t.z`, top row first; returns (w, h).
/// Level zmax reads the FITS file; lower levels need `store`.
pub fn tile_pixels(
    src: &Source,
    store: Option<&LevelStore>,
    t: TileCoord,
    out: &mut Vec<f32>,
) -> Result<(usize, usize)> {
    let g = src.geometry;
    let (lw, lh) = g.level_size(t.z);
    let x0 = t.x as usize * TILE;
    let top = t.y as usize * TILE;
    let w = TILE.min(lw - x0);
    let h = TILE.min(lh - top);
    level_rect(src, store, t.z, (x0, top, w, h), out)?;
    Ok((w, h))
}

/// Render one tile to PNG bytes: the same functions the streamed builder uses.
pub fn render_tile(
    src: &Source,
    store: Option<&LevelStore>,
    renderer: &Renderer,
    t: TileCoord,
) -> Result<Vec<u8>> {
    let g = src.geometry;
    let mut idx = vec![0u8; TILE * TILE];
    if t.z == g.zmax {
        // Full resolution: each FITS row goes straight from the file to palette indices in its display
        // row (bottom-up in the file, top-down on screen), without an intermediate tile of floats.
        let (lw, lh) = g.level_size(t.z);
        let x0 = t.x as usize * TILE;
        let top = t.y as usize * TILE;
        let (w, h) = (TILE.min(lw - x0), TILE.min(lh - top));
        src.image
            .for_each_row(x0, lh - top - h, w, h, &mut |r, row| {
                let d = (h - 1 - r) * TILE;
                renderer.indices(row, &mut idx[d..d + w]);
            })?;
        Ok(renderer.encode(&idx))
    } else {
        let mut px = Vec::new();
        let (w, h) = tile_pixels(src, store, t, &mut px)?;
        Ok(renderer.tile_png(&px, w, h, 0, 0))
    }
}
