//! The one interface the engine reads images through: size, bounds-checked rectangles as f32 for
//! rendering, exact values, WCS at a position and a stable cache key. A single HDU ([`Image`]) and a
//! focal-plane mosaic ([`crate::Mosaic`]) implement it; `open_raster` picks one from an [`HduSel`].

use crate::error::Result;
use crate::file::{FileVersion, Pinned};
use crate::header::Header;
use crate::image::{HduSel, HduSummary, Image};
use crate::mosaic::{Mosaic, MosaicInfo};
use crate::wcs::Wcs;
use serde::{Serialize, Serializer};
use std::path::{Path, PathBuf};

/// A stored pixel value, exactly: integers stay integers (int64 and uint64 included), doubles keep all
/// their digits, float32 data keeps its own shortest decimal form. Scaled integers are BSCALE·v + BZERO
/// computed in double, written with the decimals BSCALE and BZERO hold (0.01 → two: `114.96`, never
/// the double's `114.96000000000001`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Scaled { value: f64, decimals: u8 },
}

/// The decimals a scaled integer holds: as many as BSCALE and BZERO are written with (their shortest
/// decimal forms), at most 17.
pub fn scaled_decimals(scale: f64, zero: f64) -> u8 {
    let decimals = |x: f64| {
        let s = format!("{x}");
        s.split_once('.').map_or(0, |(_, f)| f.len())
    };
    decimals(scale).max(decimals(zero)).min(17) as u8
}

impl Value {
    /// The value as a double (rounded for integers beyond 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::UInt(v) => v as f64,
            Value::F32(v) => v as f64,
            Value::F64(v) => v,
            Value::Scaled { value, .. } => value,
        }
    }

    /// The value in decimal with every significant digit of its type (a scaled integer: the decimals
    /// its scaling holds).
    pub fn text(self) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            Value::UInt(v) => v.to_string(),
            Value::F32(v) => format!("{v:?}"),
            Value::F64(v) => format!("{v:?}"),
            Value::Scaled { value, decimals } => {
                let d = decimals as usize;
                format!("{value:.d$}")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Value::Int(v) => s.serialize_i64(v),
            Value::UInt(v) => s.serialize_u64(v),
            // As the double nearest the float's shortest decimal form, so that every serialiser
            // (serde_json::Value included, which holds f64) writes the same digits: 0.1, not
            // 0.10000000149011612.
            Value::F32(v) => s.serialize_f64(format!("{v}").parse().unwrap_or(v as f64)),
            Value::F64(v) | Value::Scaled { value: v, .. } => s.serialize_f64(v),
        }
    }
}

/// Which CCD of a mosaic holds a pixel, and where in it (FITS 1-based pixels of that HDU).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CcdPixel {
    pub name: String,
    pub hdu: usize,
    pub x: f64,
    pub y: f64,
}

/// What identifies the pixels a raster shows: a change to any of these is a different image.
#[derive(Debug, Clone, PartialEq)]
pub struct RasterKey {
    pub path: PathBuf,
    pub hdu: usize,
    pub plane: usize,
    /// The file's version when opened (device, inode, size, mtime, ctime).
    pub version: FileVersion,
    /// None for a single HDU; the selector ("mosaic:wcs", "mosaic:detsec") for composite images.
    pub variant: Option<String>,
}

/// An image the engine can tile, read and measure. Pixels are 0-based in FITS order (row 0 is the
/// bottom) unless a method says otherwise; pixels that hold no data (NaN, BLANK, gaps between CCDs)
/// read as NaN in f32 and as `None` exactly.
pub trait Raster: Send + Sync + std::fmt::Debug {
    fn width(&self) -> usize;
    fn height(&self) -> usize;

    /// Read the `w`×`h` rectangle whose lower-left pixel is (x0, y0) into `out`, bottom row first.
    /// Errors when the rectangle is not inside the image.
    fn read_rect(&self, x0: usize, y0: usize, w: usize, h: usize, out: &mut [f32]) -> Result<()>;

    /// Rows `top..top+n` counted from the top of the displayed image, top row first, full width: the
    /// streamed pyramid's reads, done as fast as this raster can (in parallel where that helps).
    fn read_band(&self, top: usize, n: usize, out: &mut [f32]) -> Result<()> {
        let (w, h) = (self.width(), self.height());
        let mut buf = vec![0f32; w * n];
        self.read_rect(0, h - top - n, w, n, &mut buf)?;
        for (r, row) in out[..w * n].chunks_exact_mut(w).enumerate() {
            row.copy_from_slice(&buf[(n - 1 - r) * w..(n - r) * w]);
        }
        Ok(())
    }

    /// Visit the rows of a rectangle, bottom row first: `f(row_index, values)`.
    fn for_each_row(
        &self,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        f: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<()> {
        let mut buf = vec![0f32; w * h];
        self.read_rect(x0, y0, w, h, &mut buf)?;
        for (r, row) in buf.chunks_exact(w).enumerate() {
            f(r, row);
        }
        Ok(())
    }

    /// The stored value at (x, y), exactly; `None` where there is no data.
    fn value(&self, x: usize, y: usize) -> Result<Option<Value>>;

    /// The part of a composite image that holds FITS pixel (x, y) (1-based), if it is composite.
    fn locate(&self, _x: f64, _y: f64) -> Option<CcdPixel> {
        None
    }

    /// The header whose WCS answers for FITS pixel (x, y) (1-based) when that is not [`Raster::header`]:
    /// a mosaic's CCD there (or nearest), with its name and its offset (mosaic = CCD + offset).
    fn part_header_at(&self, _x: f64, _y: f64) -> Option<(String, &Header, [i64; 2])> {
        None
    }

    /// The celestial WCS; for a mosaic, one that answers each position with the WCS of its CCD.
    fn wcs(&self) -> Option<&Wcs>;
    /// Why a header that has WCS keys could not be used, if that happened.
    fn wcs_error(&self) -> Option<&str>;

    fn cache_key(&self) -> RasterKey;

    fn path(&self) -> &Path;
    /// The HDU shown (a mosaic reports its primary HDU; [`Raster::selector`] names it fully).
    fn hdu(&self) -> usize;
    /// How to select this image again: an HDU index, or `mosaic` / `mosaic:detsec`.
    fn selector(&self) -> String {
        self.hdu().to_string()
    }
    fn plane(&self) -> usize {
        0
    }
    fn planes(&self) -> usize {
        1
    }
    fn bitpix(&self) -> i32;
    /// (BSCALE, BZERO, BLANK) as the header states them.
    fn scaling(&self) -> (f64, f64, Option<i64>);
    fn compressed(&self) -> bool;
    fn header(&self) -> &Header;
    fn hdus(&self) -> &[HduSummary];
    fn bunit(&self) -> Option<&str> {
        self.header().str("BUNIT")
    }

    /// The CCD layout of a mosaic.
    fn mosaic(&self) -> Option<&MosaicInfo> {
        None
    }
    /// Bring the file's pages into memory ahead of tile reads (see [`Image::prefault`]).
    fn prefault(&self) {}
    /// True when reads go straight to the file's bytes (cheap single-pixel reads).
    fn raw_reads(&self) -> bool {
        false
    }
}

/// Check that the `w`×`h` rectangle at (x0, y0) lies inside a `width`×`height` image and that `out`
/// holds it (cfitsio itself would wrap past the right edge).
pub(crate) fn check_rect(
    (x0, y0, w, h): (usize, usize, usize, usize),
    (width, height): (usize, usize),
    out: usize,
) -> Result<()> {
    let inside = w > 0 && h > 0 && x0 + w <= width && y0 + h <= height && out >= w * h;
    if inside {
        return Ok(());
    }
    Err(crate::error::FitsError::OutOfBounds {
        x: x0 as i64,
        y: y0 as i64,
        w,
        h,
        width,
        height,
    })
}

/// Open the image `sel` names: one HDU, or with `HduSel::Mosaic` all the image HDUs of the file as one
/// focal-plane image.
pub fn open_raster(path: &Path, sel: &HduSel, plane: usize) -> Result<Box<dyn Raster>> {
    open_raster_pinned(std::sync::Arc::new(Pinned::open(path)?), sel, plane)
}

/// [`open_raster`] of a file already opened (e.g. unpacked once with [`Pinned::open_unpacked`]).
pub fn open_raster_pinned(
    file: std::sync::Arc<Pinned>,
    sel: &HduSel,
    plane: usize,
) -> Result<Box<dyn Raster>> {
    match sel {
        HduSel::Mosaic(layout) => Ok(Box::new(Mosaic::open_pinned(file, *layout)?)),
        _ => Ok(Box::new(Image::open_pinned(file, sel, plane)?)),
    }
}

impl Raster for Image {
    fn width(&self) -> usize {
        Image::width(self)
    }
    fn height(&self) -> usize {
        Image::height(self)
    }
    fn read_rect(&self, x0: usize, y0: usize, w: usize, h: usize, out: &mut [f32]) -> Result<()> {
        Image::read_rect(self, x0, y0, w, h, out)
    }
    fn read_band(&self, top: usize, n: usize, out: &mut [f32]) -> Result<()> {
        Image::read_band(self, top, n, out)
    }
    fn for_each_row(
        &self,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        f: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<()> {
        Image::for_each_row(self, x0, y0, w, h, f)
    }
    fn value(&self, x: usize, y: usize) -> Result<Option<Value>> {
        self.value_exact(x, y)
    }
    fn wcs(&self) -> Option<&Wcs> {
        Image::wcs(self)
    }
    fn wcs_error(&self) -> Option<&str> {
        Image::wcs_error(self)
    }
    fn cache_key(&self) -> RasterKey {
        RasterKey {
            path: std::fs::canonicalize(self.path()).unwrap_or_else(|_| self.path().to_owned()),
            hdu: Image::hdu(self),
            plane: Image::plane(self),
            version: Image::version(self),
            variant: None,
        }
    }
    fn path(&self) -> &Path {
        Image::path(self)
    }
    fn hdu(&self) -> usize {
        Image::hdu(self)
    }
    fn plane(&self) -> usize {
        Image::plane(self)
    }
    fn planes(&self) -> usize {
        Image::planes(self)
    }
    fn bitpix(&self) -> i32 {
        Image::bitpix(self)
    }
    fn scaling(&self) -> (f64, f64, Option<i64>) {
        Image::scaling(self)
    }
    fn compressed(&self) -> bool {
        Image::compressed(self)
    }
    fn header(&self) -> &Header {
        Image::header(self)
    }
    fn hdus(&self) -> &[HduSummary] {
        Image::hdus(self)
    }

    fn prefault(&self) {
        Image::prefault(self)
    }
    fn raw_reads(&self) -> bool {
        Image::raw_reads(self)
    }
}
