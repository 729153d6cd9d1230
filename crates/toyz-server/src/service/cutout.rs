//! A cutout: a region given by centre (pixels or sky) and size (pixels or arcsec), as FITS with the
//! original header cards and a shifted WCS, or as a PNG rendered with a spec — the link an observer
//! embeds in a log. `GET /api/cutout` (cutout.rs) is its HTTP adapter; the `image.cutout` job
//! answers links to that route.

use crate::auth::Principal;
use crate::error::{fits_error, ApiError};
use crate::service::source::{open_source, SourceQuery};
use crate::state::AppState;
use ndarray::{s, Array2};
use serde::Deserialize;
use std::sync::Arc;
use toyz_fits::Card;

/// Largest cutout side in pixels.
pub const MAX_SIDE: usize = 4096;

#[derive(Deserialize)]
pub struct CutoutQuery {
    pub path: Option<String>,
    pub hdu: Option<String>,
    pub plane: Option<usize>,
    /// Centre, FITS pixels (1-based).
    pub x: Option<f64>,
    pub y: Option<f64>,
    /// Centre, degrees in the image's frame.
    pub ra: Option<f64>,
    pub dec: Option<f64>,
    /// Size in pixels.
    pub w: Option<usize>,
    pub h: Option<usize>,
    /// Size of a square in arcseconds (needs a WCS).
    pub size: Option<f64>,
    /// fits (default) or png.
    pub format: Option<String>,
    pub stretch: Option<String>,
    pub cut: Option<String>,
    pub cmap: Option<String>,
    pub contrast: Option<f64>,
    pub bias: Option<f64>,
    pub invert: Option<bool>,
    pub nan: Option<String>,
    /// PNG only: the view's orientation and turn, as the viewer shows it (`orient=r90`, `angle=30`).
    pub orient: Option<String>,
    pub angle: Option<f64>,
    /// PNG only: the picture's longest side in pixels (never more than the region's own): a region
    /// up to [`MAX_REGION`] pixels on a side then comes from the pyramid's float levels.
    pub max: Option<usize>,
}

/// Largest region side a scaled PNG (`max`) may cover.
pub const MAX_REGION: usize = 65_536;

/// Structural and compression keywords that describe the original HDU, not the cutout.
fn structural(k: &str) -> bool {
    const EXACT: [&str; 12] = [
        "SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO",
        "BLANK", "END", "THEAP",
    ];
    const PREFIX: [&str; 24] = [
        "NAXIS", "CHECKSUM", "DATASUM", "TFIELDS", "TTYPE", "TFORM", "TUNIT", "TNULL", "TSCAL",
        "TZERO", "TDIM", "ZIMAGE", "ZBITPIX", "ZNAXIS", "ZTILE", "ZCMPTYPE", "ZNAME", "ZVAL",
        "ZQUANTIZ", "ZDITHER", "ZSIMPLE", "ZTENSION", "ZEXTEND", "ZHECKSUM",
    ];
    const MORE: [&str; 6] = [
        "ZPCOUNT", "ZGCOUNT", "ZDATASUM", "ZBLANK", "ZSCALE", "ZZERO",
    ];
    EXACT.contains(&k) || PREFIX.iter().any(|p| k.starts_with(p)) || MORE.contains(&k)
}

fn card(key: &str, value: &str, comment: &str) -> String {
    let c = format!("{key:<8}= {value:>20} / {comment}");
    format!("{:<80}", c.chars().take(80).collect::<String>())
}

fn num(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains('e') {
        format!("{v:E}")
    } else {
        s
    }
}

/// FITS bytes: primary HDU, BITPIX −32, the original cards with CRPIX/LTV shifted by (x0, y0) (the
/// cutout's first pixel in the pixels of the HDU the cards describe); (ox, oy) is that pixel in the
/// image the cutout was taken from, for the HISTORY card.
fn fits_bytes(
    cards: &[Card],
    data: &Array2<f32>,
    (x0, y0): (i64, i64),
    (ox, oy): (usize, usize),
    origin: &str,
    notes: &[String],
) -> Vec<u8> {
    let (h, w) = data.dim();
    let mut out: Vec<String> = vec![
        card("SIMPLE", "T", "conforms to FITS standard"),
        card("BITPIX", "-32", "IEEE single precision"),
        card("NAXIS", "2", ""),
        card("NAXIS1", &w.to_string(), ""),
        card("NAXIS2", &h.to_string(), ""),
    ];
    let mut ltv = [false, false];
    for c in cards {
        let k = c.keyword.as_str();
        if structural(k) {
            continue;
        }
        let shifted = |d: i64| -> Option<String> {
            let v: f64 = c.value.as_deref()?.replace(['D', 'd'], "E").parse().ok()?;
            Some(card(
                k,
                &num(v - d as f64),
                c.comment.as_deref().unwrap_or(""),
            ))
        };
        let line = match k {
            "CRPIX1" => shifted(x0),
            "CRPIX2" => shifted(y0),
            "LTV1" => {
                ltv[0] = true;
                shifted(x0)
            }
            "LTV2" => {
                ltv[1] = true;
                shifted(y0)
            }
            _ => None,
        };
        out.push(
            line.unwrap_or_else(|| format!("{:<80}", c.raw.chars().take(80).collect::<String>())),
        );
    }
    // IRAF/DS9 "physical" coordinates keep pointing at the original pixels.
    if !ltv[0] {
        out.push(card(
            "LTV1",
            &num(-(x0 as f64)),
            "cutout offset, physical = image - LTV",
        ));
    }
    if !ltv[1] {
        out.push(card("LTV2", &num(-(y0 as f64)), ""));
    }
    for n in notes {
        for chunk in n.as_bytes().chunks(70) {
            out.push(format!("COMMENT {:<72}", String::from_utf8_lossy(chunk)));
        }
    }
    out.push(format!(
        "{:<80}",
        format!(
            "HISTORY toyz cutout [{}:{},{}:{}] of {origin}",
            ox + 1,
            ox + w,
            oy + 1,
            oy + h
        )
        .chars()
        .take(80)
        .collect::<String>()
    ));
    out.push(format!("{:<80}", "END"));
    let mut bytes: Vec<u8> = out.concat().into_bytes();
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    for v in data.iter() {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
    bytes
}

/// A cutout's bytes and what they are.
pub struct Cutout {
    pub bytes: Vec<u8>,
    /// `application/fits` or `image/png`.
    pub content_type: &'static str,
    /// `cutout.fits` or `cutout.png`.
    pub file_name: &'static str,
}

/// Cut out what `q` asks for, from a file `who` may read.
pub async fn cutout(
    state: &Arc<AppState>,
    who: &Principal,
    q: &CutoutQuery,
) -> Result<Cutout, ApiError> {
    let format = q.format.as_deref().unwrap_or("fits").to_ascii_lowercase();
    if format != "fits" && format != "png" {
        return Err(ApiError::bad_request("format is fits or png"));
    }
    let spec = SourceQuery {
        path: None,
        hdu: None,
        plane: None,
        stretch: q.stretch.clone(),
        cut: q.cut.clone(),
        cmap: q.cmap.clone(),
        contrast: q.contrast,
        bias: q.bias,
        invert: q.invert,
        nan: q.nan.clone(),
        // A cutout is north-up as displayed without a turn: the image as stored.
        orient: None,
        angle: None,
    }
    .spec()?;
    let png_only = q.orient.is_some() || q.angle.is_some() || q.max.is_some();
    if format == "fits" && png_only {
        return Err(ApiError::bad_request(
            "orient, angle and max are for format=png: a FITS cutout is the image as stored",
        ));
    }
    let orient = toyz_pyramid::orient::parse(q.orient.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.0))?;
    let angle = q.angle.unwrap_or(0.0);
    if !angle.is_finite() {
        return Err(ApiError::bad_request("angle is a number of degrees"));
    }
    let angle = angle.rem_euclid(360.0);
    if q.max.is_some_and(|m| m == 0 || m > MAX_SIDE) {
        return Err(ApiError::bad_request(format!(
            "max is the picture's longest side: 1 to {MAX_SIDE} pixels"
        )));
    }
    let open = open_source(state, who, q.path.as_deref(), q.hdu.as_deref(), q.plane).await?;
    let img = &*open.src.image;
    let (cx, cy) = match (q.x, q.y, q.ra, q.dec) {
        (Some(x), Some(y), None, None) => (x, y),
        (None, None, Some(ra), Some(dec)) => {
            toyz_fits::sky_to_pixel(img, ra, dec).map_err(|e| fits_error(e, &open.public))?
        }
        _ => {
            return Err(ApiError::bad_request(
                "give the centre as x and y (FITS pixels) or ra and dec (degrees)",
            ))
        }
    };
    let (w, h) = match (q.w, q.h, q.size) {
        (Some(w), Some(h), None) => (w, h),
        (None, None, Some(arcsec)) => {
            let scale = img
                .wcs()
                .map(|w| w.summary().pixel_scale_arcsec)
                .filter(|s| *s > 0.0)
                .ok_or_else(|| {
                    ApiError::bad_request("size in arcsec needs a WCS; give w and h in pixels")
                })?;
            if !(arcsec.is_finite() && arcsec > 0.0) {
                return Err(ApiError::bad_request(
                    "size must be a positive number of arcseconds",
                ));
            }
            let n = (arcsec / scale).round().max(1.0) as usize;
            (n, n)
        }
        _ => {
            return Err(ApiError::bad_request(
                "give the size as w and h (pixels) or size (arcsec)",
            ))
        }
    };
    // A scaled picture may cover more than it shows.
    let side = if q.max.is_some() {
        MAX_REGION
    } else {
        MAX_SIDE
    };
    if !(cx.is_finite() && cy.is_finite()) || w == 0 || h == 0 || w > side || h > side {
        return Err(ApiError::bad_request(format!(
            "cutouts are 1 to {MAX_SIDE} pixels on a side (up to {MAX_REGION} with max=) with a \
             finite centre"
        )));
    }
    if format == "png" && (q.max.is_some() || orient != 0 || angle != 0.0) {
        return picture(state, open, spec, (cx, cy, w, h), q.max, orient, angle).await;
    }
    // Pixel columns [x0, x0 + w) (0-based), clipped to the image.
    let x0 = (cx - 1.0 - (w as f64 - 1.0) / 2.0).round() as i64;
    let y0 = (cy - 1.0 - (h as f64 - 1.0) / 2.0).round() as i64;
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let (ax, ay) = (x0.max(0), y0.max(0));
    let (bx, by) = ((x0 + w as i64).min(iw), (y0 + h as i64).min(ih));
    if ax >= bx || ay >= by {
        return Err(ApiError::bad_request("the cutout lies outside the image"));
    }
    let (ax, ay, cw, ch) = (
        ax as usize,
        ay as usize,
        (bx - ax) as usize,
        (by - ay) as usize,
    );
    // f32 pixels, their rendered or encoded copies: about 16 bytes a pixel, reserved first.
    let _mem = state.reserve((cw * ch * 16) as u64, "this cutout")?;
    let o2 = open.clone();
    let body = actix_web::web::block(move || -> Result<(Vec<u8>, &'static str), ApiError> {
        let img = &*o2.src.image;
        let mut buf = vec![0f32; cw * ch];
        img.read_rect(ax, ay, cw, ch, &mut buf)
            .map_err(|e| o2.read_error(toyz_pyramid::EngineError::Fits(e)))?;
        // Rows bottom-up as FITS stores them.
        let data = Array2::from_shape_vec((ch, cw), buf).expect("shape");
        if format == "fits" {
            let origin = format!("{}[{}]", o2.public, img.selector());
            let (cx, cy) = ((ax + cw / 2) as f64 + 1.0, (ay + ch / 2) as f64 + 1.0);
            let (cards, shift, notes) = match img.part_header_at(cx, cy) {
                // A mosaic: the cutout carries the WCS of the CCD at its centre, and says so.
                Some((name, header, [dx, dy])) => (
                    header.cards(),
                    (ax as i64 - dx, ay as i64 - dy),
                    vec![format!(
                        "toyz mosaic cutout: the WCS is CCD {name}'s, exact on that CCD; \
                         other CCDs' pixels follow their own WCS"
                    )],
                ),
                None => (img.header().cards(), (ax as i64, ay as i64), vec![]),
            };
            Ok((
                fits_bytes(cards, &data, shift, (ax, ay), &origin, &notes),
                "application/fits",
            ))
        } else {
            let r = o2.renderer(&spec.id(), &spec)?;
            let top_down = data.slice(s![..;-1, ..]);
            let vals: Vec<f32> = top_down.iter().copied().collect();
            let mut idx = vec![0u8; vals.len()];
            r.indices(&vals, &mut idx);
            Ok((r.encode_rect(&idx, cw as u32, ch as u32), "image/png"))
        }
    })
    .await
    .map_err(|_| ApiError::internal("cutout task failed"))??;
    let (bytes, content_type) = body;
    let file_name = if content_type == "image/png" {
        "cutout.png"
    } else {
        "cutout.fits"
    };
    Ok(Cutout {
        bytes,
        content_type,
        file_name,
    })
}

/// A PNG of the view as the viewer shows it: centred on FITS pixel (`cx`, `cy`), `w`×`h` image pixels
/// as displayed (after the orientation `orient` and the turn `angle`, degrees counter-clockwise), at
/// most `max` pixels on its longest side (never more than one per image pixel). Each output pixel is
/// the image pixel at its centre, read from the float level nearest above the picture's scale;
/// outside the image it is transparent, as the viewer shows it.
async fn picture(
    state: &Arc<AppState>,
    open: Arc<crate::sources::OpenSource>,
    spec: toyz_pyramid::RenderSpec,
    (cx, cy, w, h): (f64, f64, usize, usize),
    max: Option<usize>,
    orient: u8,
    angle: f64,
) -> Result<Cutout, ApiError> {
    let g = open.src.geometry;
    let long = w.max(h);
    let target = max.unwrap_or(long).min(long).min(MAX_SIDE);
    let scale = target as f64 / long as f64;
    let (pw, ph) = (
        ((w as f64 * scale).round() as usize).max(1),
        ((h as f64 * scale).round() as usize).max(1),
    );
    // The coarsest level still at least as fine as the picture: a factor f = 2^k ≤ 1 / scale.
    let mut k = 0u32;
    while k < g.zmax && long >> (k + 1) >= target {
        k += 1;
    }
    let (z, f) = (g.zmax - k, (1usize << k) as f64);
    // The image pixels the picture covers: the view turned back into the image (its bounding box).
    let (sn, cs) = angle.to_radians().sin_cos();
    let (bw, bh) = (
        w as f64 * cs.abs() + h as f64 * sn.abs(),
        w as f64 * sn.abs() + h as f64 * cs.abs(),
    );
    let (fw, fh) = if orient & 1 == 1 { (bh, bw) } else { (bw, bh) };
    let (x0, y0) = (cx - 1.0 - fw / 2.0, cy - 1.0 - fh / 2.0);
    let (lw, lh) = g.level_size(z);
    let clamp = |v: f64, n: usize| (v.max(0.0) as usize).min(n);
    let (lx0, lx1) = (
        clamp((x0 / f).floor(), lw),
        clamp(((x0 + fw) / f).ceil() + 1.0, lw),
    );
    let (ly0, ly1) = (
        clamp((y0 / f).floor(), lh),
        clamp(((y0 + fh) / f).ceil() + 1.0, lh),
    );
    if lx0 >= lx1 || ly0 >= ly1 {
        return Err(ApiError::bad_request("the cutout lies outside the image"));
    }
    let (rw, rh) = (lx1 - lx0, ly1 - ly0);
    if z < g.zmax {
        open.wait_for_levels(state.config.level_wait).await?;
    }
    let store = if z < g.zmax {
        open.store(&state.layout)?
    } else {
        None
    };
    let _mem = state.reserve(((rw * rh + pw * ph) * 8) as u64, "this picture")?;
    let o2 = open.clone();
    let bytes = actix_web::web::block(move || -> Result<Vec<u8>, ApiError> {
        let mut level = Vec::new();
        toyz_pyramid::store::level_rect(
            &o2.src,
            store.as_deref(),
            z,
            (lx0, lh - ly1, rw, rh),
            &mut level,
        )
        .map_err(|e| o2.read_error(e))?;
        let (s, c) = (-angle).to_radians().sin_cos();
        let mut shown = vec![f32::NAN; pw * ph];
        for r in 0..ph {
            for col in 0..pw {
                // The output pixel's centre as an offset from the view's centre, in image pixels as
                // displayed (y up); turned back by the angle, then out of the orientation (one
                // counter-clockwise quarter turn showed the image's offset (a, b) at (-b, a)).
                let u = (col as f64 + 0.5 - pw as f64 / 2.0) / scale;
                let v = (ph as f64 / 2.0 - (r as f64 + 0.5)) / scale;
                let (mut a, mut b) = (u * c - v * s, u * s + v * c);
                for _ in 0..(orient & 3) {
                    (a, b) = (b, -a);
                }
                if orient & 4 != 0 {
                    a = -a;
                }
                // FITS pixel n covers n - 0.5 … n + 0.5 (1-based): 0-based position x = cx - 0.5 + a.
                let (x, y) = (cx - 0.5 + a, cy - 0.5 + b);
                if x < 0.0 || y < 0.0 {
                    continue;
                }
                let (lx, ly) = ((x / f).floor() as usize, (y / f).floor() as usize);
                if lx < lx0 || lx >= lx1 || ly < ly0 || ly >= ly1 {
                    continue;
                }
                shown[r * pw + col] = level[(ly1 - 1 - ly) * rw + (lx - lx0)];
            }
        }
        let r = o2.renderer(&spec.id(), &spec)?;
        let mut idx = vec![0u8; shown.len()];
        r.indices(&shown, &mut idx);
        Ok(r.encode_rect(&idx, pw as u32, ph as u32))
    })
    .await
    .map_err(|_| ApiError::internal("cutout task failed"))??;
    Ok(Cutout {
        bytes,
        content_type: "image/png",
        file_name: "cutout.png",
    })
}
