//! Opening a source for a principal and describing it: the one implementation behind `GET
//! /api/sources` and the `image.open` job, and what every other operation on an image starts from.

use crate::auth::Principal;
use crate::error::{spec_error, ApiError, Kind};
use crate::paths::Kind as PathKind;
use crate::state::{AppState, Levels, OpenSource};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use toyz_fits::HduSel;
use toyz_pyramid::{spec, RenderSpec};

/// `path`, `hdu`, `plane` and the render spec of a source request.
#[derive(Deserialize, schemars::JsonSchema, Default)]
pub struct SourceQuery {
    pub path: Option<String>,
    pub hdu: Option<String>,
    pub plane: Option<usize>,
    pub stretch: Option<String>,
    pub cut: Option<String>,
    pub cmap: Option<String>,
    pub contrast: Option<f64>,
    pub bias: Option<f64>,
    pub invert: Option<bool>,
    pub nan: Option<String>,
    /// The view's orientation: none, fx, fy, r90, r180, r270, fx+r90, fx+r270.
    pub orient: Option<String>,
    /// A further turn of the view, degrees counter-clockwise (north up at any angle).
    pub angle: Option<f64>,
}

impl SourceQuery {
    pub fn spec(&self) -> Result<RenderSpec, ApiError> {
        let mut s = RenderSpec::parse(
            self.stretch.as_deref(),
            self.cut.as_deref(),
            self.cmap.as_deref(),
        )
        .map_err(spec_error)?;
        if let Some(c) = self.contrast {
            s.contrast = c;
        }
        if let Some(b) = self.bias {
            s.bias = b;
        }
        if let Some(i) = self.invert {
            s.invert = i;
        }
        if let Some(o) = &self.orient {
            s.orient = toyz_pyramid::orient::parse(o).map_err(spec_error)?;
        }
        if let Some(a) = self.angle {
            s.angle = a;
        }
        if let Some(n) = &self.nan {
            s.nan = spec::parse_colour(n).map_err(spec_error)?;
        }
        s.validate().map_err(spec_error)?;
        Ok(s)
    }
}

pub fn hdu_sel(hdu: Option<&str>) -> Result<HduSel, ApiError> {
    match hdu {
        None => Ok(HduSel::Auto),
        Some(h) => h
            .parse()
            .map_err(|e: toyz_fits::FitsError| ApiError::bad_request(e.to_string())),
    }
}

/// A FIFO, socket or device in a data root: never opened.
pub fn not_a_file(public: &str) -> ApiError {
    ApiError::of(Kind::NotAFile, format!("{public}: not a regular file"))
}

/// Resolve (for `who`) and open the source a request names.
pub async fn open_source(
    state: &Arc<AppState>,
    who: &Principal,
    path: Option<&str>,
    hdu: Option<&str>,
    plane: Option<usize>,
) -> Result<Arc<OpenSource>, ApiError> {
    let path = path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing 'path'"))?;
    let r = state.resolve_for(who, path)?;
    match r.kind {
        PathKind::Dir => {
            return Err(ApiError::bad_request(format!(
                "{} is a directory",
                r.public
            )))
        }
        PathKind::Special => return Err(not_a_file(&r.public)),
        PathKind::File => {}
    }
    let sel = hdu_sel(hdu)?;
    state.open(&r, &sel, plane.unwrap_or(0)).await
}

/// Take `spec` as the source's (its cut levels computed, on a blocking thread) and describe the source
/// with it: the reply of `GET /api/sources` and `image.open`.
pub async fn described(
    state: &Arc<AppState>,
    open: &Arc<OpenSource>,
    spec: RenderSpec,
) -> Result<serde_json::Value, ApiError> {
    let (o2, sp, st) = (open.clone(), spec.clone(), state.clone());
    let (lo, hi) = tokio::task::spawn_blocking(move || {
        o2.adopt_spec(&*st.tiles_store, &sp)?;
        o2.cut_levels(&sp)
    })
    .await
    .map_err(|_| ApiError::internal("open task failed"))??;
    Ok(describe(open, &spec, lo, hi))
}

fn describe(open: &OpenSource, spec: &RenderSpec, lo: f64, hi: f64) -> serde_json::Value {
    let src = &open.src;
    let img = &*src.image;
    let (bscale, bzero, blank) = img.scaling();
    let levels = match &*open.levels.borrow() {
        Levels::Ready => serde_json::json!({"state": "ready"}),
        Levels::Building { done, total } => {
            serde_json::json!({"state": "building", "done": done, "total": total})
        }
        // Both failures read alike; one that is never retried says so.
        l @ (Levels::Failed(e) | Levels::TooLarge(e)) => {
            let mut v = serde_json::json!({"state": "failed", "error": e});
            if matches!(l, Levels::TooLarge(_)) {
                v["permanent"] = true.into();
            }
            v
        }
    };
    let rid = spec.id();
    serde_json::json!({
        "id": src.id,
        "path": open.public,
        "hdu": img.hdu(),
        "selector": img.selector(),
        "mosaic": img.mosaic(),
        "plane": img.plane(),
        "planes": img.planes(),
        // The third axis's world value at this plane, where the header gives one.
        "spectral": toyz_fits::SpectralAxis::from_header(img.header()).map(|a| {
            serde_json::json!({"ctype": a.ctype, "unit": a.unit, "value": a.value(img.plane())})
        }),
        "hdus": img.hdus(),
        "width": img.width(),
        "height": img.height(),
        // The oriented image the tiles show (width and height swap for a quarter turn).
        "orient": toyz_pyramid::orient::name(spec.orient),
        "angle": spec.angle,
        "display": {
            "width": toyz_pyramid::orient::display_size(spec.orient, spec.angle, img.width(), img.height()).0,
            "height": toyz_pyramid::orient::display_size(spec.orient, spec.angle, img.width(), img.height()).1,
        },
        "bitpix": img.bitpix(),
        "bscale": bscale,
        "bzero": bzero,
        "blank": blank,
        "compressed": img.compressed(),
        "zmax": src.geometry.zmax,
        "tile_size": toyz_pyramid::TILE,
        "bunit": img.bunit(),
        "wcs": img.wcs().map(|w| w.summary()),
        "wcs_error": img.wcs_error(),
        "stats": src.stats,
        "render": {
            "id": rid,
            "spec": spec.normal_form(),
            "stretch": spec.stretch,
            "cut": spec.cut,
            "cmap": spec.cmap,
            "contrast": spec.contrast,
            "bias": spec.bias,
            "invert": spec.invert,
            "nan": format!("#{:02x}{:02x}{:02x}{:02x}", spec.nan[0], spec.nan[1], spec.nan[2], spec.nan[3]),
            "lo": lo,
            "hi": hi,
            // Round values along the colour bar, where the stretch puts them.
            "ticks": toyz_pyramid::ticks::colorbar_ticks(
                spec,
                lo,
                hi,
                matches!(spec.stretch, toyz_pyramid::Stretch::Histeq).then_some(&src.sample),
            ),
        },
        "tiles": format!("/tiles/{}/{}/{{z}}/{{x}}/{{y}}.png", src.id, rid),
        "levels": levels,
    })
}

/// Every header card of the source's HDU, in order: `GET /api/header` and `image.header`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct HeaderReply {
    /// The path as the client named it.
    pub path: String,
    /// The HDU's index (a mosaic's: its first CCD's).
    pub hdu: usize,
    pub cards: Vec<toyz_fits::Card>,
}

pub fn header(open: &OpenSource) -> HeaderReply {
    HeaderReply {
        path: open.public.clone(),
        hdu: open.src.image.hdu(),
        cards: open.src.image.header().cards().to_vec(),
    }
}
