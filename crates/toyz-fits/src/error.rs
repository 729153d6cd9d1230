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

    /// What kind of failure this is, for callers to match (HTTP statuses, exit codes, job errors).
    pub fn error_kind(&self) -> ErrorKind {
        match self {
            FitsError::NotFound { .. } => ErrorKind::NotFound,
            FitsError::Io { .. } => ErrorKind::Io,
            FitsError::NotFits { .. } => ErrorKind::NotFits,
            FitsError::NotRegular { .. } => ErrorKind::NotAFile,
            FitsError::Truncated { .. } => ErrorKind::Truncated,
            FitsError::HduOutOfRange { .. } | FitsError::NoSuchExtname { .. } => {
                ErrorKind::NoSuchHdu
            }
            FitsError::NotAnImage { .. } | FitsError::NoImage { .. } => ErrorKind::NotAnImage,
            FitsError::NoTable { .. } => ErrorKind::NotATable,
            FitsError::PlaneOutOfRange { .. } => ErrorKind::NoSuchPlane,
            FitsError::OutOfBounds { .. } | FitsError::PixelOutside { .. } => {
                ErrorKind::OutOfBounds
            }
            FitsError::Cfitsio { .. } | FitsError::BadGzip { .. } | FitsError::Corrupt { .. } => {
                ErrorKind::BadFits
            }
            FitsError::BadHduSelector(_) => ErrorKind::BadRequest,
            FitsError::Wcs(_) => ErrorKind::Wcs,
            FitsError::Mosaic { .. } => ErrorKind::BadMosaic,
            FitsError::TooLarge { .. } => ErrorKind::TooLarge,
        }
    }

    /// The kind's wire name, stable across versions (JSON errors): `error_kind().as_str()`.
    pub fn kind(&self) -> &'static str {
        self.error_kind().as_str()
    }
}

/// The kinds of [`FitsError`]: what a caller decides on (a status, an exit code). Several variants of
/// the error share one kind (a bad HDU number and an unknown EXTNAME are both [`ErrorKind::NoSuchHdu`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file is not there.
    NotFound,
    /// Reading failed (a disk error): not the file's fault.
    Io,
    /// Not a FITS file at all.
    NotFits,
    /// A folder, a FIFO or a device where a file was expected.
    NotAFile,
    /// The file ends inside a header or its data.
    Truncated,
    /// No such HDU (number or EXTNAME).
    NoSuchHdu,
    /// The HDU holds no image (a table, an empty primary).
    NotAnImage,
    /// The HDU holds no table.
    NotATable,
    /// No such plane of a cube.
    NoSuchPlane,
    /// A pixel or rectangle outside the image.
    OutOfBounds,
    /// Damaged or hostile content (compressed tiles, gzip, cfitsio's refusal).
    BadFits,
    /// A malformed request (an HDU selector that is no number or name).
    BadRequest,
    /// A WCS that cannot be used.
    Wcs,
    /// A mosaic whose CCDs do not fit together.
    BadMosaic,
    /// Dimensions too large or impossible.
    TooLarge,
}

impl ErrorKind {
    /// Every kind, for tables and tests.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::NotFound,
        ErrorKind::Io,
        ErrorKind::NotFits,
        ErrorKind::NotAFile,
        ErrorKind::Truncated,
        ErrorKind::NoSuchHdu,
        ErrorKind::NotAnImage,
        ErrorKind::NotATable,
        ErrorKind::NoSuchPlane,
        ErrorKind::OutOfBounds,
        ErrorKind::BadFits,
        ErrorKind::BadRequest,
        ErrorKind::Wcs,
        ErrorKind::BadMosaic,
        ErrorKind::TooLarge,
    ];

    /// The wire name (JSON `error.kind`), stable across versions.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Io => "io",
            ErrorKind::NotFits => "not_fits",
            ErrorKind::NotAFile => "not_a_file",
            ErrorKind::Truncated => "truncated",
            ErrorKind::NoSuchHdu => "no_such_hdu",
            ErrorKind::NotAnImage => "not_an_image",
            ErrorKind::NotATable => "not_a_table",
            ErrorKind::NoSuchPlane => "no_such_plane",
            ErrorKind::OutOfBounds => "out_of_bounds",
            ErrorKind::BadFits => "bad_fits",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Wcs => "wcs",
            ErrorKind::BadMosaic => "bad_mosaic",
            ErrorKind::TooLarge => "too_large",
        }
    }
}

pub type Result<T, E = FitsError> = std::result::Result<T, E>;
