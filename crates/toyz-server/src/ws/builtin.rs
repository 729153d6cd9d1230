//! toyz's own jobs: session, image readouts, statistics, profiles, cutouts, source detection, catalogs,
//! DS9 regions and tile builds. Each checks its parameters and works on a blocking thread or the
//! engine's pools, never on the async runtime.

use super::registry::{JobCtx, JobError, JobRegistry, JobResult};
use super::replies;
use crate::error::Kind;
use crate::service::catalog::{Catalog, MAX_CATALOGS, MAX_ROWS};
use crate::service::image;
use crate::service::regions::{self, Region};
use crate::service::source::{self, open_source, SourceQuery};
use crate::service::{catalogs, tiles};
use crate::sources::{Levels, OpenSource};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Which image: a public path `ROOT/REL`, an HDU (index or EXTNAME) and a plane.
#[derive(Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct Src {
    pub path: String,
    pub hdu: Option<String>,
    pub plane: Option<usize>,
}

pub(crate) async fn open(ctx: &JobCtx, s: &Src) -> Result<Arc<OpenSource>, JobError> {
    let key = (s.path.clone(), s.hdu.clone(), s.plane);
    let cached = ctx
        .session
        .opened
        .lock()
        .expect("opened")
        .get(&key)
        .cloned();
    if let Some(o) = cached {
        // Checked again each time: a grant taken away applies to open sessions too.
        if o.unchanged() && ctx.state.may_read_source(&ctx.principal, &o) {
            return Ok(o);
        }
    }
    let o = open_source(
        &ctx.state,
        &ctx.principal,
        Some(&s.path),
        s.hdu.as_deref(),
        s.plane,
    )
    .await?;
    ctx.session
        .opened
        .lock()
        .expect("opened")
        .put(key, o.clone());
    let mut list = ctx.session.sources.lock().expect("sources");
    if !list.iter().any(|(id, _)| *id == o.src.id) {
        // Bounded: the most recent ones.
        if list.len() >= super::session::MAX_LISTED_SOURCES {
            list.remove(0);
        }
        list.push((o.src.id.clone(), o.public.clone()));
    }
    Ok(o)
}

/// `image.open`'s parameters: a source request, and whether to reply at the first view.
#[derive(Deserialize, JsonSchema)]
pub struct OpenParams {
    #[serde(flatten)]
    pub q: SourceQuery,
    /// Reply as soon as a first view can be shown (an overview while the levels build).
    pub preview: Option<bool>,
}

/// Wait for the image's float levels, reporting rows done of total.
async fn wait_levels(ctx: &JobCtx, o: &OpenSource) -> Result<(), JobError> {
    let mut rx = o.levels.clone();
    loop {
        let l = rx.borrow_and_update().clone();
        match l {
            Levels::Ready => return Ok(()),
            Levels::Failed(e) => return Err(JobError::new(Kind::LevelsFailed, e)),
            Levels::TooLarge(e) => return Err(JobError::new(Kind::TooLarge, e)),
            Levels::Building { done, total } => {
                ctx.progress(done, total);
                if rx.changed().await.is_err() {
                    return Err(JobError::new(Kind::LevelsFailed, "level builder stopped"));
                }
            }
        }
    }
}

/// A catalog loaded earlier in this session.
fn session_catalog(ctx: &JobCtx, id: usize) -> Result<Arc<Catalog>, JobError> {
    ctx.session
        .catalogs
        .lock()
        .expect("catalogs")
        .get(id)
        .cloned()
        .ok_or_else(|| JobError::bad_params(format!("no catalog {id} in this session")))
}

/// Open the source, then run `f` on a blocking thread (a panic there becomes an error reply).
async fn with_source<R, F>(ctx: &JobCtx, s: &Src, f: F) -> JobResult<R>
where
    R: Send + 'static,
    F: FnOnce(&OpenSource) -> JobResult<R> + Send + 'static,
{
    let o = open(ctx, s).await?;
    tokio::task::spawn_blocking(move || f(&o))
        .await
        .map_err(|_| JobError::panicked())?
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetParams {
    /// A name for the value (e.g. "frames").
    pub key: String,
    /// Any JSON; null removes the key.
    pub value: Value,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PixelsParams {
    #[serde(flatten)]
    pub src: Src,
    /// FITS pixels (1-based) [[x, y], …], at most 10 000.
    pub points: Vec<[f64; 2]>,
    /// Also write each position out (`sky`: frame, lon, lat, names, lon_text, lat_text) in this system and
    /// format, with the formatter `toyz pixel` uses.
    #[serde(default)]
    pub sky: Option<SkyReq>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkyReq {
    /// native (the header's frame, the default), icrs, fk5, galactic or ecliptic.
    #[serde(default)]
    pub system: Option<String>,
    /// sexagesimal (the default) or degrees.
    #[serde(default)]
    pub format: Option<String>,
}

impl SkyReq {
    fn parse(&self) -> Result<(toyz_fits::SkySystem, toyz_fits::SkyFormat), JobError> {
        let system = self
            .system
            .as_deref()
            .map_or(Ok(Default::default()), str::parse);
        let format = self
            .format
            .as_deref()
            .map_or(Ok(Default::default()), str::parse);
        Ok((
            system.map_err(JobError::bad_params)?,
            format.map_err(JobError::bad_params)?,
        ))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkyParams {
    #[serde(flatten)]
    pub src: Src,
    /// Sky positions [[lon, lat], …] in degrees, at most 10 000.
    pub points: Vec<[f64; 2]>,
    /// Their frame: icrs, fk5, j2000 or galactic (default: the image's own frame).
    pub frame: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraticuleParams {
    #[serde(flatten)]
    pub src: Src,
    /// The view in FITS pixels [x1, y1, x2, y2] (may extend past the image); default the whole image.
    pub rect: Option<[f64; 4]>,
    /// About how many lines per axis (default 6, 2 to 20).
    pub lines: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogPositionsParams {
    pub catalog: usize,
    /// The image the positions are for (RA/Dec through its WCS, else the catalog's x/y columns).
    #[serde(flatten)]
    pub src: Src,
    /// Most positions returned (default and at most 200 000).
    pub limit: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RectParams {
    #[serde(flatten)]
    pub src: Src,
    /// Rectangle in FITS pixels, inclusive: [x1, y1, x2, y2]; default the whole image.
    pub rect: Option<[usize; 4]>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistogramParams {
    #[serde(flatten)]
    pub src: Src,
    pub bins: Option<usize>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Only this rectangle (FITS pixels, inclusive [x1, y1, x2, y2]; e.g. the view), read with a
    /// stride in rows and columns that keeps it near 4 Mpixels; default the image's statistics sample.
    pub rect: Option<[usize; 4]>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileParams {
    #[serde(flatten)]
    pub src: Src,
    /// Start and end in FITS pixels.
    pub from: [f64; 2],
    pub to: [f64; 2],
    /// Samples along the line (default: one per pixel of length, at most 100 000).
    pub samples: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CutoutParams {
    #[serde(flatten)]
    pub src: Src,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub ra: Option<f64>,
    pub dec: Option<f64>,
    pub w: Option<usize>,
    pub h: Option<usize>,
    /// Square size in arcsec.
    pub size: Option<f64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectParams {
    #[serde(flatten)]
    pub src: Src,
    /// Rectangle in FITS pixels, inclusive: [x1, y1, x2, y2]; default the whole image.
    pub rect: Option<[usize; 4]>,
    /// Threshold in σ of the background noise (default 5).
    pub threshold: Option<f64>,
    /// Smallest group of connected pixels (default 5).
    pub min_pixels: Option<usize>,
    /// Most sources returned, brightest first (default 10 000).
    pub max_sources: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogLoadParams {
    /// CSV or FITS file `ROOT/REL`.
    pub path: String,
    /// For FITS: the table HDU (index or EXTNAME); default the first table.
    pub hdu: Option<String>,
    pub ra: Option<String>,
    pub dec: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
    /// Rows returned in this reply (default 100) starting at `offset`.
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogRowsParams {
    pub catalog: usize,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogMatchParams {
    pub catalog: usize,
    pub ra: f64,
    pub dec: f64,
    /// Only within this radius (arcsec).
    pub radius: Option<f64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionsImportParams {
    /// The DS9 region file's text.
    pub text: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionsExportParams {
    pub regions: Vec<Region>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionsLoadParams {
    /// A DS9 region file on the server, `ROOT/REL` (at most 1 MiB).
    pub path: String,
}

/// The largest region file `regions.load` reads.
const REGION_FILE_BYTES: u64 = 1 << 20;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionsStatsParams {
    #[serde(flatten)]
    pub src: Src,
    /// Regions as `regions.import` returns them (at most 100).
    pub regions: Vec<Region>,
    /// Also a histogram of each region's values in this many bins (1–1024) between its min and max.
    #[serde(default)]
    pub bins: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TilesBuildParams {
    #[serde(flatten)]
    pub source: SourceQuery,
    /// Zoom levels [from, to]; default all.
    pub zoom: Option<[u32; 2]>,
}

impl JobRegistry {
    /// The registry with toyz's built-in jobs.
    pub fn with_builtins() -> JobRegistry {
        let mut r = JobRegistry::new();
        r.register_async(
            "session.info",
            "This session: id, age, jobs run, open sources, catalogs, stored values.",
            |ctx: JobCtx, _: NoParams| async move {
                let s = &ctx.session;
                let sources = s
                    .sources
                    .lock()
                    .expect("sources")
                    .iter()
                    .map(|(id, path)| replies::SessionSource {
                        id: id.clone(),
                        path: path.clone(),
                    })
                    .collect();
                let catalogs = s
                    .catalogs
                    .lock()
                    .expect("catalogs")
                    .iter()
                    .map(|c| replies::SessionCatalog {
                        catalog: c.id,
                        path: c.path.clone(),
                        rows: c.rows.len(),
                    })
                    .collect();
                let values = s
                    .values
                    .lock()
                    .expect("values")
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), serde_json::from_str(v.get())?)))
                    .collect::<Result<_, serde_json::Error>>()
                    .map_err(|e| JobError::new(Kind::Internal, format!("a stored value: {e}")))?;
                Ok(replies::SessionInfo {
                    session: s.id,
                    age_s: s.created.elapsed().as_secs_f64(),
                    jobs_run: s.jobs_run.load(Ordering::Relaxed),
                    sources,
                    catalogs,
                    values,
                    server: replies::ServerInfo {
                        version: env!("CARGO_PKG_VERSION"),
                        sessions: ctx.state.metrics.sessions_open.get().max(0) as u64,
                    },
                })
            },
        );
        r.register_async(
            "session.jobs",
            "Every job this server runs, with its parameter schema.",
            |ctx: JobCtx, _: NoParams| async move {
                Ok(replies::Jobs {
                    jobs: ctx.registry.describe(),
                })
            },
        );
        r.register_async(
            "session.set",
            "Store a value in the session (frames, selections, …); null removes it.",
            |ctx: JobCtx, p: SetParams| async move {
                let max = ctx.state.config.limits.session_state;
                // Stored as its JSON text, which is what is counted (the key's bytes too).
                let raw = if p.value.is_null() {
                    None
                } else {
                    Some(serde_json::value::to_raw_value(&p.value).map_err(|e| JobError::bad_params(e.to_string()))?)
                };
                drop(p.value);
                let mut v = ctx.session.values.lock().expect("values");
                match raw {
                    None => {
                        v.remove(&p.key);
                    }
                    Some(raw) => {
                        let others: usize = v
                            .iter()
                            .filter(|(k, _)| **k != p.key)
                            .map(|(k, x)| k.len() + x.get().len())
                            .sum();
                        let new = p.key.len() + raw.get().len();
                        if others + new > max {
                            return Err(JobError::new(
                                Kind::TooLarge,
                                format!(
                                    "a session keeps at most {max} bytes of values; this would make {}",
                                    others + new
                                ),
                            ));
                        }
                        v.insert(p.key, raw);
                    }
                }
                Ok(replies::Keys { keys: v.keys().cloned().collect() })
            },
        );
        r.register_async(
            "image.open",
            concat!(
                "Open an image as /api/sources does; progress events while its float levels build; ",
                "replies when every tile can be served, or with preview: true as soon as a first view ",
                "can be shown (levels.state says whether they are still building: image.levels waits for them).",
            ),
            |ctx: JobCtx, p: OpenParams| async move {
                let OpenParams { q: p, preview } = p;
                let spec = p.spec()?;
                let o = open(&ctx, &Src { path: p.path.clone().unwrap_or_default(), hdu: p.hdu.clone(), plane: p.plane }).await?;
                o.remember_spec(&spec);
                if preview == Some(true) {
                    if !matches!(*o.levels.borrow(), Levels::Ready) {
                        o.overview().await?;
                    }
                } else {
                    wait_levels(&ctx, &o).await?;
                }
                Ok(source::described(&ctx.state, &o, spec).await?)
            },
        );
        r.register_async(
            "image.levels",
            concat!(
                "Wait until every tile of an image can be served (its float levels are built), ",
                "with progress; replies {\"state\": \"ready\"}.",
            ),
            |ctx: JobCtx, p: Src| async move {
                let o = open(&ctx, &p).await?;
                wait_levels(&ctx, &o).await?;
                Ok(source::LevelsState::ready())
            },
        );
        r.register_async(
            "image.header",
            "Every header card of an HDU, in order.",
            |ctx: JobCtx, p: Src| async move {
                let o = open(&ctx, &p).await?;
                Ok(source::header(&o))
            },
        );
        r.register_async(
            "image.pixels",
            "Values and world coordinates at FITS pixels (the cursor readout); points outside the image have value null and outside true.",
            |ctx: JobCtx, p: PixelsParams| async move {
                if p.points.len() > 10_000 {
                    return Err(JobError::bad_params("at most 10 000 points"));
                }
                let n = p.points.len();
                let points = p.points.clone();
                let sky = p.sky.as_ref().map(SkyReq::parse).transpose()?;
                // The position in the system asked for, written out (null where it does not convert).
                let sky_of = move |w: Option<&toyz_fits::World>| {
                    sky.map(|(system, format)| w.and_then(|w| toyz_fits::sky_text(w, system, format)))
                };
                let read = move |o: &OpenSource| -> JobResult<replies::Pixels> {
                    let img = &*o.src.image;
                    let pixels = points
                        .iter()
                        // A read that failed is an error (the file changed under it, a disk
                        // error), never reported as a point outside the image.
                        .map(|&[x, y]| match image::pixel(o, x, y)? {
                            Ok(v) => Ok(replies::Pixel {
                                // The value's exact decimal too: JavaScript numbers round integers
                                // beyond 2^53, and the viewer shows this text.
                                text: Some(v.value.map(toyz_fits::Value::text)),
                                sky: sky_of(v.world.as_ref()),
                                outside: None,
                                at: v,
                            }),
                            Err(_) => {
                                let world = img.wcs().and_then(|w| {
                                    let (lon, lat) = w.pixel_to_world(x, y)?;
                                    Some(toyz_fits::World { frame: w.frame().to_owned(), lon, lat })
                                });
                                Ok(replies::Pixel {
                                    sky: sky_of(world.as_ref()),
                                    text: None,
                                    outside: Some(true),
                                    at: toyz_fits::PixelValue { x, y, value: None, world, ccd: None },
                                })
                            }
                        })
                        .collect::<Result<_, crate::error::ApiError>>()?;
                    Ok(replies::Pixels { pixels })
                };
                // A few points of a plain file (read with pread, its pages asked for ahead) are read right
                // here: a thread hop would cost more than the read. Anything else goes to a blocking thread.
                let o = open(&ctx, &p.src).await?;
                if o.src.image.raw_reads() && n <= 64 {
                    read(&o)
                } else {
                    tokio::task::spawn_blocking(move || read(&o))
                        .await
                        .map_err(|_| JobError::panicked())?
                }
            },
        );
        r.register_async(
            "image.sky_to_pixel",
            "FITS pixels of sky positions (degrees; equatorial, galactic or ecliptic) through the image's WCS; \
             null where a position does not project.",
            |ctx: JobCtx, p: SkyParams| async move {
                if p.points.len() > 10_000 {
                    return Err(JobError::bad_params("at most 10 000 points"));
                }
                with_source(&ctx, &p.src, move |o| Ok(image::sky_to_pixels(o, &p.points, p.frame.as_deref())?))
                .await
            },
        );
        r.register_async(
            "image.graticule",
            "Coordinate grid over a view: lines of constant longitude/latitude at round steps as pixel polylines with labels, and the north/east directions.",
            |ctx: JobCtx, p: GraticuleParams| async move {
                with_source(&ctx, &p.src, move |o| Ok(image::graticule(o, p.rect, p.lines)?))
                .await
            },
        );
        r.register_async(
            "image.stats",
            "Statistics of a rectangle: count, NaN count, mean, median, std, min, max, sum.",
            |ctx: JobCtx, p: RectParams| async move {
                // Read in bands (flat memory whatever the rectangle); a closed socket stops it between bands.
                let mem = ctx
                    .state
                    .reserve(toyz_pyramid::rect_stats::RECT_STATS_BYTES, "image.stats")?;
                let cancel = ctx.cancel_flag();
                with_source(&ctx, &p.src, move |o| {
                    let _mem = mem;
                    Ok(image::rect_stats(o, p.rect, &|| {
                        cancel.load(Ordering::Relaxed)
                    })?)
                })
                .await
            },
        );
        r.register_async(
            "image.histogram",
            "Histogram of the image's statistics sample, or of a rectangle (the view).",
            |ctx: JobCtx, p: HistogramParams| async move {
                let cancel = ctx.cancel_flag();
                let mem = p
                    .rect
                    .map(|_| {
                        ctx.state
                            .reserve(image::HISTOGRAM_RECT_BYTES, "image.histogram")
                    })
                    .transpose()?;
                let a = image::HistogramArgs {
                    bins: p.bins,
                    lo: p.lo,
                    hi: p.hi,
                    rect: p.rect,
                };
                with_source(&ctx, &p.src, move |o| {
                    let _mem = mem;
                    Ok(image::histogram(o, &a, &|| cancel.load(Ordering::Relaxed))?)
                })
                .await
            },
        );
        r.register_async(
            "image.profile",
            "Values along a line between two FITS pixels (nearest pixel).",
            |ctx: JobCtx, p: ProfileParams| async move {
                with_source(&ctx, &p.src, move |o| {
                    Ok(image::profile(o, p.from, p.to, p.samples)?)
                })
                .await
            },
        );
        r.register_async(
            "image.cutout",
            "Links to a cutout (FITS with a shifted WCS, and PNG) of a region.",
            |ctx: JobCtx, p: CutoutParams| async move {
                let o = open(&ctx, &p.src).await?;
                // A query string, escaped: a path may hold '&', '#', '+' or spaces.
                let mut q: Vec<(&str, String)> = vec![("path", o.public.clone())];
                if let Some(h) = &p.src.hdu {
                    q.push(("hdu", h.clone()));
                }
                for (k, v) in [
                    ("x", p.x),
                    ("y", p.y),
                    ("ra", p.ra),
                    ("dec", p.dec),
                    ("size", p.size),
                ] {
                    if let Some(v) = v {
                        q.push((k, v.to_string()));
                    }
                }
                for (k, v) in [("w", p.w), ("h", p.h), ("plane", p.src.plane)] {
                    if let Some(v) = v {
                        q.push((k, v.to_string()));
                    }
                }
                // Everything but letters, digits and - . _ ~ / : , is escaped ('/' stays readable).
                const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                    .remove(b'-')
                    .remove(b'.')
                    .remove(b'_')
                    .remove(b'~')
                    .remove(b'/')
                    .remove(b':')
                    .remove(b',');
                let query: Vec<String> = q
                    .iter()
                    .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, KEEP)))
                    .collect();
                let base = format!("/api/cutout?{}", query.join("&"));
                Ok(replies::CutoutLinks {
                    png: format!("{base}&format=png"),
                    fits: base,
                })
            },
        );
        r.register_async(
            "sources.detect",
            "Find sources in a rectangle or the whole image: background and noise, threshold in σ, connected pixels, centroid, peak, flux, FWHM, sky position.",
            |ctx: JobCtx, p: DetectParams| async move {
                let o = open(&ctx, &p.src).await?;
                let c2 = ctx.clone();
                let (_, _, w, _) = image::rect(&o, p.rect)?;
                let mem = ctx.state.reserve(image::detect_bytes(w), "sources.detect")?;
                tokio::task::spawn_blocking(move || {
                    let _mem = mem;
                    let args = image::DetectArgs {
                        rect: p.rect,
                        threshold: p.threshold,
                        min_pixels: p.min_pixels,
                        max_sources: p.max_sources,
                    };
                    let progress = |d, t| c2.progress(d, t);
                    Ok(image::detect(&o, &args, &c2.cancel_flag(), &progress)?)
                })
                .await
                .map_err(|_| JobError::panicked())?
            },
        );
        r.register_async(
            "catalog.load",
            "Load a catalog (CSV, or a FITS binary table) with RA/Dec or x/y columns into the session; returns its columns and a page of rows.",
            |ctx: JobCtx, p: CatalogLoadParams| async move {
                let limits = &ctx.state.config.limits;
                let (held, count) = {
                    let list = ctx.session.catalogs.lock().expect("catalogs");
                    (list.iter().map(|c| c.rows.len()).sum::<usize>(), list.len())
                };
                if count >= MAX_CATALOGS {
                    let m = format!("a session holds at most {MAX_CATALOGS} catalogs");
                    return Err(JobError::new(Kind::TooLarge, m));
                }
                let room = limits.catalog_rows_session.saturating_sub(held).min(MAX_ROWS);
                if room == 0 {
                    return Err(JobError::new(Kind::TooLarge, format!(
                        "this session already holds {held} catalog rows (at most {})", limits.catalog_rows_session)));
                }
                let columns = catalogs::Columns { ra: p.ra, dec: p.dec, x: p.x, y: p.y };
                let mut cat =
                    catalogs::load(&ctx.state, &ctx.principal, &p.path, p.hdu.as_deref(), columns, room).await?;
                // The id is the catalog's place in the session list, taken when it goes in: two loads
                // running at once get different ids.
                let mut list = ctx.session.catalogs.lock().expect("catalogs");
                cat.id = list.len();
                let reply = catalogs::page(&cat, p.offset, p.limit);
                list.push(Arc::new(cat));
                Ok(reply)
            },
        );
        r.register_async(
            "catalog.rows",
            "A page of rows of a loaded catalog.",
            |ctx: JobCtx, p: CatalogRowsParams| async move {
                let c = session_catalog(&ctx, p.catalog)?;
                Ok(catalogs::page(&c, p.offset, p.limit))
            },
        );
        r.register_async(
            "catalog.match",
            "The catalog entry nearest to a sky position (degrees), with its separation.",
            |ctx: JobCtx, p: CatalogMatchParams| async move {
                let c = session_catalog(&ctx, p.catalog)?;
                Ok(catalogs::nearest(c, p.ra, p.dec, p.radius).await?)
            },
        );
        r.register_async(
            "catalog.positions",
            "Pixel positions on an image of a loaded catalog's rows (RA/Dec through the image's WCS, else x/y), those on or near the image.",
            |ctx: JobCtx, p: CatalogPositionsParams| async move {
                let c = session_catalog(&ctx, p.catalog)?;
                let limit = p.limit.unwrap_or(200_000).min(200_000);
                let cancel = ctx.cancel_flag();
                with_source(&ctx, &p.src, move |o| Ok(catalogs::positions(&c, o, limit, &cancel)?)).await
            },
        );
        const IMPORT: &str = "Parse a DS9 region file (circle, ellipse, box, polygon, line, point, annulus, \
                              text, vector; image or sky coordinates); lines not read are listed in `unknown`.";
        r.register_async(
            "regions.import",
            IMPORT,
            |_ctx: JobCtx, p: RegionsImportParams| async move {
                let parsed =
                    regions::parse(&p.text).map_err(|e| JobError::new(Kind::BadRegions, e))?;
                Ok(parsed)
            },
        );
        r.register_async(
            "regions.load",
            "Read a DS9 region file from the server's roots (at most 1 MiB) as regions.import does.",
            |ctx: JobCtx, p: RegionsLoadParams| async move {
                let res = ctx.resolve(&p.path)?;
                let public = res.public.clone();
                if res.kind != crate::paths::Kind::File {
                    return Err(source::not_a_file(&public).into());
                }
                let file = res.open_path();
                let text = tokio::task::spawn_blocking(move || -> Result<String, JobError> {
                    let read = |e: std::io::Error| JobError::new(Kind::Io, format!("{public}: cannot be read ({e})"));
                    let size = std::fs::metadata(&file).map_err(read)?.len();
                    if size > REGION_FILE_BYTES {
                        return Err(JobError::new(Kind::TooLarge, format!(
                            "{public}: {size} bytes is too large for a region file (at most {REGION_FILE_BYTES})")));
                    }
                    let bytes = std::fs::read(&file).map_err(read)?;
                    Ok(String::from_utf8_lossy(&bytes).into_owned())
                })
                .await
                .map_err(|_| JobError::panicked())??;
                let parsed = regions::parse(&text)
                    .map_err(|e| JobError::new(Kind::BadRegions, format!("{}: {e}", p.path)))?;
                Ok(replies::LoadedRegions { path: p.path, parsed })
            },
        );
        r.register_async(
            "regions.stats",
            "Statistics of the pixels whose centres fall inside each region (DS9's Analysis → Statistics): npix, \
             sum, mean, median, std, min, max, area_px, area_arcsec2, surface_brightness; an annulus also per ring.",
            |ctx: JobCtx, p: RegionsStatsParams| async move {
                if p.regions.len() > 100 {
                    return Err(JobError::bad_params("at most 100 regions"));
                }
                if p.bins.is_some_and(|b| !(1..=1024).contains(&b)) {
                    return Err(JobError::bad_params("bins: 1 to 1024"));
                }
                let bins = p.bins;
                let cancel = ctx.cancel_flag();
                let state = ctx.state.clone();
                with_source(&ctx, &p.src, move |o| {
                    let mut out = Vec::new();
                    for r in &p.regions {
                        if cancel.load(Ordering::Relaxed) {
                            return Err(JobError::cancelled());
                        }
                        out.push(regions::stats(&state, o, r, bins, &cancel)?);
                    }
                    Ok(replies::RegionsStats { regions: out, bunit: o.src.image.bunit().map(str::to_owned) })
                })
                .await
            },
        );
        r.register_async(
            "regions.export",
            "Write regions as a DS9 region file.",
            |_ctx: JobCtx, p: RegionsExportParams| async move {
                let text =
                    regions::write(&p.regions).map_err(|e| JobError::new(Kind::BadRegions, e))?;
                Ok(replies::RegionText { text })
            },
        );
        r.register_async(
            "tiles.build",
            "Pre-generate a source's tiles into the server cache for a render spec, with progress; cancel stops it.",
            |ctx: JobCtx, p: TilesBuildParams| async move {
                let spec = tiles::spec_to_build(&p.source)?;
                let s = Src { path: p.source.path.clone().unwrap_or_default(), hdu: p.source.hdu.clone(), plane: p.source.plane };
                let o = open(&ctx, &s).await?;
                let (c2, state) = (ctx.clone(), ctx.state.clone());
                tokio::task::spawn_blocking(move || {
                    let progress = |d, t| c2.progress(d, t);
                    Ok(tiles::build(&state, &o, spec, p.zoom, &c2.cancel_flag(), &progress)?)
                })
                .await
                .map_err(|_| JobError::panicked())?
            },
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_table_of_job_schemas_is_current() {
        crate::error::tests::check_generated("jobs", &JobRegistry::with_builtins().docs_table());
    }

    #[test]
    fn every_job_has_its_example_in_the_docs() {
        let doc = include_str!("../../../../docs/api.md");
        for j in JobRegistry::with_builtins().jobs() {
            let row = format!("| `{}` |", j.name);
            assert!(
                doc.matches(&row).count() >= 2,
                "docs/api.md has no example row for {}",
                j.name
            );
        }
    }
}
