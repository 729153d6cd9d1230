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

/// Parse a CSV catalog (RFC 4180 through the `csv` crate: a header row, commas, double-quoted fields
/// that may hold commas, quotes and line breaks; `#` comment lines and blank lines skipped), keeping at
/// most `max_rows` rows. Numbers become numbers, empty cells and `nan` null, anything else text.
pub fn parse_csv(text: &str, max_rows: usize) -> Result<(Vec<String>, Vec<Vec<Value>>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    // A blank line, or a comment indented by spaces (the csv crate knows only a '#' at the start).
    let skip = |r: &csv::StringRecord| {
        r.iter().all(|c| c.trim().is_empty())
            || r.get(0).is_some_and(|c| c.trim_start().starts_with('#'))
    };
    let mut records = reader.records();
    let mut next = || -> Result<Option<csv::StringRecord>, String> {
        for r in records.by_ref() {
            let r = r.map_err(|e| e.to_string())?;
            if !skip(&r) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    };
    let header = next()?.ok_or("empty catalog")?;
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_owned()).collect();
    let mut rows = Vec::new();
    while rows.len() < max_rows {
        let Some(r) = next()? else { break };
        if r.len() != columns.len() {
            let line = r.position().map_or(0, |p| p.line());
            return Err(format!(
                "line {line}: {} cells for {} columns",
                r.len(),
                columns.len()
            ));
        }
        rows.push(r.iter().map(cell).collect());
    }
    Ok((columns, rows))
}

fn cell(c: &str) -> Value {
    let t = c.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        _ if t.is_empty() || t.eq_ignore_ascii_case("nan") => Value::Null,
        _ => Value::String(t.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks() {
        let text = "# a catalog\nid,name,ra,dec\n\n  # an indented comment\n\
                    1,\"NGC 1, the first\",150.1,2.2\n\
                    2,\"two\nlines, and a \"\"quote\"\"\",150.2,nan\n\
                    3,,1e3, \n";
        let (cols, rows) = parse_csv(text, 10).unwrap();
        assert_eq!(cols, ["id", "name", "ra", "dec"]);
        assert_eq!(
            rows,
            [
                vec![
                    json!(1.0),
                    json!("NGC 1, the first"),
                    json!(150.1),
                    json!(2.2)
                ],
                vec![
                    json!(2.0),
                    json!("two\nlines, and a \"quote\""),
                    json!(150.2),
                    json!(null)
                ],
                vec![json!(3.0), json!(null), json!(1000.0), json!(null)],
            ]
        );
        assert_eq!(parse_csv(text, 1).unwrap().1.len(), 1);
    }

    #[test]
    fn a_row_of_the_wrong_width_names_its_line() {
        let e = parse_csv("a,b\n1,2\n\"x\ny\",2,3\n", 10).unwrap_err();
        assert_eq!(e, "line 3: 3 cells for 2 columns");
        assert_eq!(
            parse_csv("\n# only comments\n", 10).unwrap_err(),
            "empty catalog"
        );
    }
}
