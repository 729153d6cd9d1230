//! Tile-compressed FITS (.fz) through cfitsio: RICE, GZIP, HCOMPRESS or PLIO tiles of 256×256 in an image
//! extension after an empty primary HDU, as fpack writes them. Floats are quantised with subtractive
//! dithering (RICE/HCOMPRESS) or stored losslessly (GZIP).

use crate::SkySpec;
use fitsio::sys;
use std::ffi::{CStr, CString};
use std::io;
use std::os::raw::{c_int, c_long, c_void};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Rice,
    Gzip,
    Hcompress,
    Plio,
}

impl Compression {
    fn code(self) -> c_int {
        match self {
            Compression::Rice => 11,
            Compression::Gzip => 21,
            Compression::Plio => 31,
            Compression::Hcompress => 41,
        }
    }

    pub fn parse(s: &str) -> Option<Compression> {
        match s.to_ascii_lowercase().as_str() {
            "rice" => Some(Compression::Rice),
            "gzip" => Some(Compression::Gzip),
            "hcompress" => Some(Compression::Hcompress),
            "plio" => Some(Compression::Plio),
            _ => None,
        }
    }
}

pub(crate) fn check(status: c_int, what: &str) -> io::Result<()> {
    if status == 0 {
        return Ok(());
    }
    let mut buf = [0 as std::os::raw::c_char; 81];
    // SAFETY: ffgerr writes at most 30 characters and a NUL into the 81-byte buffer.
    unsafe { sys::ffgerr(status, buf.as_mut_ptr()) };
    // SAFETY: cfitsio wrote a NUL-terminated string of at most 80 characters into this 81-byte buffer.
    let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Err(io::Error::other(format!(
        "cfitsio {what}: {msg} ({status})"
    )))
}

/// Write `spec` tile-compressed. BITPIX -32, -64, 8, 16 or 32; integer images hold the rounded physical
/// values (BSCALE/BZERO of the spec are not used here; 16-bit data above 32767 is written as unsigned).
/// PLIO needs non-negative integers below 2^24.
pub fn write_fz(path: &Path, spec: &SkySpec, comp: Compression) -> io::Result<()> {
    with_new_fits(path, |f| write_body(f, spec, comp, false))
}

/// [`write_fz`], with float images quantised and dithered (SUBTRACTIVE_DITHER_1) whatever the
/// compression: GZIP'd floats too (fpack `-g -q 4`).
pub fn write_fz_quantised(path: &Path, spec: &SkySpec, comp: Compression) -> io::Result<()> {
    with_new_fits(path, |f| write_body(f, spec, comp, true))
}

/// Create `path` through cfitsio: `body` writes into a temporary file that replaces `path` only once
/// it is complete and closed.
pub(crate) fn with_new_fits(
    path: &Path,
    body: impl FnOnce(*mut sys::fitsfile) -> io::Result<()>,
) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let cpath = CString::new(tmp.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    let mut f: *mut sys::fitsfile = std::ptr::null_mut();
    let mut st = 0;
    // SAFETY: cfitsio creates the file and returns a handle, closed below whatever `body` did.
    unsafe { sys::ffinit(&mut f, cpath.as_ptr(), &mut st) };
    check(st, "create")?;
    let r = body(f);
    // SAFETY: `f` was opened by ffinit above and is closed once, here.
    unsafe { sys::ffclos(f, &mut st) };
    r?;
    check(st, "close")?;
    std::fs::rename(&tmp, path)
}

fn write_body(
    f: *mut sys::fitsfile,
    spec: &SkySpec,
    comp: Compression,
    quantise: bool,
) -> io::Result<()> {
    let mut st = 0;
    // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
    // live locals, NUL-terminated cards or buffers of the values the call names.
    unsafe { sys::ffcrim(f, 8, 0, std::ptr::null_mut(), &mut st) };
    check(st, "primary")?;
    let stars = spec.star_list();
    let unsigned16 = spec.bitpix == 16 && spec.pattern == crate::Pattern::Sky;
    let img_type = if unsigned16 { 20 } else { spec.bitpix };
    // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
    // live locals, NUL-terminated cards or buffers of the values the call names.
    unsafe {
        sys::fits_set_compression_type(f, comp.code(), &mut st);
        let mut tile: [c_long; 2] = [
            256.min(spec.width) as c_long,
            256.min(spec.height) as c_long,
        ];
        sys::fits_set_tile_dim(f, 2, tile.as_mut_ptr(), &mut st);
        if spec.bitpix < 0 {
            if comp == Compression::Gzip && !quantise {
                // Quantize level 0: floats stored losslessly.
                sys::fits_set_quantize_level(f, 0.0, &mut st);
            } else {
                sys::fits_set_quantize_method(f, 1, &mut st); // SUBTRACTIVE_DITHER_1
            }
        }
    }
    check(st, "compression settings")?;
    let planes = spec.cube.unwrap_or(1);
    let mut naxes: Vec<c_long> = vec![spec.width as c_long, spec.height as c_long];
    if let Some(n) = spec.cube {
        naxes.push(n as c_long);
    }
    // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
    // live locals, NUL-terminated cards or buffers of the values the call names.
    unsafe {
        sys::ffcrim(
            f,
            img_type,
            naxes.len() as c_int,
            naxes.as_mut_ptr(),
            &mut st,
        )
    };
    check(st, "create image")?;
    for card in spec.cards() {
        let key = card.get(..8).unwrap_or("").trim();
        if matches!(key, "BSCALE" | "BZERO" | "BLANK") {
            continue;
        }
        let c = CString::new(card.trim_end()).map_err(io::Error::other)?;
        // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
        // live locals, NUL-terminated cards or buffers of the values the call names.
        unsafe { sys::ffprec(f, c.as_ptr(), &mut st) };
    }
    let extname = CString::new("EXTNAME = 'SCI'").unwrap();
    // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
    // live locals, NUL-terminated cards or buffers of the values the call names.
    unsafe { sys::ffprec(f, extname.as_ptr(), &mut st) };
    check(st, "header")?;
    const NULL: f64 = -9.87654e30;
    // Integer data saturates like a real detector instead of overflowing the type.
    let (lo, hi) = match (spec.bitpix, unsigned16) {
        (8, _) => (0.0, 255.0),
        (16, true) => (0.0, 65535.0),
        (16, false) => (-32768.0, 32767.0),
        (32, _) if comp == Compression::Plio => (0.0, 16_777_215.0),
        (32, _) => (i32::MIN as f64, i32::MAX as f64),
        _ => (f64::MIN, f64::MAX),
    };
    let band = 256;
    let (w, h) = (spec.width, spec.height);
    for p in 0..planes {
        let mut y0 = 0;
        while y0 < h {
            let n = band.min(h - y0);
            let mut vals = spec.plane_rows(&stars, p, y0, n);
            for v in vals.iter_mut() {
                if v.is_nan() {
                    *v = NULL;
                } else if spec.bitpix > 0 {
                    *v = v.round().clamp(lo, hi);
                }
            }
            let first = (p * w * h + y0 * w + 1) as i64;
            // cfitsio refuses implicit type conversion when writing compressed images: write each
            // BITPIX in its own C type (TBYTE 11, TUSHORT 20, TSHORT 21, TINT 31, TLONGLONG 81,
            // TFLOAT 42, TDOUBLE 82).
            let count = vals.len() as i64;
            macro_rules! put {
                ($t:ty, $code:expr) => {{
                    let mut buf: Vec<$t> = vals.iter().map(|&v| v as $t).collect();
                    // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
                    // live locals, NUL-terminated cards or buffers of the values the call names.
                    unsafe {
                        sys::ffppr(
                            f,
                            $code,
                            first,
                            count,
                            buf.as_mut_ptr() as *mut c_void,
                            &mut st,
                        )
                    };
                }};
            }
            match (spec.bitpix, unsigned16) {
                (8, _) => put!(u8, 11),
                (16, true) => put!(u16, 20),
                (16, false) => put!(i16, 21),
                (32, _) => put!(i32, 31),
                (64, _) => put!(i64, 81),
                (-32, _) => {
                    let mut buf: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
                    let mut nul = NULL as f32;
                    let nulp = &mut nul as *mut f32 as *mut c_void;
                    // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
                    // live locals, NUL-terminated cards or buffers of the values the call names.
                    unsafe {
                        sys::ffppn(
                            f,
                            42,
                            first,
                            count,
                            buf.as_mut_ptr() as *mut c_void,
                            nulp,
                            &mut st,
                        )
                    };
                }
                _ => {
                    let mut nul = NULL;
                    let nulp = &mut nul as *mut f64 as *mut c_void;
                    // SAFETY: `f` is open (with_new_fits closes it afterwards); the other pointers are
                    // live locals, NUL-terminated cards or buffers of the values the call names.
                    unsafe {
                        sys::ffppn(
                            f,
                            82,
                            first,
                            count,
                            vals.as_mut_ptr() as *mut c_void,
                            nulp,
                            &mut st,
                        )
                    };
                }
            }
            check(st, "write pixels")?;
            y0 += n;
        }
    }
    Ok(())
}
