//! Hand-made hostile tile-compressed files: each one killed cfitsio (and with it `toyz info`, `toyz
//! tiles build` and the server) before toyz decoded tiles itself. They are made from real `.fz` files
//! written by cfitsio, then edited where a crafted file would lie: a geometry keyword hidden far
//! into the file, a compressed stream's own header, a tile's descriptor, a dither seed. The mutation
//! test feeds every one to the CLI and to a running server (`toyz-skygen --hostile DIR` writes them).

use crate::{write_fz, write_fz_quantised, Compression, SkySpec};
use std::io;
use std::path::{Path, PathBuf};

const BLOCK: usize = 2880;

/// A card of 80 bytes, `KEY = value`.
fn card(key: &str, value: &str) -> [u8; 80] {
    let text = format!("{key:<8}= {value:>20}");
    let mut c = [b' '; 80];
    c[..text.len().min(80)].copy_from_slice(&text.as_bytes()[..text.len().min(80)]);
    c
}

/// Byte offset of the header of HDU `n` and the (cards, data start, data bytes) of each HDU.
struct Hdu {
    header: usize,
    data: usize,
    cards: Vec<String>,
}

fn hdus(b: &[u8]) -> Vec<Hdu> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + BLOCK <= b.len() {
        let header = at;
        let mut cards = Vec::new();
        'blocks: while at + BLOCK <= b.len() {
            for c in b[at..at + BLOCK].chunks_exact(80) {
                let text = String::from_utf8_lossy(c).into_owned();
                let end = text.trim_end() == "END";
                cards.push(text);
                if end {
                    at += BLOCK;
                    break 'blocks;
                }
            }
            at += BLOCK;
        }
        let num = |k: &str| -> usize {
            cards
                .iter()
                .find(|c| c[..8].trim_end() == k)
                .and_then(|c| c[10..].split('/').next()?.trim().parse().ok())
                .unwrap_or(0)
        };
        let naxis = num("NAXIS");
        let mut n = if naxis > 0 { 1 } else { 0 };
        for k in 1..=naxis {
            n *= num(&format!("NAXIS{k}"));
        }
        let bytes = (n + num("PCOUNT")) * num("BITPIX").max(8) / 8;
        let data = at;
        out.push(Hdu {
            header,
            data,
            cards,
        });
        at = data + bytes.div_ceil(BLOCK) * BLOCK;
    }
    out
}

impl Hdu {
    fn num(&self, k: &str) -> usize {
        self.cards
            .iter()
            .find(|c| c[..8].trim_end() == k)
            .and_then(|c| c[10..].split('/').next()?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// (length, heap offset) of tile `row`'s COMPRESSED_DATA (the first column, 32-bit descriptor)
    /// and the file offset of that descriptor.
    fn descriptor(&self, b: &[u8], row: usize) -> (usize, usize, usize) {
        let at = self.data + row * self.num("NAXIS1");
        let be = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        (be(at), be(at + 4), at)
    }

    /// File offset of the heap.
    fn heap(&self) -> usize {
        let theap = self.num("THEAP");
        self.data
            + if theap > 0 {
                theap
            } else {
                self.num("NAXIS1") * self.num("NAXIS2")
            }
    }
}

/// Replace the value of card `key` in the header of HDU `hdu`.
fn set_card(b: &mut [u8], h: &Hdu, key: &str, value: &str) {
    let mut at = h.header;
    while at < h.data {
        if b[at..at + 8].starts_with(key.as_bytes()) && b[at + 8] == b'=' {
            b[at..at + 80].copy_from_slice(&card(key, value));
            return;
        }
        at += 80;
    }
    panic!("no {key} card to rewrite");
}

fn fz(
    dir: &Path,
    name: &str,
    spec: &SkySpec,
    comp: Compression,
    quantised: bool,
) -> io::Result<Vec<u8>> {
    let p = dir.join(format!(".{name}.src"));
    if quantised {
        write_fz_quantised(&p, spec, comp)?;
    } else {
        write_fz(&p, spec, comp)?;
    }
    let b = std::fs::read(&p)?;
    std::fs::remove_file(&p)?;
    Ok(b)
}

/// A primary header of `blocks` blocks (COMMENT cards) before the rest of `b`.
fn long_primary(b: &[u8], blocks: usize) -> Vec<u8> {
    let h = &hdus(b)[0];
    let mut out = Vec::with_capacity(b.len() + blocks * BLOCK);
    let end = h
        .cards
        .iter()
        .position(|c| c.trim_end() == "END")
        .expect("END");
    for c in &h.cards[..end] {
        out.extend_from_slice(c.as_bytes());
    }
    let comment = format!(
        "{:<80}",
        "COMMENT padding that pushes the next HDU far into the file"
    );
    for _ in 0..blocks * 36 {
        out.extend_from_slice(comment.as_bytes());
    }
    out.extend_from_slice(format!("{:<80}", "END").as_bytes());
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
    out.extend_from_slice(&b[h.data..]);
    out
}

/// `n` empty IMAGE extensions between the primary HDU and the rest of `b`.
fn empty_extensions(b: &[u8], n: usize) -> Vec<u8> {
    let first = hdus(b)[1].header;
    let mut ext = Vec::with_capacity(BLOCK);
    for (k, v) in [
        ("XTENSION", "'IMAGE   '"),
        ("BITPIX", "8"),
        ("NAXIS", "0"),
        ("PCOUNT", "0"),
        ("GCOUNT", "1"),
    ] {
        ext.extend_from_slice(&card(k, v));
    }
    ext.extend_from_slice(format!("{:<80}", "END").as_bytes());
    ext.resize(BLOCK, b' ');
    let mut out = b[..first].to_vec();
    for _ in 0..n {
        out.extend_from_slice(&ext);
    }
    out.extend_from_slice(&b[first..]);
    out
}

/// Where the compressed tiles of a `.fz` file's first extension are (its heap, without the padding):
/// the bytes a stream mutation flips.
pub fn heap_range(b: &[u8]) -> std::ops::Range<usize> {
    let all = hdus(b);
    let h = &all[1];
    let start = h.heap();
    let end = h.data + h.num("NAXIS1") * h.num("NAXIS2") + h.num("PCOUNT");
    start..end.min(b.len())
}

/// Write every hostile file into `dir`; their paths, named by what they hold.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let float = SkySpec::new(300, 200);
    let mut ints = SkySpec::new(240, 200);
    ints.bitpix = 32;

    // ZTILE1 = 0 (cfitsio divides by it while opening) where a bounded header check stopped looking.
    let rice = fz(dir, "rice", &float, Compression::Rice, false)?;
    let mut b = long_primary(&rice, 1001);
    let h = hdus(&b).remove(1);
    set_card(&mut b, &h, "ZTILE1", "0");
    files.push(("ztile0-after-long-header.fits", b));
    let mut b = empty_extensions(&rice, 10_001);
    let h = hdus(&b).pop().expect("the compressed HDU");
    set_card(&mut b, &h, "ZTILE1", "0");
    files.push(("ztile0-after-10001-extensions.fits", b));

    // HCOMPRESS streams whose own header disagrees with the tile (nx, ny after the 2-byte magic),
    // and a tile descriptor that gives the stream too few bytes.
    let hc = fz(dir, "hcomp", &ints, Compression::Hcompress, false)?;
    let h = hdus(&hc).remove(1);
    let (_, off, _) = h.descriptor(&hc, 0);
    let stream = h.heap() + off;
    for (name, nx, ny) in [
        ("hcompress-30000x30000.fits", 30000u32, 30000u32),
        ("hcompress-64x200.fits", 64, 200),
        ("hcompress-200x64.fits", 200, 64),
    ] {
        let mut b = hc.clone();
        b[stream + 2..stream + 6].copy_from_slice(&nx.to_be_bytes());
        b[stream + 6..stream + 10].copy_from_slice(&ny.to_be_bytes());
        files.push((name, b));
    }
    for (name, len) in [
        ("hcompress-short-descriptor.fits", 12u32),
        ("hcompress-3-bytes.fits", 3),
    ] {
        let mut b = hc.clone();
        let (_, _, at) = h.descriptor(&b, 0);
        b[at..at + 4].copy_from_slice(&len.to_be_bytes());
        files.push((name, b));
    }

    // PLIO: a stream whose own length words (4 and 5 of its 7-word header) promise about 2^30 words
    // where the tile holds a few hundred.
    let pl = fz(dir, "plio", &ints, Compression::Plio, false)?;
    let h = hdus(&pl).remove(1);
    let (_, off, _) = h.descriptor(&pl, 0);
    let mut b = pl.clone();
    let s = h.heap() + off;
    for (w, v) in [(3, 0x7fffu16), (4, 0x7fff)] {
        b[s + 2 * w..s + 2 * w + 2].copy_from_slice(&v.to_be_bytes());
    }
    files.push(("plio-lying-header.fits", b));

    // Dither seeds outside 1…10000 index before cfitsio's table of random numbers.
    let gz = fz(dir, "gzip-dither", &float, Compression::Gzip, true)?;
    for (name, seed) in [
        ("gzip-dither-negative.fits", "-5"),
        ("gzip-dither-int-min.fits", "-2147483648"),
        ("gzip-dither-zero.fits", "0"),
    ] {
        let mut b = gz.clone();
        let h = hdus(&b).remove(1);
        set_card(&mut b, &h, "ZDITHER0", seed);
        files.push((name, b));
    }
    let mut b = fz(dir, "rice-dither", &float, Compression::Rice, false)?;
    let h = hdus(&b).remove(1);
    set_card(&mut b, &h, "ZDITHER0", "2147483647");
    files.push(("rice-dither-int-max.fits", b));

    let mut out = Vec::new();
    for (name, b) in files {
        let p = dir.join(name);
        std::fs::write(&p, b)?;
        out.push(p);
    }
    Ok(out)
}
