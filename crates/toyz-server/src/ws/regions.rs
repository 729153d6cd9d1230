//! DS9 region files: parse the shapes toyz draws (circle, box, polygon, point, line) in image or sky
//! coordinates into JSON-friendly values, and write them back. Sizes are pixels in image coordinates
//! and arcseconds in sky coordinates.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Region {
    /// circle, box, polygon, point, line.
    pub shape: String,
    /// image, physical, fk5, icrs, fk4, galactic, ecliptic.
    pub system: String,
    /// Centre (circle, box, point), vertices (polygon) or ends (line): [x, y] or [lon, lat] in degrees.
    pub points: Vec<[f64; 2]>,
    /// Circle radius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
    /// Box width and height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<[f64; 2]>,
    /// Box rotation, degrees counter-clockwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angle: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude: bool,
    /// DS9 properties after `#` (color, text, width, ...), verbatim values.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub props: std::collections::BTreeMap<String, String>,
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

fn props(s: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut rest = s.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().to_owned();
        let after = rest[eq + 1..].trim_start();
        let (val, tail) = if let Some(b) = after.strip_prefix('{') {
            let end = b.find('}').unwrap_or(b.len());
            (b[..end].to_owned(), &b[(end + 1).min(b.len())..])
        } else if let Some(b) = after.strip_prefix('"') {
            let end = b.find('"').unwrap_or(b.len());
            (b[..end].to_owned(), &b[(end + 1).min(b.len())..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        if !key.is_empty() {
            out.insert(key, val);
        }
        rest = tail.trim_start();
    }
    out
}

/// Parse a DS9 region file. Unknown shapes and global settings are skipped; malformed shapes are errors
/// naming the line.
pub fn parse(text: &str) -> Result<Vec<Region>, String> {
    let mut system = "physical".to_owned();
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        for part in raw.split(';') {
            let line = part.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("global") {
                continue;
            }
            let (body, comment) = match line.find('#') {
                Some(i) => (line[..i].trim(), &line[i + 1..]),
                None => (line, ""),
            };
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
            let Some(open) = body.find('(') else { continue };
            let shape = body[..open].trim().to_ascii_lowercase();
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
            let mut r = Region {
                shape: shape.clone(),
                system: system.clone(),
                points: Vec::new(),
                radius: None,
                size: None,
                angle: None,
                exclude,
                props: props(comment),
            };
            match shape.as_str() {
                "circle" => {
                    r.points.push(pt(0).map_err(err)?);
                    r.radius = Some(
                        length(
                            args.get(2).ok_or(err("circle needs a radius".into()))?,
                            &system,
                        )
                        .map_err(err)?,
                    );
                }
                "box" => {
                    r.points.push(pt(0).map_err(err)?);
                    let w = length(args.get(2).ok_or(err("box needs a width".into()))?, &system)
                        .map_err(err)?;
                    let h = length(
                        args.get(3).ok_or(err("box needs a height".into()))?,
                        &system,
                    )
                    .map_err(err)?;
                    r.size = Some([w, h]);
                    r.angle = Some(match args.get(4) {
                        Some(a) => a.parse().map_err(|_| err(format!("bad angle '{a}'")))?,
                        None => 0.0,
                    });
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
                _ => continue,
            }
            out.push(r);
        }
    }
    Ok(out)
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
        let body = match r.shape.as_str() {
            "circle" => {
                need(1)?;
                format!(
                    "circle({},{})",
                    pts(&r.points[..1]),
                    len(r.radius.ok_or("circle needs a radius")?)
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
            s => return Err(format!("unknown shape '{s}'")),
        };
        if r.exclude {
            out.push('-');
        }
        out.push_str(&body);
        if !r.props.is_empty() {
            out.push_str(" #");
            for (k, v) in &r.props {
                if v.contains(char::is_whitespace) || k == "text" {
                    out.push_str(&format!(" {k}={{{v}}}"));
                } else {
                    out.push_str(&format!(" {k}={v}"));
                }
            }
        }
        out.push('\n');
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
        let r = parse(DS9).unwrap();
        assert_eq!(r.len(), 8);
        assert_eq!(r[0].shape, "circle");
        assert!((r[0].points[0][0] - 150.1).abs() < 1e-9 && (r[0].points[0][1] - 2.2).abs() < 1e-9);
        assert_eq!(r[0].radius, Some(5.2));
        assert_eq!(r[0].props["text"], "bright star");
        assert_eq!(r[1].size, Some([10.0, 30.0]));
        assert_eq!(r[1].angle, Some(30.0));
        assert_eq!(r[2].points.len(), 3);
        assert!(r[4].exclude);
        assert!(
            (r[4].radius.unwrap() - 3.6).abs() < 1e-9,
            "bare degrees are converted to arcsec"
        );
        assert_eq!(r[5].system, "image");
        assert_eq!(r[5].radius, Some(5.5));
        assert_eq!(r[6].points, vec![[1.0, 2.0], [30.0, 40.0]]);
    }

    #[test]
    fn round_trip() {
        let r = parse(DS9).unwrap();
        let text = write(&r).unwrap();
        assert_eq!(parse(&text).unwrap(), r);
    }

    #[test]
    fn bad_input() {
        assert!(parse("image\ncircle(1,2)").is_err());
        assert!(parse("image\npolygon(1,2,3,4)").is_err());
        assert!(parse("fk5\ncircle(a,b,3)").is_err());
        assert!(
            parse("image\nellipse(1,2,3,4,5)\n").unwrap().is_empty(),
            "unknown shapes are skipped"
        );
    }
}
