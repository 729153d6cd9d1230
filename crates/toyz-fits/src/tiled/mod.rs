//! Tile-compressed images (the FITS tiled image convention, fpack's `.fz`), read without cfitsio's
//! decoders. cfitsio trusts the bytes of a compressed tile: hostile files crashed it in RICE, HCOMPRESS
//! (a stream header that disagrees with its tile), PLIO and dithered quantisation (a seed outside
//! 1…10000 indexes before its table). Here the binary table's layout is read from the header and checked
//! once, and every tile is fetched with `pread`, decoded (`decode.rs`) and scaled in safe Rust with every
//! length checked: a damaged tile is an error for the one read that meets it, never a fault.
//! cfitsio still opens the file and lists its HDUs; it never decodes a tile.

mod decode;
mod hcompress;
mod plio;
mod rice;
#[cfg(test)]
mod testing;

use crate::file::Pinned;
use crate::header::Header;
use decode::{Column, Kind, Quantize, Scalar};

/// Tiles of more pixels than this are refused (a 4096² tile; fpack's tiles are rows or 100–1000²).
const MAX_TILE_PIXELS: usize = 1 << 24;
/// Tiles decoded and copied in one `read_rect` before they are fetched in parallel.
const PARALLEL_TILES: usize = 8;

/// Where a tile-compressed image's tiles are, how they are coded and scaled.
#[derive(Debug)]
pub(crate) struct Tiled {
    data_start: u64,
    row_bytes: u64,
    rows: u64,
    heap: u64,
    file_len: u64,
    kind: Kind,
    zbitpix: i32,
    znaxis: Vec<usize>,
    ztile: Vec<usize>,
    ntiles: Vec<usize>,
    compressed: Column,
    uncompressed: Option<Column>,
    gzip_data: Option<Column>,
    zscale: Scalar,
    zzero: Scalar,
    zblank: Scalar,
    quantize: Quantize,
    /// ZDITHER0, 1…10000.
    dither_seed: i64,
    /// BSCALE and BZERO of the image.
    bscale: f64,
    bzero: f64,
}

/// Byte size and type code of one TFORM field (`rT`, or `rPT(max)` / `rQT(max)` with the element type).
fn tform(t: &str) -> Option<(u64, char, Option<char>)> {
    let t = t.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let repeat: u64 = if digits == 0 {
        1
    } else {
        t[..digits].parse().ok()?
    };
    let mut chars = t[digits..].chars();
    let code = chars.next()?;
    let size = match code {
        'L' | 'B' | 'A' => 1,
        'X' => return Some((repeat.div_ceil(8), code, None)),
        'I' => 2,
        'J' | 'E' => 4,
        'K' | 'D' | 'C' => 8,
        'M' => 16,
        'P' => return Some((repeat.checked_mul(8)?, code, chars.next())),
        'Q' => return Some((repeat.checked_mul(16)?, code, chars.next())),
        _ => return None,
    };
    Some((repeat.checked_mul(size)?, code, None))
}

impl Tiled {
    /// The layout of a tile-compressed HDU from its binary-table header, whose data starts at
    /// `data_start` in a file of `file_len` bytes. Err (in words) for anything that cannot be followed.
    pub(crate) fn from_header(h: &Header, data_start: u64, file_len: u64) -> Result<Tiled, String> {
        let int = |k: &str| h.i64(k).filter(|v| *v >= 0).map(|v| v as u64);
        let row_bytes = int("NAXIS1").ok_or("no NAXIS1")?;
        let rows = int("NAXIS2").ok_or("no NAXIS2")?;
        let heap = match h.get("THEAP") {
            Some(_) => int("THEAP").ok_or("THEAP is not a byte offset")?,
            None => row_bytes
                .checked_mul(rows)
                .ok_or("the table is too large")?,
        };
        let zbitpix = match h.i64("ZBITPIX") {
            Some(b @ (8 | 16 | 32 | 64 | -32 | -64)) => b as i32,
            _ => return Err("ZBITPIX is not a FITS pixel type".into()),
        };
        let cmp = h
            .str("ZCMPTYPE")
            .map(|s| s.trim().to_ascii_uppercase())
            .unwrap_or_default();
        let param = |name: &str| -> Option<f64> {
            (1..=99).find_map(|n| {
                let key = h.str(&format!("ZNAME{n}"))?;
                (key.trim().eq_ignore_ascii_case(name))
                    .then(|| h.f64(&format!("ZVAL{n}")))
                    .flatten()
            })
        };
        let kind = match cmp.as_str() {
            "RICE_1" | "RICE_ONE" => {
                let mut blocksize = param("BLOCKSIZE").unwrap_or(32.0);
                let mut bytepix = param("BYTEPIX").unwrap_or(4.0);
                // Very old files wrote the two the other way round (cfitsio swaps them back).
                if blocksize < 16.0 && bytepix > 8.0 {
                    std::mem::swap(&mut blocksize, &mut bytepix);
                }
                if !(1.0..=65536.0).contains(&blocksize) || blocksize.fract() != 0.0 {
                    return Err(format!("RICE block size {blocksize}"));
                }
                if ![1.0, 2.0, 4.0].contains(&bytepix) {
                    return Err(format!("RICE BYTEPIX {bytepix} (1, 2 or 4)"));
                }
                Kind::Rice {
                    blocksize: blocksize as usize,
                    bytepix: bytepix as usize,
                }
            }
            "GZIP_1" => Kind::Gzip { shuffled: false },
            "GZIP_2" => Kind::Gzip { shuffled: true },
            "HCOMPRESS_1" => Kind::Hcompress {
                smooth: param("SMOOTH").is_some_and(|s| s != 0.0),
            },
            "PLIO_1" => Kind::Plio,
            "NOCOMPRESS" => Kind::None,
            "" => return Err("no ZCMPTYPE".into()),
            other => return Err(format!("unknown compression {other}")),
        };

        // Axes and tiles: ZNAXIS 1 to 6 (checked again here: this is what allocations follow).
        let naxis = h.i64("ZNAXIS").ok_or("no ZNAXIS")?;
        if !(1..=6).contains(&naxis) {
            return Err(format!("ZNAXIS = {naxis}"));
        }
        let (mut znaxis, mut ztile) = (Vec::new(), Vec::new());
        for k in 1..=naxis as usize {
            let n = h
                .i64(&format!("ZNAXIS{k}"))
                .filter(|v| *v >= 1)
                .ok_or_else(|| format!("ZNAXIS{k} is not a positive integer"))?;
            let t = match h.get(&format!("ZTILE{k}")) {
                None if k == 1 => n,
                None => 1,
                Some(_) => h
                    .i64(&format!("ZTILE{k}"))
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| format!("ZTILE{k} is not a positive integer"))?,
            };
            znaxis.push(n as usize);
            // A tile larger than its axis holds the whole axis.
            ztile.push(t.min(n) as usize);
        }
        ztile
            .iter()
            .try_fold(1usize, |a, &t| a.checked_mul(t))
            .filter(|n| *n <= MAX_TILE_PIXELS)
            .ok_or_else(|| {
                format!("compression tiles of {ztile:?} pixels (at most {MAX_TILE_PIXELS})")
            })?;
        let ntiles: Vec<usize> = znaxis
            .iter()
            .zip(&ztile)
            .map(|(n, t)| n.div_ceil(*t))
            .collect();
        let count = ntiles
            .iter()
            .try_fold(1u64, |a, &n| a.checked_mul(n as u64))
            .ok_or("too many tiles")?;
        if count != rows {
            return Err(format!("{rows} table rows for {count} compression tiles"));
        }

        // Columns.
        let nfields = int("TFIELDS").ok_or("no TFIELDS")?;
        if nfields > 999 {
            return Err(format!("TFIELDS = {nfields}"));
        }
        let (mut at, mut compressed, mut uncompressed, mut gzip_data) = (0u64, None, None, None);
        let (mut zscale, mut zzero, mut zblank) = (None, None, None);
        for n in 1..=nfields {
            let form = h
                .str(&format!("TFORM{n}"))
                .ok_or_else(|| format!("no TFORM{n}"))?;
            let (bytes, code, elem) = tform(form)
                .ok_or_else(|| format!("TFORM{n} = '{}' cannot be read", form.trim()))?;
            let name = h
                .str(&format!("TTYPE{n}"))
                .unwrap_or("")
                .trim()
                .to_ascii_uppercase();
            let col = Column::new(at, code, elem, bytes)
                .map_err(|e| format!("column {name} ({}): {e}", form.trim()))?;
            match name.as_str() {
                "COMPRESSED_DATA" => compressed = Some(col.array()?),
                "UNCOMPRESSED_DATA" => uncompressed = Some(col.array()?),
                "GZIP_COMPRESSED_DATA" => gzip_data = Some(col.array()?),
                "ZSCALE" => zscale = Some(col.scalar()?),
                "ZZERO" => zzero = Some(col.scalar()?),
                "ZBLANK" => zblank = Some(col.scalar()?),
                _ => {}
            }
            at = at.checked_add(bytes).ok_or("row too wide")?;
        }
        if at > row_bytes {
            return Err(format!("columns of {at} bytes in rows of {row_bytes}"));
        }
        let compressed = compressed.ok_or("no COMPRESSED_DATA column")?;
        let zscale = zscale.map_or_else(|| Scalar::keyword(h.f64("ZSCALE")), Scalar::Column);
        let zzero = zzero.map_or_else(|| Scalar::keyword(h.f64("ZZERO")), Scalar::Column);
        // cfitsio's order: a ZBLANK column, the ZBLANK keyword, then BLANK.
        let zblank = zblank.map_or_else(
            || Scalar::keyword(h.i64("ZBLANK").or(h.i64("BLANK")).map(|v| v as f64)),
            Scalar::Column,
        );
        let quantize =
            if zbitpix < 0 && matches!(zscale, Scalar::None) && matches!(zzero, Scalar::None) {
                Quantize::Lossless
            } else {
                match h
                    .str("ZQUANTIZ")
                    .map(|s| s.trim().to_ascii_uppercase())
                    .as_deref()
                {
                    Some("NONE") => Quantize::Lossless,
                    Some("SUBTRACTIVE_DITHER_1") => Quantize::Dither1,
                    Some("SUBTRACTIVE_DITHER_2") => Quantize::Dither2,
                    _ => Quantize::Linear,
                }
            };
        let dither_seed = match h.get("ZDITHER0") {
            None => 1,
            Some(_) => h
                .i64("ZDITHER0")
                .filter(|s| (1..=decode::N_RANDOM as i64).contains(s))
                .ok_or_else(|| {
                    format!(
                        "ZDITHER0 = {} (a dither seed is 1 to 10000)",
                        h.str("ZDITHER0").unwrap_or("?").trim()
                    )
                })?,
        };
        if let Kind::Plio = kind {
            if zbitpix == 64 || zbitpix == -64 {
                return Err("PLIO tiles of 64-bit pixels".into());
            }
        }
        Ok(Tiled {
            data_start,
            row_bytes,
            rows,
            heap,
            file_len,
            kind,
            zbitpix,
            ntiles,
            znaxis,
            ztile,
            compressed,
            uncompressed,
            gzip_data,
            zscale,
            zzero,
            zblank,
            quantize,
            dither_seed,
            bscale: h.f64("BSCALE").unwrap_or(1.0),
            bzero: h.f64("BZERO").unwrap_or(0.0),
        })
    }

    /// Pixel counts of tile `t`'s axes (edge tiles are cut by the image).
    fn tile_dims(&self, t: usize) -> Vec<usize> {
        let mut rest = t;
        self.ntiles
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let k = rest % n;
                rest /= n;
                self.ztile[i].min(self.znaxis[i] - k * self.ztile[i])
            })
            .collect()
    }

    /// The coordinates along axes 3… of plane `plane`, and the tile index offset and in-tile pixel
    /// offset they contribute (for a tile whose first two axes are `tw` × `th`).
    fn plane_part(&self, plane: usize) -> (usize, Vec<usize>) {
        let mut rest = plane;
        let mut tile = 0usize;
        let mut stride = 1usize;
        let mut coords = Vec::new();
        for i in 0..self.znaxis.len() {
            if i < 2 {
                stride *= self.ntiles[i];
                continue;
            }
            let k = rest % self.znaxis[i];
            rest /= self.znaxis[i];
            coords.push(k);
            tile += (k / self.ztile[i]) * stride;
            stride *= self.ntiles[i];
        }
        (tile, coords)
    }

    /// Read the `w` × `h` rectangle at (x0, y0) (0-based FITS order, bottom row first) of `plane` as
    /// f32, nulls as NaN. The rectangle is inside the image (checked by the caller).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read_rect(
        &self,
        file: &Pinned,
        plane: usize,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        out: &mut [f32],
    ) -> Result<(), String> {
        use rayon::prelude::*;
        if w == 0 || h == 0 {
            return Ok(());
        }
        let (tw, th) = (self.ztile[0], self.ztile.get(1).copied().unwrap_or(1));
        let ntx = self.ntiles[0];
        let (base, coords) = self.plane_part(plane);
        let (tx0, tx1) = (x0 / tw, (x0 + w - 1) / tw);
        let (ty0, ty1) = (y0 / th, (y0 + h - 1) / th);
        let tiles: Vec<(usize, usize, usize)> = (ty0..=ty1)
            .flat_map(|ty| (tx0..=tx1).map(move |tx| (base + ty * ntx + tx, tx, ty)))
            .collect();
        let copy = |t: usize, tx: usize, ty: usize, vals: &[f64], out: &mut [f32]| {
            let dims = self.tile_dims(t);
            let dw = dims[0];
            let off = self.in_tile(&dims, &coords, 0, 0);
            let (ax0, ay0) = (tx * tw, ty * th);
            let (cx0, cx1) = (x0.max(ax0), (x0 + w).min(ax0 + dw));
            let (cy0, cy1) = (
                y0.max(ay0),
                (y0 + h).min(ay0 + dims.get(1).copied().unwrap_or(1)),
            );
            for y in cy0..cy1 {
                let src = off + (y - ay0) * dw + (cx0 - ax0);
                let dst = (y - y0) * w + (cx0 - x0);
                for (o, v) in out[dst..dst + cx1 - cx0]
                    .iter_mut()
                    .zip(&vals[src..src + cx1 - cx0])
                {
                    *o = *v as f32;
                }
            }
        };
        if tiles.len() < PARALLEL_TILES {
            for &(t, tx, ty) in &tiles {
                let vals = self.tile(file, t)?;
                copy(t, tx, ty, &vals, out);
            }
            return Ok(());
        }
        // Many tiles (a band of fpack's one-row tiles): fetched and decoded in parallel, then copied.
        let decoded: Vec<Vec<f64>> = tiles
            .par_iter()
            .map(|&(t, _, _)| self.tile(file, t))
            .collect::<Result<_, String>>()?;
        for (&(t, tx, ty), vals) in tiles.iter().zip(&decoded) {
            copy(t, tx, ty, vals, out);
        }
        Ok(())
    }

    /// The value at (x, y) of `plane` (0-based FITS order) as a double, NaN for nulls.
    pub(crate) fn value(
        &self,
        file: &Pinned,
        plane: usize,
        x: usize,
        y: usize,
    ) -> Result<f64, String> {
        let (tw, th) = (self.ztile[0], self.ztile.get(1).copied().unwrap_or(1));
        let (base, coords) = self.plane_part(plane);
        let (tx, ty) = (x / tw, y / th);
        let t = base + ty * self.ntiles[0] + tx;
        let vals = self.tile(file, t)?;
        let off = self.in_tile(&self.tile_dims(t), &coords, x - tx * tw, y - ty * th);
        vals.get(off)
            .copied()
            .ok_or_else(|| "pixel outside its tile".into())
    }

    /// Index in a tile of `dims` of its pixel (`x`, `y`) on the plane at `coords` (axes 3…).
    fn in_tile(&self, dims: &[usize], coords: &[usize], x: usize, y: usize) -> usize {
        let mut off = y * dims[0] + x;
        let mut stride = dims[0] * dims.get(1).copied().unwrap_or(1);
        for (i, &k) in coords.iter().enumerate() {
            off += (k % self.ztile[i + 2]) * stride;
            stride *= dims[i + 2];
        }
        off
    }

    /// Tile `t` (0-based table row) decoded and scaled: its pixels in FITS order, NaN for nulls.
    fn tile(&self, file: &Pinned, t: usize) -> Result<Vec<f64>, String> {
        let dims = self.tile_dims(t);
        let npix: usize = dims.iter().product();
        let nrow = t as u64 + 1;
        if nrow > self.rows {
            return Err(format!("tile {nrow} has no table row"));
        }
        let mut row = vec![0u8; self.row_bytes as usize];
        let at = self.data_start + t as u64 * self.row_bytes;
        if file.read_at(&mut row, at).map_err(|e| e.to_string())? < row.len() {
            return Err(format!(
                "tile {nrow}: its table row is past the end of the file"
            ));
        }
        let heap = |col: &Column| -> Result<Option<Vec<u8>>, String> {
            let (n, off) = col.descriptor(&row);
            if n == 0 {
                return Ok(None);
            }
            let bytes = n
                .checked_mul(col.elem_bytes())
                .filter(|b| *b <= (npix as u64).saturating_mul(16).saturating_add(1 << 16))
                .ok_or_else(|| format!("tile {nrow}: {n} elements for {npix} pixels"))?;
            let start = self
                .data_start
                .checked_add(self.heap)
                .and_then(|s| s.checked_add(off))
                .filter(|s| s.saturating_add(bytes) <= self.file_len)
                .ok_or_else(|| format!("tile {nrow}: its data lies past the end of the file"))?;
            let mut c = vec![0u8; bytes as usize];
            if file.read_at(&mut c, start).map_err(|e| e.to_string())? < c.len() {
                return Err(format!(
                    "tile {nrow}: its data lies past the end of the file"
                ));
            }
            Ok(Some(c))
        };
        let ctx = decode::Tile {
            nrow,
            dims,
            npix,
            zbitpix: self.zbitpix,
            quantize: self.quantize,
            dither_seed: self.dither_seed,
            scale: self.zscale.get(&row, 1.0),
            zero: self.zzero.get(&row, 0.0),
            blank: self.zblank.get_opt(&row),
            bscale: self.bscale,
            bzero: self.bzero,
        };
        if let Some(c) = heap(&self.compressed)? {
            return decode::compressed(&self.kind, &c, &ctx)
                .map_err(|e| format!("tile {nrow}: {e}"));
        }
        // A tile the encoder could not compress: raw values, or (floats since 2011) gzip'd ones.
        if let Some(col) = &self.gzip_data {
            if let Some(c) = heap(col)? {
                return decode::gzip_floats(&c, &ctx).map_err(|e| format!("tile {nrow}: {e}"));
            }
        }
        if let Some(col) = &self.uncompressed {
            if let Some(c) = heap(col)? {
                return decode::raw(col, &c, &ctx).map_err(|e| format!("tile {nrow}: {e}"));
            }
        }
        Err(format!("tile {nrow} holds no data"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tforms() {
        assert_eq!(tform("1PB(2048)"), Some((8, 'P', Some('B'))));
        assert_eq!(tform("1QB(9)"), Some((16, 'Q', Some('B'))));
        assert_eq!(tform("1PI(30)"), Some((8, 'P', Some('I'))));
        assert_eq!(tform("3E"), Some((12, 'E', None)));
        assert_eq!(tform("J"), Some((4, 'J', None)));
        assert_eq!(tform("12X"), Some((2, 'X', None)));
        assert_eq!(tform("2Z"), None);
    }
}
