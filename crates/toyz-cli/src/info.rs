//! `toyz info`: what a FITS file holds, and statistics of the chosen image.

use crate::{hdu_arg, print_json, Fail};
use serde::Serialize;
use std::path::PathBuf;
use toyz_fits::{HduSummary, MosaicInfo, WcsSummary};
use toyz_pyramid::{Geometry, Source, Stats};

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// HDU index (0 = primary) or EXTNAME; `mosaic` (CCDs placed by WCS) or `mosaic:detsec` (by
    /// DETSEC) for a whole focal plane; default: the first HDU with an image.
    #[arg(long)]
    hdu: Option<String>,
    /// Plane of a cube (0-based).
    #[arg(long, default_value_t = 0)]
    plane: usize,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Info<'a> {
    path: PathBuf,
    hdus: &'a [HduSummary],
    hdu: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    mosaic: Option<&'a MosaicInfo>,
    plane: usize,
    planes: usize,
    width: usize,
    height: usize,
    bitpix: i32,
    compressed: bool,
    bscale: f64,
    bzero: f64,
    blank: Option<i64>,
    bunit: Option<&'a str>,
    wcs: Option<&'a WcsSummary>,
    wcs_error: Option<&'a str>,
    zmax: u32,
    tiles: u64,
    stats: &'a Stats,
}

pub fn run(a: Args) -> Result<(), Fail> {
    let sel = hdu_arg(a.hdu.as_deref())?;
    let (file, _unpacked) = crate::open_file(&a.file)?;
    let src = Source::open_pinned(file, &sel, a.plane)?;
    let img = &*src.image;
    let (bscale, bzero, blank) = img.scaling();
    let g: Geometry = src.geometry;
    let info = Info {
        path: a.file.clone(),
        hdus: img.hdus(),
        hdu: img.hdu(),
        mosaic: img.mosaic(),
        plane: img.plane(),
        planes: img.planes(),
        width: img.width(),
        height: img.height(),
        bitpix: img.bitpix(),
        compressed: img.compressed(),
        bscale,
        bzero,
        blank,
        bunit: img.bunit(),
        wcs: img.wcs().map(|w| w.summary()),
        wcs_error: img.wcs_error(),
        zmax: g.zmax,
        tiles: g.tile_count(0, g.zmax),
        stats: &src.stats,
    };
    if a.json {
        print_json(&info);
        return Ok(());
    }
    crate::out!("{}", a.file.display());
    crate::out!("  HDU  EXTNAME           kind    BITPIX  dims");
    for h in info.hdus {
        let mark = if h.index == info.hdu { '*' } else { ' ' };
        let dims: Vec<String> = h.dims.iter().map(|d| d.to_string()).collect();
        let kind = match (h.kind, h.compressed) {
            (toyz_fits::HduKind::Image, true) => "image.fz",
            (toyz_fits::HduKind::Image, false) => "image",
            (toyz_fits::HduKind::Table, _) => "table",
        };
        crate::out!(
            "{mark} {:>3}  {:<16}  {:<8} {:>5}  {}",
            h.index,
            h.extname.as_deref().unwrap_or("-"),
            kind,
            h.bitpix
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".into()),
            if h.kind == toyz_fits::HduKind::Table {
                format!("{} columns x {} rows", h.dims[0], h.dims[1])
            } else {
                dims.join(" x ")
            }
        );
    }
    crate::out!();
    if let Some(m) = info.mosaic {
        crate::out!(
            "mosaic     {} CCDs placed by {}: {} x {} px",
            m.ccds.len(),
            m.layout.to_uppercase(),
            info.width,
            info.height
        );
        for c in &m.ccds {
            crate::out!(
                "           {:<8} HDU {:>3}  at x0 {:>6} y0 {:>6}  {} x {}",
                c.name,
                c.hdu,
                c.x0,
                c.y0,
                c.width,
                c.height
            );
        }
    }
    crate::out!(
        "image      HDU {}{}: {} x {} px, BITPIX {}{}",
        info.hdu,
        if info.planes > 1 {
            format!(" plane {} of {}", info.plane, info.planes)
        } else {
            String::new()
        },
        info.width,
        info.height,
        info.bitpix,
        if info.compressed {
            " (tile-compressed)"
        } else {
            ""
        }
    );
    crate::out!(
        "scaling    BSCALE {}  BZERO {}  BLANK {}",
        bscale,
        bzero,
        blank.map(|b| b.to_string()).unwrap_or_else(|| "-".into())
    );
    if let Some(u) = info.bunit {
        crate::out!("unit       {u}");
    }
    match (info.wcs, info.wcs_error) {
        (Some(w), _) => {
            let c = w
                .center
                .map(|[a, b]| format!("{a:.6} {b:+.6}"))
                .unwrap_or_default();
            crate::out!(
                "wcs        {} {}/{}  centre {}  {:.4}\"/px",
                w.frame,
                w.ctype[0],
                w.ctype[1],
                c,
                w.pixel_scale_arcsec
            );
            if let Some(n) = &w.note {
                crate::out!("           note: {n}");
            }
        }
        (None, Some(e)) => crate::out!("wcs        unusable: {e}"),
        (None, None) => crate::out!("wcs        none"),
    }
    let s = info.stats;
    let f = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_else(|| "-".into());
    crate::out!(
        "stats      min {}  max {}  mean {}  median {}  std {}  (sample of {} px, {} NaN{})",
        f(s.min),
        f(s.max),
        f(s.mean),
        f(s.median),
        f(s.std),
        s.sample_size,
        s.sample_nan,
        if s.sample_inf > 0 {
            format!(", {} inf", s.sample_inf)
        } else {
            String::new()
        }
    );
    if let Some([a, b]) = s.zscale {
        crate::out!("zscale     {a:.6} .. {b:.6}");
    }
    let pct: Vec<String> = s
        .percentiles
        .iter()
        .map(|[p, v]| format!("{p}%={v:.4}"))
        .collect();
    crate::out!("percentile {}", pct.join("  "));
    crate::out!(
        "pyramid    zmax {}  {} tiles of 256 px",
        info.zmax,
        info.tiles
    );
    Ok(())
}
