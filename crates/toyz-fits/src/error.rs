//! Errors of the FITS layer: every variant names the file (and HDU) it is about, so a caller can print
//! one line and a server can map the kind to an HTTP status without parsing messages.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FitsError {
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a FITS file (it does not start with a 'SIMPLE  = T' card)")]
    NotFits { path: PathBuf },
    #[error("{path}: corrupt or truncated gzip data: {message}")]
    BadGzip { path: PathBuf, message: String },
    #[error("{path}: corrupt data: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path}: not a regular file")]
    NotRegular { path: PathBuf },
    #[error("{path}: truncated: HDU {hdu} needs {need} bytes but the file holds only {have}")]
    Truncated {
        path: PathBuf,
        hdu: usize,
        need: u64,
        have: u64,
    },
    #[error("{path}: HDU {hdu} does not exist (the file has {count} HDUs, numbered 0 to {last})", last = count.saturating_sub(1))]
    HduOutOfRange {
        path: PathBuf,
        hdu: usize,
        count: usize,
    },
    #[error("{path}: no HDU has EXTNAME '{name}'")]
    NoSuchExtname { path: PathBuf, name: String },
    #[error("{path}: HDU {hdu} is {kind}, not an image")]
    NotAnImage {
        path: PathBuf,
        hdu: usize,
        kind: &'static str,
    },
    #[error("{path}: the file holds no image")]
    NoImage { path: PathBuf },
    #[error("{path}: the file holds no table")]
    NoTable { path: PathBuf },
    #[error("{path}: HDU {hdu} has {planes} plane(s); plane {plane} does not exist")]
    PlaneOutOfRange {
        path: PathBuf,
        hdu: usize,
        plane: usize,
        planes: usize,
    },
    #[error("region x={x} y={y} {w}x{h} is outside the {width}x{height} image")]
    OutOfBounds {
        x: i64,
        y: i64,
        w: usize,
        h: usize,
        width: usize,
        height: usize,
    },
    #[error("pixel ({x:.3}, {y:.3}) is outside the {width}x{height} image (FITS pixels run from 1 to the size)")]
    PixelOutside {
        x: f64,
        y: f64,
        width: usize,
        height: usize,
    },
    /// `message` is in words (see `handle::cfitsio_words`); the status is kept for logs, not shown.
    #[error("{path}: {message}")]
    Cfitsio {
        path: PathBuf,
        status: i32,
        message: String,
    },
    #[error("invalid HDU selector '{0}': use an index (0 is the primary HDU), an EXTNAME, mosaic or mosaic:detsec")]
    BadHduSelector(String),
    #[error("WCS: {0}")]
    Wcs(String),
    #[error("{path}: cannot open as a mosaic: {message}")]
    Mosaic { path: PathBuf, message: String },
    #[error("{path}: too large or impossible: {message}")]
    TooLarge { path: PathBuf, message: String },
}

impl FitsError {
    /// The file the error is about, if it names one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            FitsError::NotFound { path }
            | FitsError::Io { path, .. }
            | FitsError::NotFits { path }
            | FitsError::BadGzip { path, .. }
            | FitsError::Corrupt { path, .. }
            | FitsError::NotRegular { path }
            | FitsError::Truncated { path, .. }
            | FitsError::HduOutOfRange { path, .. }
            | FitsError::NoSuchExtname { path, .. }
            | FitsError::NotAnImage { path, .. }
            | FitsError::NoImage { path }
            | FitsError::NoTable { path }
            | FitsError::PlaneOutOfRange { path, .. }
            | FitsError::Cfitsio { path, .. }
            | FitsError::Mosaic { path, .. }
            | FitsError::TooLarge { path, .. } => Some(path),
            FitsError::OutOfBounds { .. }
            | FitsError::PixelOutside { .. }
            | FitsError::BadHduSelector(_)
            | FitsError::Wcs(_) => None,
        }
    }

    /// A short machine-readable kind, stable across versions (used for JSON errors and exit codes).
    pub fn kind(&self) -> &'static str {
        match self {
            FitsError::NotFound { .. } => "not_found",
            FitsError::Io { .. } => "io",
            FitsError::NotFits { .. } => "not_fits",
            FitsError::NotRegular { .. } => "not_a_file",
            FitsError::Truncated { .. } => "truncated",
            FitsError::HduOutOfRange { .. } | FitsError::NoSuchExtname { .. } => "no_such_hdu",
            FitsError::NotAnImage { .. } | FitsError::NoImage { .. } => "not_an_image",
            FitsError::NoTable { .. } => "not_a_table",
            FitsError::PlaneOutOfRange { .. } => "no_such_plane",
            FitsError::OutOfBounds { .. } | FitsError::PixelOutside { .. } => "out_of_bounds",
            FitsError::Cfitsio { .. } | FitsError::BadGzip { .. } | FitsError::Corrupt { .. } => {
                "bad_fits"
            }
            FitsError::BadHduSelector(_) => "bad_request",
            FitsError::Wcs(_) => "wcs",
            FitsError::Mosaic { .. } => "bad_mosaic",
            FitsError::TooLarge { .. } => "too_large",
        }
    }
}

pub type Result<T, E = FitsError> = std::result::Result<T, E>;
