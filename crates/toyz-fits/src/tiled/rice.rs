//! A guard in front of cfitsio's RICE decoder. cfitsio (3.49, bundled) reads a RICE tile's bytes
//! without checking where they end, so a corrupt tile makes it read past its buffer until it faults
//! (a bit flipped in a `.fz` file killed the process with SIGSEGV). Before cfitsio decodes a tile,
//! its compressed bytes are read here (straight from the file: the binary table's descriptors and
//! heap) and walked with the same decoding steps, every byte read checked against the tile's length;
//! a tile that would read past its end is refused. Each tile is checked once.

use crate::file::Pinned;
use crate::header::Header;
use std::sync::atomic::{AtomicU8, Ordering};

/// Walk a RICE stream as `fits_rdecomp` (4-byte), `_short` (2) or `_byte` (1) would, without writing
/// anything: Err when the stream ends before `nx` pixels are decoded.
///
/// cfitsio reads a stream's bytes strictly in order and only when it needs their bits (the first
/// value, then one byte ahead), so after decoding up to bit `pos` it has read `max(⌈pos/8⌉,
/// bytepix + 1)` bytes. The walk therefore only follows the bit position: per block the `fs` code,
/// then per pixel a unary run (counted with one `leading_zeros` on a 64-bit window) and `fs` bits.
/// A block code above the escape value is refused too: cfitsio would shift past its 32-bit buffer.
pub fn check_stream(
    c: &[u8],
    nx: usize,
    nblock: usize,
    bytepix: usize,
) -> Result<(), &'static str> {
    let (fsbits, fsmax): (usize, i64) = match bytepix {
        1 => (3, 6),
        2 => (4, 14),
        4 => (5, 25),
        _ => return Err("RICE BYTEPIX must be 1, 2 or 4"),
    };
    if nblock == 0 {
        return Err("RICE block size 0");
    }
    let short = Err("the compressed tile ends too soon");
    if c.len() < bytepix + 1 {
        return short;
    }
    let bits = c.len() * 8;
    let bbits = 8 * bytepix;
    let mut pos = bytepix * 8;
    let mut i = 0usize;
    while i < nx {
        let imax = (i + nblock).min(nx);
        if pos + fsbits > bits {
            return short;
        }
        let fs = (window(c, pos) >> (64 - fsbits)) as i64 - 1;
        pos += fsbits;
        if fs < 0 {
            // A block of equal values: nothing more is read.
        } else if fs == fsmax {
            pos += bbits * (imax - i);
        } else if fs > fsmax {
            return Err("corrupt RICE bits");
        } else {
            let fs = fs as usize;
            for _ in i..imax {
                // The unary run of zeros ends at a 1 bit; a window holds at least 57 fresh bits.
                loop {
                    if pos >= bits {
                        return short;
                    }
                    let nz = window(c, pos).leading_zeros() as usize;
                    if nz < 57 {
                        pos += nz + 1;
                        break;
                    }
                    pos += 57;
                }
                pos += fs;
            }
        }
        if pos > bits {
            return short;
        }
        i = imax;
    }
    Ok(())
}

/// 64 bits of `c` from bit `pos` (most significant first), zeros past its end; at least 57 of them
/// are `c`'s own when `pos` is inside it.
#[inline(always)]
fn window(c: &[u8], pos: usize) -> u64 {
    let at = pos / 8;
    let w = match c.get(at..at + 8) {
        Some(b) => u64::from_be_bytes(b.try_into().expect("8 bytes")),
        None => {
            let mut b = [0u8; 8];
            let tail = c.get(at..).unwrap_or(&[]);
            b[..tail.len()].copy_from_slice(tail);
            u64::from_be_bytes(b)
        }
    };
    w << (pos % 8)
}

/// Where a RICE-compressed image's tiles are in its file, and which have been checked.
#[derive(Debug)]
pub(crate) struct RiceTiles {
    data_start: u64,
    row_bytes: u64,
    rows: u64,
    heap: u64,
    /// Byte offset of the COMPRESSED_DATA descriptor in a row, and whether it is 64-bit (`Q`).
    col: u64,
    q: bool,
    ztile: [usize; 2],
    znaxis: [usize; 2],
    ntiles: [usize; 2],
    blocksize: usize,
    bytepix: usize,
    /// Per tile: 0 unchecked, 1 good, 2 corrupt.
    state: Vec<AtomicU8>,
}

/// Bytes of one TFORM field (`rT`), as FITS defines them.
fn tform_bytes(t: &str) -> Option<(u64, char)> {
    let t = t.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let repeat: u64 = if digits == 0 {
        1
    } else {
        t[..digits].parse().ok()?
    };
    let code = t[digits..].chars().next()?;
    let size = match code {
        'L' | 'B' | 'A' => 1,
        'X' => return Some((repeat.div_ceil(8), code)),
        'I' => 2,
        'J' | 'E' => 4,
        'K' | 'D' | 'C' | 'P' => 8,
        'M' | 'Q' => 16,
        _ => return None,
    };
    Some((repeat.checked_mul(size)?, code))
}

impl RiceTiles {
    /// The layout of a RICE_1 tile-compressed HDU from its (binary table) header. `Ok(None)` for
    /// other compressions; `Err` for a RICE header that cannot be followed (refused rather than
    /// handed to cfitsio unchecked).
    pub(crate) fn from_header(
        h: &Header,
        data_start: u64,
        planes: usize,
    ) -> Result<Option<RiceTiles>, String> {
        let cmp = h.str("ZCMPTYPE").map(|s| s.trim().to_ascii_uppercase());
        if !matches!(cmp.as_deref(), Some("RICE_1" | "RICE_ONE")) {
            return Ok(None);
        }
        let bad = |what: &str| format!("RICE-compressed HDU: {what}");
        let int = |k: &str| h.i64(k).filter(|v| *v >= 0).map(|v| v as u64);
        let row_bytes = int("NAXIS1").ok_or_else(|| bad("no NAXIS1"))?;
        let rows = int("NAXIS2").ok_or_else(|| bad("no NAXIS2"))?;
        let heap = int("THEAP").unwrap_or(row_bytes.saturating_mul(rows));
        let nfields = int("TFIELDS").ok_or_else(|| bad("no TFIELDS"))?;
        let (mut col, mut found) = (0u64, None);
        for n in 1..=nfields.min(999) {
            let form = h
                .str(&format!("TFORM{n}"))
                .ok_or_else(|| bad("a TFORM is missing"))?;
            let (bytes, code) = tform_bytes(form).ok_or_else(|| bad("a TFORM cannot be read"))?;
            let name = h
                .str(&format!("TTYPE{n}"))
                .unwrap_or("")
                .trim()
                .to_ascii_uppercase();
            if name == "COMPRESSED_DATA" {
                if !matches!(code, 'P' | 'Q') {
                    return Err(bad("COMPRESSED_DATA is not a variable-length array"));
                }
                found = Some((col, code == 'Q'));
            }
            col = col.checked_add(bytes).ok_or_else(|| bad("row too wide"))?;
        }
        let (col, q) = found.ok_or_else(|| bad("no COMPRESSED_DATA column"))?;
        if col + if q { 16 } else { 8 } > row_bytes {
            return Err(bad("the COMPRESSED_DATA column lies outside its row"));
        }
        let zn = |k: &str| int(k).map(|v| v as usize).filter(|v| *v > 0);
        let znaxis = [
            zn("ZNAXIS1").ok_or_else(|| bad("no ZNAXIS1"))?,
            zn("ZNAXIS2").unwrap_or(1),
        ];
        let ztile = [zn("ZTILE1").unwrap_or(znaxis[0]), zn("ZTILE2").unwrap_or(1)];
        // ZVALn by ZNAMEn; cfitsio's defaults (32, 4) and its swap of reversed old values.
        let mut blocksize = 32usize;
        let mut bytepix = 4usize;
        for n in 1..=9 {
            match h
                .str(&format!("ZNAME{n}"))
                .map(|s| s.trim().to_ascii_uppercase())
                .as_deref()
            {
                Some("BLOCKSIZE") => blocksize = int(&format!("ZVAL{n}")).unwrap_or(32) as usize,
                Some("BYTEPIX") => bytepix = int(&format!("ZVAL{n}")).unwrap_or(4) as usize,
                _ => {}
            }
        }
        if blocksize < 16 && bytepix > 8 {
            std::mem::swap(&mut blocksize, &mut bytepix);
        }
        let ntiles = [znaxis[0].div_ceil(ztile[0]), znaxis[1].div_ceil(ztile[1])];
        let count = ntiles[0]
            .checked_mul(ntiles[1])
            .and_then(|n| n.checked_mul(planes))
            .ok_or_else(|| bad("too many tiles"))?;
        if count as u64 > rows {
            return Err(bad("fewer rows than tiles"));
        }
        Ok(Some(RiceTiles {
            data_start,
            row_bytes,
            rows,
            heap,
            col,
            q,
            ztile,
            znaxis,
            ntiles,
            blocksize,
            bytepix,
            state: (0..count).map(|_| AtomicU8::new(0)).collect(),
        }))
    }

    /// Check every tile holding FITS rows `y0..y0+h` (0-based) of `plane`.
    pub(crate) fn check_rows(
        &self,
        file: &Pinned,
        plane: usize,
        y0: usize,
        h: usize,
    ) -> Result<(), String> {
        if h == 0 {
            return Ok(());
        }
        let (ty0, ty1) = (y0 / self.ztile[1], (y0 + h - 1) / self.ztile[1]);
        let ty1 = ty1.min(self.ntiles[1] - 1);
        let first = (plane * self.ntiles[1] + ty0) * self.ntiles[0];
        let last = (plane * self.ntiles[1] + ty1) * self.ntiles[0] + self.ntiles[0] - 1;
        let todo = |t: usize| {
            self.state
                .get(t)
                .is_none_or(|s| s.load(Ordering::Relaxed) != 1)
        };
        if !(first..=last).any(todo) {
            return Ok(());
        }
        // Many tiles at once (a band of one-row tiles, as fpack writes them): their descriptors and
        // their bytes are read with one `pread` each instead of two per tile.
        if last > first && (last as u64) < self.rows {
            self.check_batch(file, first, last);
        }
        for ty in ty0..=ty1 {
            for tx in 0..self.ntiles[0] {
                self.check_tile(
                    file,
                    (plane * self.ntiles[1] + ty) * self.ntiles[0] + tx,
                    tx,
                    ty,
                )?;
            }
        }
        Ok(())
    }

    /// Check tiles `first..=last` (table rows) from two reads; tiles this cannot settle (bytes out of
    /// the span read) are left for `check_tile`.
    fn check_batch(&self, file: &Pinned, first: usize, last: usize) {
        let rows = (last - first + 1) as u64;
        let Some(desc_bytes) = rows.checked_mul(self.row_bytes).filter(|n| *n <= 16 << 20) else {
            return;
        };
        let mut d = vec![0u8; desc_bytes as usize];
        let at = self.data_start + first as u64 * self.row_bytes;
        if file.read_at(&mut d, at).ok() != Some(d.len()) {
            return;
        }
        let descs: Vec<(u64, u64)> = (0..rows as usize)
            .map(|i| self.descriptor(&d[i * self.row_bytes as usize + self.col as usize..]))
            .collect();
        let Some(lo) = descs.iter().filter(|d| d.0 > 0).map(|d| d.1).min() else {
            return;
        };
        let hi = descs
            .iter()
            .map(|d| d.1.saturating_add(d.0))
            .max()
            .unwrap_or(lo);
        let want: u64 = descs.iter().map(|d| d.0).sum();
        // One read of the heap span when it is mostly these tiles' bytes (and not huge).
        if hi - lo > (64 << 20).max(2 * want) || hi - lo > 256 << 20 {
            return;
        }
        let mut heap = vec![0u8; (hi - lo) as usize];
        let start = self.data_start.saturating_add(self.heap).saturating_add(lo);
        if file.read_at(&mut heap, start).ok() != Some(heap.len()) {
            return;
        }
        for (i, &(len, off)) in descs.iter().enumerate() {
            let t = first + i;
            let Some(state) = self.state.get(t) else {
                continue;
            };
            if state.load(Ordering::Relaxed) != 0 || len == 0 {
                continue;
            }
            let within = t % (self.ntiles[0] * self.ntiles[1]);
            let (tx, ty) = (within % self.ntiles[0], within / self.ntiles[0]);
            let nx = self.tile_pixels(tx, ty);
            let ok = self.plausible(len, nx)
                && check_stream(
                    &heap[(off - lo) as usize..(off - lo + len) as usize],
                    nx,
                    self.blocksize,
                    self.bytepix,
                )
                .is_ok();
            // Only good tiles are settled here; a bad one is checked again alone for its message.
            if ok {
                state.store(1, Ordering::Relaxed);
            }
        }
    }

    fn descriptor(&self, d: &[u8]) -> (u64, u64) {
        if self.q {
            (
                u64::from_be_bytes(d[..8].try_into().expect("8")),
                u64::from_be_bytes(d[8..16].try_into().expect("8")),
            )
        } else {
            (
                u32::from_be_bytes(d[..4].try_into().expect("4")) as u64,
                u32::from_be_bytes(d[4..8].try_into().expect("4")) as u64,
            )
        }
    }

    fn tile_pixels(&self, tx: usize, ty: usize) -> usize {
        let tw = self.ztile[0].min(self.znaxis[0] - tx * self.ztile[0]);
        let th = self.ztile[1].min(self.znaxis[1] - ty * self.ztile[1]);
        tw * th
    }

    /// RICE never takes more than its raw size plus a few bytes per block.
    fn plausible(&self, len: u64, nx: usize) -> bool {
        len <= (nx * self.bytepix + nx / self.blocksize.max(1) + 16) as u64
    }

    fn check_tile(&self, file: &Pinned, t: usize, tx: usize, ty: usize) -> Result<(), String> {
        let Some(state) = self.state.get(t) else {
            return Err(format!("tile {t} does not exist"));
        };
        match state.load(Ordering::Relaxed) {
            1 => return Ok(()),
            2 => return Err(format!("tile {} holds corrupt RICE data", t + 1)),
            _ => {}
        }
        let r = self.read_and_check(file, t, tx, ty);
        state.store(if r.is_ok() { 1 } else { 2 }, Ordering::Relaxed);
        r.map_err(|e| format!("tile {} holds corrupt RICE data ({e})", t + 1))
    }

    fn read_and_check(&self, file: &Pinned, t: usize, tx: usize, ty: usize) -> Result<(), String> {
        if t as u64 >= self.rows {
            return Err("no table row for it".into());
        }
        let at = self.data_start + t as u64 * self.row_bytes + self.col;
        let mut d = [0u8; 16];
        let n = if self.q { 16 } else { 8 };
        if file.read_at(&mut d[..n], at).map_err(|e| e.to_string())? < n {
            return Err("its descriptor is past the end of the file".into());
        }
        let (len, off) = self.descriptor(&d);
        let nx = self.tile_pixels(tx, ty);
        if len == 0 {
            // Stored another way (uncompressed or GZIP fallback columns): not RICE.
            return Ok(());
        }
        if !self.plausible(len, nx) {
            return Err(format!("{len} bytes for {nx} pixels"));
        }
        let mut c = vec![0u8; len as usize];
        let start = self
            .data_start
            .saturating_add(self.heap)
            .saturating_add(off);
        if file.read_at(&mut c, start).map_err(|e| e.to_string())? < c.len() {
            return Err("its bytes are past the end of the file".into());
        }
        check_stream(&c, nx, self.blocksize, self.bytepix).map_err(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-by-byte walk this module used first, step for step as cfitsio 3.49 decodes: the
    /// reference for the bit-position walk.
    fn bytewise(c: &[u8], nx: usize, nblock: usize, bytepix: usize) -> Result<(), &'static str> {
        let (fsbits, fsmax): (i32, i32) = match bytepix {
            1 => (3, 6),
            2 => (4, 14),
            4 => (5, 25),
            _ => return Err("RICE BYTEPIX must be 1, 2 or 4"),
        };
        if nblock == 0 {
            return Err("RICE block size 0");
        }
        let bbits = 1i32 << fsbits;
        let short = Err("the compressed tile ends too soon");
        if c.len() < bytepix + 1 {
            return short;
        }
        let mut pos = bytepix;
        let mut next = || -> Result<u32, &'static str> {
            let v = *c.get(pos).ok_or("the compressed tile ends too soon")?;
            pos += 1;
            Ok(v as u32)
        };
        let mut b: u32 = next()?;
        let mut nbits: i32 = 8;
        let mut i = 0usize;
        while i < nx {
            nbits -= fsbits;
            while nbits < 0 {
                b = b.wrapping_shl(8) | next()?;
                nbits += 8;
            }
            let fs = (b.wrapping_shr(nbits as u32) as i32).wrapping_sub(1);
            b &= (1u32 << nbits).wrapping_sub(1);
            let imax = (i + nblock).min(nx);
            if fs < 0 {
                i = imax;
            } else if fs == fsmax {
                while i < imax {
                    let mut k = bbits - nbits;
                    k -= 8;
                    while k >= 0 {
                        next()?;
                        k -= 8;
                    }
                    if nbits > 0 {
                        b = next()?;
                        b &= (1u32 << nbits) - 1;
                    } else {
                        b = 0;
                    }
                    i += 1;
                }
            } else {
                while i < imax {
                    while b == 0 {
                        nbits += 8;
                        b = next()?;
                    }
                    let nzero = nbits - (32 - b.leading_zeros()) as i32;
                    nbits -= nzero + 1;
                    if !(0..32).contains(&nbits) {
                        return Err("corrupt RICE bits");
                    }
                    b ^= 1 << nbits;
                    nbits -= fs;
                    while nbits < 0 {
                        b = b.wrapping_shl(8) | next()?;
                        nbits += 8;
                    }
                    if nbits >= 32 {
                        return Err("corrupt RICE bits");
                    }
                    b &= (1u32 << nbits).wrapping_sub(1);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Any stream the fast walk accepts, the byte-by-byte walk accepts too (so cfitsio stays inside
        /// it), and for 1- and 2-byte pixels (no invalid block codes exist) they always agree.
        #[test]
        fn the_bit_walk_is_never_laxer(
            c in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            nx in 1usize..400,
            bytepix in proptest::sample::select(vec![1usize, 2, 4]),
            sparse in proptest::prelude::any::<bool>(),
        ) {
            // Mostly-zero streams reach long unary runs and many blocks; random ones hit every code.
            let c: Vec<u8> = if sparse { c.iter().map(|b| b & b.rotate_left(3) & 0x91).collect() } else { c };
            let (fast, slow) = (check_stream(&c, nx, 32, bytepix), bytewise(&c, nx, 32, bytepix));
            if fast.is_ok() {
                proptest::prop_assert!(slow.is_ok());
            }
            if bytepix < 4 {
                proptest::prop_assert_eq!(fast.is_ok(), slow.is_ok());
            }
        }
    }

    #[test]
    fn tforms() {
        assert_eq!(tform_bytes("1PB(2048)"), Some((8, 'P')));
        assert_eq!(tform_bytes("1QB(9)"), Some((16, 'Q')));
        assert_eq!(tform_bytes("3E"), Some((12, 'E')));
        assert_eq!(tform_bytes("J"), Some((4, 'J')));
        assert_eq!(tform_bytes("12X"), Some((2, 'X')));
        assert_eq!(tform_bytes("2Z"), None);
    }

    #[test]
    fn streams_that_end_early_are_refused() {
        // A zero-difference block (fs = -1 → first 5 bits 0) decodes 32 pixels from 4+1 bytes.
        assert!(check_stream(&[0, 0, 0, 7, 0], 32, 32, 4).is_ok());
        // Rice-coded blocks run out of bytes: refused, never read past the end.
        assert!(check_stream(&[0, 0, 0, 7, 0b0001_0000], 64, 32, 4).is_err());
        assert!(check_stream(&[0, 0, 0, 7, 0xff, 0, 0], 1000, 32, 4).is_err());
        assert!(check_stream(&[0, 0, 0], 1, 32, 4).is_err());
        for bytepix in [1, 2, 4] {
            for len in 0..12 {
                let c = vec![0x5au8; len];
                let _ = check_stream(&c, 100, 32, bytepix);
            }
        }
    }
}
