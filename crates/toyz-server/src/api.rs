//! The JSON API: files, sources, header, pixel, histogram, health and metrics. Handlers parse and check
//! the request, resolve paths through paths.rs, and do file work off the async runtime.

use crate::auth::Principal;
use crate::error::{fits_error, spec_error, ApiError};
use crate::service::source::{self, open_source, SourceQuery};
use crate::service::{files, image};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct PathQuery {
    #[serde(default)]
    pub path: String,
}

pub async fn files(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<PathQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(files::list(&state.into_inner(), &who, &q.path).await?))
}

pub async fn sources(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<SourceQuery>,
) -> Result<HttpResponse, ApiError> {
    let spec = q.spec()?;
    let state = state.into_inner();
    let open = open_source(&state, &who, q.path.as_deref(), q.hdu.as_deref(), q.plane).await?;
    Ok(HttpResponse::Ok().json(source::described(&state, &open, spec).await?))
}

#[derive(Deserialize)]
pub struct HduQuery {
    pub path: Option<String>,
    pub hdu: Option<String>,
    pub plane: Option<usize>,
}

pub async fn header(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<HduQuery>,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let open = open_source(&state, &who, q.path.as_deref(), q.hdu.as_deref(), q.plane).await?;
    Ok(HttpResponse::Ok().json(source::header(&open)))
}

#[derive(Deserialize)]
pub struct PixelQuery {
    pub path: Option<String>,
    pub hdu: Option<String>,
    pub plane: Option<usize>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub ra: Option<f64>,
    pub dec: Option<f64>,
}

pub async fn pixel(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<PixelQuery>,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let open = open_source(&state, &who, q.path.as_deref(), q.hdu.as_deref(), q.plane).await?;
    let (x, y, sky) = match (q.x, q.y, q.ra, q.dec) {
        (Some(x), Some(y), None, None) => (x, y, None),
        (None, None, Some(ra), Some(dec)) => (0.0, 0.0, Some((ra, dec))),
        _ => {
            return Err(ApiError::bad_request(
                "give x and y (FITS pixel, 1-based) or ra and dec (degrees)",
            ))
        }
    };
    let o2 = open.clone();
    let r = web::block(move || {
        let (x, y) = match sky {
            Some((lon, lat)) => toyz_fits::sky_to_pixel(&*o2.src.image, lon, lat)
                .map_err(|e| fits_error(e, &o2.public))?,
            None => (x, y),
        };
        image::pixel(&o2, x, y)?.map_err(|outside| fits_error(outside, &o2.public))
    })
    .await
    .map_err(|_| ApiError::internal("pixel task failed"))??;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Deserialize)]
pub struct HistogramQuery {
    pub path: Option<String>,
    pub hdu: Option<String>,
    pub plane: Option<usize>,
    pub bins: Option<usize>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

pub async fn histogram(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<HistogramQuery>,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let open = open_source(&state, &who, q.path.as_deref(), q.hdu.as_deref(), q.plane).await?;
    let a = image::HistogramArgs {
        bins: q.bins,
        lo: q.lo,
        hi: q.hi,
        rect: None,
    };
    // Of the sample, which is in memory: no read, no thread hop.
    Ok(HttpResponse::Ok().json(image::histogram(&open, &a, &|| false)?))
}

/// `GET /api/colorbar?cmap=&contrast=&bias=&invert=`: the colour scale as a 256×1 PNG (position 0 at
/// the left), with the same colormap, contrast/bias and invert as the tiles.
pub async fn colorbar(q: web::Query<SourceQuery>) -> Result<HttpResponse, ApiError> {
    let mut spec = q.spec()?;
    spec.stretch = toyz_pyramid::Stretch::Linear;
    let r = toyz_pyramid::Renderer::new(&spec, 0.0, 1.0, None).map_err(spec_error)?;
    let values: Vec<f32> = (0..256).map(|i| i as f32 / 255.0).collect();
    let mut idx = vec![0u8; 256];
    r.indices(&values, &mut idx);
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, "image/png"))
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=3600",
        ))
        .body(r.encode_rect(&idx, 256, 1)))
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // What clients make the server hold now, against its limits (docs/security.md).
    let l = &state.config.limits;
    let (sources, sources_bytes) = state.sources.held();
    let mut snap = crate::metrics::Snapshot::default();
    for (name, help, v) in [
        (
            "toyz_tile_memory_cache_bytes",
            "bytes of tiles held in memory",
            state.tiles.memory_bytes().await,
        ),
        (
            "toyz_memory_budget_bytes",
            "the memory budget of heavy work",
            l.memory_budget,
        ),
        (
            "toyz_memory_reserved_bytes",
            "bytes of the budget reserved now",
            state.budget_in_use() << 20,
        ),
        (
            "toyz_catalog_rows",
            "catalog rows held by all sessions",
            state
                .catalog_rows
                .load(std::sync::atomic::Ordering::Relaxed) as u64,
        ),
        ("toyz_sources", "open sources", sources as u64),
        (
            "toyz_sources_bytes",
            "bytes held by open sources (samples, overviews)",
            sources_bytes,
        ),
        (
            "toyz_renderers",
            "render specs' colour tables held by open sources",
            state.sources.renderers_held() as u64,
        ),
    ] {
        snap.gauge(name, help, v);
    }
    // Accounts: logins, failed logins, live login sessions (with --auth).
    if let Some(store) = state.access.store().cloned() {
        let idle = state.access.settings.idle;
        let active = web::block(move || store.active_sessions(idle))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        let a = &state.access;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        snap.counter("toyz_logins", "successful logins", n(&a.logins));
        snap.counter(
            "toyz_failed_logins",
            "refused logins (wrong name or password)",
            n(&a.failed_logins),
        );
        snap.gauge(
            "toyz_login_sessions",
            "login sessions seen within the idle lifetime",
            active,
        );
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(&snap))
}
