//! The one place errors become HTTP: every engine/FITS/spec error maps to a status and a JSON body
//! `{"error": {"kind": …, "message": …}}`. Client mistakes are 4xx; only machine failures are 5xx.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;
use toyz_fits::FitsError;
use toyz_pyramid::{EngineError, SpecError};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn busy(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
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
    let kind = e.kind();
    let status = match kind {
        "not_found" | "no_such_hdu" | "no_such_plane" => StatusCode::NOT_FOUND,
        "bad_request" | "out_of_bounds" => StatusCode::BAD_REQUEST,
        "io" => StatusCode::INTERNAL_SERVER_ERROR,
        // Not FITS, truncated, corrupt, a table asked as an image, no usable WCS: the request was
        // well-formed but the file cannot do it.
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    // Every variant that names a file (the match in `FitsError::path` is exhaustive, so a new one
    // cannot be forgotten here).
    let message = match e.path() {
        Some(path) => e.to_string().replace(&path.display().to_string(), shown),
        None => e.to_string(),
    };
    ApiError::new(status, kind, message)
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
    ApiError::new(StatusCode::BAD_REQUEST, "bad_spec", e.0)
}
