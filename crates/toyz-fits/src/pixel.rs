//! The pixel readout shared by `toyz pixel`, the HTTP API and the jobs: the exact value at a FITS pixel,
//! its world coordinates and (in a mosaic) its CCD, as one record `{"x","y","value","world","ccd"}`.

use crate::error::{FitsError, Result};
use crate::raster::{CcdPixel, Raster, Value};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct World {
    pub frame: String,
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct PixelValue {
    pub x: f64,
    pub y: f64,
    /// The stored value exactly (integers as integers, doubles in full); None for NaN/BLANK pixels and
    /// gaps between CCDs.
    #[schemars(with = "Option<f64>")]
    pub value: Option<Value>,
    /// None without a celestial WCS.
    pub world: Option<World>,
    /// In a mosaic: the CCD under the pixel (1-based pixel in that CCD), null in a gap. Absent for a
    /// single HDU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ccd: Option<Option<CcdPixel>>,
}

/// Value and sky position at FITS pixel (`x`, `y`) (1-based; a fractional position reads the pixel that
/// contains it: pixel n covers n − 0.5 .. n + 0.5).
pub fn pixel_at(img: &dyn Raster, x: f64, y: f64) -> Result<PixelValue> {
    let (ix, iy) = (x.round(), y.round());
    if !x.is_finite()
        || !y.is_finite()
        || ix < 1.0
        || iy < 1.0
        || ix > img.width() as f64
        || iy > img.height() as f64
    {
        return Err(FitsError::PixelOutside {
            x,
            y,
            width: img.width(),
            height: img.height(),
        });
    }
    let value = img.value(ix as usize - 1, iy as usize - 1)?;
    let world = img.wcs().and_then(|w| {
        w.pixel_to_world(x, y).map(|(lon, lat)| World {
            frame: w.frame().to_owned(),
            lon,
            lat,
        })
    });
    Ok(PixelValue {
        x,
        y,
        value,
        world,
        ccd: img.mosaic().map(|_| img.locate(x, y)),
    })
}

/// The FITS pixel of a sky position (degrees in the image's frame), if the image has a celestial WCS
/// and the position projects onto its plane.
pub fn sky_to_pixel(img: &dyn Raster, lon: f64, lat: f64) -> Result<(f64, f64)> {
    let wcs = img.wcs().ok_or_else(|| {
        FitsError::Wcs(format!(
            "{}: HDU {} has no usable celestial WCS{}",
            img.path().display(),
            img.selector(),
            img.wcs_error()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ))
    })?;
    if !lon.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(FitsError::Wcs(format!("invalid sky position {lon} {lat}")));
    }
    wcs.world_to_pixel(lon, lat).ok_or_else(|| {
        FitsError::Wcs(format!(
            "sky position {lon} {lat} cannot be projected onto this image"
        ))
    })
}
