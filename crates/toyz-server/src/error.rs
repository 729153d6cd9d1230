//! The one place errors become HTTP: every engine/FITS/spec error maps to a status and a JSON body
//! `{"error": {"kind": …, "message": …}}`. Client mistakes are 4xx; only machine failures are 5xx.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;
use toyz_fits::FitsError;
use toyz_pyramid::{EngineError, SpecError};

/// Every kind of error the server answers, HTTP and WebSocket alike: its wire name (the JSON
/// `error.kind`, stable across versions), its HTTP status and what it means ([`Kind::meaning`]).
/// Callers decide on the variant, never on the name; docs/api.md's table of kinds is generated from
/// [`Kind::ALL`] (a test fails when it is stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    BadRequest,
    BadSpec,
    BadParams,
    OutOfBounds,
    BadMessage,
    Unauthorized,
    Forbidden,
    NotFound,
    NoSuchHdu,
    NoSuchPlane,
    UnknownJob,
    UnknownId,
    Exists,
    DuplicateId,
    TooLarge,
    BadHost,
    NotFits,
    NotAFile,
    Truncated,
    NotAnImage,
    NotATable,
    BadFits,
    Wcs,
    NoWcs,
    BadMosaic,
    FileTooLarge,
    BadCatalog,
    BadRegions,
    Throttled,
    Internal,
    Io,
    Panic,
    Busy,
    LevelsFailed,
    Cancelled,
    Custom(&'static str),
}

impl Kind {
    /// Every kind of toyz itself (not [`Kind::Custom`]).
    pub const ALL: [Kind; 35] = [
        Kind::BadRequest,
        Kind::BadSpec,
        Kind::BadParams,
        Kind::OutOfBounds,
        Kind::BadMessage,
        Kind::Unauthorized,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::NoSuchHdu,
        Kind::NoSuchPlane,
        Kind::UnknownJob,
        Kind::UnknownId,
        Kind::Exists,
        Kind::DuplicateId,
        Kind::TooLarge,
        Kind::BadHost,
        Kind::NotFits,
        Kind::NotAFile,
        Kind::Truncated,
        Kind::NotAnImage,
        Kind::NotATable,
        Kind::BadFits,
        Kind::Wcs,
        Kind::NoWcs,
        Kind::BadMosaic,
        Kind::FileTooLarge,
        Kind::BadCatalog,
        Kind::BadRegions,
        Kind::Throttled,
        Kind::Internal,
        Kind::Io,
        Kind::Panic,
        Kind::Busy,
        Kind::LevelsFailed,
        Kind::Cancelled,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BadRequest => "bad_request",
            Kind::BadSpec => "bad_spec",
            Kind::BadParams => "bad_params",
            Kind::OutOfBounds => "out_of_bounds",
            Kind::BadMessage => "bad_message",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not_found",
            Kind::NoSuchHdu => "no_such_hdu",
            Kind::NoSuchPlane => "no_such_plane",
            Kind::UnknownJob => "unknown_job",
            Kind::UnknownId => "unknown_id",
            Kind::Exists => "exists",
            Kind::DuplicateId => "duplicate_id",
            Kind::TooLarge | Kind::FileTooLarge => "too_large",
            Kind::BadHost => "bad_host",
            Kind::NotFits => "not_fits",
            Kind::NotAFile => "not_a_file",
            Kind::Truncated => "truncated",
            Kind::NotAnImage => "not_an_image",
            Kind::NotATable => "not_a_table",
            Kind::BadFits => "bad_fits",
            Kind::Wcs => "wcs",
            Kind::NoWcs => "no_wcs",
            Kind::BadMosaic => "bad_mosaic",
            Kind::BadCatalog => "bad_catalog",
            Kind::BadRegions => "bad_regions",
            Kind::Throttled => "throttled",
            Kind::Internal => "internal",
            Kind::Io => "io",
            Kind::Panic => "panic",
            Kind::Busy => "busy",
            Kind::LevelsFailed => "levels_failed",
            Kind::Cancelled => "cancelled",
            Kind::Custom(name) => name,
        }
    }

    /// What the kind means, as docs/api.md's table says it.
    pub fn meaning(self) -> &'static str {
        match self {
            Kind::BadRequest => "A malformed request",
            Kind::BadSpec => "A render spec the server cannot use",
            Kind::BadParams => "Parameters out of range, or a job's that do not fit its schema",
            Kind::OutOfBounds => "A pixel or rectangle outside the image",
            Kind::BadMessage => "A WebSocket message that is not a request",
            Kind::Unauthorized => "Not logged in",
            Kind::Forbidden => "Not allowed",
            Kind::NotFound => "No such file, user, workspace…",
            Kind::NoSuchHdu => "No such HDU",
            Kind::NoSuchPlane => "No such plane of a cube",
            Kind::UnknownJob => "No job of that name",
            Kind::UnknownId => "A cancel for no running job",
            Kind::Exists => "It exists already",
            Kind::DuplicateId => "A job id still running in the session",
            Kind::TooLarge => "Over a limit of the server: memory budget, body, levels, reply",
            Kind::BadHost => "A `Host` the server does not answer to",
            Kind::NotFits => "Not a FITS file",
            Kind::NotAFile => "A folder or special file where a file was expected",
            Kind::Truncated => "The file ends early",
            Kind::NotAnImage => "The HDU holds no image",
            Kind::NotATable => "The HDU holds no table",
            Kind::BadFits => "Damaged or hostile content",
            Kind::Wcs => "A WCS that cannot be used",
            Kind::NoWcs => "The image has no WCS for a sky position",
            Kind::BadMosaic => "A mosaic whose CCDs do not fit together",
            Kind::FileTooLarge => "A file's dimensions too large or impossible",
            Kind::BadCatalog => "A catalog that cannot be read",
            Kind::BadRegions => "Region text that cannot be read",
            Kind::Throttled => "Too many failed logins: wait",
            Kind::Internal => "A failure of the server",
            Kind::Io => "A disk error reading a file",
            Kind::Panic => "A job panicked; the session goes on",
            Kind::Busy => "Not now: try again",
            Kind::LevelsFailed => "The float levels of an image could not be built",
            Kind::Cancelled => "The job was stopped (by its client, or its socket closed)",
            Kind::Custom(_) => "a kind of a job registered by a program embedding toyz",
        }
    }

    /// The HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::BadRequest
            | Kind::BadSpec
            | Kind::BadParams
            | Kind::OutOfBounds
            | Kind::BadMessage => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound
            | Kind::NoSuchHdu
            | Kind::NoSuchPlane
            | Kind::UnknownJob
            | Kind::UnknownId => StatusCode::NOT_FOUND,
            Kind::Exists | Kind::DuplicateId => StatusCode::CONFLICT,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::BadHost => StatusCode::MISDIRECTED_REQUEST,
            // The request was well-formed but the file cannot do it.
            Kind::NotFits
            | Kind::NotAFile
            | Kind::Truncated
            | Kind::NotAnImage
            | Kind::NotATable
            | Kind::BadFits
            | Kind::Wcs
            | Kind::NoWcs
            | Kind::BadMosaic
            | Kind::FileTooLarge
            | Kind::BadCatalog
            | Kind::BadRegions
            | Kind::Custom(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Kind::Internal | Kind::Io | Kind::Panic => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Busy | Kind::LevelsFailed | Kind::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<toyz_fits::ErrorKind> for Kind {
    fn from(k: toyz_fits::ErrorKind) -> Kind {
        use toyz_fits::ErrorKind as F;
        match k {
            F::NotFound => Kind::NotFound,
            F::Io => Kind::Io,
            F::NotFits => Kind::NotFits,
            F::NotAFile => Kind::NotAFile,
            F::Truncated => Kind::Truncated,
            F::NoSuchHdu => Kind::NoSuchHdu,
            F::NotAnImage => Kind::NotAnImage,
            F::NotATable => Kind::NotATable,
            F::NoSuchPlane => Kind::NoSuchPlane,
            F::OutOfBounds => Kind::OutOfBounds,
            F::BadFits => Kind::BadFits,
            F::BadRequest => Kind::BadRequest,
            F::Wcs => Kind::Wcs,
            F::BadMosaic => Kind::BadMosaic,
            F::TooLarge => Kind::FileTooLarge,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    /// The kind's status, or another one a transport limit chose (414, 431).
    pub status: StatusCode,
    pub kind: Kind,
    pub message: String,
}

impl ApiError {
    /// An error of `kind`, answered with the kind's status.
    pub fn of(kind: Kind, message: impl Into<String>) -> ApiError {
        Self::new(kind.status(), kind, message)
    }
    /// An error with a status of its own (a transport limit: a URL or a head too long).
    pub fn new(status: StatusCode, kind: Kind, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::of(Kind::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::of(Kind::NotFound, message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::of(Kind::Forbidden, message)
    }
    pub fn busy(message: impl Into<String>) -> ApiError {
        Self::of(Kind::Busy, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::of(Kind::Internal, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.insert_header((header::RETRY_AFTER, "1"));
        }
        r.insert_header((header::CACHE_CONTROL, "no-store"));
        r.json(serde_json::json!({"error": {"kind": self.kind, "message": self.message}}))
    }
}

/// Paths in messages are shown relative to their data root, never as server paths.
pub fn fits_error(e: FitsError, shown: &str) -> ApiError {
    // The status follows from the kind (an exhaustive match: a new kind cannot be left out).
    let kind = Kind::from(e.error_kind());
    // Every variant that names a file (the match in `FitsError::path` is exhaustive, so a new one
    // cannot be forgotten here).
    let message = match e.path() {
        Some(path) => e.to_string().replace(&path.display().to_string(), shown),
        None => e.to_string(),
    };
    ApiError::of(kind, message)
}

pub fn engine_error(e: EngineError, shown: &str) -> ApiError {
    match e {
        EngineError::Fits(f) => fits_error(f, shown),
        EngineError::Spec(s) => spec_error(s),
        EngineError::BadZoom { .. } | EngineError::Conflict(_) => {
            ApiError::bad_request(e.to_string())
        }
        EngineError::Cancelled => ApiError::busy("stopped"),
        EngineError::Io { .. } => {
            tracing::error!("{e}");
            ApiError::internal("cache I/O failed (see the server log)")
        }
    }
}

pub fn spec_error(e: SpecError) -> ApiError {
    ApiError::of(Kind::BadSpec, e.0)
}

/// docs/api.md's table of every error kind: status, kind, meaning (the HTTP status a WebSocket job's
/// error would have too), in [`Kind::ALL`]'s order.
pub fn kinds_table() -> String {
    let mut s = String::from("| status | kind | meaning |\n|---|---|---|\n");
    for k in Kind::ALL {
        s.push_str(&format!(
            "| {} | `{}` | {} |\n",
            k.status().as_u16(),
            k.as_str(),
            k.meaning()
        ));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The part of `doc` between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
    pub(crate) fn generated_part<'a>(doc: &'a str, name: &str) -> &'a str {
        let (b, e) = (
            format!("<!-- {name}:begin -->\n"),
            format!("<!-- {name}:end -->"),
        );
        let start = doc
            .find(&b)
            .unwrap_or_else(|| panic!("docs/api.md has no {b}"))
            + b.len();
        let end = doc[start..].find(&e).expect("end marker") + start;
        &doc[start..end]
    }

    /// docs/api.md's generated part NAME must read `want`; `TOYZ_BLESS_DOCS=1 cargo test` writes it.
    pub(crate) fn check_generated(name: &str, want: &str) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let have = generated_part(&doc, name);
        if have != want && std::env::var_os("TOYZ_BLESS_DOCS").is_some() {
            // `have` is a slice of `doc`: splice by its place, not by search (it may be empty).
            let at = have.as_ptr() as usize - doc.as_ptr() as usize;
            let new = format!("{}{want}{}", &doc[..at], &doc[at + have.len()..]);
            std::fs::write(path, new).unwrap();
            return;
        }
        assert_eq!(
            have, want,
            "docs/api.md's generated part '{name}' is stale (TOYZ_BLESS_DOCS=1 cargo test writes it)"
        );
    }

    #[test]
    fn the_docs_table_of_error_kinds_is_current() {
        check_generated("kinds", &kinds_table());
    }

    #[test]
    fn fits_kinds_keep_their_wire_names_and_statuses() {
        for k in toyz_fits::ErrorKind::ALL {
            let ours = Kind::from(k);
            assert_eq!(ours.as_str(), k.as_str(), "{k:?}");
            assert_ne!(ours.status(), StatusCode::OK);
        }
        // A file too large for toyz is the file's fault (422); a limit of the server is 413.
        assert_eq!(
            Kind::from(toyz_fits::ErrorKind::TooLarge).status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(Kind::TooLarge.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Wire names are unique but for the two kinds of too_large.
        let mut names: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len() - 1);
    }
}
