//! The pixel readout shared by `toyz pixel` and the HTTP API: the value at a FITS pixel and its world
//! coordinates, as one serialisable record `{"x","y","value","world"}`.

use crate::error::{FitsError, Result};
use crate::image::Image;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct World {
    pub frame: String,
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PixelValue {
    pub x: f64,
    pub y: f64,
    /// None for NaN/BLANK pixels.
    pub value: Option<f32>,
    /// None without a celestial WCS.
    pub world: Option<World>,
}

/// Value and sky position at FITS pixel (`x`, `y`) (1-based; a fractional position reads the pixel that
/// contains it: pixel n covers n − 0.5 .. n + 0.5).
pub fn pixel_at(img: &Image, x: f64, y: f64) -> Result<PixelValue> {
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
    let v = img.value(ix as usize - 1, iy as usize - 1)?;
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
        value: v.is_finite().then_some(v),
        world,
    })
}

/// The FITS pixel of a sky position (degrees in the image's frame), if the image has a celestial WCS
/// and the position projects onto its plane.
pub fn sky_to_pixel(img: &Image, lon: f64, lat: f64) -> Result<(f64, f64)> {
    let wcs = img.wcs().ok_or_else(|| {
        FitsError::Wcs(format!(
            "{}: HDU {} has no usable celestial WCS{}",
            img.path().display(),
            img.hdu(),
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
