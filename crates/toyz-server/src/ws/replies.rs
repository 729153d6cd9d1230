//! The built-in jobs' replies as types: each is what the job sends as `result`, and its JSON schema
//! (from the doc comments and fields here) is what `session.jobs` lists and docs/api.md's job table
//! shows. Replies of operations in the service layer live there (`SourceReply`, `HeaderReply`,
//! `HistogramReply`, `LevelsState`, `RectStats`, `SkyPixels`, `Profile`, `Detected`, the catalog
//! replies, `TilesBuilt`, the engine's `Graticule`) and are re-exported here.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

pub use crate::service::catalogs::{
    CatalogCoordinates, CatalogMatch, CatalogPage, CatalogPositions,
};
pub use crate::service::tiles::TilesBuilt;

/// `session.set`: the session's keys after the change.
#[derive(Serialize, JsonSchema)]
pub struct Keys {
    pub keys: Vec<String>,
}

/// One job as `session.jobs` lists it.
#[derive(Serialize, JsonSchema)]
pub struct JobInfo {
    pub name: String,
    pub description: String,
    /// The JSON schema of its parameters.
    pub params: Value,
    /// The JSON schema of its reply (without a `type`: any JSON).
    pub reply: Value,
}

/// `session.jobs`: every job this server runs, by name.
#[derive(Serialize, JsonSchema)]
pub struct Jobs {
    pub jobs: Vec<JobInfo>,
}

/// `image.cutout`: where to get the cutout.
#[derive(Serialize, JsonSchema)]
pub struct CutoutLinks {
    /// `/api/cutout?…`: FITS with the WCS shifted to the cutout.
    pub fits: String,
    /// The same as PNG in the render spec given.
    pub png: String,
}

/// `regions.export`: a DS9 region file.
#[derive(Serialize, JsonSchema)]
pub struct RegionText {
    pub text: String,
}

/// `regions.load`: a region file of the server's, read as `regions.import` reads text.
#[derive(Serialize, JsonSchema)]
pub struct LoadedRegions {
    pub path: String,
    #[serde(flatten)]
    pub parsed: crate::service::regions::Parsed,
}

/// `regions.stats`: each region's statistics, in order, and the values' unit.
#[derive(Serialize, JsonSchema)]
pub struct RegionsStats {
    pub regions: Vec<crate::service::regions::RegionStats>,
    pub bunit: Option<String>,
}

/// A source this session opened.
#[derive(Serialize, JsonSchema)]
pub struct SessionSource {
    pub id: String,
    pub path: String,
}

/// A catalog this session loaded.
#[derive(Serialize, JsonSchema)]
pub struct SessionCatalog {
    pub catalog: usize,
    pub path: String,
    pub rows: usize,
}

#[derive(Serialize, JsonSchema)]
pub struct ServerInfo {
    pub version: &'static str,
    /// Sessions open on this server now.
    pub sessions: u64,
}

/// `session.info`: this session.
#[derive(Serialize, JsonSchema)]
pub struct SessionInfo {
    pub session: u64,
    /// Seconds since it started.
    pub age_s: f64,
    pub jobs_run: u64,
    pub sources: Vec<SessionSource>,
    pub catalogs: Vec<SessionCatalog>,
    /// The values stored with `session.set`.
    pub values: std::collections::BTreeMap<String, Value>,
    pub server: ServerInfo,
}

/// A point of `image.pixels`.
#[derive(Serialize, JsonSchema)]
pub struct Pixel {
    /// Where it is, its value exactly (null for NaN, BLANK, a mosaic's gap or outside), its world
    /// position and, on a mosaic, its CCD.
    #[serde(flatten)]
    pub at: toyz_fits::PixelValue,
    /// The value's exact decimal (JavaScript rounds integers beyond 2^53); absent outside the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Option<String>>,
    /// The position in the sky system asked for (null where it does not convert); absent when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sky: Option<Option<toyz_fits::SkyText>>,
    /// True for a point outside the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside: Option<bool>,
}

/// `image.pixels`: the points, in order.
#[derive(Serialize, JsonSchema)]
pub struct Pixels {
    pub pixels: Vec<Pixel>,
}
