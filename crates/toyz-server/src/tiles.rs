//! `GET /tiles/{source}/{render}/{z}/{x}/{y}.png`: memory LRU → disk cache → render (once per key, on the
//! rayon pool, bounded), with immutable caching headers. The URL alone determines the tile.

use crate::error::ApiError;
use crate::sources::{Levels, OpenSource};
use crate::state::AppState;
use crate::tile_cache::Tile;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
use toyz_pyramid::{RenderSpec, TileCoord};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// With accounts, tiles are for the logged-in user's browser only, never a shared cache.
const IMMUTABLE_PRIVATE: &str = "private, max-age=31536000, immutable";

fn parse_u32(s: &str, what: &str) -> Result<u32, ApiError> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "tile {what} '{s}' is not a non-negative integer"
        )));
    }
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("tile {what} '{s}' is too large")))
}

fn caching(private: bool) -> &'static str {
    if private {
        IMMUTABLE_PRIVATE
    } else {
        IMMUTABLE
    }
}

fn is_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn png(bytes: Bytes, etag: &str, private: bool) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/png"))
        .insert_header((header::CACHE_CONTROL, caching(private)))
        .insert_header((header::ETAG, etag.to_owned()))
        .body(bytes)
}

/// A tile drawn from the overview while the float levels build: never stored by anyone, so the
/// same URL gives the real tile once the levels are ready.
fn provisional(bytes: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/png"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Toyz-Tile", "provisional"))
        .body(bytes)
}

pub async fn tile(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // Borrowed path segments: the warm path (a memory hit) allocates only the cache key and the ETag.
    let m = req.match_info();
    let seg = |k: &str| m.get(k).unwrap_or("");
    let (sid, rid) = (seg("sid"), seg("rid"));
    let y = seg("y")
        .strip_suffix(".png")
        .ok_or_else(|| ApiError::bad_request("tiles end in .png"))?;
    let (z, x, y) = (
        parse_u32(seg("z"), "z")?,
        parse_u32(seg("x"), "x")?,
        parse_u32(y, "y")?,
    );
    if !is_id(sid, 16) || !is_id(rid, 12) {
        return Err(ApiError::bad_request("malformed source or render id"));
    }
    // Who asks: a tile URL is served only to someone who may read its source (URLs are not
    // capabilities). Without accounts this is the local user, who reads everything.
    let who = crate::request::principal_of(&req)?;
    let private = state.access.enabled();
    let key = format!("{sid}/{rid}/{z}/{x}/{y}");
    let etag = format!("\"{sid}-{rid}-{z}-{x}-{y}\"");
    // The URL is immutable: a client holding this ETag holds this tile (with accounts, only once its
    // source is known to be theirs to read).
    let readable_now = || {
        !private
            || state
                .source(sid)
                .is_some_and(|s| state.may_read_source(&who, &s))
    };
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        && readable_now()
    {
        state.metrics.tile_not_modified.inc();
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, caching(private)))
            .finish());
    }
    // A tile in memory is served while its file is the version it was rendered from (one `stat`);
    // otherwise the slow path below answers (404 for a changed file).
    if let Some(b) = state.tiles.memory_get(&key).await {
        if state
            .source(sid)
            .is_some_and(|s| s.unchanged() && (!private || state.may_read_source(&who, &s)))
        {
            state.metrics.tile_memory_hits.inc();
            return Ok(png(b, &etag, private));
        }
    }
    let (sid, rid) = (sid.to_owned(), rid.to_owned());
    let state = state.into_inner();
    let open = state.source_by_id(&who, &sid).await?;
    let spec = find_spec(&state, &open, &rid).await?;
    let t = toyz_pyramid::orient::tile(&open.src.geometry, spec.orient, spec.angle, z, x, y)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "tile {z}/{x}/{y} is outside the pyramid (zmax {})",
                open.src.geometry.zmax
            ))
        })?;

    // One render per key: later requests for the same tile await the first one's result.
    let make = fetch_or_render(state.clone(), open.clone(), spec, rid.clone(), t);
    let result = state.tiles.get_or_make(&key, make).await;
    match result? {
        Tile::Final(bytes) => Ok(png(bytes, &etag, private)),
        Tile::Provisional(bytes) => Ok(provisional(bytes)),
    }
}

async fn find_spec(
    state: &Arc<AppState>,
    open: &OpenSource,
    rid: &str,
) -> Result<RenderSpec, ApiError> {
    if let Some(s) = open.known_spec(rid) {
        return Ok(s);
    }
    // Registered by another process (CLI build, a restart, another replica) in the shared cache.
    let key = toyz_pyramid::tilestore::spec_key(&open.src.id, rid);
    let unknown = || ApiError::not_found(format!("unknown render id '{rid}' for this source"));
    let st = state.clone();
    let bytes = web::block(move || st.tiles.store.get(&key))
        .await
        .map_err(|_| unknown())?
        .ok()
        .flatten()
        .ok_or_else(unknown)?;
    let spec: RenderSpec = serde_json::from_slice(&bytes).map_err(|_| unknown())?;
    if spec.id() != rid {
        return Err(unknown());
    }
    open.remember_spec(&spec);
    Ok(spec)
}

async fn fetch_or_render(
    state: Arc<AppState>,
    open: Arc<OpenSource>,
    spec: RenderSpec,
    rid: String,
    t: TileCoord,
) -> Result<Tile, ApiError> {
    let path = toyz_pyramid::tilestore::tile_key(&open.src.id, &rid, t.z, t.x, t.y);
    let levels_ready =
        t.z == open.src.geometry.zmax || matches!(*open.levels.borrow(), Levels::Ready);
    if !levels_ready {
        // The disk cache may already hold it (a CLI build); otherwise wait for the float levels.
        let (p, st) = (path.clone(), state.clone());
        if let Ok(Some(b)) = web::block(move || read_png(&*st.tiles.store, &p)).await {
            return Ok(Tile::Final(hit(&state, Bytes::from(b))));
        }
        // The first view of a never-seen image comes from the overview; levels between it and full
        // resolution wait for the float levels.
        let ov = open.overview().await?;
        // (The overview is not oriented: a turned or flipped view waits for the levels.)
        if t.z <= ov.z && spec.orient == 0 && spec.angle == 0.0 {
            let (op, rid2, spec2) = (open.clone(), rid.clone(), spec.clone());
            let bytes = web::block(move || -> Result<Option<Vec<u8>>, ApiError> {
                let renderer = op.renderer(&rid2, &spec2)?;
                Ok(ov.render(&renderer, t))
            })
            .await
            .map_err(|_| ApiError::internal("overview render failed"))??;
            if let Some(b) = bytes {
                return Ok(Tile::Provisional(Bytes::from(b)));
            }
        }
        open.wait_for_levels(state.config.level_wait).await?;
    }
    // A render slot is taken only now: tiles waiting for an image's levels must not hold the slots
    // that tiles of other, ready images need.
    let _permit = state.renders.clone().try_acquire_owned().map_err(|_| {
        state.metrics.busy_rejections.inc();
        ApiError::busy("too many tiles are being rendered; retry shortly")
    })?;
    // One job on the rayon pool: the disk cache, else render (CPU work never runs on the async runtime).
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (st, op, p) = (state.clone(), open.clone(), path.clone());
    rayon::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Some(b) = read_png(&*st.tiles.store, &p) {
                return Ok((Bytes::from(b), false));
            }
            let t0 = Instant::now();
            let renderer = op.renderer(&rid, &spec)?;
            let store = if t.z < op.src.geometry.zmax {
                // Level files of the wrong size (truncated, or written by something else): built
                // again, as for a read that fails below.
                op.store(&st.layout).map_err(|e| {
                    tracing::warn!("levels of {} are damaged ({e}): rebuilding", op.public);
                    st.rebuild_levels(&op);
                    ApiError::busy(format!("{} is being prepared again", op.public))
                })?
            } else {
                None
            };
            let bytes = if spec.orient == 0 && spec.angle == 0.0 {
                toyz_pyramid::render_tile(&op.src, store.as_deref(), &renderer, t)
            } else {
                toyz_pyramid::orient::render_tile_turned(
                    &op.src,
                    store.as_deref(),
                    &renderer,
                    t,
                    spec.orient,
                    spec.angle,
                )
            };
            let bytes = bytes.map_err(|e| match e {
                // A level file that no longer holds what was built (truncated or rewritten in
                // place): build the levels again rather than fail every tile until a restart.
                toyz_pyramid::EngineError::Io { .. } if t.z < op.src.geometry.zmax => {
                    tracing::warn!("levels of {} are damaged ({e}): rebuilding", op.public);
                    st.rebuild_levels(&op);
                    ApiError::busy(format!("{} is being prepared again", op.public))
                }
                e => op.read_error(e),
            })?;
            st.metrics.render_time(t0.elapsed().as_secs_f64());
            Ok((Bytes::from(bytes), true))
        }))
        .unwrap_or_else(|_| {
            Err(ApiError::internal(
                "rendering this tile failed (see the server log)",
            ))
        });
        let _ = tx.send(r);
    });
    let (bytes, rendered) = rx
        .await
        .map_err(|_| ApiError::internal("render task failed"))??;
    if !rendered {
        return Ok(Tile::Final(hit(&state, bytes)));
    }
    state.metrics.tile_renders.inc();
    state.write_behind(path, bytes.clone());
    Ok(Tile::Final(bytes))
}

/// A tile from the tile store, if it is a whole PNG: a torn, emptied or foreign file is a miss
/// (rendered again and rewritten), never served for a year as immutable.
fn read_png(store: &dyn toyz_pyramid::TileStore, key: &str) -> Option<Vec<u8>> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    const IEND: &[u8] = b"\0\0\0\0IEND\xaeB`\x82";
    let b = store.get(key).ok()??;
    (b.len() > SIGNATURE.len() + IEND.len() && b.starts_with(SIGNATURE) && b.ends_with(IEND))
        .then_some(b)
}

/// A tile found in the tile store (counted as a disk hit, or a store hit from an object store; the
/// cache keeps it in memory).
fn hit(state: &AppState, b: Bytes) -> Bytes {
    if state.tiles.store.folder().is_some() {
        state.metrics.tile_disk_hits.inc();
    } else {
        state.metrics.tile_store_hits.inc();
    }
    b
}
