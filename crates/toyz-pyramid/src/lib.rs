//! The toyz tile engine: pyramid geometry, float levels (NaN-aware 2×2 mean, streamed in row bands),
//! sampled statistics and zscale, stretch/cut/colormap rendering to indexed PNG, and the disk cache.
//! No HTTP: the server and the CLI sit on top.

pub mod build;
pub mod cache;
pub mod colormap;
pub mod detect;
pub mod gc;
#[rustfmt::skip]
mod colormap_data;
pub mod error;
pub mod geometry;
pub mod levels;
pub mod objstore;
pub mod orient;
pub mod overview;
pub mod rect_stats;
pub mod render;
pub mod source;
pub mod spec;
pub mod stats;
pub mod store;
pub mod ticks;
pub mod tilestore;

pub use build::{
    build, build_levels, levels_complete, BuildOptions, BuildReport, SourceManifest, Target,
    TilesManifest,
};
pub use cache::{CacheLayout, SourceKey};
pub use colormap::Colormap;
pub use error::{EngineError, Result};
pub use geometry::{Geometry, TileCoord, TILE};
pub use overview::Overview;
pub use render::Renderer;
pub use source::Source;
pub use spec::{Cut, RenderSpec, SpecError, Stretch};
pub use stats::{Histogram, Sample, Stats};
pub use store::{render_tile, tile_pixels, LevelStore};
pub use tilestore::{CacheLocation, FolderStore, TileStore};
