//! DS9 region files: parse every shape toyz reads or writes — circle, ellipse, box, polygon, line (with
//! its arrow flags), point (with its kind), annulus, text and vector — in image or sky coordinates into
//! JSON-friendly values, and write them back. Sizes are pixels in image coordinates and arcseconds in sky
//! coordinates. Properties after `#` (color, width, dash, font, text, tags, the select/edit/move/delete/
//! fixed/include flags, source/background) are kept and written back, so export → import → export gives
//! the same file. Lines not understood (other shapes, `# composite`, malformed text) are returned with
//! their numbers, never dropped silently.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Region {
    /// circle, ellipse, box, polygon, line, point, annulus, text, vector.
    pub shape: String,
    /// image, physical, fk5, icrs, fk4, galactic, ecliptic.
    pub system: String,
    /// Centre (circle, ellipse, box, point, annulus, text; a vector's start), vertices (polygon) or ends
    /// (line): [x, y] or [lon, lat] in degrees.
    pub points: Vec<[f64; 2]>,
    /// Circle radius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
    /// Ellipse semi-axes [r1, r2]; annulus radii [inner, …, outer] (increasing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radii: Option<Vec<f64>>,
    /// Box width and height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<[f64; 2]>,
    /// Vector length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<f64>,
    /// Box, ellipse and vector rotation, degrees counter-clockwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angle: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude: bool,
    /// DS9 properties after `#` (color, text, width, dash, font, point, line, edit, …), values verbatim.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub props: BTreeMap<String, String>,
    /// `tag={…}` properties, in order (DS9 allows several).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Bare words after `#`: `source` or `background`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// A line of a region file that was not read as a region, and why.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Skipped {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// What a region file holds: the regions read, and the lines that were not.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Parsed {
    pub regions: Vec<Region>,
    pub unknown: Vec<Skipped>,
}

const SYSTEMS: [&str; 8] = [
    "image", "physical", "fk5", "icrs", "fk4", "galactic", "ecliptic", "j2000",
];

fn sky(system: &str) -> bool {
    !matches!(system, "image" | "physical")
}

/// An angle: degrees, or sexagesimal (hours for RA-like first coordinates when `hours`).
fn coord(s: &str, hours: bool) -> Result<f64, String> {
    let t = s.trim();
    if t.contains(':') {
        let neg = t.starts_with('-');
        let parts: Vec<f64> = t
            .trim_start_matches(['+', '-'])
            .split(':')
            .map(|p| {
                p.parse::<f64>()
                    .map_err(|_| format!("bad coordinate '{s}'"))
            })
            .collect::<Result<_, _>>()?;
        let v =
            parts[0] + parts.get(1).unwrap_or(&0.0) / 60.0 + parts.get(2).unwrap_or(&0.0) / 3600.0;
        let v = if hours { v * 15.0 } else { v };
        return Ok(if neg { -v } else { v });
    }
    t.trim_end_matches('d')
        .parse()
        .map_err(|_| format!("bad coordinate '{s}'"))
}

/// A length: pixels in image systems; in sky systems `"` arcsec, `'` arcmin, `d` or bare degrees → arcsec.
fn length(s: &str, system: &str) -> Result<f64, String> {
    let t = s.trim();
    let bad = || format!("bad length '{s}'");
    if !sky(system) {
        return t
            .trim_end_matches('i')
            .trim_end_matches('p')
            .parse()
            .map_err(|_| bad());
    }
    if let Some(v) = t.strip_suffix('"') {
        v.parse().map_err(|_| bad())
    } else if let Some(v) = t.strip_suffix('\'') {
        v.parse::<f64>().map(|v| v * 60.0).map_err(|_| bad())
    } else {
        t.trim_end_matches('d')
            .parse::<f64>()
            .map(|v| v * 3600.0)
            .map_err(|_| bad())
    }
}

/// Properties whose value runs over several words without quotes (`point=cross 10`, `line=0 1`).
const MULTI: [&str; 4] = ["point", "line", "dashlist", "ruler"];
/// Bare words DS9 writes after `#`.
const FLAGS: [&str; 2] = ["source", "background"];

fn props(s: &str, r: &mut Region) {
    let mut rest = s.trim();
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let Some(eq) = rest[..word_end].find('=') else {
            let w = &rest[..word_end];
            if FLAGS.contains(&w) {
                r.flags.push(w.to_owned());
            }
            rest = rest[word_end..].trim_start();
            continue;
        };
        let key = rest[..eq].trim().to_owned();
        let after = &rest[eq + 1..];
        let (val, tail) = if let Some(b) = after.strip_prefix('{') {
            let end = b.find('}').unwrap_or(b.len());
            (b[..end].to_owned(), &b[(end + 1).min(b.len())..])
        } else if let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let b = &after[1..];
            let end = b.find(q).unwrap_or(b.len());
            (b[..end].to_owned(), &b[(end + 1).min(b.len())..])
        } else if MULTI.contains(&key.as_str()) {
            // The value's words, up to the next key=value or flag.
            let mut end = 0;
            let mut words = Vec::new();
            for w in after.split_whitespace() {
                if w.contains('=') || FLAGS.contains(&w) {
                    break;
                }
                words.push(w);
                end = after.find(w).map_or(end, |i| i + w.len());
            }
            (words.join(" "), &after[end..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        if key == "tag" {
            r.tags.push(val);
        } else if !key.is_empty() {
            r.props.insert(key, val);
        }
        rest = tail.trim_start();
    }
}

/// Shapes DS9 writes as comments (`# text(…)`, `# vector(…)`, `# composite(…)`, …).
const COMMENTED: [&str; 7] = [
    "text",
    "vector",
    "composite",
    "ruler",
    "compass",
    "projection",
    "segment",
];

/// Parse a DS9 region file. Global settings are skipped; lines that are not regions toyz reads are
/// returned in `unknown`; malformed shapes are errors naming the line.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut system = "physical".to_owned();
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        for part in raw.split(';') {
            let mut line = part.trim();
            // A commented shape is a region (its properties follow the closing parenthesis, without
            // another `#`); any other comment is just a comment.
            let mut commented = false;
            if let Some(c) = line.strip_prefix('#') {
                let c = c.trim_start();
                let word = c
                    .split(['(', ' '])
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if !COMMENTED.contains(&word.as_str()) || !c.contains('(') {
                    continue;
                }
                line = c;
                commented = true;
            }
            if line.is_empty() || line.starts_with("global") {
                continue;
            }
            let skip = |reason: &str| Skipped {
                line: n + 1,
                text: raw.trim().chars().take(200).collect(),
                reason: reason.to_owned(),
            };
            let split = if commented {
                line.find(')').map(|i| (i + 1, i + 1))
            } else {
                line.find('#').map(|i| (i, i + 1))
            };
            let (body, comment) = match split {
                Some((a, b)) => (line[..a].trim(), line[b..].trim_start_matches(['#', ' '])),
                None => (line, ""),
            };
            // `||` joins a composite's members: each is read as a region of its own.
            let body = body.trim_end_matches("||").trim();
            let lower = body.to_ascii_lowercase();
            if SYSTEMS.contains(&lower.as_str()) {
                system = if lower == "j2000" {
                    "fk5".into()
                } else {
                    lower
                };
                continue;
            }
            let (exclude, body) = match body.strip_prefix('-') {
                Some(b) => (true, b.trim()),
                None => (false, body.strip_prefix('+').unwrap_or(body).trim()),
            };
            let Some(open) = body.find('(') else {
                unknown.push(skip("not a region: no shape(…)"));
                continue;
            };
            let mut shape = body[..open].trim().to_ascii_lowercase();
            // The old point syntax: `cross point(x, y)`.
            let mut kind = None;
            if let Some(k) = shape.strip_suffix(" point") {
                kind = Some(k.trim().to_owned());
                shape = "point".into();
            }
            let close = body
                .rfind(')')
                .filter(|&c| c > open)
                .ok_or(format!("line {}: missing ')' after '('", n + 1))?;
            let args: Vec<&str> = body[open + 1..close].split(',').map(str::trim).collect();
            let err = |m: String| format!("line {}: {m}", n + 1);
            let pt = |i: usize| -> Result<[f64; 2], String> {
                let (a, b) = (
                    args.get(i).ok_or("missing coordinate")?,
                    args.get(i + 1).ok_or("missing coordinate")?,
                );
                let hours = sky(&system) && !matches!(system.as_str(), "galactic" | "ecliptic");
                Ok([coord(a, hours)?, coord(b, false)?])
            };
            let len = |i: usize, what: &str| -> Result<f64, String> {
                length(
                    args.get(i).ok_or(err(format!("{shape} needs {what}")))?,
                    &system,
                )
                .map_err(err)
            };
            let angle = |i: usize| -> Result<f64, String> {
                match args.get(i) {
                    Some(a) => a
                        .trim_end_matches('d')
                        .parse()
                        .map_err(|_| err(format!("bad angle '{a}'"))),
                    None => Ok(0.0),
                }
            };
            let mut r = Region {
                shape: shape.clone(),
                system: system.clone(),
                points: Vec::new(),
                radius: None,
                radii: None,
                size: None,
                length: None,
                angle: None,
                exclude,
                props: BTreeMap::new(),
                tags: Vec::new(),
                flags: Vec::new(),
            };
            props(comment, &mut r);
            if let Some(k) = kind {
                r.props.insert("point".into(), k);
            }
            match shape.as_str() {
                "circle" => {
                    r.points.push(pt(0).map_err(err)?);
                    r.radius = Some(len(2, "a radius")?);
                }
                "ellipse" => {
                    if args.len() > 5 {
                        unknown.push(skip("an elliptical annulus is not read"));
                        continue;
                    }
                    r.points.push(pt(0).map_err(err)?);
                    r.radii = Some(vec![len(2, "two radii")?, len(3, "two radii")?]);
                    r.angle = Some(angle(4)?);
                }
                "box" => {
                    if args.len() > 5 {
                        unknown.push(skip("a box annulus is not read"));
                        continue;
                    }
                    r.points.push(pt(0).map_err(err)?);
                    r.size = Some([len(2, "a width")?, len(3, "a height")?]);
                    r.angle = Some(angle(4)?);
                }
                "annulus" => {
                    r.points.push(pt(0).map_err(err)?);
                    let mut radii = Vec::new();
                    for i in 2..args.len() {
                        radii.push(len(i, "radii")?);
                    }
                    // `annulus(x, y, inner, outer) # n=4`: evenly spaced rings.
                    if let (2, Some(k)) = (
                        radii.len(),
                        r.props.get("n").and_then(|v| v.parse::<usize>().ok()),
                    ) {
                        if (1..=1000).contains(&k) {
                            let (a, b) = (radii[0], radii[1]);
                            radii = (0..=k).map(|i| a + (b - a) * i as f64 / k as f64).collect();
                            r.props.remove("n");
                        }
                    }
                    if radii.len() < 2 || radii.windows(2).any(|w| w[1] <= w[0]) || radii[0] < 0.0 {
                        return Err(err(
                            "an annulus needs increasing radii: inner, …, outer".into()
                        ));
                    }
                    r.radii = Some(radii);
                }
                "point" => r.points.push(pt(0).map_err(err)?),
                "line" => {
                    r.points.push(pt(0).map_err(err)?);
                    r.points.push(pt(2).map_err(err)?);
                }
                "polygon" => {
                    if args.len() < 6 || !args.len().is_multiple_of(2) {
                        return Err(err("a polygon needs at least 3 vertices".into()));
                    }
                    for i in (0..args.len()).step_by(2) {
                        r.points.push(pt(i).map_err(err)?);
                    }
                }
                "text" => {
                    r.points.push(pt(0).map_err(err)?);
                    // `text(x, y, {Hello})` puts the text in the arguments.
                    if let Some(t) = args.get(2) {
                        let t = t.trim_matches(['{', '}', '"', '\'']);
                        r.props.insert("text".into(), t.to_owned());
                    }
                    if !r.props.contains_key("text") {
                        return Err(err("a text region needs its text".into()));
                    }
                }
                "vector" => {
                    r.points.push(pt(0).map_err(err)?);
                    r.length = Some(len(2, "a length")?);
                    r.angle = Some(angle(3)?);
                }
                "composite" => {
                    unknown.push(skip(
                        "a composite is not kept: its shapes are read one by one",
                    ));
                    continue;
                }
                _ => {
                    unknown.push(skip(&format!("the shape '{shape}' is not read")));
                    continue;
                }
            }
            out.push(r);
        }
    }
    Ok(Parsed {
        regions: out,
        unknown,
    })
}

fn num(v: f64) -> String {
    let s = format!("{v:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_owned()
    }
}

/// Write regions as a DS9 region file (each in its own system; sizes in arcsec for sky systems).
pub fn write(regions: &[Region]) -> Result<String, String> {
    let mut out = String::from("# Region file format: DS9 version 4.1\n# written by toyz\n");
    let mut current = String::new();
    for r in regions {
        if !SYSTEMS.contains(&r.system.as_str()) {
            return Err(format!("unknown coordinate system '{}'", r.system));
        }
        if r.system != current {
            out.push_str(&r.system);
            out.push('\n');
            current = r.system.clone();
        }
        let len = |v: f64| {
            if sky(&r.system) {
                format!("{}\"", num(v))
            } else {
                num(v)
            }
        };
        let pts = |p: &[[f64; 2]]| {
            p.iter()
                .map(|[a, b]| format!("{},{}", num(*a), num(*b)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let need = |n: usize| -> Result<(), String> {
            if r.points.len() < n {
                Err(format!("{} needs {n} point(s)", r.shape))
            } else {
                Ok(())
            }
        };
        let radii = |n: usize| -> Result<&Vec<f64>, String> {
            r.radii
                .as_ref()
                .filter(|v| v.len() >= n)
                .ok_or(format!("{} needs {n} radii", r.shape))
        };
        let body = match r.shape.as_str() {
            "circle" => {
                need(1)?;
                format!(
                    "circle({},{})",
                    pts(&r.points[..1]),
                    len(r.radius.ok_or("circle needs a radius")?)
                )
            }
            "ellipse" => {
                need(1)?;
                let v = radii(2)?;
                format!(
                    "ellipse({},{},{},{})",
                    pts(&r.points[..1]),
                    len(v[0]),
                    len(v[1]),
                    num(r.angle.unwrap_or(0.0))
                )
            }
            "box" => {
                need(1)?;
                let [w, h] = r.size.ok_or("box needs a size")?;
                format!(
                    "box({},{},{},{})",
                    pts(&r.points[..1]),
                    len(w),
                    len(h),
                    num(r.angle.unwrap_or(0.0))
                )
            }
            "annulus" => {
                need(1)?;
                let v = radii(2)?;
                let rs: Vec<String> = v.iter().map(|&x| len(x)).collect();
                format!("annulus({},{})", pts(&r.points[..1]), rs.join(","))
            }
            "point" => {
                need(1)?;
                format!("point({})", pts(&r.points[..1]))
            }
            "line" => {
                need(2)?;
                format!("line({})", pts(&r.points[..2]))
            }
            "polygon" => {
                need(3)?;
                format!("polygon({})", pts(&r.points))
            }
            // DS9 writes these two as comments.
            "text" => {
                need(1)?;
                format!("# text({})", pts(&r.points[..1]))
            }
            "vector" => {
                need(1)?;
                let l = r.length.ok_or("vector needs a length")?;
                format!(
                    "# vector({},{},{})",
                    pts(&r.points[..1]),
                    len(l),
                    num(r.angle.unwrap_or(0.0))
                )
            }
            s => return Err(format!("unknown shape '{s}'")),
        };
        if r.exclude {
            out.push('-');
        }
        out.push_str(&body);
        let mut tail = String::new();
        for (k, v) in &r.props {
            match k.as_str() {
                "text" => tail.push_str(&format!(" {k}={{{v}}}")),
                "font" => tail.push_str(&format!(" {k}=\"{v}\"")),
                _ if v.contains(char::is_whitespace) && !MULTI.contains(&k.as_str()) => {
                    tail.push_str(&format!(" {k}={{{v}}}"))
                }
                _ => tail.push_str(&format!(" {k}={v}")),
            }
        }
        for t in &r.tags {
            tail.push_str(&format!(" tag={{{t}}}"));
        }
        for f in &r.flags {
            tail.push_str(&format!(" {f}"));
        }
        if !tail.is_empty() {
            // A commented shape already has its `#`.
            if !body.starts_with('#') {
                out.push_str(" #");
            }
            out.push_str(&tail);
        }
        out.push('\n');
    }
    Ok(out)
}

/// Rounding room at a shape's edge: a turned box's edge through pixel centres keeps them.
const EPS: f64 = 1e-9;

/// A region on the image's pixel grid: FITS pixels, whose centres are at integers. A pixel belongs to a
/// region when its centre is inside.
#[derive(Debug, Clone, PartialEq)]
pub enum Area {
    Circle {
        c: [f64; 2],
        r: f64,
    },
    Ellipse {
        c: [f64; 2],
        a: f64,
        b: f64,
        angle: f64,
    },
    Box {
        c: [f64; 2],
        w: f64,
        h: f64,
        angle: f64,
    },
    Polygon(Vec<[f64; 2]>),
    /// Rings between consecutive radii; a pixel at distance d is in ring k when r_k < d ≤ r_k+1
    /// (the centre pixel of an annulus from 0 is in the first ring).
    Annulus {
        c: [f64; 2],
        radii: Vec<f64>,
    },
    Point([f64; 2]),
}

impl Area {
    /// [xmin, ymin, xmax, ymax] of the shape.
    pub fn bbox(&self) -> [f64; 4] {
        let around = |c: [f64; 2], r: f64| [c[0] - r, c[1] - r, c[0] + r, c[1] + r];
        match self {
            Area::Circle { c, r } => around(*c, *r),
            Area::Ellipse { c, a, b, .. } => around(*c, a.max(*b)),
            Area::Box { c, w, h, .. } => around(*c, w.hypot(*h) / 2.0),
            Area::Annulus { c, radii } => around(*c, *radii.last().unwrap_or(&0.0)),
            Area::Point(c) => around(*c, 0.5),
            Area::Polygon(v) => v
                .iter()
                .fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, p| {
                    [
                        b[0].min(p[0]),
                        b[1].min(p[1]),
                        b[2].max(p[0]),
                        b[3].max(p[1]),
                    ]
                }),
        }
    }

    /// The ring of an annulus (or 0 for other shapes) that the point (x, y) is in, if any.
    pub fn ring(&self, x: f64, y: f64) -> Option<usize> {
        let rot = |c: [f64; 2], angle: f64| {
            let (s, co) = (-angle.to_radians()).sin_cos();
            let (dx, dy) = (x - c[0], y - c[1]);
            (dx * co - dy * s, dx * s + dy * co)
        };
        let inside = match self {
            Area::Circle { c, r } => (x - c[0]).hypot(y - c[1]) <= *r + EPS,
            Area::Ellipse { c, a, b, angle } => {
                let (u, v) = rot(*c, *angle);
                (u / a).powi(2) + (v / b).powi(2) <= 1.0 + EPS
            }
            Area::Box { c, w, h, angle } => {
                let (u, v) = rot(*c, *angle);
                u.abs() <= w / 2.0 + EPS && v.abs() <= h / 2.0 + EPS
            }
            Area::Point(c) => x.round() == c[0].round() && y.round() == c[1].round(),
            Area::Polygon(v) => {
                // Even-odd rule, a ray towards +x.
                let mut inside = false;
                let n = v.len();
                for i in 0..n {
                    let (a, b) = (v[i], v[(i + n - 1) % n]);
                    if (a[1] > y) != (b[1] > y)
                        && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0]
                    {
                        inside = !inside;
                    }
                }
                inside
            }
            Area::Annulus { c, radii } => {
                let d = (x - c[0]).hypot(y - c[1]);
                return radii
                    .windows(2)
                    .position(|w| (d > w[0] || (w[0] == 0.0 && d == 0.0)) && d <= w[1]);
            }
        };
        inside.then_some(0)
    }
}

/// A region in the image's pixels. Sky regions go through `to_pixel` (a sky position in the region's own
/// system → FITS pixel) with sizes divided by `arcsec_per_pixel`; angles, which DS9 measures from the
/// sky's axes in sky systems, are turned by the image's rotation where the region is (from where north
/// points there). Lines, text and vectors have no area: None.
pub fn area(
    r: &Region,
    to_pixel: &dyn Fn([f64; 2]) -> Option<[f64; 2]>,
    arcsec_per_pixel: Option<f64>,
) -> Result<Option<Area>, String> {
    let (pts, scale, turn) = if sky(&r.system) {
        let scale =
            arcsec_per_pixel.ok_or(format!("a {} region needs an image with a WCS", r.system))?;
        let pts: Vec<[f64; 2]> = r
            .points
            .iter()
            .map(|&p| {
                to_pixel(p).ok_or(format!(
                    "a {} region does not fall on this image's projection",
                    r.system
                ))
            })
            .collect::<Result<_, _>>()?;
        let first = *r.points.first().ok_or("a region without a point")?;
        let north = to_pixel([first[0], (first[1] + 1.0 / 3600.0).min(90.0)]);
        let turn = north.map_or(0.0, |n| {
            (n[1] - pts[0][1]).atan2(n[0] - pts[0][0]).to_degrees() - 90.0
        });
        (pts, 1.0 / scale, turn)
    } else {
        (r.points.clone(), 1.0, 0.0)
    };
    let c = *pts.first().ok_or("a region without a point")?;
    let angle = r.angle.unwrap_or(0.0) + turn;
    let radii = || r.radii.clone().ok_or(format!("{} needs radii", r.shape));
    Ok(Some(match r.shape.as_str() {
        "circle" => Area::Circle {
            c,
            r: r.radius.ok_or("circle needs a radius")? * scale,
        },
        "ellipse" => {
            let v = radii()?;
            let (a, b) = (
                v.first().copied().unwrap_or(0.0),
                v.get(1).copied().unwrap_or(0.0),
            );
            Area::Ellipse {
                c,
                a: a * scale,
                b: b * scale,
                angle,
            }
        }
        "box" => {
            let [w, h] = r.size.ok_or("box needs a size")?;
            Area::Box {
                c,
                w: w * scale,
                h: h * scale,
                angle,
            }
        }
        "annulus" => Area::Annulus {
            c,
            radii: radii()?.iter().map(|v| v * scale).collect(),
        },
        "polygon" => Area::Polygon(pts),
        "point" => Area::Point(c),
        _ => return Ok(None),
    }))
}

// ---- Statistics of regions on an image (the `regions.stats` job) ----

use crate::error::{ApiError, Kind};
use crate::sources::OpenSource;
use crate::state::AppState;
use std::sync::atomic::AtomicBool;

/// Pixels a region's statistics may read (its bounding box): 16 Mpixels, 128 MiB with the values.
const REGION_STATS_PIXELS: usize = 1 << 24;

/// Statistics of one region (`regions.stats`). A shape without an area (line, text, vector) has
/// only `shape`, `npix` 0 and a `note`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RegionStats {
    pub shape: String,
    /// Finite values inside.
    pub npix: usize,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// The values between their min and max, in `bins` bins (when asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<ValueHistogram>,
    /// An annulus: its radii, and the same statistics per ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radii: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rings: Option<Vec<Ring>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Sum, mean, median, std (population, as numpy's default), min and max of the finite values (null
/// when there are none), the area in pixels (every pixel inside, NaN too) and arcsec² (null without a
/// WCS), and the surface brightness (sum / arcsec²).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub sum: f64,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub area_px: usize,
    pub area_arcsec2: Option<f64>,
    pub surface_brightness: Option<f64>,
}

/// One ring of an annulus.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Ring {
    pub inner: f64,
    pub outer: f64,
    pub npix: usize,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ValueHistogram {
    pub lo: f64,
    pub hi: f64,
    pub bins: usize,
    pub counts: Vec<u64>,
}

/// npix and the statistics of finite values (sorted in place), with the area of `area_px` pixels at
/// `scale` arcsec a pixel.
fn summary(vals: &mut [f64], area_px: usize, scale: Option<f64>) -> (usize, Stats) {
    let n = vals.len();
    let area_arcsec2 = scale.map(|sc| area_px as f64 * sc * sc);
    let sum: f64 = vals.iter().sum();
    let brightness = area_arcsec2.filter(|&a| a > 0.0).map(|a| sum / a);
    let mut s = Stats {
        sum,
        mean: None,
        median: None,
        std: None,
        min: None,
        max: None,
        area_px,
        area_arcsec2,
        surface_brightness: brightness,
    };
    if n == 0 {
        return (0, s);
    }
    let mean = sum / n as f64;
    let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    vals.sort_unstable_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        vals[n / 2]
    } else {
        (vals[n / 2 - 1] + vals[n / 2]) / 2.0
    };
    s.mean = Some(mean);
    s.median = Some(median);
    s.std = Some(var.sqrt());
    s.min = Some(vals[0]);
    s.max = Some(vals[n - 1]);
    (n, s)
}

/// Statistics of the pixels whose centres fall inside one region of an open image (DS9's Analysis →
/// Statistics), reading at most `REGION_STATS_PIXELS` from the memory budget; `cancel` is asked
/// every row.
pub fn stats(
    state: &AppState,
    o: &OpenSource,
    r: &Region,
    bins: Option<usize>,
    cancel: &AtomicBool,
) -> Result<RegionStats, ApiError> {
    let img = &*o.src.image;
    let wcs = img.wcs();
    let to_pixel = |p: [f64; 2]| -> Option<[f64; 2]> {
        let w = wcs?;
        let from = if r.system == "j2000" {
            "fk5"
        } else {
            r.system.as_str()
        };
        let (lon, lat) = toyz_fits::convert_frame(p[0], p[1], from, w.frame())?;
        toyz_fits::sky_to_pixel(img, lon, lat)
            .ok()
            .map(|(x, y)| [x, y])
    };
    let scale = wcs.map(|w| w.summary().pixel_scale_arcsec);
    let Some(area) = area(r, &to_pixel, scale).map_err(|e| ApiError::of(Kind::BadParams, e))?
    else {
        return Ok(RegionStats {
            shape: r.shape.clone(),
            npix: 0,
            stats: None,
            histogram: None,
            radii: None,
            rings: None,
            note: Some(format!("a {} has no area", r.shape)),
        });
    };
    let [bx0, by0, bx1, by1] = area.bbox();
    let (w, h) = (img.width() as f64, img.height() as f64);
    let (x0, y0) = (bx0.ceil().max(1.0), by0.ceil().max(1.0));
    let (x1, y1) = (bx1.floor().min(w), by1.floor().min(h));
    let rings = match &area {
        Area::Annulus { radii, .. } => radii.len() - 1,
        _ => 1,
    };
    let mut vals: Vec<Vec<f64>> = vec![Vec::new(); rings];
    let mut area_px = vec![0usize; rings];
    if x1 >= x0 && y1 >= y0 {
        let (cw, ch) = ((x1 - x0) as usize + 1, (y1 - y0) as usize + 1);
        if cw * ch > REGION_STATS_PIXELS {
            return Err(ApiError::of(
                Kind::BadParams,
                format!(
                    "a {} covering {} pixels is too large for statistics (at most {REGION_STATS_PIXELS})",
                    r.shape,
                    cw * ch
                ),
            ));
        }
        // The box as floats and the values inside as doubles, from the memory budget.
        let _mem = state.reserve(12 * (cw * ch) as u64, "regions.stats")?;
        let mut buf = vec![0f32; cw * ch];
        img.read_rect(x0 as usize - 1, y0 as usize - 1, cw, ch, &mut buf)
            .map_err(|e| o.read_error(toyz_pyramid::EngineError::Fits(e)))?;
        for j in 0..ch {
            // A polygon of many vertices costs seconds per row: a job whose client left stops here
            // (one abandoned for 30 minutes held its budget and a core).
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(ApiError::of(Kind::Cancelled, "the job was stopped"));
            }
            for i in 0..cw {
                if let Some(k) = area.ring(x0 + i as f64, y0 + j as f64) {
                    area_px[k] += 1;
                    let v = buf[j * cw + i];
                    if v.is_finite() {
                        vals[k].push(v as f64);
                    }
                }
            }
        }
    }
    let mut all: Vec<f64> = vals.iter().flatten().copied().collect();
    let total = area_px.iter().sum();
    let (npix, stats) = summary(&mut all, total, scale);
    // `all` is sorted by summary(); one bin when every value is the same.
    let histogram = match (bins, all.first(), all.last()) {
        (Some(b), Some(&lo), Some(&hi)) => {
            let mut counts = vec![0u64; b];
            let span = hi - lo;
            for v in &all {
                let i = if span > 0.0 {
                    (((v - lo) / span) * b as f64) as usize
                } else {
                    0
                };
                counts[i.min(b - 1)] += 1;
            }
            Some(ValueHistogram {
                lo,
                hi,
                bins: b,
                counts,
            })
        }
        _ => None,
    };
    let mut out = RegionStats {
        shape: r.shape.clone(),
        npix,
        stats: Some(stats),
        histogram,
        radii: None,
        rings: None,
        note: None,
    };
    if let (Area::Annulus { .. }, Some(radii)) = (&area, &r.radii) {
        out.radii = Some(radii.clone());
        if rings > 1 {
            let per = (0..rings)
                .map(|k| {
                    let (npix, stats) = summary(&mut vals[k], area_px[k], scale);
                    Ring {
                        inner: radii[k],
                        outer: radii[k + 1],
                        npix,
                        stats,
                    }
                })
                .collect();
            out.rings = Some(per);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DS9: &str = r#"# Region file format: DS9 version 4.1
global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman"
fk5
circle(10:00:24.000,+2:12:00.00,5.2") # color=red text={bright star}
box(150.1,2.2,10",0.5',30)
polygon(150.1,2.2,150.2,2.2,150.15,2.3)
point(150.12,2.21) # point=cross
-circle(150.13,2.19,0.001)
image
circle(100,200,5.5)
line(1,2,30,40) # line=0 0
box(50,60,20,10,45)
"#;

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for text in [
            "circle)(1,2,3",
            "image\ncircle)(1,2,3",
            ")(",
            "box(",
            "polygon(1,2",
            "circle(1,2,3))((",
        ] {
            let r = std::panic::catch_unwind(|| parse(text));
            assert!(r.is_ok(), "{text:?} panicked");
        }
        assert!(parse("image\ncircle)(1,2,3")
            .unwrap_err()
            .contains("line 2"));
    }

    #[test]
    fn parses_ds9() {
        let r = parse(DS9).unwrap().regions;
        assert_eq!(r.len(), 8);
        assert_eq!(r[0].shape, "circle");
        assert!((r[0].points[0][0] - 150.1).abs() < 1e-9 && (r[0].points[0][1] - 2.2).abs() < 1e-9);
        assert_eq!(r[0].radius, Some(5.2));
        assert_eq!(r[0].props["text"], "bright star");
        assert_eq!(r[1].size, Some([10.0, 30.0]));
        assert_eq!(r[1].angle, Some(30.0));
        assert_eq!(r[2].points.len(), 3);
        assert_eq!(r[3].props["point"], "cross");
        assert!(r[4].exclude);
        assert!(
            (r[4].radius.unwrap() - 3.6).abs() < 1e-9,
            "bare degrees are converted to arcsec"
        );
        assert_eq!(r[5].system, "image");
        assert_eq!(r[5].radius, Some(5.5));
        assert_eq!(r[6].points, vec![[1.0, 2.0], [30.0, 40.0]]);
        assert_eq!(r[6].props["line"], "0 0");
    }

    #[test]
    fn round_trip() {
        let r = parse(DS9).unwrap().regions;
        let text = write(&r).unwrap();
        assert_eq!(parse(&text).unwrap().regions, r);
        assert_eq!(write(&parse(&text).unwrap().regions).unwrap(), text);
    }

    /// Every shape with its properties: export → import → export gives the same file.
    #[test]
    fn every_shape_and_property_round_trips() {
        let text = r#"# Region file format: DS9 version 4.1
image
circle(100,100,20) # color=red width=2 dash=1 dashlist=8 3 font="helvetica 12 bold italic" text={a b} tag={group 1} tag={x} select=0 edit=0 move=0 delete=0 fixed=1 highlite=0 include=1 background
ellipse(200,150,30,10,45) # color=cyan source
box(50,60,20,10,30)
-polygon(10,10,40,10,25,40)
line(1,2,30,40) # line=1 0
point(5,6) # point=diamond 15
x point(7,8)
annulus(300,300,5,10,15)
annulus(400,400,10,20) # n=2
# text(60,70) text={Hello there} color=yellow
text(61,71,{Braces})
# vector(80,90,25,30) vector=1
fk5
circle(150.1,2.2,3.5") # color=green
ellipse(150.2,2.3,4",2",10)
annulus(150.3,2.4,1",2",3")
# vector(150.1,2.2,10",45) vector=1
"#;
        let p = parse(text).unwrap();
        assert!(p.unknown.is_empty(), "{:?}", p.unknown);
        let r = &p.regions;
        assert_eq!(r.len(), 16);
        assert_eq!(r[0].props["dashlist"], "8 3");
        assert_eq!(r[0].props["font"], "helvetica 12 bold italic");
        assert_eq!(r[0].tags, ["group 1", "x"]);
        assert_eq!(r[0].flags, ["background"]);
        assert_eq!(
            (r[0].props["fixed"].as_str(), r[0].props["delete"].as_str()),
            ("1", "0")
        );
        assert_eq!(
            (r[1].radii.as_deref(), r[1].angle),
            (Some(&[30.0, 10.0][..]), Some(45.0))
        );
        assert!(r[3].exclude);
        assert_eq!(r[4].props["line"], "1 0");
        assert_eq!(r[5].props["point"], "diamond 15");
        assert_eq!(
            (r[6].shape.as_str(), r[6].props["point"].as_str()),
            ("point", "x")
        );
        assert_eq!(r[7].radii.as_deref(), Some(&[5.0, 10.0, 15.0][..]));
        assert_eq!(
            r[8].radii.as_deref(),
            Some(&[10.0, 15.0, 20.0][..]),
            "n=2 spaces two rings evenly"
        );
        assert_eq!(
            (r[9].shape.as_str(), r[9].props["text"].as_str()),
            ("text", "Hello there")
        );
        assert_eq!(r[10].props["text"], "Braces");
        assert_eq!((r[11].length, r[11].angle), (Some(25.0), Some(30.0)));
        assert_eq!(r[11].props["vector"], "1");
        assert_eq!(r[13].radii.as_deref(), Some(&[4.0, 2.0][..]));
        assert_eq!(r[15].length, Some(10.0));
        let out = write(r).unwrap();
        let again = parse(&out).unwrap();
        assert!(again.unknown.is_empty(), "{out}");
        assert_eq!(&again.regions, r);
        assert_eq!(write(&again.regions).unwrap(), out);
        assert!(
            out.contains("# text(60,70) color=yellow text={Hello there}"),
            "{out}"
        );
        assert!(out.contains("line(1,2,30,40) # line=1 0\n"), "{out}");
        assert!(out.contains("font=\"helvetica 12 bold italic\""), "{out}");
    }

    #[test]
    fn what_is_not_read_is_reported_with_its_line() {
        let text = concat!(
            "image\ncircle(1,2,3)\nruler(1,2,3,4) # ruler=image\n# composite(5,5,0) || composite=1\n",
            "circle(5,5,2) ||\nnonsense here\nbox(1,1,2,2,4,4,0)\n# just a comment\n"
        );
        let p = parse(text).unwrap();
        assert_eq!(p.regions.len(), 2, "the composite's member is read alone");
        let lines: Vec<usize> = p.unknown.iter().map(|u| u.line).collect();
        assert_eq!(lines, [3, 4, 6, 7], "{:?}", p.unknown);
        assert!(p.unknown[0].reason.contains("ruler"));
        assert!(p.unknown[1].reason.contains("composite"));
        assert!(p.unknown[3].reason.contains("box annulus"));
    }

    #[test]
    fn bad_input() {
        assert!(parse("image\ncircle(1,2)").is_err());
        assert!(parse("image\npolygon(1,2,3,4)").is_err());
        assert!(parse("fk5\ncircle(a,b,3)").is_err());
        assert!(
            parse("image\nannulus(1,2,5,3)").is_err(),
            "radii must increase"
        );
        assert!(
            parse("image\ntext(1,2)").is_err(),
            "a text region needs its text"
        );
    }

    #[test]
    fn pixel_centres_decide_membership() {
        let circle = Area::Circle {
            c: [10.0, 10.0],
            r: 2.0,
        };
        let count = |a: &Area| {
            let mut n = 0;
            for y in 0..40 {
                for x in 0..40 {
                    n += a.ring(x as f64, y as f64).is_some() as usize;
                }
            }
            n
        };
        assert_eq!(
            count(&circle),
            13,
            "radius 2 about a pixel centre: 13 centres"
        );
        assert_eq!(
            count(&Area::Box {
                c: [10.0, 10.0],
                w: 4.0,
                h: 2.0,
                angle: 0.0
            }),
            15
        );
        assert_eq!(
            count(&Area::Box {
                c: [10.0, 10.0],
                w: 2.0,
                h: 4.0,
                angle: 90.0
            }),
            15,
            "turned"
        );
        assert_eq!(
            count(&Area::Ellipse {
                c: [10.0, 10.0],
                a: 3.0,
                b: 1.0,
                angle: 90.0
            }),
            9,
            "7 along the turned axis and 2 beside"
        );
        let tri = Area::Polygon(vec![[0.5, 0.5], [10.5, 0.5], [0.5, 10.5]]);
        // Centres with x + y ≤ 10 (1 + 2 + … + 9); those on the long edge (x + y = 11) are out.
        assert_eq!(count(&tri), 45);
        let ann = Area::Annulus {
            c: [20.0, 20.0],
            radii: vec![0.0, 1.0, 2.0],
        };
        assert_eq!(
            (
                ann.ring(20.0, 20.0),
                ann.ring(21.0, 20.0),
                ann.ring(22.0, 20.0),
                ann.ring(23.0, 20.0)
            ),
            (Some(0), Some(0), Some(1), None)
        );
        assert_eq!(count(&Area::Point([5.2, 6.7])), 1);
        // A sky circle: centre through the projection, radius through the scale.
        let r = parse("fk5\ncircle(10,20,6\")").unwrap().regions.remove(0);
        let a = area(&r, &|p| Some([p[0] * 100.0, p[1] * 100.0]), Some(2.0))
            .unwrap()
            .unwrap();
        assert_eq!(
            a,
            Area::Circle {
                c: [1000.0, 2000.0],
                r: 3.0
            }
        );
        assert!(area(&r, &|_| None, Some(2.0)).is_err());
        assert!(
            area(&r, &|p| Some(p), None).is_err(),
            "a sky region needs a WCS"
        );
    }
}
