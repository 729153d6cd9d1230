//! `toyz pixel`: value and world coordinates at a FITS pixel, or the pixel of a sky position.

use crate::{hdu_arg, Fail};
use std::path::PathBuf;
use toyz_fits::{open_raster_pinned, pixel_at, sky_to_pixel};

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
    if a.json {
        // With the value's exact decimal as `text`, as the server's readout sends it: a double
        // rounds integers beyond 2^53, and JSON has no infinity (value null, text "inf").
        let mut j = serde_json::to_value(&out).expect("json");
        if let Some(v) = out.value {
            j["text"] = serde_json::json!(v.text());
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
    if let Some(w) = &out.world {
        if matches!(w.frame.as_str(), "icrs" | "fk5" | "fk4") {
            crate::out_part!(
                "  {} {}  ({:.7} {:+.7} {})",
                sexa(w.lon / 15.0, false),
                sexa(w.lat, true),
                w.lon,
                w.lat,
                w.frame
            );
        } else {
            let (a, b) = match w.frame.as_str() {
                "galactic" => ("l", "b"),
                "ecliptic" | "helioecliptic" => ("λ", "β"),
                _ => ("lon", "lat"),
            };
            crate::out_part!("  {a} {:.7} {b} {:+.7} ({})", w.lon, w.lat, w.frame);
        }
    }
    crate::out!();
    Ok(())
}

/// hh:mm:ss.sss or ±dd:mm:ss.ss.
pub fn sexa(v: f64, signed: bool) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    let a = v.abs();
    let d = a.floor();
    let m = ((a - d) * 60.0).floor();
    let s = ((a - d) * 60.0 - m) * 60.0;
    // Carry when the seconds would print as 60.
    let limit = if signed { 59.995 } else { 59.9995 };
    let (d, m, s) = match (s >= limit, m + 1.0 >= 60.0) {
        (false, _) => (d, m, s),
        (true, false) => (d, m + 1.0, 0.0),
        (true, true) => (d + 1.0, 0.0, 0.0),
    };
    if signed {
        format!("{sign}{d:02}:{m:02}:{s:05.2}")
    } else {
        format!("{d:02}:{m:02}:{s:06.3}")
    }
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
        assert_eq!(sexa(150.0 / 15.0, false), "10:00:00.000");
        assert_eq!(sexa(-2.5, true), "-02:30:00.00");
    }
}
