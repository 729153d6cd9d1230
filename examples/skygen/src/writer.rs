//! Plain FITS writing (optionally gzip'd): headers as 2880-byte blocks, pixels streamed in row bands so
//! memory does not grow with the image. Single images, cubes and multi-extension files with a table.

use crate::{card_i, card_l, card_s, pad80, SkySpec, Star};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

const BLOCK: usize = 2880;
const BAND: usize = 128;

/// One image extension of a multi-extension file.
#[derive(Debug, Clone)]
pub struct Extension {
    pub name: String,
    pub spec: SkySpec,
}

fn open_out(path: &Path) -> io::Result<(Box<dyn Write>, std::path::PathBuf)> {
    let tmp = path.with_extension(format!(
        "{}.part",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let f = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let gz = path.extension().is_some_and(|e| e == "gz");
    let w: Box<dyn Write> = if gz {
        Box::new(flate2::write::GzEncoder::new(
            f,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(f)
    };
    Ok((w, tmp))
}

fn write_header(out: &mut dyn Write, cards: &[String]) -> io::Result<()> {
    let mut n = 0;
    for c in cards {
        out.write_all(pad80(c).as_bytes())?;
        n += 80;
    }
    out.write_all(pad80("END").as_bytes())?;
    n += 80;
    let pad = (BLOCK - n % BLOCK) % BLOCK;
    out.write_all(&vec![b' '; pad])
}

fn structural(spec: &SkySpec, first: &str) -> Vec<String> {
    let mut c = vec![first.to_owned(), card_i("BITPIX", spec.bitpix as i64, "")];
    match spec.cube {
        Some(n) => {
            c.push(card_i("NAXIS", 3, ""));
            c.push(card_i("NAXIS1", spec.width as i64, ""));
            c.push(card_i("NAXIS2", spec.height as i64, ""));
            c.push(card_i("NAXIS3", n as i64, ""));
        }
        None => {
            c.push(card_i("NAXIS", 2, ""));
            c.push(card_i("NAXIS1", spec.width as i64, ""));
            c.push(card_i("NAXIS2", spec.height as i64, ""));
        }
    }
    c
}

fn write_data(out: &mut dyn Write, spec: &SkySpec) -> io::Result<()> {
    let stars = spec.star_list();
    let bpp = (spec.bitpix.unsigned_abs() / 8) as usize;
    let mut total = 0usize;
    let mut bytes = Vec::new();
    for p in 0..spec.cube.unwrap_or(1) {
        let mut y0 = 0;
        while y0 < spec.height {
            let n = BAND.min(spec.height - y0);
            let vals = spec.plane_rows(&stars, p, y0, n);
            bytes.clear();
            bytes.reserve(vals.len() * bpp);
            for v in vals {
                let s = spec.stored(v);
                match spec.bitpix {
                    8 => bytes.push(s as u8),
                    16 => bytes.extend_from_slice(&(s as i16).to_be_bytes()),
                    32 => bytes.extend_from_slice(&(s as i32).to_be_bytes()),
                    64 => bytes.extend_from_slice(&(s as i64).to_be_bytes()),
                    -32 => bytes.extend_from_slice(&(s as f32).to_be_bytes()),
                    _ => bytes.extend_from_slice(&s.to_be_bytes()),
                }
            }
            out.write_all(&bytes)?;
            total += bytes.len();
            y0 += n;
        }
    }
    out.write_all(&vec![0u8; (BLOCK - total % BLOCK) % BLOCK])
}

/// Write `spec` as a single-HDU FITS file (gzip'd when the name ends in .gz). Written to a temporary
/// name and renamed, so an interrupted run never leaves a half file under the final name.
pub fn write_fits(path: &Path, spec: &SkySpec) -> io::Result<()> {
    let (mut out, tmp) = open_out(path)?;
    let mut cards = structural(spec, &card_l("SIMPLE", true, "conforms to FITS standard"));
    cards.push(card_l("EXTEND", true, ""));
    cards.extend(spec.cards());
    write_header(&mut *out, &cards)?;
    write_data(&mut *out, spec)?;
    out.flush()?;
    drop(out);
    std::fs::rename(tmp, path)
}

/// Write an empty primary HDU, one image extension per entry, and (if `table`) a binary table `STARS`
/// listing the stars of the first extension — the shape of a mosaic camera's raw file.
pub fn write_mef(path: &Path, exts: &[Extension], table: bool) -> io::Result<()> {
    let (mut out, tmp) = open_out(path)?;
    write_header(
        &mut *out,
        &[
            card_l("SIMPLE", true, "conforms to FITS standard"),
            card_i("BITPIX", 8, ""),
            card_i("NAXIS", 0, ""),
            card_l("EXTEND", true, ""),
            card_i("NEXTEND", exts.len() as i64 + table as i64, ""),
            card_s("ORIGIN", "toyz-skygen", ""),
        ],
    )?;
    for e in exts {
        let mut cards = structural(&e.spec, &card_s("XTENSION", "IMAGE", "image extension"));
        cards.push(card_i("PCOUNT", 0, ""));
        cards.push(card_i("GCOUNT", 1, ""));
        cards.push(card_s("EXTNAME", &e.name, ""));
        cards.extend(e.spec.cards());
        write_header(&mut *out, &cards)?;
        write_data(&mut *out, &e.spec)?;
    }
    if table {
        let stars = exts.first().map(|e| e.spec.star_list()).unwrap_or_default();
        write_star_table(&mut *out, &stars)?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(tmp, path)
}

/// The binary table `STARS` (X, Y, FLUX, FWHM as doubles) of `stars`.
fn write_star_table(out: &mut dyn Write, stars: &[Star]) -> io::Result<()> {
    let cols = ["X", "Y", "FLUX", "FWHM"];
    let mut cards = vec![
        card_s("XTENSION", "BINTABLE", "binary table extension"),
        card_i("BITPIX", 8, ""),
        card_i("NAXIS", 2, ""),
        card_i("NAXIS1", 8 * cols.len() as i64, "bytes per row"),
        card_i("NAXIS2", stars.len() as i64, "rows"),
        card_i("PCOUNT", 0, ""),
        card_i("GCOUNT", 1, ""),
        card_i("TFIELDS", cols.len() as i64, ""),
    ];
    for (i, c) in cols.iter().enumerate() {
        cards.push(card_s(&format!("TTYPE{}", i + 1), c, ""));
        cards.push(card_s(&format!("TFORM{}", i + 1), "1D", ""));
    }
    cards.push(card_s("EXTNAME", "STARS", ""));
    write_header(out, &cards)?;
    let mut n = 0;
    for s in stars {
        for v in [s.x, s.y, s.flux, s.fwhm] {
            out.write_all(&v.to_be_bytes())?;
            n += 8;
        }
    }
    out.write_all(&vec![0u8; (BLOCK - n % BLOCK) % BLOCK])
}

/// A FITS file of tables only: an empty primary HDU and the `STARS` table of `spec`'s stars (a catalog
/// as a FITS file).
pub fn write_table_fits(path: &Path, spec: &SkySpec) -> io::Result<()> {
    let (mut out, tmp) = open_out(path)?;
    write_header(
        &mut *out,
        &[
            card_l("SIMPLE", true, "conforms to FITS standard"),
            card_i("BITPIX", 8, ""),
            card_i("NAXIS", 0, ""),
            card_l("EXTEND", true, ""),
        ],
    )?;
    write_star_table(&mut *out, &spec.star_list())?;
    out.flush()?;
    drop(out);
    std::fs::rename(tmp, path)
}
