//! Sky positions as people read them: converted to the system asked for (the image's own, ICRS, FK5,
//! galactic or ecliptic) and written sexagesimal or in degrees. This one formatter serves `toyz pixel`,
//! the server's readout (and through it the viewer). Every field is rounded once, as a whole number of its
//! last digit, before it is split: a position never prints as `59:60.000` or `360.0000000`.

use crate::graticule::convert_frame;
use crate::pixel::World;
use serde::{Deserialize, Serialize};

/// The coordinate system a readout is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkySystem {
    /// The header's own frame (RADESYS / CTYPE).
    #[default]
    Native,
    Icrs,
    Fk5,
    Galactic,
    /// Mean ecliptic and equinox of J2000 (IAU 2006 obliquity), as astropy's BarycentricMeanEcliptic.
    Ecliptic,
}

impl std::str::FromStr for SkySystem {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "native" => SkySystem::Native,
            "icrs" => SkySystem::Icrs,
            "fk5" | "j2000" => SkySystem::Fk5,
            "galactic" => SkySystem::Galactic,
            "ecliptic" => SkySystem::Ecliptic,
            _ => {
                return Err(format!(
                    "unknown sky system '{s}': native, icrs, fk5, galactic or ecliptic"
                ))
            }
        })
    }
}

/// Sexagesimal (`hh:mm:ss.sss` for right ascension, `±dd:mm:ss.ss` otherwise) or decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkyFormat {
    #[default]
    Sexagesimal,
    Degrees,
}

impl std::str::FromStr for SkyFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sexagesimal" | "sexa" | "hms" => Ok(SkyFormat::Sexagesimal),
            "degrees" | "deg" => Ok(SkyFormat::Degrees),
            _ => Err(format!("unknown sky format '{s}': sexagesimal or degrees")),
        }
    }
}

/// A position in the system asked for, with its two coordinates written out and their names.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct SkyText {
    pub frame: String,
    pub lon: f64,
    pub lat: f64,
    /// "α"/"δ", "l"/"b", "λ"/"β", or "lon"/"lat".
    pub names: [&'static str; 2],
    pub lon_text: String,
    pub lat_text: String,
}

impl SkyText {
    /// `α 10:00:00.000 δ +02:30:00.00 (icrs)`.
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} ({})",
            self.names[0], self.lon_text, self.names[1], self.lat_text, self.frame
        )
    }
}

fn equatorial(frame: &str) -> bool {
    matches!(frame, "icrs" | "fk5" | "fk4" | "j2000")
}

/// `world` (in its header's frame) in `system`, written in `format`; None when the frames have no
/// conversion here (FK4 and the supergalactic and helioecliptic frames convert to nothing else).
pub fn sky_text(world: &World, system: SkySystem, format: SkyFormat) -> Option<SkyText> {
    let frame = match system {
        SkySystem::Native => world.frame.as_str(),
        SkySystem::Icrs => "icrs",
        SkySystem::Fk5 => "fk5",
        SkySystem::Galactic => "galactic",
        SkySystem::Ecliptic => "ecliptic",
    };
    let (lon, lat) = convert_frame(world.lon, world.lat, &world.frame, frame)?;
    let names = if equatorial(frame) {
        ["α", "δ"]
    } else {
        match frame {
            "galactic" | "supergalactic" => ["l", "b"],
            "ecliptic" | "helioecliptic" => ["λ", "β"],
            _ => ["lon", "lat"],
        }
    };
    let (lon_text, lat_text) = match format {
        SkyFormat::Sexagesimal if equatorial(frame) => (hms(lon), dms(lat)),
        SkyFormat::Sexagesimal => (dms_lon(lon), dms(lat)),
        SkyFormat::Degrees => (degrees_lon(lon), degrees_lat(lat)),
    };
    Some(SkyText {
        frame: frame.to_owned(),
        lon,
        lat,
        names,
        lon_text,
        lat_text,
    })
}

/// Three sexagesimal fields of `total` units of 1/`per_sec` second, the last with `decimals` digits.
fn fields(total: u64, per_sec: u64, decimals: usize, first_width: usize) -> String {
    let unit = 60 * per_sec;
    let a = total / (60 * unit);
    let m = (total / unit) % 60;
    let s = total % unit;
    let (whole, frac) = (s / per_sec, s % per_sec);
    format!("{a:0first_width$}:{m:02}:{whole:02}.{frac:0decimals$}")
}

/// Right ascension in hours, to the millisecond of time (15 mas): `hh:mm:ss.sss`.
pub fn hms(lon_deg: f64) -> String {
    let total = (lon_deg / 15.0 * 3600.0 * 1000.0).round() as i64;
    fields(total.rem_euclid(86_400_000) as u64, 1000, 3, 2)
}

/// A latitude (or declination) to the centi-arcsecond: `±dd:mm:ss.ss`.
pub fn dms(lat_deg: f64) -> String {
    let total = (lat_deg.abs() * 3600.0 * 100.0).round() as u64;
    let sign = if lat_deg < 0.0 && total > 0 { '-' } else { '+' };
    format!("{sign}{}", fields(total, 100, 2, 2))
}

/// A longitude in degrees (galactic, ecliptic) to the centi-arcsecond: `ddd:mm:ss.ss` in [0, 360).
pub fn dms_lon(lon_deg: f64) -> String {
    let total = (lon_deg * 3600.0 * 100.0).round() as i64;
    fields(total.rem_euclid(360 * 3600 * 100) as u64, 100, 2, 3)
}

/// Decimal degrees to 1e-7° (0.36 mas), longitude in [0, 360).
pub fn degrees_lon(lon_deg: f64) -> String {
    let total = (lon_deg * 1e7).round() as i64;
    let t = total.rem_euclid(3_600_000_000);
    format!("{}.{:07}", t / 10_000_000, t % 10_000_000)
}

/// Decimal degrees to 1e-7°, signed.
pub fn degrees_lat(lat_deg: f64) -> String {
    let total = (lat_deg.abs() * 1e7).round() as u64;
    let sign = if lat_deg < 0.0 && total > 0 { '-' } else { '+' };
    format!("{sign}{}.{:07}", total / 10_000_000, total % 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(frame: &str, lon: f64, lat: f64) -> World {
        World {
            frame: frame.into(),
            lon,
            lat,
        }
    }

    #[test]
    fn never_sixty() {
        // Just under a whole hour / degree / 360: the carry reaches every field.
        assert_eq!(hms(150.0), "10:00:00.000");
        assert_eq!(hms(150.0 - 1e-9), "10:00:00.000");
        assert_eq!(hms(360.0 - 1e-9), "00:00:00.000");
        assert_eq!(hms(-1e-9), "00:00:00.000");
        assert_eq!(hms(14.999_9), "00:59:59.976");
        assert_eq!(dms(29.999_999_999), "+30:00:00.00");
        assert_eq!(dms(-2.5), "-02:30:00.00");
        assert_eq!(dms(-1e-9), "+00:00:00.00");
        assert_eq!(dms(-90.0), "-90:00:00.00");
        assert_eq!(dms_lon(359.999_999_999), "000:00:00.00");
        assert_eq!(dms_lon(12.5), "012:30:00.00");
        assert_eq!(degrees_lon(359.999_999_99), "0.0000000");
        assert_eq!(degrees_lon(-0.5), "359.5000000");
        assert_eq!(degrees_lat(-0.000_000_01), "+0.0000000");
        assert_eq!(degrees_lat(-12.345_678_91), "-12.3456789");
        // Every value in a fine sweep across field boundaries keeps its fields below 60.
        for k in 0..20_000 {
            let v = 59.0 / 60.0 + k as f64 * 1e-9;
            for t in [hms(v * 15.0), dms(v), dms_lon(v)] {
                let secs: f64 = t.rsplit(':').next().unwrap().parse().unwrap();
                let mins: u32 = t.split(':').nth(1).unwrap().parse().unwrap();
                assert!(secs < 60.0 && mins < 60, "{t}");
            }
        }
    }

    #[test]
    fn systems() {
        let sirius = w("icrs", 101.287_155_33, -16.716_115_86);
        let t = sky_text(&sirius, SkySystem::Native, SkyFormat::Sexagesimal).unwrap();
        assert_eq!(t.line(), "α 06:45:08.917 δ -16:42:58.02 (icrs)");
        // astropy 8.0.2: SkyCoord(101.28715533, -16.71611586, unit='deg').galactic and
        // .transform_to(BarycentricMeanEcliptic()). astropy goes through FK5 with the ICRS frame bias
        // (about 20 mas), which this conversion leaves out, as it treats FK5 and ICRS as one.
        let g = sky_text(&sirius, SkySystem::Galactic, SkyFormat::Degrees).unwrap();
        assert_eq!((g.names, g.frame.as_str()), (["l", "b"], "galactic"));
        let mas = 1.0 / 3.6e6;
        assert!(
            (g.lon - 227.230_291_258).abs() < 30.0 * mas
                && (g.lat + 8.890_281_209).abs() < 30.0 * mas,
            "{g:?}"
        );
        let e = sky_text(&sirius, SkySystem::Ecliptic, SkyFormat::Sexagesimal).unwrap();
        assert_eq!(e.names, ["λ", "β"]);
        assert!(
            (e.lon - 104.081_669_113).abs() < 50.0 * mas
                && (e.lat + 39.605_237_636).abs() < 50.0 * mas,
            "{e:?}"
        );
        // And back: a galactic image read out in ICRS.
        let back = sky_text(
            &w("galactic", g.lon, g.lat),
            SkySystem::Icrs,
            SkyFormat::Degrees,
        )
        .unwrap();
        assert!((back.lon - sirius.lon).abs() < 1e-9 && (back.lat - sirius.lat).abs() < 1e-9);
        let e2 = sky_text(
            &w("ecliptic", e.lon, e.lat),
            SkySystem::Fk5,
            SkyFormat::Degrees,
        )
        .unwrap();
        assert!((e2.lon - sirius.lon).abs() < 1e-9 && (e2.lat - sirius.lat).abs() < 1e-9);
        // FK4 converts to nothing else here.
        assert!(sky_text(
            &w("fk4", 10.0, 10.0),
            SkySystem::Galactic,
            SkyFormat::Degrees
        )
        .is_none());
        assert!("bogus".parse::<SkySystem>().is_err());
        assert_eq!("deg".parse::<SkyFormat>(), Ok(SkyFormat::Degrees));
    }
}
