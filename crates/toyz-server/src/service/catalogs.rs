//! Catalog operations: load a catalog file a principal may read (within the session's room, the
//! memory budget and the server's bound on rows), a page of its rows, the row nearest a sky
//! position, and the positions of its rows on an image. The session's list of catalogs is the
//! caller's (the `catalog.*` jobs); what a catalog is and how CSV is parsed is `catalog.rs`.

use crate::auth::Principal;
use crate::error::{fits_error, ApiError, Kind};
use crate::service::catalog::{parse_csv, Catalog, RowsHold};
use crate::service::source;
use crate::sources::OpenSource;
use crate::state::AppState;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The columns a catalog's positions come from.
#[derive(Serialize, JsonSchema)]
pub struct CatalogCoordinates {
    pub ra: Option<String>,
    pub dec: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
}

/// `catalog.load` and `catalog.rows`: a page of a loaded catalog.
#[derive(Serialize, JsonSchema)]
pub struct CatalogPage {
    /// Its id in this session.
    pub catalog: usize,
    pub path: String,
    pub columns: Vec<String>,
    /// Rows in the catalog.
    pub total: usize,
    pub offset: usize,
    /// Each row's cells, in column order (numbers, text or null).
    pub rows: Vec<Vec<Value>>,
    pub coordinates: CatalogCoordinates,
}

/// `catalog.match`: the nearest row (index null when none is within the radius).
#[derive(Serialize, JsonSchema)]
pub struct CatalogMatch {
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub separation_arcsec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<Vec<Value>>,
}

/// `catalog.positions`: rows on or near the image.
#[derive(Serialize, JsonSchema)]
pub struct CatalogPositions {
    pub catalog: usize,
    /// "sky" (RA/Dec through the WCS) or "pixel" (the x/y columns).
    pub by: &'static str,
    pub total: usize,
    pub count: usize,
    /// True when more rows than `limit` were on the image.
    pub truncated: bool,
    /// [row, x, y] in FITS pixels.
    pub positions: Vec<(usize, f64, f64)>,
}

/// Column names asked for (otherwise found by name).
pub struct Columns {
    pub ra: Option<String>,
    pub dec: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
}

fn panicked() -> ApiError {
    ApiError::of(Kind::Panic, "the job panicked; the session goes on")
}

/// Read the catalog at `path` (CSV, or a FITS binary table: `hdu`) for `who`, with at most `room`
/// rows (one more is refused, never silently cut). Parsing holds the text and the cells: about ten
/// times the file's size is reserved from the memory budget; a gzip'd file is held whole once
/// decompressed, so three times what it inflates to, counted first (a 2 MB file of 2 GiB is refused,
/// not read). Its rows count against the server's bound until it is dropped.
pub async fn load(
    state: &Arc<AppState>,
    who: &Principal,
    path: &str,
    hdu: Option<&str>,
    want: Columns,
    room: usize,
) -> Result<Catalog, ApiError> {
    let res = state.resolve_for(who, path)?;
    let public = res.public.clone();
    if res.kind != crate::paths::Kind::File {
        return Err(source::not_a_file(&public));
    }
    let hdu = source::hdu_sel(hdu)?;
    let limits = state.config.limits.clone();
    let (file, budget) = (res.open_path(), limits.memory_budget);
    let shown = public.clone();
    let (size, inflated) = tokio::task::spawn_blocking(move || {
        toyz_fits::Pinned::open(&file).map(|p| (p.len(), p.inflated_len(budget)))
    })
    .await
    .map_err(|_| panicked())?
    .map_err(|e| fits_error(e, &shown))?;
    let need = size.saturating_mul(10).max(inflated.saturating_mul(3));
    let mem = state.reserve(need, "catalog.load")?;
    let mut cat = tokio::task::spawn_blocking(move || -> Result<Catalog, ApiError> {
        let _mem = mem;
        let file = res.open_path();
        let (columns, rows) = if toyz_fits::probe(&file).is_ok() {
            let t =
                toyz_fits::read_table(&file, &hdu, room + 1).map_err(|e| fits_error(e, &public))?;
            let cell = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
            let rows = (0..t.rows)
                .map(|i| t.columns.iter().map(|c| cell(c[i])).collect())
                .collect();
            (t.names, rows)
        } else {
            let bad = |e: String| ApiError::of(Kind::BadCatalog, format!("{public}: {e}"));
            let text = std::fs::read_to_string(&file).map_err(|e| bad(e.to_string()))?;
            parse_csv(&text, room + 1).map_err(bad)?
        };
        if rows.len() > room {
            return Err(ApiError::of(
                Kind::TooLarge,
                format!(
                    "{public} has more than {room} rows, the most this session can still hold \
                     (at most {} per catalog, {} per session)",
                    crate::service::catalog::MAX_ROWS,
                    limits.catalog_rows_session
                ),
            ));
        }
        let w = [&want.ra, &want.dec, &want.x, &want.y].map(|c| c.as_deref());
        Catalog::new(0, public.clone(), columns, rows, w)
            .map_err(|e| ApiError::of(Kind::BadCatalog, format!("{public}: {e}")))
    })
    .await
    .map_err(|_| panicked())??;
    // Rows held by all sessions together are bounded too; they are given back when the catalog is
    // dropped (its session closes).
    let max = limits.catalog_rows_server;
    let hold = RowsHold::take(&state.catalog_rows, cat.rows.len(), max).map_err(|held| {
        let m = format!("the server holds {held} catalog rows of at most {max}; retry later");
        ApiError::of(Kind::Busy, m)
    })?;
    cat.hold = Some(hold);
    Ok(cat)
}

/// `limit` rows (default 100, at most 10,000) from `offset`.
pub fn page(c: &Catalog, offset: Option<usize>, limit: Option<usize>) -> CatalogPage {
    let offset = offset.unwrap_or(0).min(c.rows.len());
    let limit = limit.unwrap_or(100).min(10_000);
    let name = |i: Option<usize>| i.map(|i| c.columns[i].clone());
    CatalogPage {
        catalog: c.id,
        path: c.path.clone(),
        columns: c.columns.clone(),
        total: c.rows.len(),
        offset,
        rows: c.rows.iter().skip(offset).take(limit).cloned().collect(),
        coordinates: CatalogCoordinates {
            ra: name(c.ra),
            dec: name(c.dec),
            x: name(c.x),
            y: name(c.y),
        },
    }
}

/// The row nearest (ra, dec) in degrees, if within `radius` arcseconds (any distance without one).
pub async fn nearest(
    c: Arc<Catalog>,
    ra: f64,
    dec: f64,
    radius: Option<f64>,
) -> Result<CatalogMatch, ApiError> {
    if c.ra.is_none() || c.dec.is_none() {
        return Err(ApiError::of(
            Kind::BadParams,
            "this catalog has no RA/Dec columns",
        ));
    }
    if !(ra.is_finite() && dec.is_finite() && dec.abs() <= 90.0) {
        return Err(ApiError::of(Kind::BadParams, "ra and dec are degrees"));
    }
    let found = tokio::task::spawn_blocking(move || {
        c.nearest(ra, dec)
            .map(|(i, sep)| (i, sep, c.rows[i].clone()))
    })
    .await
    .map_err(|_| ApiError::of(Kind::Panic, "match failed"))?;
    Ok(match found {
        Some((i, sep, row)) if radius.is_none_or(|r| sep <= r) => CatalogMatch {
            index: Some(i),
            separation_arcsec: Some(sep),
            row: Some(row),
        },
        _ => CatalogMatch {
            index: None,
            separation_arcsec: None,
            row: None,
        },
    })
}

/// Pixel positions on `o` of the catalog's rows (RA/Dec, taken as ICRS, through the image's WCS when
/// its frame converts; else the x/y columns), those on the image or within 5 % of it, at most `limit`.
/// Blocking; `cancel` is asked every 4096 rows.
pub fn positions(
    c: &Catalog,
    o: &OpenSource,
    limit: usize,
    cancel: &AtomicBool,
) -> Result<CatalogPositions, ApiError> {
    let img = &*o.src.image;
    let (w, h) = (img.width() as f64, img.height() as f64);
    let num = |row: &Vec<Value>, i: Option<usize>| {
        i.and_then(|i| row[i].as_f64()).filter(|v| v.is_finite())
    };
    let sky = match (c.ra, c.dec, img.wcs()) {
        (Some(_), Some(_), Some(wcs))
            if toyz_fits::convert_frame(0.0, 0.0, "icrs", wcs.frame()).is_some() =>
        {
            Some(wcs)
        }
        _ => None,
    };
    if sky.is_none() && (c.x.is_none() || c.y.is_none()) {
        let m = match (c.ra.is_some(), img.wcs()) {
            (true, Some(wcs)) => format!(
                "cannot place ICRS positions on {}'s {} frame, and the catalog has no x/y columns",
                o.public,
                wcs.frame()
            ),
            (true, None) => format!(
                "{} has no celestial WCS and the catalog has no x/y columns",
                o.public
            ),
            _ => "the catalog has neither RA/Dec nor x/y columns".to_owned(),
        };
        return Err(ApiError::of(Kind::BadParams, m));
    }
    // Rows far from the image are skipped with one dot product instead of a Newton inversion.
    let cap = sky.and_then(|wcs| wcs.cap(w, h, 1.2));
    let mut out = Vec::new();
    let mut truncated = false;
    for (i, row) in c.rows.iter().enumerate() {
        if i % 4096 == 0 && cancel.load(Ordering::Relaxed) {
            return Err(ApiError::of(Kind::Cancelled, "the job was stopped"));
        }
        let xy = match sky {
            Some(wcs) => num(row, c.ra)
                .zip(num(row, c.dec))
                .and_then(|(ra, dec)| toyz_fits::convert_frame(ra, dec, "icrs", wcs.frame()))
                .filter(|&(l, b)| cap.is_none_or(|cap| cap.contains(l, b)))
                .and_then(|(l, b)| toyz_fits::sky_to_pixel(img, l, b).ok()),
            None => num(row, c.x).zip(num(row, c.y)),
        };
        let Some((x, y)) = xy else { continue };
        let near = |v: f64, n: f64| v >= -0.5 - n * 0.05 && v <= n * 1.05 + 0.5;
        if !(near(x, w) && near(y, h)) {
            continue;
        }
        if out.len() == limit {
            truncated = true;
            break;
        }
        out.push((i, x, y));
    }
    Ok(CatalogPositions {
        catalog: c.id,
        by: if sky.is_some() { "sky" } else { "pixel" },
        total: c.rows.len(),
        count: out.len(),
        truncated,
        positions: out,
    })
}
