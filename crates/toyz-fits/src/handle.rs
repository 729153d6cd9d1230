//! A thin safe wrapper over one cfitsio `fitsfile*` (through `fitsio::sys`): open read-only, move between
//! HDUs, read header records, image geometry and float subsets. Policy (which HDU, bounds) lives in image.rs.

use crate::error::{FitsError, Result};
use fitsio::sys;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_long, c_void};
use std::path::{Path, PathBuf};
use std::ptr;

/// cfitsio HDU types.
pub const IMAGE_HDU: c_int = 0;

const TFLOAT: c_int = 42;
const TDOUBLE: c_int = 82;
const TLONGLONG: c_int = 81;
const TULONGLONG: c_int = 80;
const KEY_NO_EXIST: c_int = 202;
const END_OF_FILE: c_int = 107;
const BAD_HDU_NUM: c_int = 301;

/// One open cfitsio file. Not `Send`: each thread opens its own (cfitsio is built thread-safe).
pub struct Handle {
    ptr: *mut sys::fitsfile,
    path: PathBuf,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut status = 0;
        // SAFETY: ptr came from a successful ffopen and is closed exactly once.
        unsafe { sys::ffclos(self.ptr, &mut status) };
    }
}

/// What a cfitsio status means for the person opening the file, in words; the library's own text only
/// for codes without one here (and the status number never: it is for logs, in `FitsError::Cfitsio`).
pub(crate) fn cfitsio_words(status: c_int, library: &str) -> String {
    match status {
        // FILE_NOT_OPENED
        104 => "could not be opened (it was removed, or the server may not read it)".into(),
        // END_OF_FILE
        107 => "ends before its header says it should (the file is truncated)".into(),
        // READ_ERROR, SEEK_ERROR
        108 | 115 => {
            "could not be read: a disk error, or the file changed while it was read".into()
        }
        // ARRAY_TOO_BIG, MEMORY_ALLOCATION
        110 | 112 => "is too large to read in the memory available".into(),
        // header keyword and structure errors, BAD_HEADER_FILL, BAD_DATA_FILL
        201..=222 | 252 | 253 => "has a damaged or non-standard header".into(),
        // BAD_HDU_NUM
        301 => "has no such HDU (it ends first)".into(),
        // BAD_I2C … NUM_OVERFLOW
        401..=412 => "holds a value that cannot be converted (a damaged header or table)".into(),
        // DATA_DECOMPRESSION_ERR, NO_COMPRESSED_TILE
        414 | 415 => {
            "has a compressed image tile that cannot be decompressed (the file is damaged)".into()
        }
        _ => format!("could not be read by the FITS library ({})", library.trim()),
    }
}

fn cfitsio_message(status: c_int) -> String {
    let mut buf = [0 as c_char; 81];
    // SAFETY: ffgerr writes at most 31 chars + NUL; ffgmsg at most 80 + NUL.
    unsafe { sys::ffgerr(status, buf.as_mut_ptr()) };
    // SAFETY: cfitsio wrote a NUL-terminated string of at most 80 characters into this 81-byte buffer.
    let mut text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    // The error stack holds the detailed reason (e.g. "tried to move past end of file"): keep the first.
    let mut detail = [0 as c_char; 81];
    // SAFETY: ffgmsg writes at most 80 characters and a NUL into the 81-byte buffer.
    if unsafe { sys::ffgmsg(detail.as_mut_ptr()) } != 0 {
        // SAFETY: cfitsio wrote a NUL-terminated string of at most 80 characters into this 81-byte buffer.
        let d = unsafe { CStr::from_ptr(detail.as_ptr()) }.to_string_lossy();
        let d = d.trim();
        if !d.is_empty() && !text.contains(d) {
            text = format!("{text}: {d}");
        }
    }
    // SAFETY: ffcmsg only clears cfitsio's message stack.
    unsafe { sys::ffcmsg() };
    text
}

impl Handle {
    /// Open a file already opened and checked, through its descriptor (see [`Pinned`]); messages
    /// name the file as the caller gave it.
    pub fn open_pinned(p: &crate::file::Pinned) -> Result<Handle> {
        p.check_headers()?;
        let mut h = Handle::open_as(&p.reopen_path(), p.shown())?;
        h.path = p.shown().to_owned();
        Ok(h)
    }

    fn open_as(path: &Path, shown: &Path) -> Result<Handle> {
        let cpath =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| FitsError::NotFound {
                path: shown.to_owned(),
            })?;
        let mut ptr = ptr::null_mut();
        let mut status = 0;
        // ffdopn ("disk open") takes the name literally: no cfitsio extended-filename syntax, so a file
        // called "x.fits[1]" or "!x" can never be interpreted as a filter or an overwrite.
        // Compressed (.gz) files are still recognised by content.
        // SAFETY: a NUL-terminated path and pointers to locals; ffdopn sets `ptr` only when it
        // opened the file.
        unsafe { sys::ffdopn(&mut ptr, cpath.as_ptr(), 0, &mut status) };
        if status != 0 || ptr.is_null() {
            return Err(FitsError::Cfitsio {
                path: shown.to_owned(),
                status,
                message: cfitsio_words(status, &cfitsio_message(status)),
            });
        }
        Ok(Handle {
            ptr,
            path: path.to_owned(),
        })
    }

    fn err(&self, status: c_int) -> FitsError {
        FitsError::Cfitsio {
            path: self.path.clone(),
            status,
            message: cfitsio_words(status, &cfitsio_message(status)),
        }
    }

    /// Move to HDU `index` (0-based). Returns `Ok(false)` when there is no such HDU.
    pub fn move_to(&mut self, index: usize) -> Result<bool> {
        let mut status = 0;
        let mut hdutype = 0;
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe { sys::ffmahd(self.ptr, index as c_int + 1, &mut hdutype, &mut status) };
        match status {
            0 => Ok(true),
            END_OF_FILE | BAD_HDU_NUM => {
                // SAFETY: ffcmsg only clears cfitsio's message stack.
                unsafe { sys::ffcmsg() };
                Ok(false)
            }
            s => Err(self.err(s)),
        }
    }

    pub fn hdu_type(&mut self) -> Result<c_int> {
        let mut status = 0;
        let mut t = 0;
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe { sys::ffghdt(self.ptr, &mut t, &mut status) };
        if status != 0 {
            return Err(self.err(status));
        }
        Ok(t)
    }

    /// True when the current HDU is a tile-compressed image (which cfitsio presents as an image).
    pub fn is_compressed_image(&mut self) -> bool {
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe { sys::fits_is_compressed_image(self.ptr, &mut 0) != 0 }
    }

    /// BITPIX as stored (after decompression for tile-compressed images) and the axis lengths.
    pub fn image_geometry(&mut self) -> Result<(i32, Vec<i64>)> {
        let mut status = 0;
        let mut bitpix = 0;
        let mut naxis = 0;
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe {
            sys::ffgidt(self.ptr, &mut bitpix, &mut status);
            sys::ffgidm(self.ptr, &mut naxis, &mut status);
        }
        if status != 0 {
            return Err(self.err(status));
        }
        let mut dims = vec![0i64; naxis.max(0) as usize];
        if naxis > 0 {
            // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
            // pointers are live locals or buffers of the size cfitsio writes.
            unsafe { sys::ffgiszll(self.ptr, naxis, dims.as_mut_ptr(), &mut status) };
        }
        if status != 0 {
            return Err(self.err(status));
        }
        Ok((bitpix, dims))
    }

    /// Byte offsets of the current HDU: (header start, data start, data end padded to 2880).
    pub fn hdu_offsets(&mut self) -> Result<(u64, u64, u64)> {
        let (mut h, mut d, mut e) = (0i64, 0i64, 0i64);
        let mut status = 0;
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe { sys::ffghadll(self.ptr, &mut h, &mut d, &mut e, &mut status) };
        if status != 0 {
            return Err(self.err(status));
        }
        Ok((h as u64, d as u64, e as u64))
    }

    /// Every header record of the current HDU, in order, as 80-character cards (END excluded).
    pub fn header_cards(&mut self) -> Result<Vec<String>> {
        let mut status = 0;
        let (mut nkeys, mut more) = (0, 0);
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe { sys::ffghsp(self.ptr, &mut nkeys, &mut more, &mut status) };
        if status != 0 {
            return Err(self.err(status));
        }
        let mut cards = Vec::with_capacity(nkeys as usize);
        let mut buf = [0 as c_char; 81];
        for n in 1..=nkeys {
            // Sequential ffgrec reads are O(1) each: the header is already in cfitsio's buffers.
            // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
            // pointers are live locals or buffers of the size cfitsio writes.
            unsafe { sys::ffgrec(self.ptr, n, buf.as_mut_ptr(), &mut status) };
            if status != 0 {
                return Err(self.err(status));
            }
            // SAFETY: cfitsio wrote a NUL-terminated string of at most 80 characters into this 81-byte buffer.
            let card = unsafe { CStr::from_ptr(buf.as_ptr()) };
            cards.push(card.to_string_lossy().into_owned());
        }
        Ok(cards)
    }

    /// The raw value text of a keyword of the current HDU, if present.
    pub fn key_raw(&mut self, key: &str) -> Result<Option<String>> {
        let ckey = CString::new(key).expect("keyword without NUL");
        let mut status = 0;
        let mut value = [0 as c_char; 81];
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe {
            sys::ffgkey(
                self.ptr,
                ckey.as_ptr(),
                value.as_mut_ptr(),
                ptr::null_mut(),
                &mut status,
            )
        };
        match status {
            0 => Ok(Some(
                // SAFETY: cfitsio wrote a NUL-terminated string of at most 80 characters into this 81-byte buffer.
                unsafe { CStr::from_ptr(value.as_ptr()) }
                    .to_string_lossy()
                    .trim()
                    .to_owned(),
            )),
            KEY_NO_EXIST => {
                // SAFETY: ffcmsg only clears cfitsio's message stack.
                unsafe { sys::ffcmsg() };
                Ok(None)
            }
            s => Err(self.err(s)),
        }
    }

    /// Rows, and per column (1-based) its cfitsio type code and repeat count, of the current table HDU.
    pub fn table_layout(&mut self) -> Result<(i64, Vec<(c_int, i64)>)> {
        let (mut status, mut ncols, mut nrows) = (0, 0, 0i64);
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe {
            sys::ffgncl(self.ptr, &mut ncols, &mut status);
            sys::ffgnrwll(self.ptr, &mut nrows, &mut status);
        }
        if status != 0 {
            return Err(self.err(status));
        }
        let mut cols = Vec::new();
        for c in 1..=ncols {
            let (mut t, mut repeat, mut width) = (0, 0i64, 0i64);
            // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
            // pointers are live locals or buffers of the size cfitsio writes.
            unsafe { sys::ffgtclll(self.ptr, c, &mut t, &mut repeat, &mut width, &mut status) };
            if status != 0 {
                return Err(self.err(status));
            }
            cols.push((t, repeat));
        }
        Ok((nrows, cols))
    }

    /// Column `col` (1-based) of `rows` rows as f64 (NULLs as NaN; first element of vector cells).
    pub fn read_column_f64(&mut self, col: c_int, rows: i64, repeat: i64) -> Result<Vec<f64>> {
        let mut out = vec![0f64; rows as usize];
        let mut status = 0;
        let mut anynul = 0;
        if repeat == 1 {
            // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
            // pointers are live locals or buffers of the size cfitsio writes.
            unsafe {
                sys::ffgcvd(
                    self.ptr,
                    col,
                    1,
                    1,
                    rows,
                    f64::NAN,
                    out.as_mut_ptr(),
                    &mut anynul,
                    &mut status,
                )
            };
        } else {
            for (r, o) in out.iter_mut().enumerate() {
                // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
                // pointers are live locals or buffers of the size cfitsio writes.
                unsafe {
                    sys::ffgcvd(
                        self.ptr,
                        col,
                        r as i64 + 1,
                        1,
                        1,
                        f64::NAN,
                        o,
                        &mut anynul,
                        &mut status,
                    )
                };
            }
        }
        if status != 0 {
            return Err(self.err(status));
        }
        Ok(out)
    }

    /// A numeric keyword of the current HDU, or `default` when absent or not a number.
    pub fn key_num<T: std::str::FromStr>(&mut self, key: &str, default: T) -> Result<T> {
        Ok(self
            .key_raw(key)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(default))
    }

    /// Read the subset `first..=last` (1-based, inclusive, one entry per axis) as f32, undefined pixels
    /// (BLANK, ZBLANK, NaN) as NaN, BSCALE/BZERO applied and quantised floats dequantised by cfitsio.
    pub fn read_subset(
        &mut self,
        first: &[c_long],
        last: &[c_long],
        out: &mut [f32],
    ) -> Result<()> {
        let mut status = 0;
        let mut inc: Vec<c_long> = vec![1; first.len()];
        let mut first = first.to_vec();
        let mut last = last.to_vec();
        let mut nul = f32::NAN;
        let mut anynul = 0;
        // SAFETY: `self.ptr` is this Handle's open file (closed only in Drop); the other
        // pointers are live locals or buffers of the size cfitsio writes.
        unsafe {
            sys::ffgsv(
                self.ptr,
                TFLOAT,
                first.as_mut_ptr(),
                last.as_mut_ptr(),
                inc.as_mut_ptr(),
                &mut nul as *mut f32 as *mut c_void,
                out.as_mut_ptr() as *mut c_void,
                &mut anynul,
                &mut status,
            )
        };
        if status != 0 {
            return Err(self.err(status));
        }
        Ok(())
    }

    /// One pixel at 1-based coordinates `first` (all axes), read without going through f32: as an
    /// integer when `int` says the stored values are integers after scaling (`unsigned` for the
    /// BZERO = 2^63 convention), else as a double. None for BLANK/NaN pixels.
    pub fn read_pixel_exact(
        &mut self,
        first: &[c_long],
        int: Option<bool>,
    ) -> Result<Option<Exact>> {
        let mut status = 0;
        let mut first = first.to_vec();
        let mut anynul = 0;
        let mut null: c_char = 0;
        let mut buf = [0u8; 8];
        let datatype = match int {
            Some(true) => TULONGLONG,
            Some(false) => TLONGLONG,
            None => TDOUBLE,
        };
        if int.is_none() {
            // Doubles: NaN marks undefined pixels. (ffgpxf's null-flag array is not used here: for
            // tile-compressed images cfitsio dereferences the absent null value and crashes.)
            let mut nan = f64::NAN;
            let mut v = f64::NAN;
            // SAFETY: one double into `v`; the null value is a double.
            unsafe {
                sys::ffgpxv(
                    self.ptr,
                    TDOUBLE,
                    first.as_mut_ptr(),
                    1,
                    &mut nan as *mut f64 as *mut c_void,
                    &mut v as *mut f64 as *mut c_void,
                    &mut anynul,
                    &mut status,
                )
            };
            if status != 0 {
                return Err(self.err(status));
            }
            return Ok(v.is_finite().then_some(Exact::Float(v)));
        }
        // SAFETY: one element of an 8-byte type into an 8-byte buffer; one null flag.
        unsafe {
            sys::ffgpxf(
                self.ptr,
                datatype,
                first.as_mut_ptr(),
                1,
                buf.as_mut_ptr() as *mut c_void,
                &mut null,
                &mut anynul,
                &mut status,
            )
        };
        if status != 0 {
            return Err(self.err(status));
        }
        if null != 0 {
            return Ok(None);
        }
        Ok(Some(match int {
            Some(true) => Exact::UInt(u64::from_ne_bytes(buf)),
            Some(false) => Exact::Int(i64::from_ne_bytes(buf)),
            None => Exact::Float(f64::from_ne_bytes(buf)),
        }))
    }
}

/// A stored value read exactly (see [`Handle::read_pixel_exact`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exact {
    Int(i64),
    UInt(u64),
    Float(f64),
}

#[cfg(test)]
mod words_tests {
    use super::*;

    #[test]
    fn statuses_in_words_never_the_number() {
        for status in [104, 107, 108, 110, 210, 252, 301, 412, 414, 999] {
            let w = cfitsio_words(status, &cfitsio_message(status));
            assert!(!w.contains(&status.to_string()), "{status}: {w}");
            assert!(
                status == 999 || !w.contains("FITS library"),
                "{status}: {w}"
            );
        }
        assert!(cfitsio_words(414, "").contains("cannot be decompressed"));
        assert!(cfitsio_words(107, "").contains("truncated"));
    }
}
