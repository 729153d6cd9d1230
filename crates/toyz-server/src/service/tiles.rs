//! Pre-generating a source's tiles into the server's cache for a render spec (the `tiles.build`
//! job; `toyz tiles build` does the same from the CLI into the same cache).

use crate::error::{engine_error, ApiError, Kind};
use crate::service::source::SourceQuery;
use crate::sources::OpenSource;
use crate::state::AppState;
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use toyz_pyramid::RenderSpec;

/// `tiles.build`: what the build did.
#[derive(Serialize, JsonSchema)]
pub struct TilesBuilt {
    pub tiles: u64,
    /// Tiles rendered now.
    pub written: u64,
    /// Tiles already in the cache.
    pub kept: u64,
    /// A complete build of the same source and spec was already there.
    pub up_to_date: bool,
    /// The tile URL template.
    pub url: String,
}

/// The spec of a build: any stretch and colour map, but the image as stored (a turned or flipped
/// view is rendered as it is looked at).
pub fn spec_to_build(q: &SourceQuery) -> Result<RenderSpec, ApiError> {
    let spec = q.spec()?;
    if spec.orient != 0 || spec.angle != 0.0 {
        return Err(ApiError::of(
            Kind::BadParams,
            "a turned or flipped view is rendered as it is looked at; pre-render the image as stored",
        ));
    }
    Ok(spec)
}

/// Build the tiles of levels `zoom` (all by default) of `o` with `spec` into the server's tile
/// store, reporting progress (at most ~100 times); `cancel` stops it. Blocking.
pub fn build(
    state: &AppState,
    o: &OpenSource,
    spec: RenderSpec,
    zoom: Option<[u32; 2]>,
    cancel: &AtomicBool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<TilesBuilt, ApiError> {
    o.remember_spec(&spec);
    let target = toyz_pyramid::Target::Store {
        levels: state.config.cache_dir.clone(),
        tiles: state.tiles.store.clone(),
    };
    let g = &o.src.geometry;
    let total = match zoom {
        Some([a, b]) => g.tile_count(a, b),
        None => g.tile_count(0, g.zmax),
    };
    let opts = toyz_pyramid::BuildOptions {
        spec,
        zoom: zoom.map(|[a, b]| (a, b)),
        force: false,
    };
    let last = AtomicU64::new(0);
    let step = |n: u64| {
        if n == total || n >= last.load(Ordering::Relaxed) + total.div_ceil(100) {
            last.store(n, Ordering::Relaxed);
            progress(n, total);
        }
    };
    let rep = toyz_pyramid::build(&o.src, &target, &opts, &step, cancel)
        .map_err(|e| engine_error(e, &o.public))?;
    Ok(TilesBuilt {
        tiles: rep.tiles,
        written: rep.written,
        kept: rep.skipped,
        up_to_date: rep.up_to_date,
        url: format!(
            "/tiles/{}/{}/{{z}}/{{x}}/{{y}}.png",
            rep.source_id, rep.render_id
        ),
    })
}
