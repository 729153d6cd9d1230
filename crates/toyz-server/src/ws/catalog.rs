//! Catalogs kept in a session: loaded from CSV or a FITS binary table under a data root, with RA/Dec
//! (or x/y) columns found by name; paged rows and nearest-neighbour matching on the sky.

use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Rows read at most from one file.
pub const MAX_ROWS: usize = 2_000_000;
/// Catalogs one session holds at most.
pub const MAX_CATALOGS: usize = 64;

/// Catalog rows counted against the server's limit while a catalog lives.
#[derive(Debug)]
pub struct RowsHold {
    total: Arc<AtomicUsize>,
    rows: usize,
}

impl RowsHold {
    /// Count `rows` more against `total` if that stays within `max`; else the rows held now.
    pub fn take(total: &Arc<AtomicUsize>, rows: usize, max: usize) -> Result<RowsHold, usize> {
        total
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                (held + rows <= max).then_some(held + rows)
            })
            .map(|_| RowsHold {
                total: total.clone(),
                rows,
            })
    }
}

impl Drop for RowsHold {
    fn drop(&mut self) {
        self.total.fetch_sub(self.rows, Ordering::SeqCst);
    }
}

#[derive(Debug, Serialize)]
pub struct Catalog {
    pub id: usize,
    pub path: String,
    pub columns: Vec<String>,
    /// Row-major cells: numbers where the text parses, else strings (CSV); numbers (FITS).
    #[serde(skip)]
    pub rows: Vec<Vec<Value>>,
    pub ra: Option<usize>,
    pub dec: Option<usize>,
    pub x: Option<usize>,
    pub y: Option<usize>,
    /// Its rows' share of the server's catalog limit.
    #[serde(skip)]
    pub hold: Option<RowsHold>,
}

fn find(columns: &[String], names: &[&str], want: Option<&str>) -> Result<Option<usize>, String> {
    if let Some(w) = want {
        return columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(w))
            .map(Some)
            .ok_or_else(|| format!("no column named '{w}' (columns: {})", columns.join(", ")));
    }
    Ok(columns
        .iter()
        .position(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n))))
}

impl Catalog {
    pub fn new(
        id: usize,
        path: String,
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
        want: [Option<&str>; 4],
    ) -> Result<Catalog, String> {
        let ra = find(
            &columns,
            &["ra", "ra_deg", "raj2000", "alpha", "alpha_j2000", "ra_icrs"],
            want[0],
        )?;
        let dec = find(
            &columns,
            &[
                "dec",
                "dec_deg",
                "dej2000",
                "decj2000",
                "delta",
                "delta_j2000",
                "de_icrs",
            ],
            want[1],
        )?;
        let x = find(&columns, &["x", "x_image", "xcentroid", "xpos"], want[2])?;
        let y = find(&columns, &["y", "y_image", "ycentroid", "ypos"], want[3])?;
        if (ra.is_none() || dec.is_none()) && (x.is_none() || y.is_none()) {
            return Err(format!(
                "no RA/Dec or x/y columns found (columns: {}); name them with ra/dec or x/y",
                columns.join(", ")
            ));
        }
        Ok(Catalog {
            id,
            path,
            columns,
            rows,
            ra,
            dec,
            x,
            y,
            hold: None,
        })
    }

    pub fn value(&self, row: usize, col: Option<usize>) -> Option<f64> {
        self.rows.get(row)?.get(col?)?.as_f64()
    }

    /// The nearest row to (ra, dec) in degrees, with its separation in arcsec.
    pub fn nearest(&self, ra: f64, dec: f64) -> Option<(usize, f64)> {
        let target = toyz_fits::unit_vector(ra, dec);
        let mut best: Option<(usize, f64)> = None;
        for i in 0..self.rows.len() {
            let (Some(a), Some(d)) = (self.value(i, self.ra), self.value(i, self.dec)) else {
                continue;
            };
            let v = toyz_fits::unit_vector(a, d);
            let chord2 = (v[0] - target[0]).powi(2)
                + (v[1] - target[1]).powi(2)
                + (v[2] - target[2]).powi(2);
            if best.is_none_or(|(_, b)| chord2 < b) {
                best = Some((i, chord2));
            }
        }
        best.map(|(i, c2)| (i, 2.0 * (c2.sqrt() / 2.0).asin().to_degrees() * 3600.0))
    }
}

/// Parse CSV text (header row, comma separated, `#` comment lines, optional double quotes).
/// Parse a CSV catalog, keeping at most `max_rows` rows.
pub fn parse_csv(text: &str, max_rows: usize) -> Result<(Vec<String>, Vec<Vec<Value>>), String> {
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let header = lines.next().ok_or("empty catalog")?;
    let columns: Vec<String> = split(header)
        .into_iter()
        .map(|c| c.trim().to_owned())
        .collect();
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        if rows.len() >= max_rows {
            break;
        }
        let cells = split(line);
        if cells.len() != columns.len() {
            return Err(format!(
                "row {}: {} cells for {} columns",
                n + 2,
                cells.len(),
                columns.len()
            ));
        }
        rows.push(
            cells
                .into_iter()
                .map(|c| {
                    let t = c.trim();
                    match t.parse::<f64>() {
                        Ok(v) if v.is_finite() => serde_json::Number::from_f64(v)
                            .map(Value::Number)
                            .unwrap_or(Value::Null),
                        _ if t.is_empty() || t.eq_ignore_ascii_case("nan") => Value::Null,
                        _ => Value::String(t.to_owned()),
                    }
                })
                .collect(),
        );
    }
    Ok((columns, rows))
}

fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}
