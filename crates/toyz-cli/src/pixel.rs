//! `toyz pixel`: value and world coordinates at a FITS pixel, or the pixel of a sky position.

use crate::{hdu_arg, Fail};
use std::path::PathBuf;
use toyz_fits::{open_raster_pinned, pixel_at, sky_text, sky_to_pixel, SkyFormat, SkySystem};

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// FITS pixel column (1-based).
    #[arg(allow_hyphen_values = true)]
    x: Option<f64>,
    /// FITS pixel row (1-based, from the bottom).
    #[arg(allow_hyphen_values = true)]
    y: Option<f64>,
    /// Sky position instead: LON LAT in degrees (or RA as hh:mm:ss and Dec as ±dd:mm:ss).
    #[arg(long, num_args = 2, value_names = ["LON", "LAT"], allow_hyphen_values = true, conflicts_with_all = ["x", "y"])]
    sky: Option<Vec<String>>,
    /// HDU index (0 = primary), EXTNAME, or `mosaic` / `mosaic:detsec` for a whole focal plane.
    #[arg(long)]
    hdu: Option<String>,
    #[arg(long, default_value_t = 0)]
    plane: usize,
    /// Sky system of the printed position: native (the header's), icrs, fk5, galactic or ecliptic.
    #[arg(long, default_value = "native")]
    system: String,
    /// sexagesimal or degrees.
    #[arg(long, default_value = "sexagesimal")]
    format: String,
    #[arg(long)]
    json: bool,
}

/// Degrees, or sexagesimal `h:m:s` (hours when `hours`) / `±d:m:s`.
pub fn parse_angle(s: &str, hours: bool) -> Option<f64> {
    let s = s.trim();
    if !s.contains([':', ' ']) {
        return s.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    let neg = s.starts_with('-');
    let parts: Vec<f64> = s
        .trim_start_matches(['+', '-'])
        .split([':', ' '])
        .map(|p| p.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0))
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 3 || parts[1..].iter().any(|&v| v >= 60.0) {
        return None;
    }
    let v = parts[0] + parts.get(1).unwrap_or(&0.0) / 60.0 + parts.get(2).unwrap_or(&0.0) / 3600.0;
    let v = if hours { v * 15.0 } else { v };
    Some(if neg { -v } else { v })
}

pub fn run(a: Args) -> Result<(), Fail> {
    let system: SkySystem = a.system.parse().map_err(Fail::input)?;
    let format: SkyFormat = a.format.parse().map_err(Fail::input)?;
    let sel = hdu_arg(a.hdu.as_deref())?;
    let (file, _unpacked) = crate::open_file(&a.file)?;
    let img = open_raster_pinned(file, &sel, a.plane)?;
    let (x, y) = match (&a.sky, a.x, a.y) {
        (Some(sky), _, _) => {
            let equatorial = !img.wcs().is_some_and(|w| {
                matches!(
                    w.frame(),
                    "galactic" | "ecliptic" | "supergalactic" | "helioecliptic"
                )
            });
            let lon = parse_angle(&sky[0], equatorial).ok_or_else(|| {
                Fail::input(format!("bad longitude '{}': degrees or hh:mm:ss", sky[0]))
            })?;
            let lat = parse_angle(&sky[1], false)
                .filter(|v| v.abs() <= 90.0)
                .ok_or_else(|| {
                    Fail::input(format!(
                        "bad latitude '{}': degrees in [-90, 90] or ±dd:mm:ss",
                        sky[1]
                    ))
                })?;
            sky_to_pixel(&*img, lon, lat)?
        }
        (None, Some(x), Some(y)) => (x, y),
        _ => {
            return Err(Fail::input(
                "give X Y (FITS pixel, 1-based) or --sky LON LAT",
            ))
        }
    };
    let out = pixel_at(&*img, x, y)?;
    let sky = out.world.as_ref().map(|w| {
        sky_text(w, system, format).ok_or_else(|| {
            Fail::input(format!(
                "a {} position does not convert to {}",
                w.frame, a.system
            ))
        })
    });
    let sky = sky.transpose()?;
    if a.json {
        // With the value's exact decimal as `text`, as the server's readout sends it: a double
        // rounds integers beyond 2^53, and JSON has no infinity (value null, text "inf").
        let mut j = serde_json::to_value(&out).expect("json");
        if let Some(v) = out.value {
            j["text"] = serde_json::json!(v.text());
        }
        // The written-out position when asked for a system or format (as image.pixels's `sky`).
        if system != SkySystem::Native || format != SkyFormat::Sexagesimal {
            j["sky"] = serde_json::json!(sky);
        }
        crate::out!("{}", serde_json::to_string(&j).expect("json"));
        return Ok(());
    }
    let value = out
        .value
        .map(|v| v.text())
        .unwrap_or_else(|| "NaN (blank)".into());
    crate::out_part!("x {x}  y {y}  value {value}");
    match &out.ccd {
        Some(Some(c)) => crate::out_part!("  ccd {} (HDU {}) x {} y {}", c.name, c.hdu, c.x, c.y),
        Some(None) => crate::out_part!("  (in a gap between CCDs)"),
        None => {}
    }
    if let Some(t) = &sky {
        crate::out_part!("  {}", t.line());
    }
    crate::out!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles() {
        assert_eq!(parse_angle("150.5", true), Some(150.5));
        assert_eq!(parse_angle("10:00:00", true), Some(150.0));
        assert!((parse_angle("-02:30:00", false).unwrap() + 2.5).abs() < 1e-12);
        assert_eq!(parse_angle("1:61:00", false), None);
        assert_eq!(parse_angle("abc", false), None);
    }
}
