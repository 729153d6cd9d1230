//! The render spec: stretch, cut, colormap, contrast/bias, invert, NaN colour. Parsed from the syntax
//! shared by CLI and API, with one normal form whose hash is the render id in tile URLs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// Stretch functions on the normalised value t ∈ [0, 1] (astropy.visualization definitions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Stretch {
    Linear,
    Sqrt,
    Squared,
    /// log(a·t + 1) / log(a + 1); DS9 and astropy use a = 1000.
    Log {
        a: f64,
    },
    /// t^p.
    Power {
        p: f64,
    },
    /// asinh(t/a) / asinh(1/a); astropy's default a = 0.1.
    Asinh {
        a: f64,
    },
    /// sinh(t/a) / sinh(1/a); astropy's default a = 1/3.
    Sinh {
        a: f64,
    },
    /// Histogram equalisation over the cut range.
    Histeq,
}

impl Stretch {
    pub fn apply(&self, t: f64) -> f64 {
        match *self {
            Stretch::Linear | Stretch::Histeq => t,
            Stretch::Sqrt => t.sqrt(),
            Stretch::Squared => t * t,
            Stretch::Log { a } => (a * t + 1.0).ln() / (a + 1.0).ln(),
            Stretch::Power { p } => t.powf(p),
            Stretch::Asinh { a } => (t / a).asinh() / (1.0 / a).asinh(),
            Stretch::Sinh { a } => (t / a).sinh() / (1.0 / a).sinh(),
        }
    }
}

/// How the lo/hi cut levels are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Cut {
    MinMax,
    /// IRAF's zscale (contrast 0.25).
    Zscale,
    /// Lower and upper percentiles (0–100).
    Percentile {
        lo: f64,
        hi: f64,
    },
    /// Fixed levels in physical units.
    Range {
        lo: f64,
        hi: f64,
    },
}

/// A full render specification. `Default` is what DS9 users expect for optical images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderSpec {
    pub stretch: Stretch,
    pub cut: Cut,
    /// Colormap name; a `_r` suffix reverses it.
    pub cmap: String,
    /// DS9 contrast (1 = neutral) and bias (0.5 = neutral).
    pub contrast: f64,
    pub bias: f64,
    pub invert: bool,
    /// RGBA of NaN and blank pixels (transparent by default).
    pub nan: [u8; 4],
    /// The view's orientation: one of the 8 flips and quarter turns (`orient::NAMES`); 0 is the image as
    /// stored. Tiles are addressed in the oriented image.
    #[serde(default, skip_serializing_if = "crate::orient::is_none")]
    pub orient: u8,
    /// A further turn of the view, degrees counter-clockwise, about the image's centre (after `orient`):
    /// the display is the turned image's bounding box, each pixel the nearest image pixel.
    #[serde(default, skip_serializing_if = "crate::orient::is_zero")]
    pub angle: f64,
}

impl Default for RenderSpec {
    fn default() -> Self {
        RenderSpec {
            stretch: Stretch::Linear,
            cut: Cut::Zscale,
            cmap: "grey".into(),
            contrast: 1.0,
            bias: 0.5,
            invert: false,
            nan: [0, 0, 0, 0],
            orient: 0,
            angle: 0.0,
        }
    }
}

fn num(s: &str, what: &str) -> Result<f64, SpecError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| SpecError(format!("{what}: '{s}' is not a number")))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(SpecError(format!("{what}: '{s}' is not a finite number")))
    }
}

fn split_arg(s: &str) -> (&str, Option<&str>) {
    match s.split_once(['=', ':']) {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

pub fn parse_stretch(s: &str) -> Result<Stretch, SpecError> {
    let (name, arg) = split_arg(s.trim());
    let positive = |default: f64, what: &str| -> Result<f64, SpecError> {
        match arg {
            None => Ok(default),
            Some(a) => {
                let v = num(a, what)?;
                if v > 0.0 {
                    Ok(v)
                } else {
                    Err(SpecError(format!("{what}: parameter must be > 0, got {a}")))
                }
            }
        }
    };
    let st = match name.to_ascii_lowercase().as_str() {
        "linear" => Stretch::Linear,
        "sqrt" => Stretch::Sqrt,
        "squared" => Stretch::Squared,
        "histeq" | "histequ" => Stretch::Histeq,
        "log" => Stretch::Log {
            a: positive(1000.0, "stretch log")?,
        },
        "power" | "pow" => Stretch::Power {
            p: positive(3.0, "stretch power")?,
        },
        "asinh" => Stretch::Asinh {
            a: positive(0.1, "stretch asinh")?,
        },
        "sinh" => Stretch::Sinh {
            a: positive(1.0 / 3.0, "stretch sinh")?,
        },
        _ => {
            return Err(SpecError(format!(
                "unknown stretch '{s}' (expected linear, sqrt, squared, log[=A], power[=P], asinh[=A], sinh[=A] or histeq)"
            )))
        }
    };
    if arg.is_some()
        && matches!(
            st,
            Stretch::Linear | Stretch::Sqrt | Stretch::Squared | Stretch::Histeq
        )
    {
        return Err(SpecError(format!("stretch '{name}' takes no parameter")));
    }
    Ok(st)
}

pub fn parse_cut(s: &str) -> Result<Cut, SpecError> {
    let (name, arg) = split_arg(s.trim());
    let pair = |a: &str, what: &str| -> Result<(f64, f64), SpecError> {
        let (x, y) = a
            .split_once(',')
            .ok_or_else(|| SpecError(format!("{what}: expected two numbers LO,HI, got '{a}'")))?;
        Ok((num(x, what)?, num(y, what)?))
    };
    let cut = match (name.to_ascii_lowercase().as_str(), arg) {
        ("minmax", None) => Cut::MinMax,
        ("zscale", None) => Cut::Zscale,
        ("percentile", Some(a)) => {
            let (lo, hi) = if a.contains(',') {
                pair(a, "cut percentile")?
            } else {
                let p = num(a, "cut percentile")?;
                ((100.0 - p) / 2.0, 100.0 - (100.0 - p) / 2.0)
            };
            if !(0.0..=100.0).contains(&lo) || !(0.0..=100.0).contains(&hi) || lo >= hi {
                return Err(SpecError(format!(
                    "cut percentile: need 0 <= LO < HI <= 100 (or one central percentile P in (0, 100]), got '{a}'"
                )));
            }
            Cut::Percentile { lo, hi }
        }
        ("range", Some(a)) => {
            let (lo, hi) = pair(a, "cut range")?;
            if lo >= hi {
                return Err(SpecError(format!("cut range: LO must be below HI, got '{a}'")));
            }
            Cut::Range { lo, hi }
        }
        ("percentile" | "range", None) => {
            return Err(SpecError(format!("cut '{name}' needs a value: {name}=…")));
        }
        ("minmax" | "zscale", Some(_)) => {
            return Err(SpecError(format!("cut '{name}' takes no parameter")));
        }
        _ => {
            return Err(SpecError(format!(
                "unknown cut '{s}' (expected minmax, zscale, percentile=P, percentile=LO,HI or range=LO,HI)"
            )))
        }
    };
    Ok(cut)
}

/// Parse an RGBA colour: `transparent`, `#rrggbb`, `#rrggbbaa`, or a few names.
pub fn parse_colour(s: &str) -> Result<[u8; 4], SpecError> {
    let t = s.trim().to_ascii_lowercase();
    let named = match t.as_str() {
        "transparent" | "none" => Some([0, 0, 0, 0]),
        "black" => Some([0, 0, 0, 255]),
        "white" => Some([255, 255, 255, 255]),
        "red" => Some([255, 0, 0, 255]),
        "green" => Some([0, 255, 0, 255]),
        "blue" => Some([0, 0, 255, 255]),
        "magenta" => Some([255, 0, 255, 255]),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    let hex = t.strip_prefix('#').unwrap_or(&t);
    let bad = || {
        SpecError(format!(
            "colour '{s}': use transparent, a name, #rrggbb or #rrggbbaa"
        ))
    };
    if !(hex.len() == 6 || hex.len() == 8) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let b = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
    Ok([
        b(0)?,
        b(2)?,
        b(4)?,
        if hex.len() == 8 { b(6)? } else { 255 },
    ])
}

impl RenderSpec {
    /// Build a spec from the optional pieces of the shared syntax; absent pieces keep their defaults.
    pub fn parse(
        stretch: Option<&str>,
        cut: Option<&str>,
        cmap: Option<&str>,
    ) -> Result<RenderSpec, SpecError> {
        let mut s = RenderSpec::default();
        if let Some(v) = stretch {
            s.stretch = parse_stretch(v)?;
        }
        if let Some(v) = cut {
            s.cut = parse_cut(v)?;
        }
        if let Some(v) = cmap {
            s.cmap = crate::colormap::Colormap::normalise_name(v)?;
        }
        Ok(s)
    }

    /// Check ranges of the numeric settings.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(self.contrast.is_finite() && self.contrast >= 0.0 && self.contrast <= 100.0) {
            return Err(SpecError(format!(
                "contrast must be in [0, 100], got {}",
                self.contrast
            )));
        }
        if !(self.bias.is_finite() && (0.0..=1.0).contains(&self.bias)) {
            return Err(SpecError(format!(
                "bias must be in [0, 1], got {}",
                self.bias
            )));
        }
        crate::colormap::Colormap::normalise_name(&self.cmap)?;
        if !(self.angle.is_finite() && self.angle.abs() <= 360.0) {
            return Err(SpecError(format!(
                "angle must be in [-360, 360] degrees, got {}",
                self.angle
            )));
        }
        if self.orient >= 8 {
            return Err(SpecError(format!(
                "orient must be 0 to 7, got {}",
                self.orient
            )));
        }
        Ok(())
    }

    /// The normal form: the same text for every spelling of the same rendering.
    pub fn normal_form(&self) -> String {
        let st = match self.stretch {
            Stretch::Linear => "linear".to_owned(),
            Stretch::Sqrt => "sqrt".to_owned(),
            Stretch::Squared => "squared".to_owned(),
            Stretch::Histeq => "histeq".to_owned(),
            Stretch::Log { a } => format!("log={a}"),
            Stretch::Power { p } => format!("power={p}"),
            Stretch::Asinh { a } => format!("asinh={a}"),
            Stretch::Sinh { a } => format!("sinh={a}"),
        };
        let [r, g, b, a] = self.nan;
        let mut form = format!(
            "stretch={st};cut={};cmap={};contrast={};bias={};invert={};nan=#{r:02x}{g:02x}{b:02x}{a:02x}",
            self.cut, self.cmap, self.contrast, self.bias, self.invert as u8
        );
        // Only a turned or flipped view says so: the ids of every other spec stay as they were.
        if self.orient != 0 {
            form.push_str(&format!(";orient={}", crate::orient::name(self.orient)));
        }
        if self.angle != 0.0 {
            form.push_str(&format!(";angle={}", self.angle));
        }
        form
    }

    /// Short stable id of the normal form, used in tile URLs and cache paths.
    pub fn id(&self) -> String {
        // With a NaN colour, NaN pixels have their own palette entry (255) so that what lies outside
        // the image stays transparent; tiles rendered before that used index 0 for both, so these
        // specs hash differently and never reuse such tiles from a cache.
        let mut form = self.normal_form();
        if self.nan[3] > 0 {
            form.push_str(";nan-index=255");
        }
        let h = Sha256::digest(form.as_bytes());
        hex(&h[..6])
    }
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::MinMax => write!(f, "minmax"),
            Cut::Zscale => write!(f, "zscale"),
            Cut::Percentile { lo, hi } => write!(f, "percentile={lo},{hi}"),
            Cut::Range { lo, hi } => write!(f, "range={lo},{hi}"),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_table() {
        // (spec, t, expected) — values from the astropy.visualization formulas.
        let cases = [
            ("linear", 0.25, 0.25),
            ("sqrt", 0.25, 0.5),
            ("squared", 0.5, 0.25),
            ("log", 0.0, 0.0),
            ("log", 1.0, 1.0),
            ("log", 0.1, (101f64).ln() / (1001f64).ln()),
            ("log=10", 0.5, 6f64.ln() / 11f64.ln()),
            ("power=2", 0.5, 0.25),
            ("power", 0.5, 0.125),
            ("asinh", 0.5, 5f64.asinh() / 10f64.asinh()),
            ("asinh=1", 1.0, 1.0),
            ("sinh", 0.5, 1.5f64.sinh() / 3f64.sinh()),
        ];
        for (s, t, want) in cases {
            let st = parse_stretch(s).unwrap();
            assert!(
                (st.apply(t) - want).abs() < 1e-12,
                "{s}({t}) = {} != {want}",
                st.apply(t)
            );
        }
    }

    #[test]
    fn cut_syntax() {
        assert_eq!(parse_cut("zscale").unwrap(), Cut::Zscale);
        assert_eq!(parse_cut("minmax").unwrap(), Cut::MinMax);
        assert_eq!(
            parse_cut("percentile=99").unwrap(),
            Cut::Percentile { lo: 0.5, hi: 99.5 }
        );
        assert_eq!(
            parse_cut("percentile=0.5,99.5").unwrap(),
            Cut::Percentile { lo: 0.5, hi: 99.5 }
        );
        assert_eq!(
            parse_cut("range=-5,1e3").unwrap(),
            Cut::Range {
                lo: -5.0,
                hi: 1000.0
            }
        );
        for bad in [
            "percentile",
            "percentile=120",
            "percentile=60,40",
            "range=1",
            "range=5,1",
            "range=a,b",
            "zscale=3",
            "median",
            "range=nan,1",
        ] {
            assert!(parse_cut(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn bad_stretches_fail() {
        for bad in ["log=0", "log=-1", "asinh=x", "linear=2", "gamma", ""] {
            assert!(parse_stretch(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn normal_form_and_id_are_stable() {
        let a = RenderSpec::parse(Some("LOG"), Some("percentile=99"), Some("gray")).unwrap();
        let b =
            RenderSpec::parse(Some("log=1000"), Some("percentile=0.5,99.5"), Some("grey")).unwrap();
        assert_eq!(a.normal_form(), b.normal_form());
        assert_eq!(a.id(), b.id());
        assert_eq!(
            a.normal_form(),
            "stretch=log=1000;cut=percentile=0.5,99.5;cmap=grey;contrast=1;bias=0.5;invert=0;nan=#00000000"
        );
        let c = RenderSpec::parse(Some("log"), Some("percentile=99"), Some("grey_r")).unwrap();
        assert_ne!(a.id(), c.id());
        assert_eq!(a.id().len(), 12);
    }

    #[test]
    fn colours() {
        assert_eq!(parse_colour("transparent").unwrap(), [0, 0, 0, 0]);
        assert_eq!(parse_colour("#ff000080").unwrap(), [255, 0, 0, 128]);
        assert_eq!(parse_colour("00ff00").unwrap(), [0, 255, 0, 255]);
        assert!(parse_colour("#12").is_err());
    }
}
