//! HCOMPRESS_1 tile decoder.
//!
//! A safe, pure-Rust replacement for cfitsio's `fits_hdecompress`/`fits_hdecompress64`, whose C
//! code trusts the image size, scale and bit-plane counts stored in the stream and writes past
//! its buffers (or crashes) on crafted tiles. This decoder checks the stream header against the
//! tile it is supposed to describe before touching any pixel, bounds-checks every read, uses
//! wrapping arithmetic where hostile coefficients could overflow, and otherwise reproduces
//! cfitsio's output bit for bit (quadtree bit planes, sign bits, undigitizing, optional
//! smoothing and the inverse H-transform).
//!
//! Stream layout: magic `DD 99`; big-endian `i32` row count (the tile's height, cfitsio's `nx`);
//! `i32` row length (the tile's width, cfitsio's `ny`, varying fastest); `i32` scale; `i64` sum
//! of all pixels (coefficient 0); three `u8` bit-plane counts (quadrant 0, the two mixed
//! quadrants, quadrant 3); then the bit-packed quadtree planes ending in a zero nybble; then,
//! from the next byte boundary, one sign bit per non-zero coefficient.

const MAGIC: [u8; 2] = [0xDD, 0x99];
const HEADER_LEN: usize = 25;
/// Coefficients are 64-bit, so no valid stream has more bit planes than this.
const MAX_PLANES: u8 = 64;

const SHORT: &str = "HCOMPRESS stream is truncated";

/// Decode one HCOMPRESS_1 tile of `width` × `height` pixels (width = the image's x axis, varying
/// fastest in `out`, which has width*height elements). `smooth`: the SMOOTH parameter
/// (ZNAME/ZVAL) ≠ 0.
///
/// Values are computed in 64 bits, as cfitsio does for 32-bit and floating-point images (whose
/// caller then truncates them to `i32`); for 8- and 16-bit images cfitsio computes in 32 bits,
/// which gives the same values for every stream its compressor produces.
pub(crate) fn decode(
    c: &[u8],
    width: usize,
    height: usize,
    smooth: bool,
    out: &mut [i64],
) -> Result<(), &'static str> {
    if width == 0 || height == 0 || width.checked_mul(height) != Some(out.len()) {
        return Err("HCOMPRESS tile size does not match its output buffer");
    }
    if out.len() == 1 {
        // The transform is undefined (a negative shift in cfitsio) for a single pixel, and
        // cfitsio never compresses tiles narrower than 4 pixels.
        return Err("HCOMPRESS cannot decode a 1×1 tile");
    }
    let header = c.get(..HEADER_LEN).ok_or(SHORT)?;
    if header[..2] != MAGIC {
        return Err("not an HCOMPRESS stream (bad magic)");
    }
    let be32 = |at: usize| {
        i32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let (rows, cols, scale) = (be32(2), be32(6), be32(10));
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&header[14..22]);
    let sum_all = i64::from_be_bytes(sum);
    let planes = [header[22], header[23], header[24]];

    if usize::try_from(rows) != Ok(height) || usize::try_from(cols) != Ok(width) {
        return Err("HCOMPRESS stream dimensions disagree with the tile");
    }
    if scale < 0 {
        return Err("HCOMPRESS stream has a negative scale");
    }
    if planes.iter().any(|&p| p > MAX_PLANES) {
        return Err("HCOMPRESS stream has too many bit planes");
    }

    let grid = Grid {
        rows: height,
        cols: width,
    };
    let mut bits = BitReader::new(c, HEADER_LEN);
    decode_planes(&mut bits, out, grid, planes)?;
    out[0] = sum_all;

    let scale = i64::from(scale);
    if scale > 1 {
        for v in out.iter_mut() {
            *v = v.wrapping_mul(scale);
        }
    }
    inverse_transform(out, grid, smooth, scale);
    Ok(())
}

/// Tile shape: `rows` rows of `cols` pixels, row-major.
#[derive(Clone, Copy)]
struct Grid {
    rows: usize,
    cols: usize,
}

/// Smallest `k` with `2^k >= n` (n ≥ 1).
fn ceil_log2(n: usize) -> u32 {
    n.next_power_of_two().trailing_zeros()
}

/// MSB-first bit reader over the part of the stream after the header.
struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8], start_byte: usize) -> Self {
        BitReader {
            data,
            pos: start_byte * 8,
        }
    }

    /// Read `n` (1..=8) bits.
    fn bits(&mut self, n: usize) -> Result<u8, &'static str> {
        let end = self.pos + n;
        if end > self.data.len() * 8 {
            return Err(SHORT);
        }
        let i = self.pos / 8;
        let hi = u16::from(self.data[i]);
        let lo = u16::from(self.data.get(i + 1).copied().unwrap_or(0));
        let window = (hi << 8) | lo;
        let shift = 16 - (self.pos % 8) - n;
        self.pos = end;
        Ok(((window >> shift) & ((1 << n) - 1)) as u8)
    }

    fn bit(&mut self) -> Result<bool, &'static str> {
        let byte = *self.data.get(self.pos / 8).ok_or(SHORT)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit != 0)
    }

    fn nybble(&mut self) -> Result<u8, &'static str> {
        self.bits(4)
    }

    /// Skip to the next byte boundary.
    fn align(&mut self) {
        self.pos = self.pos.div_ceil(8) * 8;
    }

    /// One quadtree code (values 0–15) in the fixed Huffman code.
    fn huffman(&mut self) -> Result<u8, &'static str> {
        let c = self.bits(3)?;
        if c < 4 {
            return Ok(1 << c);
        }
        let c = (c << 1) | self.bits(1)?;
        match c {
            8 => return Ok(3),
            9 => return Ok(5),
            10 => return Ok(10),
            11 => return Ok(12),
            12 => return Ok(15),
            _ => {}
        }
        let c = (c << 1) | self.bits(1)?;
        match c {
            26 => return Ok(6),
            27 => return Ok(7),
            28 => return Ok(9),
            29 => return Ok(11),
            30 => return Ok(13),
            _ => {}
        }
        let c = (c << 1) | self.bits(1)?;
        Ok(if c == 62 { 0 } else { 14 })
    }
}

/// Read the bit planes of the four quadrants and the sign bits into `a` (magnitudes of the
/// digitized H-transform coefficients, then signed).
fn decode_planes(
    bits: &mut BitReader<'_>,
    a: &mut [i64],
    grid: Grid,
    planes: [u8; 3],
) -> Result<(), &'static str> {
    let Grid { rows, cols } = grid;
    let (rows2, cols2) = (rows.div_ceil(2), cols.div_ceil(2));
    a.fill(0);

    let quadrants = [
        (0, rows2, cols2, planes[0]),
        (cols2, rows2, cols / 2, planes[1]),
        (cols * rows2, rows / 2, cols2, planes[1]),
        (cols * rows2 + cols2, rows / 2, cols / 2, planes[2]),
    ];
    let mut cells = Cells::default();
    for (offset, qrows, qcols, nplanes) in quadrants {
        let quadrant = Quadrant {
            offset,
            stride: cols,
            rows: qrows,
            cols: qcols,
        };
        decode_quadrant(bits, a, quadrant, nplanes, &mut cells)?;
    }
    if bits.nybble()? != 0 {
        return Err("HCOMPRESS stream lacks its end-of-planes code");
    }

    bits.align();
    for v in a.iter_mut() {
        if *v != 0 && bits.bit()? {
            *v = v.wrapping_neg();
        }
    }
    Ok(())
}

/// A rectangular block of the coefficient array.
#[derive(Clone, Copy)]
struct Quadrant {
    offset: usize,
    stride: usize,
    rows: usize,
    cols: usize,
}

impl Quadrant {
    /// OR `plane` into the 2×2 block `(row, col)` (in half-resolution coordinates) wherever
    /// its 4-bit code has the matching bit: 8 = top left, 4 = top right, 2 = bottom left,
    /// 1 = bottom right. Pixels outside the quadrant are skipped.
    fn insert(&self, a: &mut [i64], row: usize, col: usize, code: u8, plane: i64) {
        let (r, c) = (2 * row, 2 * col);
        for (dr, dc, mask) in [(0, 0, 8), (0, 1, 4), (1, 0, 2), (1, 1, 1)] {
            if code & mask != 0 && r + dr < self.rows && c + dc < self.cols {
                a[self.offset + (r + dr) * self.stride + c + dc] |= plane;
            }
        }
    }
}

/// A non-zero quadtree code and its position in its level of the tree.
#[derive(Clone, Copy)]
struct Cell {
    row: u32,
    col: u32,
    code: u8,
}

/// The non-zero codes of the current tree level (in row-major order) and the next.
///
/// cfitsio expands every level as a dense array; only non-zero codes are kept here, so the
/// work per bit plane is proportional to the codes actually read, not to the tile's area.
#[derive(Default)]
struct Cells {
    cur: Vec<Cell>,
    next: Vec<Cell>,
}

fn decode_quadrant(
    bits: &mut BitReader<'_>,
    a: &mut [i64],
    q: Quadrant,
    nplanes: u8,
    cells: &mut Cells,
) -> Result<(), &'static str> {
    let log2n = ceil_log2(q.rows.max(q.cols).max(1));
    let (half_rows, half_cols) = (q.rows.div_ceil(2), q.cols.div_ceil(2));
    for bit in (0..u32::from(nplanes)).rev() {
        let plane = 1i64 << bit;
        match bits.nybble()? {
            0 => {
                // Plane stored directly: one code per 2×2 block.
                for row in 0..half_rows {
                    for col in 0..half_cols {
                        let code = bits.nybble()?;
                        q.insert(a, row, col, code, plane);
                    }
                }
            }
            0xF => {
                read_quadtree(bits, q, log2n, cells)?;
                for cell in &cells.cur {
                    // Positions are below the tile's i32 dimensions.
                    q.insert(a, cell.row as usize, cell.col as usize, cell.code, plane);
                }
            }
            _ => return Err("HCOMPRESS stream has a bad bit-plane code"),
        }
    }
    Ok(())
}

/// Read a quadtree-coded plane of the quadrant: one root code, refined `log2n - 1` times, each
/// time doubling the resolution and reading a new code for every set bit of the previous
/// level. Leaves the codes of the 2×2 blocks of the quadrant in `cells.cur`.
fn read_quadtree(
    bits: &mut BitReader<'_>,
    q: Quadrant,
    log2n: u32,
    cells: &mut Cells,
) -> Result<(), &'static str> {
    cells.cur.clear();
    let root = bits.huffman()?;
    if root != 0 {
        cells.cur.push(Cell {
            row: 0,
            col: 0,
            code: root,
        });
    }
    // Size of each level: ⌈n / 2^k⌉, except that an empty side stays 1 (as in cfitsio).
    let (mut nx, mut ny) = (1usize, 1usize);
    let (mut rest_x, mut rest_y) = (q.rows, q.cols);
    let mut c = 1usize << log2n;
    for _ in 1..log2n {
        if cells.cur.is_empty() {
            break;
        }
        c >>= 1;
        nx <<= 1;
        ny <<= 1;
        if rest_x <= c {
            nx -= 1;
        } else {
            rest_x -= c;
        }
        if rest_y <= c {
            ny -= 1;
        } else {
            rest_y -= c;
        }
        expand(bits, cells, nx, ny)?;
    }
    Ok(())
}

/// One refinement step to an nx × ny level. Each set bit of a parent code marks a child cell
/// (8 = top left, 4 = top right, 2 = bottom left, 1 = bottom right; children outside the level
/// do not exist) whose own code is then read, in reverse row-major order of the new level.
fn expand(
    bits: &mut BitReader<'_>,
    cells: &mut Cells,
    nx: usize,
    ny: usize,
) -> Result<(), &'static str> {
    let Cells { cur, next } = cells;
    next.clear();
    let mut end = cur.len();
    while end > 0 {
        // The parents in one row, whose children fill rows 2·row + 1 and 2·row.
        let row = cur[end - 1].row;
        let mut start = end - 1;
        while start > 0 && cur[start - 1].row == row {
            start -= 1;
        }
        let parents = &cur[start..end];
        for (dr, right, left) in [(1, 1, 2), (0, 4, 8)] {
            let child_row = 2 * row + dr;
            if child_row as usize >= nx {
                continue;
            }
            for p in parents.iter().rev() {
                let col = 2 * p.col;
                for (dc, mask) in [(1, right), (0, left)] {
                    if p.code & mask != 0 && ((col + dc) as usize) < ny {
                        let code = bits.huffman()?;
                        if code != 0 {
                            next.push(Cell {
                                row: child_row,
                                col: col + dc,
                                code,
                            });
                        }
                    }
                }
            }
        }
        end = start;
    }
    next.reverse();
    std::mem::swap(cur, next);
    Ok(())
}

/// Round `h` to a multiple of a power of two (`mask`), rounding half away from zero the way
/// the H-transform does (`pos`/`neg` are the offsets added to non-negative/negative values).
fn round_to(h: i64, pos: i64, neg: i64, mask: i64) -> i64 {
    h.wrapping_add(if h >= 0 { pos } else { neg }) & mask
}

/// Move `|h|` towards zero by `d` (a bit that was carried into another coefficient).
fn shrink(h: i64, d: i64) -> i64 {
    if h >= 0 {
        h.wrapping_sub(d)
    } else {
        h.wrapping_add(d)
    }
}

/// Inverse H-transform, in place, of the rows × cols coefficient array.
fn inverse_transform(a: &mut [i64], grid: Grid, smooth: bool, scale: i64) {
    let Grid { rows: nx, cols: ny } = grid;
    let nmax = nx.max(ny);
    let log2n = ceil_log2(nmax);
    let mut tmp = vec![0i64; nmax.div_ceil(2)];

    // Rounding parameters for the current level; bit0 = 2^level.
    let mut shift = 1;
    let mut bit0: i64 = 1 << (log2n - 1);
    let mut bit1 = bit0 << 1;
    let mut mask0 = -bit0;
    let mut mask1 = mask0 << 1;
    let mut prnd0 = bit0 >> 1;
    let mut prnd1 = bit1 >> 1;
    let mut nrnd0 = prnd0 - 1;
    let mut nrnd1 = prnd1 - 1;
    let (bit2, mask2) = (bit0 << 2, mask0 << 2);
    let prnd2 = bit2 >> 1;
    a[0] = round_to(a[0], prnd2, prnd2 - 1, mask2);

    let (mut nxtop, mut nytop) = (1usize, 1usize);
    let (mut rest_x, mut rest_y) = (nx, ny);
    let mut c = 1usize << log2n;
    for level in (0..log2n).rev() {
        // nxtop, nytop: size of the block being expanded at this level (⌈n / 2^level⌉).
        c >>= 1;
        nxtop <<= 1;
        nytop <<= 1;
        if rest_x <= c {
            nxtop -= 1;
        } else {
            rest_x -= c;
        }
        if rest_y <= c {
            nytop -= 1;
        } else {
            rest_y -= c;
        }
        if level == 0 {
            nrnd0 = 0;
            shift = 2;
        }

        for i in 0..nxtop {
            unshuffle(&mut a[ny * i..], nytop, 1, &mut tmp);
        }
        for j in 0..nytop {
            unshuffle(&mut a[j..], nxtop, ny, &mut tmp);
        }
        if smooth {
            hsmooth(a, nxtop, nytop, ny, scale);
        }

        let (oddx, oddy) = (nxtop % 2 == 1, nytop % 2 == 1);
        let (xpairs, ypairs) = (nxtop / 2 * 2, nytop / 2 * 2);
        for i in (0..xpairs).step_by(2) {
            let (r0, r1) = (ny * i, ny * (i + 1));
            for j in (0..ypairs).step_by(2) {
                let (s00, s10) = (r0 + j, r1 + j);
                let mut h0 = a[s00];
                let hx = round_to(a[s10], prnd1, nrnd1, mask1);
                let hy = round_to(a[s00 + 1], prnd1, nrnd1, mask1);
                let hc = round_to(a[s10 + 1], prnd0, nrnd0, mask0);
                let lowbit0 = hc & bit0;
                let hx = shrink(hx, lowbit0);
                let hy = shrink(hy, lowbit0);
                let lowbit1 = (hc ^ hx ^ hy) & bit1;
                h0 = if h0 >= 0 {
                    h0.wrapping_add(lowbit0).wrapping_sub(lowbit1)
                } else if lowbit0 == 0 {
                    h0.wrapping_add(lowbit1)
                } else {
                    h0.wrapping_add(lowbit0.wrapping_sub(lowbit1))
                };
                let (sum_p, sum_m) = (h0.wrapping_add(hx), h0.wrapping_sub(hx));
                let (d_p, d_m) = (hy.wrapping_add(hc), hy.wrapping_sub(hc));
                a[s10 + 1] = sum_p.wrapping_add(d_p) >> shift;
                a[s10] = sum_p.wrapping_sub(d_p) >> shift;
                a[s00 + 1] = sum_m.wrapping_add(d_m) >> shift;
                a[s00] = sum_m.wrapping_sub(d_m) >> shift;
            }
            if oddy {
                let (s00, s10) = (r0 + ypairs, r1 + ypairs);
                let hx = round_to(a[s10], prnd1, nrnd1, mask1);
                let h0 = shrink(a[s00], hx & bit1);
                a[s10] = h0.wrapping_add(hx) >> shift;
                a[s00] = h0.wrapping_sub(hx) >> shift;
            }
        }
        if oddx {
            let r0 = ny * xpairs;
            for j in (0..ypairs).step_by(2) {
                let s00 = r0 + j;
                let hy = round_to(a[s00 + 1], prnd1, nrnd1, mask1);
                let h0 = shrink(a[s00], hy & bit1);
                a[s00 + 1] = h0.wrapping_add(hy) >> shift;
                a[s00] = h0.wrapping_sub(hy) >> shift;
            }
            if oddy {
                let s00 = r0 + ypairs;
                a[s00] >>= shift;
            }
        }

        bit1 = bit0;
        bit0 >>= 1;
        mask1 = mask0;
        mask0 >>= 1;
        prnd1 = prnd0;
        prnd0 >>= 1;
        nrnd1 = nrnd0;
        nrnd0 = prnd0 - 1;
    }
}

/// Interleave the first ⌈n/2⌉ elements (stride `stride`) of `a` into the even positions and the
/// rest into the odd ones.
fn unshuffle(a: &mut [i64], n: usize, stride: usize, tmp: &mut [i64]) {
    let half = n.div_ceil(2);
    for (t, i) in tmp.iter_mut().zip(half..n) {
        *t = a[i * stride];
    }
    for i in (0..half).rev() {
        a[2 * i * stride] = a[i * stride];
    }
    for (t, i) in tmp.iter().zip((1..n).step_by(2)) {
        a[i * stride] = *t;
    }
}

/// Nudge the x, y and diagonal difference coefficients of the nxtop × nytop block towards
/// values interpolated from neighbouring means, by at most scale/2 (cfitsio's `hsmooth`).
fn hsmooth(a: &mut [i64], nxtop: usize, nytop: usize, ny: usize, scale: i64) {
    let smax = scale >> 1;
    if smax <= 0 {
        return;
    }
    let ny2 = ny * 2;
    // Limit `diff` to [dmin, dmax] and turn it into a correction of `coef`, a difference
    // scaled by 2^log2div, at most smax in size.
    let correction = |diff: i64, dmin: i64, dmax: i64, coef: i64, log2div: u32| -> i64 {
        let diff = diff.min(dmax).max(dmin);
        let s = diff.wrapping_sub(coef << log2div);
        let s = if s >= 0 {
            s >> log2div
        } else {
            s.wrapping_add((1 << log2div) - 1) >> log2div
        };
        s.clamp(-smax, smax)
    };
    // Slope limits that keep the interpolation monotonic.
    let limits = |hm: i64, h0: i64, hp: i64| -> (i64, i64) {
        let (up, down) = (hp.wrapping_sub(h0), h0.wrapping_sub(hm));
        (up.max(down).min(0) << 2, up.min(down).max(0) << 2)
    };

    let mut i = 2;
    while i + 2 < nxtop {
        let (r0, r1) = (ny * i, ny * (i + 1));
        for j in (0..nytop).step_by(2) {
            let s00 = r0 + j;
            let (hm, h0, hp) = (a[s00 - ny2], a[s00], a[s00 + ny2]);
            let (dmin, dmax) = limits(hm, h0, hp);
            if dmin < dmax {
                let s = correction(hp.wrapping_sub(hm), dmin, dmax, a[r1 + j], 3);
                a[r1 + j] = a[r1 + j].wrapping_add(s);
            }
        }
        i += 2;
    }

    for i in (0..nxtop).step_by(2) {
        let mut j = 2;
        while j + 2 < nytop {
            let s00 = ny * i + j;
            let (hm, h0, hp) = (a[s00 - 2], a[s00], a[s00 + 2]);
            let (dmin, dmax) = limits(hm, h0, hp);
            if dmin < dmax {
                let s = correction(hp.wrapping_sub(hm), dmin, dmax, a[s00 + 1], 3);
                a[s00 + 1] = a[s00 + 1].wrapping_add(s);
            }
            j += 2;
        }
    }

    let mut i = 2;
    while i + 2 < nxtop {
        let mut j = 2;
        while j + 2 < nytop {
            let s00 = ny * i + j;
            let s10 = s00 + ny;
            let hmm = a[s00 - ny2 - 2];
            let hpm = a[s00 + ny2 - 2];
            let hmp = a[s00 - ny2 + 2];
            let hpp = a[s00 + ny2 + 2];
            let h0 = a[s00];
            let diff = hpp.wrapping_add(hmm).wrapping_sub(hmp).wrapping_sub(hpm);
            let hx2 = a[s10] << 1;
            let hy2 = a[s00 + 1] << 1;
            let (xpy, xmy) = (hx2.wrapping_add(hy2), hx2.wrapping_sub(hy2));
            let d_pp = hpp.wrapping_sub(h0);
            let d_pm = h0.wrapping_sub(hpm);
            let d_mp = h0.wrapping_sub(hmp);
            let d_mm = hmm.wrapping_sub(h0);
            let m1 = d_pp
                .max(0)
                .wrapping_sub(xpy)
                .min(d_pm.max(0).wrapping_add(xmy));
            let m2 = d_mp
                .max(0)
                .wrapping_sub(xmy)
                .min(d_mm.max(0).wrapping_add(xpy));
            let dmax = m1.min(m2) << 4;
            let m1 = d_pp
                .min(0)
                .wrapping_sub(xpy)
                .max(d_pm.min(0).wrapping_add(xmy));
            let m2 = d_mp
                .min(0)
                .wrapping_sub(xmy)
                .max(d_mm.min(0).wrapping_add(xpy));
            let dmin = m1.max(m2) << 4;
            if dmin < dmax {
                let s = correction(diff, dmin, dmax, a[s10 + 1], 6);
                a[s10 + 1] = a[s10 + 1].wrapping_add(s);
            }
            j += 2;
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    //! Streams below were made by cfitsio's fpack 4.2 from the images `f16` / `g32` (40×30,
    //! 16×12 tiles, so the last tile column/row is 8 wide / 6 high) and the expected pixels come
    //! from funpack (with ZVAL2 set to 1 for the smoothed cases). Generator:
    //! `tools/tile_streams/gen.py` (needs libcfitsio-bin and python3-astropy); it prints these
    //! constants to embedded.rs.txt.

    use super::decode;
    use crate::tiled::testing::{hex, Rng};

    fn f16(x: i64, y: i64) -> i64 {
        let base = 3 * x - 2 * y;
        let tex = (x * x + 3 * y * y + x * y) % 23 - 11;
        let blk = if (x / 8 + y / 6) % 2 == 0 { 40 } else { -25 };
        let blob = if (x - 20).pow(2) + (y - 15).pow(2) < 30 {
            300
        } else {
            0
        };
        base + tex + blk + blob
    }

    fn g32(x: i64, y: i64) -> i64 {
        f16(x, y) * 2_000_003 + (x * 7919 + y * 104_729) % 100_003 - 50_000
    }

    /// Pixels of the w×h tile at (x0, y0) of image `f`, plus `delta` if given.
    fn tile(f: fn(i64, i64) -> i64, x0: i64, y0: i64, w: i64, h: i64, delta: &[i32]) -> Vec<i64> {
        let mut v: Vec<i64> = (y0..y0 + h)
            .flat_map(|y| (x0..x0 + w).map(move |x| f(x, y)))
            .collect();
        for (p, d) in v.iter_mut().zip(delta) {
            *p += i64::from(*d);
        }
        v
    }

    fn run(c: &[u8], w: usize, h: usize, smooth: bool) -> Result<Vec<i64>, &'static str> {
        let mut out = vec![0; w * h];
        decode(c, w, h, smooth, &mut out).map(|()| out)
    }

    const H16_LOSSLESS_T0: &str = "\
        dd990000000c000000100000000000000000000002200a0605f6e7e9d5b1f4aad6be97f7787ffbc5613f6307\
        79a11484f4000906621bec24000be251008d2f951d31ff7a6410017502810ec294ec69cd565009bb16330e33\
        3ffb79fe665667fdff01263006c440402de0ad23b903855545ec8aaaa00009fff60019ffc03414482be983fe\
        b9c0c22687edded2c41fedded2c41872faedf5059f00003500a54181f2d328bfd498a40a68004805f4135ea1\
        8e00\
    ";

    const H16_LOSSLESS_T8: &str = "\
        dd9900000006000000080000000000000000000005e0070605f680b203ed0042cc001ccf17ff7fc112901a19\
        9f4883fe67fdecfca90d5c002a8cff277ff04b027b010c0810c080d39000010fe8f3e5e2\
    ";

    const H32_LOSSLESS_T8: &str = "\
        dd9900000006000000080000000000000000b22748a01c1b1af6bff68fa603999feb2013030099000fd000d4\
        33efdbfdb6006d3016a001ed2006e0018f0002d2016103e5fbefc019500087301760005613e6f803319e1ffd\
        ff044a4028627f1d7f5a602c981ed9814c1011e800a310038181f7800ed881a119ee024c301d72033e33d500\
        ea6036e207766020e20356605e8207ce47fdecfca9fa7603a8802d91f71d0df4c02f8c005c40708c0bbcc07b\
        800bf4803a4c0b84403acc016840d544fbd4830e40168203960032c605aa401e46054e67fc12c09ff04b027b\
        1e987be607be607be6073e604302030e404b0204b027fdf6c038e40470204702030e404b027a7ff7b1e9877e\
        6030e400010fe8f3e5e2\
    ";

    const H16_SCALE8_T0: &str = "\
        dd990000000c00000010000000080000000000000044070302f6e7e9d5b1f4aad6be97f7787ffbc5613f6307\
        79a11584f4000906620bec26fb64106425cc0a143b0839b42736d94ff8093186362202016f079f1dc85c0682\
        89057d304068289057d30400007401281878a60bf819566024bd5be938\
    ";

    const H16_SCALE8_T0_DELTA: [i32; 192] = [
        2, 2, 0, 0, 0, -1, 1, 0, -1, -2, -1, -2, -1, 2, -1, -2, 1, 0, 1, 0, 2, 1, 2, 0, 1, -1, 0,
        -2, -2, -1, -1, -3, -2, 0, 0, 1, 1, 2, 0, 1, -3, -1, -2, -1, 0, 0, -1, 0, 0, 1, 0, 1, -1,
        0, 0, 0, -1, 0, -2, -2, 1, 1, -1, -1, 0, 0, 0, -1, 0, -1, 1, 0, 0, -1, 0, -1, 0, -1, 1, 0,
        2, 1, 0, -2, 2, 0, 0, -1, 2, 0, 0, -2, 1, -1, 1, -2, -1, 0, 0, 2, 0, 1, -1, 0, -2, -1, -2,
        -1, -1, 0, -1, -1, 0, 1, -1, 0, 1, 1, -2, -2, -1, -1, 1, 0, 0, 0, 1, 1, 0, 0, -1, -1, 0,
        -1, -2, -2, -1, 1, 0, 3, -1, 1, -2, 0, 1, -1, 2, 0, 1, -1, 1, -1, -1, 1, -1, 0, -1, 0, 0,
        1, -1, 1, 0, 2, -1, 0, -1, 0, -1, 0, -1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1, 1, 1, -1,
        -1, 1, 0, -1, -2, 1, 1,
    ];

    const H16_SCALE8_T0_SMOOTH_DELTA: [i32; 192] = [
        2, 2, 1, -1, -1, 0, 1, 0, -1, -2, -2, -1, -2, 3, -1, -2, 1, 0, 2, -1, 1, 2, 2, 0, 1, -1,
        -1, -1, -3, 0, -1, -3, -2, 0, -1, 2, 2, 1, -1, 0, -2, 0, -2, -1, -1, -1, 0, 1, 0, 1, -1, 2,
        0, -1, 1, 1, -1, 0, -2, -2, 2, 2, -2, -2, 0, 0, -1, 0, 0, 1, -1, -2, 0, -1, 1, -1, 1, -2,
        1, 0, 0, -1, -3, -3, 0, 0, 0, -1, 2, 0, 1, -2, 2, -2, 1, -2, 0, 1, 0, 2, 1, 2, 0, 1, -4,
        -1, -4, -1, -1, -2, -2, -2, -1, 0, 0, 1, 2, 2, -5, -1, -3, -1, -1, 0, 0, -2, 0, 0, -1, -1,
        -1, -1, -1, 0, 1, -1, -2, 2, 0, 5, -3, 1, -3, -1, 2, 0, 2, 0, 0, 0, 2, -2, -4, 0, -3, 0,
        -1, 2, 0, 1, -1, 1, 0, 2, -1, 0, 0, 2, -3, -1, -2, 0, -2, 0, 0, 0, 0, 0, -1, -1, -1, -1, 2,
        3, -3, -2, 0, 1, -2, -1, 1, 1,
    ];

    const H32_SCALE50000_T8: &str = "\
        dd9900000006000000080000c350000000000000e9820c0b0af680b20015233ff4883160025067ad82e6601d\
        8403c0202c0603dc2794112101a118172981cd100931002c080c391f6c7a7ff7b3f2a43d71023e001f03018a\
        30287301a723fef4ffe0960409604f60258103bf30218101a723fef4ffe0010fe8f3e5e2\
    ";

    const H32_SCALE50000_T8_DELTA: [i32; 48] = [
        4818, -3170, 1405, -6526, 4356, -3584, 967, -6988, 44, -7878, -3306, -11240, -358, -8304,
        -3756, -11645, 7821, -104, 4465, -3400, 7407, -542, 4003, -3889, 3149, -4779, -213, -8150,
        2654, -5229, -687, -8582, 4640, -3291, 1275, -6599, 10452, 2497, 7105, -862, -68, -8002,
        -3439, -11316, 5732, -2226, 2379, -5522,
    ];

    const H32_SCALE50000_T8_SMOOTH_DELTA: [i32; 48] = [
        4818, -3170, 1405, -6526, 4356, -3584, 967, -6988, 44, -7878, -3306, -11240, -358, -8304,
        -3756, -11645, 7821, -104, -8035, -3400, -5093, -542, -2247, -10139, 3149, -4779, -213,
        4350, 2654, 7271, 5563, -2332, 4640, -3291, -4975, -349, 16702, -3753, 7105, -862, -68,
        -8002, -9689, -5066, 11982, -8476, 2379, -5522,
    ];

    /// (stream, width, height) of every embedded tile.
    fn streams() -> Vec<(Vec<u8>, usize, usize)> {
        vec![
            (hex(H16_LOSSLESS_T0), 16, 12),
            (hex(H16_LOSSLESS_T8), 8, 6),
            (hex(H32_LOSSLESS_T8), 8, 6),
            (hex(H16_SCALE8_T0), 16, 12),
            (hex(H32_SCALE50000_T8), 8, 6),
        ]
    }

    #[test]
    fn lossless_tiles_match_cfitsio() {
        let t0 = tile(f16, 0, 0, 16, 12, &[]);
        assert_eq!(run(&hex(H16_LOSSLESS_T0), 16, 12, false).unwrap(), t0);
        // Smoothing is bounded by scale/2, so it never changes a lossless tile.
        assert_eq!(run(&hex(H16_LOSSLESS_T0), 16, 12, true).unwrap(), t0);
        let t8 = tile(f16, 32, 24, 8, 6, &[]);
        assert_eq!(run(&hex(H16_LOSSLESS_T8), 8, 6, false).unwrap(), t8);
        let t8 = tile(g32, 32, 24, 8, 6, &[]);
        assert_eq!(run(&hex(H32_LOSSLESS_T8), 8, 6, false).unwrap(), t8);
    }

    #[test]
    fn lossy_tiles_match_cfitsio() {
        let c = hex(H16_SCALE8_T0);
        assert_eq!(
            run(&c, 16, 12, false).unwrap(),
            tile(f16, 0, 0, 16, 12, &H16_SCALE8_T0_DELTA)
        );
        let smoothed = tile(f16, 0, 0, 16, 12, &H16_SCALE8_T0_SMOOTH_DELTA);
        assert_eq!(run(&c, 16, 12, true).unwrap(), smoothed);
        let c = hex(H32_SCALE50000_T8);
        assert_eq!(
            run(&c, 8, 6, false).unwrap(),
            tile(g32, 32, 24, 8, 6, &H32_SCALE50000_T8_DELTA)
        );
        let smoothed = tile(g32, 32, 24, 8, 6, &H32_SCALE50000_T8_SMOOTH_DELTA);
        assert_eq!(run(&c, 8, 6, true).unwrap(), smoothed);
    }

    fn with_size(c: &[u8], rows: i32, cols: i32) -> Vec<u8> {
        let mut c = c.to_vec();
        c[2..6].copy_from_slice(&rows.to_be_bytes());
        c[6..10].copy_from_slice(&cols.to_be_bytes());
        c
    }

    #[test]
    fn stream_size_must_match_the_tile() {
        let c = hex(H16_LOSSLESS_T0);
        // The stream stores rows (height) first: read as a 12-wide, 16-high tile it is wrong.
        assert!(run(&c, 12, 16, false).is_err());
        assert!(run(&c, 256, 256, false).is_err());
        for (rows, cols) in [
            (30000, 30000),
            (200, 64),
            (64, 200),
            (16, 12),
            (13, 16),
            (12, 17),
        ] {
            assert!(run(&with_size(&c, rows, cols), 16, 12, false).is_err());
        }
        for (rows, cols) in [
            (0, 0),
            (0, 16),
            (12, 0),
            (-12, 16),
            (12, -16),
            (i32::MAX, i32::MAX),
        ] {
            assert!(run(&with_size(&c, rows, cols), 16, 12, false).is_err());
        }
        // The cfitsio crash: a 256×256 tile whose stream claims another size.
        for (rows, cols) in [(30000, 30000), (200, 64), (64, 200)] {
            assert!(run(&with_size(&c, rows, cols), 256, 256, false).is_err());
        }
        // Output buffer and tile size must agree; a single pixel cannot be decoded.
        assert!(decode(&c, 16, 12, false, &mut [0; 191]).is_err());
        assert!(decode(&c, 0, 12, false, &mut []).is_err());
        assert!(decode(&c, usize::MAX, 2, false, &mut [0; 2]).is_err());
        assert!(run(&with_size(&c, 1, 1), 1, 1, false).is_err());
    }

    #[test]
    fn bad_header_fields_are_errors() {
        let c = hex(H16_SCALE8_T0);
        let mut bad = c.clone();
        bad[1] = 0x98;
        assert_eq!(
            run(&bad, 16, 12, false),
            Err("not an HCOMPRESS stream (bad magic)")
        );
        for scale in [-1, i32::MIN] {
            let mut bad = c.clone();
            bad[10..14].copy_from_slice(&i32::to_be_bytes(scale));
            assert!(run(&bad, 16, 12, true).is_err());
        }
        for q in 22..25 {
            let mut bad = c.clone();
            bad[q] = 65;
            assert!(run(&bad, 16, 12, false).is_err());
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (c, w, h) in streams() {
            for n in 0..c.len() {
                assert!(
                    run(&c[..n], w, h, n % 2 == 0).is_err(),
                    "prefix {n} of {w}x{h}"
                );
            }
            assert!(run(&c, w, h, false).is_ok());
        }
    }

    #[test]
    fn rewritten_header_fields_never_panic() {
        for (c, w, h) in streams() {
            for scale in [0, 1, 2, 3, 1000, 1 << 20, i32::MAX] {
                let mut s = c.clone();
                s[10..14].copy_from_slice(&i32::to_be_bytes(scale));
                let _ = run(&s, w, h, true);
            }
            for sum in [0, -1, i64::MIN, i64::MAX] {
                let mut s = c.clone();
                s[14..22].copy_from_slice(&sum.to_be_bytes());
                assert!(run(&s, w, h, true).is_ok());
            }
            for q in 22..25 {
                for planes in 0..=255u8 {
                    let mut s = c.clone();
                    s[q] = planes;
                    let r = run(&s, w, h, planes % 2 == 0);
                    assert!(planes <= 64 || r.is_err());
                }
            }
        }
    }

    #[test]
    fn extreme_coefficients_wrap_without_panicking() {
        // 8×8 tile, 64 directly stored all-ones planes per quadrant: every coefficient has all
        // 64 bits set, then is scaled by i32::MAX and smoothed. Only wrapping arithmetic
        // survives this in a debug build.
        let mut s = vec![0xDD, 0x99, 0, 0, 0, 8, 0, 0, 0, 8];
        s.extend_from_slice(&i32::MAX.to_be_bytes());
        s.extend_from_slice(&i64::MIN.to_be_bytes());
        s.extend_from_slice(&[64, 64, 64]);
        // Per plane: code 0 (direct), then four 0xF block codes: 20 bits; 256 planes, end code.
        let mut nybbles: Vec<u8> = (0..256).flat_map(|_| [0, 15, 15, 15, 15]).collect();
        nybbles.push(0);
        nybbles.push(0);
        s.extend(nybbles.chunks(2).map(|p| (p[0] << 4) | p[1]));
        s.extend_from_slice(&[0x5A; 8]);
        for smooth in [false, true] {
            let out = run(&s, 8, 8, smooth).unwrap();
            assert!(out.iter().any(|&v| v != 0));
        }
        assert!(run(&s[..s.len() - 1], 8, 8, true).is_err());
    }

    #[test]
    fn random_corruption_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (c, w, h) in streams() {
            for i in 0..3000 {
                let mut s = c.clone();
                for _ in 0..1 + rng.below(4) {
                    // Mostly in the coded body, sometimes anywhere.
                    let at = if i % 8 == 0 {
                        rng.below(s.len())
                    } else {
                        25 + rng.below(s.len() - 25)
                    };
                    s[at] ^= 1 << rng.below(8);
                }
                if i % 5 == 0 {
                    s.truncate(rng.below(s.len() + 1));
                }
                if i % 7 == 0 {
                    let at = rng.below(s.len().max(1));
                    if let Some(b) = s.get_mut(at) {
                        *b = rng.next() as u8;
                    }
                }
                let _ = run(&s, w, h, i % 2 == 0);
            }
        }
    }

    #[test]
    fn random_streams_for_small_tiles_never_panic() {
        // Tiles 1 or 2 pixels wide/high give empty quadrants, which cfitsio still expands.
        let mut rng = Rng(12345);
        for w in 1..=7 {
            for h in 1..=7 {
                for i in 0..400 {
                    let mut s = vec![0xDD, 0x99];
                    s.extend_from_slice(&(h as i32).to_be_bytes());
                    s.extend_from_slice(&(w as i32).to_be_bytes());
                    s.extend_from_slice(&[0, 0, 0, [0, 2, 9][i % 3]]);
                    s.extend((0..8).map(|_| rng.next() as u8));
                    s.extend((0..3).map(|_| rng.below(if i % 4 == 0 { 66 } else { 10 }) as u8));
                    let body = rng.below(80);
                    s.extend((0..body).map(|_| rng.next() as u8));
                    // Start with a quadtree or direct plane code half of the time.
                    if body > 0 && i % 2 == 0 {
                        s[25] = (s[25] & 0x0F) | if i % 4 == 0 { 0xF0 } else { 0x00 };
                    }
                    let r = run(&s, w, h, i % 3 == 0);
                    assert!(w * h > 1 || r.is_err());
                }
            }
        }
    }
}
