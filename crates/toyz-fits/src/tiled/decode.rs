//! One compressed tile's bytes → its physical values, as cfitsio's `imcomp_decompress_tile` reads them
//! into doubles: the algorithm's integers (or gzip'd floats), then the tile's ZSCALE/ZZERO (or the
//! image's BSCALE/BZERO), subtractive dithering from the FITS standard's random sequence, and nulls
//! (ZBLANK, BLANK, NaN) as NaN. Every length is checked against the tile; nothing here can fault.

use super::{hcompress, plio, rice};
use std::io::Read;
use std::sync::OnceLock;

/// Length of the FITS standard's table of random numbers for dithering.
pub(crate) const N_RANDOM: usize = 10_000;
/// The quantised value SUBTRACTIVE_DITHER_2 uses for an exact 0.0.
const ZERO_VALUE: i64 = -2_147_483_646;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Rice {
        blocksize: usize,
        bytepix: usize,
    },
    Gzip {
        shuffled: bool,
    },
    Hcompress {
        smooth: bool,
    },
    Plio,
    /// NOCOMPRESS: every tile is in UNCOMPRESSED_DATA.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Quantize {
    /// Floats stored as floats (GZIP, or no ZSCALE/ZZERO at all).
    Lossless,
    /// Integers × scale + zero (integer images, and quantised floats without dithering).
    Linear,
    Dither1,
    Dither2,
}

/// A column of the tile table: where it is in a row and what it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    at: usize,
    /// The type of a scalar, or of a variable-length array's elements.
    code: char,
    /// A variable-length array descriptor: 64-bit (`Q`) or 32-bit (`P`); None for a scalar.
    q: Option<bool>,
}

fn type_bytes(code: char) -> Option<u64> {
    Some(match code {
        'B' | 'L' | 'A' => 1,
        'I' => 2,
        'J' | 'E' => 4,
        'K' | 'D' => 8,
        _ => return None,
    })
}

impl Column {
    pub(crate) fn new(
        at: u64,
        code: char,
        elem: Option<char>,
        bytes: u64,
    ) -> Result<Column, String> {
        let at = usize::try_from(at).map_err(|_| "row too wide".to_string())?;
        Ok(match code {
            'P' | 'Q' => {
                let e = elem.ok_or("an array without an element type")?;
                type_bytes(e).ok_or_else(|| format!("arrays of {e}"))?;
                Column {
                    at,
                    code: e,
                    q: Some(code == 'Q'),
                }
            }
            _ => {
                if type_bytes(code) != Some(bytes) {
                    // Not a single scalar: usable by no column this reader needs.
                    return Ok(Column {
                        at,
                        code: '?',
                        q: None,
                    });
                }
                Column { at, code, q: None }
            }
        })
    }

    pub(crate) fn array(self) -> Result<Column, String> {
        match self.q {
            Some(_) => Ok(self),
            None => Err("not a variable-length array".into()),
        }
    }

    pub(crate) fn scalar(self) -> Result<Column, String> {
        match (self.q, self.code) {
            (None, 'I' | 'J' | 'K' | 'E' | 'D') => Ok(self),
            _ => Err("not a single number".into()),
        }
    }

    pub(crate) fn elem_bytes(&self) -> u64 {
        type_bytes(self.code).unwrap_or(1)
    }

    /// (element count, heap offset) of this array column in `row`.
    pub(crate) fn descriptor(&self, row: &[u8]) -> (u64, u64) {
        let d = &row[self.at..];
        if self.q == Some(true) {
            (be_u64(&d[..8]), be_u64(&d[8..16]))
        } else {
            (be_u32(&d[..4]) as u64, be_u32(&d[4..8]) as u64)
        }
    }

    /// This scalar column's value in `row`; None for a null float.
    fn number(&self, row: &[u8]) -> f64 {
        let d = &row[self.at..];
        match self.code {
            'I' => i16::from_be_bytes([d[0], d[1]]) as f64,
            'J' => be_u32(d) as i32 as f64,
            'K' => be_u64(d) as i64 as f64,
            'E' => f32::from_bits(be_u32(d)) as f64,
            _ => f64::from_bits(be_u64(d)),
        }
    }
}

fn be_u32(d: &[u8]) -> u32 {
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}
fn be_u64(d: &[u8]) -> u64 {
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// A per-tile number: a column, a keyword, or absent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar {
    Column(Column),
    Keyword(f64),
    None,
}

impl Scalar {
    pub(crate) fn keyword(v: Option<f64>) -> Scalar {
        v.map_or(Scalar::None, Scalar::Keyword)
    }
    pub(crate) fn get(&self, row: &[u8], default: f64) -> f64 {
        self.get_opt(row).unwrap_or(default)
    }
    pub(crate) fn get_opt(&self, row: &[u8]) -> Option<f64> {
        match self {
            Scalar::Column(c) => Some(c.number(row)),
            Scalar::Keyword(v) => Some(*v),
            Scalar::None => None,
        }
    }
}

/// What a tile needs beyond its bytes.
pub(crate) struct Tile {
    /// Table row, 1-based (dithering starts from it).
    pub nrow: u64,
    pub dims: Vec<usize>,
    pub npix: usize,
    pub zbitpix: i32,
    pub quantize: Quantize,
    pub dither_seed: i64,
    pub scale: f64,
    pub zero: f64,
    pub blank: Option<f64>,
    pub bscale: f64,
    pub bzero: f64,
}

/// Integers as the algorithm gives them.
enum Ints {
    U8(Vec<u8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Decode a tile's COMPRESSED_DATA.
pub(crate) fn compressed(kind: &Kind, c: &[u8], t: &Tile) -> Result<Vec<f64>, String> {
    let n = t.npix;
    let ints = match *kind {
        Kind::Rice { blocksize, bytepix } => {
            let mut v = vec![0u32; n];
            rice::decode(c, blocksize, bytepix, &mut v)?;
            match bytepix {
                1 => Ints::U8(v.into_iter().map(|x| x as u8).collect()),
                2 => Ints::I16(v.into_iter().map(|x| x as u16 as i16).collect()),
                _ => Ints::I32(v.into_iter().map(|x| x as i32).collect()),
            }
        }
        Kind::Hcompress { smooth } => {
            let (w, h) = (t.dims[0], t.dims.get(1).copied().unwrap_or(1));
            if t.dims.iter().skip(2).any(|&d| d != 1) {
                return Err("HCOMPRESS tiles are two-dimensional".into());
            }
            let mut v = vec![0i64; n];
            hcompress::decode(c, w, h, smooth, &mut v)?;
            // cfitsio hands the values on as 32-bit integers.
            Ints::I32(v.into_iter().map(|x| x as i32).collect())
        }
        Kind::Plio => {
            let mut v = vec![0i32; n];
            plio::decode(c, &mut v)?;
            Ints::I32(v)
        }
        Kind::Gzip { shuffled } => {
            let bytes = gunzip(c, n * 8)?;
            let per = bytes.len() / n.max(1);
            if bytes.len() != per * n || ![1, 2, 4, 8].contains(&per) {
                return Err(format!(
                    "gzip'd tile of {} bytes for {n} pixels",
                    bytes.len()
                ));
            }
            let bytes = if shuffled {
                unshuffle(&bytes, per)
            } else {
                bytes
            };
            let float = t.quantize == Quantize::Lossless;
            match per {
                1 => Ints::U8(bytes),
                2 => Ints::I16(
                    bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_be_bytes([b[0], b[1]]))
                        .collect(),
                ),
                4 if float => Ints::F32(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_bits(be_u32(b)))
                        .collect(),
                ),
                4 => Ints::I32(bytes.chunks_exact(4).map(|b| be_u32(b) as i32).collect()),
                _ if t.zbitpix == 64 => {
                    Ints::I64(bytes.chunks_exact(8).map(|b| be_u64(b) as i64).collect())
                }
                _ => Ints::F64(
                    bytes
                        .chunks_exact(8)
                        .map(|b| f64::from_bits(be_u64(b)))
                        .collect(),
                ),
            }
        }
        Kind::None => return Err("no compressed data in a NOCOMPRESS image".into()),
    };
    Ok(physical(ints, t, matches!(kind, Kind::Plio)))
}

/// A float tile the encoder could not quantise, gzip'd from its raw big-endian floats (never scaled).
pub(crate) fn gzip_floats(c: &[u8], t: &Tile) -> Result<Vec<f64>, String> {
    let per = match t.zbitpix {
        -32 => 4,
        -64 => 8,
        b => return Err(format!("gzip'd float tile in a BITPIX {b} image")),
    };
    let bytes = gunzip(c, t.npix * per)?;
    if bytes.len() != t.npix * per {
        return Err(format!(
            "gzip'd tile of {} bytes for {} pixels",
            bytes.len(),
            t.npix
        ));
    }
    Ok(if per == 4 {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_bits(be_u32(b)) as f64)
            .collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|b| f64::from_bits(be_u64(b)))
            .collect()
    })
}

/// A tile stored uncompressed (UNCOMPRESSED_DATA, elements of the column's type).
pub(crate) fn raw(col: &super::Column, c: &[u8], t: &Tile) -> Result<Vec<f64>, String> {
    let per = col.elem_bytes() as usize;
    if c.len() != t.npix * per {
        return Err(format!(
            "{} bytes of raw data for {} pixels",
            c.len(),
            t.npix
        ));
    }
    let ints = match col.code {
        'B' => Ints::U8(c.to_vec()),
        'I' => Ints::I16(
            c.chunks_exact(2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .collect(),
        ),
        'J' => Ints::I32(c.chunks_exact(4).map(|b| be_u32(b) as i32).collect()),
        'K' => Ints::I64(c.chunks_exact(8).map(|b| be_u64(b) as i64).collect()),
        'E' => Ints::F32(
            c.chunks_exact(4)
                .map(|b| f32::from_bits(be_u32(b)))
                .collect(),
        ),
        'D' => Ints::F64(
            c.chunks_exact(8)
                .map(|b| f64::from_bits(be_u64(b)))
                .collect(),
        ),
        other => return Err(format!("raw data of type {other}")),
    };
    Ok(physical(ints, t, false))
}

/// gzip data, at most `max` bytes of output (one more is an error: no tile is larger).
fn gunzip(c: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(max.min(1 << 24));
    flate2::read::GzDecoder::new(c)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip data: {e}"))?;
    if out.len() > max {
        return Err("gzip data larger than its tile".into());
    }
    Ok(out)
}

/// GZIP_2 stores all first bytes of the values, then all second bytes, …
fn unshuffle(b: &[u8], per: usize) -> Vec<u8> {
    let n = b.len() / per;
    let mut out = vec![0u8; b.len()];
    for (k, plane) in b.chunks_exact(n.max(1)).enumerate().take(per) {
        for (i, &v) in plane.iter().enumerate() {
            out[i * per + k] = v;
        }
    }
    out
}

/// The FITS standard's random numbers (Park and Miller's generator), as cfitsio makes them.
fn randoms() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let (a, m) = (16807.0f64, 2147483647.0f64);
        let mut seed = 1.0f64;
        (0..N_RANDOM)
            .map(|_| {
                let temp = a * seed;
                seed = temp - m * ((temp / m) as i32 as f64);
                (seed / m) as f32
            })
            .collect()
    })
}

/// Values × scale + zero with nulls as NaN, dithered as the tile says.
fn physical(ints: Ints, t: &Tile, plio: bool) -> Vec<f64> {
    // cfitsio: the tile's own scale unless it is the identity, then the image's BSCALE/BZERO; floats
    // with both combine them.
    let (mut scale, mut zero) = (t.scale, t.zero);
    if t.zbitpix < 0 && t.quantize != Quantize::Lossless && (t.bscale != 1.0 || t.bzero != 0.0) {
        scale *= t.bscale;
        zero = zero * t.bscale + t.bzero;
    }
    if scale == 1.0 && zero == 0.0 {
        (scale, zero) = (t.bscale, t.bzero);
    }
    // PLIO stores unsigned 16-bit images offset by 32768.
    if plio && t.bzero == 32768.0 {
        zero -= 32768.0;
    }
    let blank = t.blank;
    let mut out = Vec::with_capacity(t.npix);
    macro_rules! ints {
        ($v:expr) => {{
            let dither = matches!(t.quantize, Quantize::Dither1 | Quantize::Dither2);
            if dither {
                let r = randoms();
                let mut iseed =
                    ((t.nrow as i64 + t.dither_seed - 2).rem_euclid(N_RANDOM as i64)) as usize;
                let mut next = (r[iseed] * 500.0) as usize;
                for x in $v {
                    let x = x as i64;
                    out.push(if blank == Some(x as f64) {
                        f64::NAN
                    } else if t.quantize == Quantize::Dither2 && x == ZERO_VALUE {
                        0.0
                    } else {
                        (x as f64 - r[next] as f64 + 0.5) * scale + zero
                    });
                    next += 1;
                    if next == N_RANDOM {
                        iseed = (iseed + 1) % N_RANDOM;
                        next = (r[iseed] * 500.0) as usize;
                    }
                }
            } else {
                for x in $v {
                    out.push(if blank == Some(x as f64) {
                        f64::NAN
                    } else {
                        x as f64 * scale + zero
                    });
                }
            }
        }};
    }
    match ints {
        Ints::U8(v) => ints!(v),
        Ints::I16(v) => ints!(v),
        Ints::I32(v) => ints!(v),
        Ints::I64(v) => ints!(v),
        Ints::F32(v) => out.extend(v.into_iter().map(|x| x as f64 * scale + zero)),
        Ints::F64(v) => out.extend(v.into_iter().map(|x| x * scale + zero)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_random_sequence_is_the_standards() {
        // The FITS standard: the 10000th seed is 1043618065.
        let r = randoms();
        assert_eq!(r.len(), N_RANDOM);
        assert_eq!(
            (r[N_RANDOM - 1] as f64 * 2147483647.0).round() as i64 / 1000,
            1043618065 / 1000
        );
        assert!((r[0] as f64 - 16807.0 / 2147483647.0).abs() < 1e-12);
    }

    #[test]
    fn shuffled_bytes_come_back() {
        let v: Vec<u8> = (0..12).collect();
        // 3 values of 4 bytes, shuffled: byte 0 of each, then byte 1, …
        let shuffled = vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11];
        assert_eq!(unshuffle(&shuffled, 4), v);
    }
}
