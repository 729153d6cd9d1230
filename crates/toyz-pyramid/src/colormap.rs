//! Colormaps: the published tables (matplotlib, DS9) looked up by name, `_r` reversal, and the 256-entry
//! PNG palette a render uses (entry 0 is the NaN colour, 1..=255 span the map).

use crate::colormap_data::TABLES;
use crate::spec::SpecError;

#[derive(Debug, Clone, Copy)]
pub struct Colormap {
    table: &'static [[u8; 3]; 256],
    reversed: bool,
}

/// Aliases astronomers type.
const ALIASES: [(&str, &str); 2] = [("gray", "grey"), ("greys", "grey")];

/// Palette steps of the colormap: index = 1 + round(s · levels) for s in [0, 1].
pub fn levels(nan: [u8; 4]) -> u32 {
    if nan[3] == 0 {
        254
    } else {
        253
    }
}

/// The palette index of NaN pixels: 0 (transparent, shared with the outside) or 255 with a NaN colour.
pub fn nan_index(nan: [u8; 4]) -> u8 {
    if nan[3] == 0 {
        0
    } else {
        255
    }
}

impl Colormap {
    /// All names (without `_r` variants).
    pub fn names() -> impl Iterator<Item = &'static str> {
        TABLES.iter().map(|(n, _)| *n)
    }

    /// Canonical name for a user spelling (`Gray_r` → `grey_r`), or an error listing the choices.
    pub fn normalise_name(name: &str) -> Result<String, SpecError> {
        let lower = name.trim().to_ascii_lowercase();
        let (base, rev) = match lower.strip_suffix("_r") {
            Some(b) => (b, true),
            None => (lower.as_str(), false),
        };
        let base = ALIASES
            .iter()
            .find(|(a, _)| *a == base)
            .map(|(_, c)| *c)
            .unwrap_or(base);
        if TABLES.iter().any(|(n, _)| *n == base) {
            Ok(if rev {
                format!("{base}_r")
            } else {
                base.to_owned()
            })
        } else {
            let all: Vec<&str> = Self::names().collect();
            Err(SpecError(format!(
                "unknown colormap '{name}' (expected one of {}, optionally with _r)",
                all.join(", ")
            )))
        }
    }

    pub fn get(name: &str) -> Result<Colormap, SpecError> {
        let n = Self::normalise_name(name)?;
        let (base, reversed) = match n.strip_suffix("_r") {
            Some(b) => (b.to_owned(), true),
            None => (n, false),
        };
        let table = &TABLES
            .iter()
            .find(|(t, _)| *t == base)
            .expect("normalised")
            .1;
        Ok(Colormap { table, reversed })
    }

    /// Colour at t ∈ [0, 1], linearly interpolated between table entries.
    pub fn at(&self, t: f64) -> [u8; 3] {
        let t = if self.reversed { 1.0 - t } else { t }.clamp(0.0, 1.0);
        let pos = t * 255.0;
        let i = (pos.floor() as usize).min(254);
        let f = pos - i as f64;
        let (a, b) = (self.table[i], self.table[i + 1]);
        [0, 1, 2].map(|k| (a[k] as f64 + (b[k] as f64 - a[k] as f64) * f).round() as u8)
    }

    /// PLTE and tRNS for an indexed PNG: index 0 = `nan` colour, 1..=255 = the map from 0 to 1.
    /// PNG palette and tRNS of a tile. Without a NaN colour (transparent): index 0 is NaN and what lies
    /// outside the image, 1..=255 the colormap. With one: index 0 stays transparent for the outside,
    /// 1..=254 are the colormap and 255 is NaN (`nan_index`, `levels`).
    pub fn palette(&self, nan: [u8; 4]) -> (Vec<u8>, Vec<u8>) {
        let mut plte = Vec::with_capacity(256 * 3);
        let steps = levels(nan);
        plte.extend_from_slice(if nan[3] == 0 { &nan[..3] } else { &[0, 0, 0] });
        for i in 1..=steps + 1 {
            plte.extend_from_slice(&self.at((i - 1) as f64 / steps as f64));
        }
        if nan[3] == 0 {
            return (plte, vec![0]);
        }
        plte.extend_from_slice(&nan[..3]);
        // tRNS only needs entries up to the last non-opaque one.
        let trns = if nan[3] == 255 {
            vec![0]
        } else {
            let mut t = vec![255; 256];
            t[0] = 0;
            t[255] = nan[3];
            t
        };
        (plte, trns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference colours computed by matplotlib (`cmap(x)`) and from DS9's piecewise definitions
    /// (crates/toyz-pyramid/tools/gen_colormaps.py), independently of the tables.
    #[test]
    fn tables_match_published_definitions() {
        let refs: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/colormap_refs.json")).unwrap();
        for (name, points) in refs.as_object().unwrap() {
            let cm = Colormap::get(name).unwrap();
            let ds9 = ["heat", "rainbow", "ds9cool", "a", "b", "bb", "he"].contains(&name.as_str());
            for p in points.as_array().unwrap() {
                let p: Vec<f64> = p
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                let x = p[0];
                let got: [f64; 3] = if ds9 {
                    cm.at(x).map(|c| c as f64 / 255.0)
                } else {
                    // matplotlib looks up entry floor(x·256) without interpolating.
                    cm.table[((x * 256.0) as usize).min(255)].map(|c| c as f64 / 255.0)
                };
                for k in 0..3 {
                    assert!(
                        (got[k] - p[k + 1]).abs() <= 1.0 / 255.0 + 1e-9,
                        "{name} at {x}: {got:?} vs {:?}",
                        &p[1..]
                    );
                }
            }
        }
    }

    #[test]
    fn viridis_endpoints_are_matplotlibs() {
        let v = Colormap::get("viridis").unwrap();
        // matplotlib _viridis_data[0] = (0.267004, 0.004874, 0.329415), [-1] = (0.993248, 0.906157, 0.143936)
        assert_eq!(v.at(0.0), [68, 1, 84]);
        assert_eq!(v.at(1.0), [253, 231, 37]);
        let r = Colormap::get("viridis_r").unwrap();
        assert_eq!(r.at(0.0), [253, 231, 37]);
    }

    #[test]
    fn names_and_aliases() {
        assert_eq!(Colormap::normalise_name("Gray").unwrap(), "grey");
        assert_eq!(Colormap::normalise_name("heat_r").unwrap(), "heat_r");
        let e = Colormap::normalise_name("nope").unwrap_err();
        assert!(e.0.contains("viridis"));
        assert!(Colormap::normalise_name("viridis_r_r").is_err());
    }

    #[test]
    fn palette_layout() {
        let (plte, trns) = Colormap::get("grey").unwrap().palette([0, 0, 0, 0]);
        assert_eq!(plte.len(), 768);
        assert_eq!(&plte[3..6], &[0, 0, 0]);
        assert_eq!(&plte[765..768], &[255, 255, 255]);
        assert_eq!(trns, vec![0]);
    }
}
