//! Header checks made before cfitsio ever sees a file. cfitsio (3.49) trusts some keywords of a
//! tile-compressed image so far that a corrupt value kills the process while the file is only being
//! opened: a `ZTILE1` card whose value reads as 0 divides by zero (SIGFPE in
//! `imcomp_get_compressed_image_par`, found by the mutation test), and cfitsio moves into the first
//! compressed extension by itself when the primary HDU is empty. So every HDU's header is read here
//! first (our own parser, sizes in checked arithmetic) and a compressed image whose geometry
//! keywords are not clean positive integers is refused as corrupt.

use crate::file::Pinned;
use crate::header::Header;
use std::io::Read;

const BLOCK: usize = 2880;

/// Where header blocks come from: positioned reads for a plain file, a forward-only stream for gzip.
trait Blocks {
    /// The block at byte `at` (never before the last one asked for); `false` at the end of the data.
    fn block(&mut self, at: u64, buf: &mut [u8; BLOCK]) -> std::io::Result<bool>;
}

struct Plain<'a>(&'a Pinned);

impl Blocks for Plain<'_> {
    fn block(&mut self, at: u64, buf: &mut [u8; BLOCK]) -> std::io::Result<bool> {
        Ok(self.0.read_at(buf, at)? == BLOCK)
    }
}

struct Stream<R> {
    r: R,
    pos: u64,
}

impl<R: Read> Blocks for Stream<R> {
    fn block(&mut self, at: u64, buf: &mut [u8; BLOCK]) -> std::io::Result<bool> {
        let skip = at.saturating_sub(self.pos);
        if std::io::copy(&mut (&mut self.r).take(skip), &mut std::io::sink())? < skip {
            return Ok(false);
        }
        let mut n = 0;
        while n < BLOCK {
            match self.r.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        self.pos = at + n as u64;
        Ok(n == BLOCK)
    }
}

/// Check every HDU header of `p` (see the module): why it cannot be opened, if so. Damage cfitsio
/// reports as an error by itself (a missing END, a short file) is left for it to report.
pub(crate) fn check(p: &Pinned) -> std::result::Result<(), String> {
    if p.is_gzip() {
        let gz = flate2::read::GzDecoder::new(p.reader());
        walk(&mut Stream { r: gz, pos: 0 })
    } else {
        walk(&mut Plain(p))
    }
}

/// Whether a card's keyword is one the checks read: the size keywords and the compressed geometry.
/// Only these are kept, so a header of any length costs a bounded amount of memory.
fn kept(key: &[u8]) -> bool {
    let key = std::str::from_utf8(key).unwrap_or("").trim_end();
    let numbered = |stem: &str| {
        key.strip_prefix(stem).is_some_and(|n| {
            n.is_empty() || (n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    matches!(
        key,
        "BITPIX" | "PCOUNT" | "GCOUNT" | "GROUPS" | "ZIMAGE" | "ZBITPIX"
    ) || numbered("NAXIS")
        || numbered("ZNAXIS")
        || numbered("ZTILE")
}

/// Every HDU, however many and however long their headers: a check that stopped early would let
/// cfitsio meet what it was not shown (a `ZTILE1 = 0` behind 10,001 empty extensions divided by zero).
fn walk(src: &mut dyn Blocks) -> std::result::Result<(), String> {
    let mut at = 0u64;
    let mut buf = [0u8; BLOCK];
    let mut hdu = 0usize;
    loop {
        let mut records = Vec::new();
        let mut ended = false;
        let mut blocks = 0usize;
        while !ended {
            if !src.block(at, &mut buf).unwrap_or(false) {
                // The end of the file between HDUs is the end; inside a header it is a cut.
                return match blocks {
                    0 => Ok(()),
                    _ => Err(format!(
                        "HDU {hdu}: the file ends inside its header (it is truncated)"
                    )),
                };
            }
            blocks += 1;
            at += BLOCK as u64;
            for rec in buf.chunks_exact(80) {
                ended = rec.starts_with(b"END     ") || rec.trim_ascii_end() == b"END";
                if ended {
                    break;
                }
                if kept(&rec[..8]) && records.len() < 4096 {
                    records.push(String::from_utf8_lossy(rec).into_owned());
                }
            }
        }
        let h = Header::from_records(records);
        if hdu > 0 && h.bool("ZIMAGE") == Some(true) {
            compressed(&h).map_err(|e| format!("HDU {hdu}: {e}"))?;
        }
        match data_bytes(&h) {
            Some(n) => at = at.saturating_add(n.div_ceil(BLOCK as u64) * BLOCK as u64),
            None => return Ok(()),
        }
        hdu += 1;
    }
}

/// Bytes of data after a header, as FITS defines them; `None` when the header does not say.
fn data_bytes(h: &Header) -> Option<u64> {
    let bitpix = h.i64("BITPIX")?;
    let naxis = h.i64("NAXIS").filter(|n| (0..=999).contains(n))?;
    if naxis == 0 {
        return Some(0);
    }
    let random_groups = h.i64("NAXIS1") == Some(0) && h.bool("GROUPS") == Some(true);
    let mut n = 1u64;
    for k in if random_groups { 2 } else { 1 }..=naxis {
        n = n.checked_mul(u64::try_from(h.i64(&format!("NAXIS{k}"))?).ok()?)?;
    }
    let pcount = u64::try_from(h.i64("PCOUNT").unwrap_or(0)).ok()?;
    let gcount = u64::try_from(h.i64("GCOUNT").unwrap_or(1)).ok()?;
    n.checked_add(pcount)?
        .checked_mul(gcount)?
        .checked_mul(bitpix.unsigned_abs() / 8)
}

/// The keywords cfitsio divides and allocates by when it opens a compressed image.
fn compressed(h: &Header) -> std::result::Result<(), String> {
    let int = |key: &str| -> std::result::Result<Option<i64>, String> {
        match h.get(key) {
            None => Ok(None),
            Some(_) => match h.i64(key) {
                Some(v) if v >= 1 => Ok(Some(v)),
                _ => Err(format!(
                    "{key} = {} is not a positive integer",
                    h.str(key).unwrap_or("?").trim()
                )),
            },
        }
    };
    let naxis = int("ZNAXIS")?.ok_or("a compressed image without ZNAXIS")?;
    if naxis > 6 {
        return Err(format!(
            "ZNAXIS = {naxis} (compressed images have at most 6 axes)"
        ));
    }
    for k in 1..=naxis {
        int(&format!("ZNAXIS{k}"))?.ok_or_else(|| format!("no ZNAXIS{k}"))?;
        int(&format!("ZTILE{k}"))?;
    }
    match h.i64("ZBITPIX") {
        Some(8 | 16 | 32 | 64 | -32 | -64) => Ok(()),
        _ => Err(format!(
            "ZBITPIX = {} is not a FITS pixel type",
            h.str("ZBITPIX").unwrap_or("?").trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cards: &[(&str, &str)]) -> Header {
        Header::from_records(cards.iter().map(|(k, v)| format!("{k:<8}= {v:>20}")))
    }

    #[test]
    fn compressed_geometry_must_be_clean() {
        let good = [
            ("ZIMAGE", "T"),
            ("ZBITPIX", "-32"),
            ("ZNAXIS", "2"),
            ("ZNAXIS1", "300"),
            ("ZNAXIS2", "200"),
            ("ZTILE1", "300"),
            ("ZTILE2", "1"),
        ];
        assert!(compressed(&header(&good)).is_ok());
        for (i, bad) in ["0", "0            256", "-3", "1.5", "'a'"]
            .into_iter()
            .enumerate()
        {
            let mut cards = good.to_vec();
            cards[5 + i % 2].1 = bad;
            assert!(compressed(&header(&cards)).is_err(), "{bad}");
        }
        let mut cards = good.to_vec();
        cards[2].1 = "7";
        assert!(compressed(&header(&cards)).is_err());
        cards[2].1 = "2";
        cards[1].1 = "7";
        assert!(compressed(&header(&cards)).is_err());
    }

    #[test]
    fn data_sizes() {
        let h = header(&[
            ("BITPIX", "-32"),
            ("NAXIS", "2"),
            ("NAXIS1", "10"),
            ("NAXIS2", "3"),
        ]);
        assert_eq!(data_bytes(&h), Some(120));
        let h = header(&[
            ("BITPIX", "8"),
            ("NAXIS", "2"),
            ("NAXIS1", "24"),
            ("NAXIS2", "2"),
            ("PCOUNT", "100"),
        ]);
        assert_eq!(data_bytes(&h), Some(148));
        let h = header(&[
            ("BITPIX", "8"),
            ("NAXIS", "2"),
            ("NAXIS1", "-1"),
            ("NAXIS2", "2"),
        ]);
        assert_eq!(data_bytes(&h), None);
    }
}
