//! Opening a source for a principal and describing it: the one implementation behind `GET
//! /api/sources` and the `image.open` job, and what every other operation on an image starts from.

use crate::auth::Principal;
use crate::error::{spec_error, ApiError, Kind};
use crate::paths::Kind as PathKind;
use crate::sources::{Levels, OpenSource};
use crate::state::AppState;
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
) -> Result<SourceReply, ApiError> {
    let (o2, sp, st) = (open.clone(), spec.clone(), state.clone());
    let (lo, hi) = tokio::task::spawn_blocking(move || {
        o2.adopt_spec(&*st.tiles.store, &sp)?;
        o2.cut_levels(&sp)
    })
    .await
    .map_err(|_| ApiError::internal("open task failed"))??;
    Ok(describe(open, &spec, lo, hi))
}

/// How far the float levels of a source are (`levels` of a source description, and `image.levels`'s
/// reply once they are ready).
#[derive(Serialize, schemars::JsonSchema)]
pub struct LevelsState {
    /// "ready" (every tile final), "building" or "failed".
    pub state: &'static str,
    /// While building: rows of the full-resolution image done, of `total`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Why they failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when they will not be tried again (they could not fit the cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permanent: Option<bool>,
}

/// The third axis's world value at the plane shown.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Spectral {
    pub ctype: String,
    pub unit: Option<String>,
    pub value: f64,
}

/// The size of the image as the tiles show it (oriented and turned).
#[derive(Serialize, schemars::JsonSchema)]
pub struct DisplaySize {
    pub width: usize,
    pub height: usize,
}

/// A rendering of a source: its spec, cut levels and colour-bar ticks.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Rendering {
    /// The render id in tile URLs.
    pub id: String,
    /// The spec in its normal form (`stretch=…;cut=…;…`).
    pub spec: String,
    pub stretch: toyz_pyramid::Stretch,
    pub cut: toyz_pyramid::Cut,
    pub cmap: String,
    pub contrast: f64,
    pub bias: f64,
    pub invert: bool,
    /// The NaN colour, #rrggbbaa.
    pub nan: String,
    /// The cut levels, in the image's unit.
    pub lo: f64,
    pub hi: f64,
    /// Round values along the colour bar, where the stretch puts them.
    pub ticks: Vec<toyz_pyramid::ticks::Tick>,
}

/// A source and one rendering of it: `GET /api/sources` and `image.open`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct SourceReply {
    /// The source id in tile URLs.
    pub id: String,
    pub path: String,
    pub hdu: usize,
    /// The HDU as asked for: an index, or `mosaic` / `mosaic:detsec` for a focal plane.
    pub selector: String,
    pub mosaic: Option<toyz_fits::MosaicInfo>,
    pub plane: usize,
    pub planes: usize,
    pub spectral: Option<Spectral>,
    pub hdus: Vec<toyz_fits::HduSummary>,
    pub width: usize,
    pub height: usize,
    /// The orientation shown ("none", "r90", "fx+r270", …) and a further turn in degrees.
    pub orient: &'static str,
    pub angle: f64,
    pub display: DisplaySize,
    pub bitpix: i32,
    pub bscale: f64,
    pub bzero: f64,
    pub blank: Option<i64>,
    pub compressed: bool,
    /// The deepest level of the pyramid (1:1 pixels).
    pub zmax: u32,
    pub tile_size: usize,
    pub bunit: Option<String>,
    pub wcs: Option<toyz_fits::WcsSummary>,
    /// Why the header's WCS could not be used, when it could not.
    pub wcs_error: Option<String>,
    /// The statistics of the sample the cut levels come from.
    pub stats: toyz_pyramid::Stats,
    pub render: Rendering,
    /// The tile URL template.
    pub tiles: String,
    pub levels: LevelsState,
}

impl LevelsState {
    /// Every level is built: every tile is final.
    pub fn ready() -> LevelsState {
        LevelsState {
            state: "ready",
            done: None,
            total: None,
            error: None,
            permanent: None,
        }
    }
}

fn describe(open: &OpenSource, spec: &RenderSpec, lo: f64, hi: f64) -> SourceReply {
    let src = &open.src;
    let img = &*src.image;
    let (bscale, bzero, blank) = img.scaling();
    let none = LevelsState::ready();
    let levels = match &*open.levels.borrow() {
        Levels::Ready => LevelsState::ready(),
        Levels::Building { done, total } => LevelsState {
            state: "building",
            done: Some(*done),
            total: Some(*total),
            ..none
        },
        // Both failures read alike; one that is never retried says so.
        l @ (Levels::Failed(e) | Levels::TooLarge(e)) => LevelsState {
            state: "failed",
            error: Some(e.clone()),
            permanent: matches!(l, Levels::TooLarge(_)).then_some(true),
            ..none
        },
    };
    let rid = spec.id();
    let (dw, dh) =
        toyz_pyramid::orient::display_size(spec.orient, spec.angle, img.width(), img.height());
    SourceReply {
        id: src.id.clone(),
        path: open.public.clone(),
        hdu: img.hdu(),
        selector: img.selector(),
        mosaic: img.mosaic().cloned(),
        plane: img.plane(),
        planes: img.planes(),
        spectral: toyz_fits::SpectralAxis::from_header(img.header()).map(|a| Spectral {
            value: a.value(img.plane()),
            ctype: a.ctype,
            unit: a.unit,
        }),
        hdus: img.hdus().to_vec(),
        width: img.width(),
        height: img.height(),
        orient: toyz_pyramid::orient::name(spec.orient),
        angle: spec.angle,
        display: DisplaySize {
            width: dw,
            height: dh,
        },
        bitpix: img.bitpix(),
        bscale,
        bzero,
        blank,
        compressed: img.compressed(),
        zmax: src.geometry.zmax,
        tile_size: toyz_pyramid::TILE,
        bunit: img.bunit().map(str::to_owned),
        wcs: img.wcs().map(|w| w.summary().clone()),
        wcs_error: img.wcs_error().map(str::to_owned),
        stats: src.stats.clone(),
        render: Rendering {
            id: rid.clone(),
            spec: spec.normal_form(),
            stretch: spec.stretch,
            cut: spec.cut,
            cmap: spec.cmap.clone(),
            contrast: spec.contrast,
            bias: spec.bias,
            invert: spec.invert,
            nan: format!(
                "#{:02x}{:02x}{:02x}{:02x}",
                spec.nan[0], spec.nan[1], spec.nan[2], spec.nan[3]
            ),
            lo,
            hi,
            ticks: toyz_pyramid::ticks::colorbar_ticks(
                spec,
                lo,
                hi,
                matches!(spec.stretch, toyz_pyramid::Stretch::Histeq).then_some(&src.sample),
            ),
        },
        tiles: format!("/tiles/{}/{}/{{z}}/{{x}}/{{y}}.png", src.id, rid),
        levels,
    }
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
