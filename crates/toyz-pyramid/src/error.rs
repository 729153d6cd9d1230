//! Errors of the engine, each with its context; the CLI and server map them to exit codes / statuses.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Fits(#[from] toyz_fits::FitsError),
    #[error("invalid render spec: {0}")]
    Spec(#[from] crate::spec::SpecError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("zoom range {a}..{b} is outside the image's levels 0..{zmax}")]
    BadZoom { a: u32, b: u32, zmax: u32 },
    #[error("stopped before the end")]
    Cancelled,
}

impl EngineError {
    /// True when the caller gave bad input (as opposed to an I/O failure or a stop).
    pub fn is_user_error(&self) -> bool {
        match self {
            EngineError::Fits(e) => e.error_kind() != toyz_fits::ErrorKind::Io,
            EngineError::Spec(_) | EngineError::Conflict(_) | EngineError::BadZoom { .. } => true,
            EngineError::Io { .. } | EngineError::Cancelled => false,
        }
    }
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.to_owned(),
        source,
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
