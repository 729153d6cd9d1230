//! Opening a FITS image: validate the file, list its HDUs, choose HDU and plane, and read rectangles as
//! f32 (BSCALE/BZERO applied, BLANK → NaN) from any thread. Raw big-endian reads for plain files,
//! cfitsio (one handle per thread) for compressed ones.

use crate::error::{FitsError, Result};
pub(crate) use crate::file::io_err;
use crate::file::{FileVersion, Pinned, GZIP_MAX_RATIO};
use crate::handle::{Exact, Handle, IMAGE_HDU};
use crate::header::Header;
use crate::mapped::GuardedMap;
use crate::raster::{check_rect, Value};
use crate::wcs::Wcs;
use serde::Serialize;
use std::cell::RefCell;
use std::io::Read;
use std::os::raw::c_long;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// Which HDU to open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HduSel {
    /// The primary HDU, unless it holds no data: then the first image extension.
    #[default]
    Auto,
    /// 0 is the primary HDU (astropy and `file.fits[1]` count this way).
    Index(usize),
    /// An EXTNAME, compared case-insensitively.
    Name(String),
    /// Every image HDU of the file as one focal-plane image (`mosaic`, `mosaic:wcs`, `mosaic:detsec`).
    Mosaic(crate::mosaic::Layout),
}

impl FromStr for HduSel {
    type Err = FitsError;
    fn from_str(s: &str) -> Result<HduSel> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if s.is_empty() || lower == "auto" {
            Ok(HduSel::Auto)
        } else if lower == "mosaic" || lower == "mosaic:wcs" {
            Ok(HduSel::Mosaic(crate::mosaic::Layout::Wcs))
        } else if lower == "mosaic:detsec" {
            Ok(HduSel::Mosaic(crate::mosaic::Layout::Detsec))
        } else if lower.starts_with("mosaic:") {
            Err(FitsError::BadHduSelector(s.to_owned()))
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse()
                .map(HduSel::Index)
                .map_err(|_| FitsError::BadHduSelector(s.to_owned()))
        } else if s.starts_with('-') || s.chars().any(|c| c.is_control()) {
            Err(FitsError::BadHduSelector(s.to_owned()))
        } else {
            Ok(HduSel::Name(s.to_owned()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HduKind {
    Image,
    Table,
}

/// One HDU as `toyz info` lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HduSummary {
    pub index: usize,
    pub extname: Option<String>,
    pub kind: HduKind,
    /// Axis lengths, NAXIS1 first (for tables: columns, rows).
    pub dims: Vec<i64>,
    /// BITPIX of the (decompressed) image; None for tables.
    pub bitpix: Option<i32>,
    pub compressed: bool,
}

impl HduSummary {
    fn has_data(&self) -> bool {
        self.kind == HduKind::Image && !self.dims.is_empty() && self.dims.iter().all(|&d| d > 0)
    }
}

/// Check that `path` is a regular file that starts with a `SIMPLE  =` card set to T (gzip'd files are
/// looked into).
pub fn probe(path: &Path) -> Result<()> {
    probe_pinned(&Pinned::open(path)?)
}

pub(crate) fn probe_pinned(p: &Pinned) -> Result<()> {
    let mut head = [0u8; 80];
    let n = p.read_at(&mut head, 0).map_err(|e| io_err(p.shown(), e))?;
    let card = if n >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        let mut gz = flate2::read::GzDecoder::new(p.reader());
        let mut inner = [0u8; 80];
        let n = read_up_to(&mut gz, &mut inner).unwrap_or(0);
        inner[..n].to_vec()
    } else {
        head[..n].to_vec()
    };
    let ok = card.len() == 80
        && card.starts_with(b"SIMPLE  =")
        && std::str::from_utf8(&card[10..]).is_ok_and(|v| v.trim_start().starts_with('T'));
    if ok {
        Ok(())
    } else {
        Err(FitsError::NotFits {
            path: p.shown().to_owned(),
        })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn summarize(h: &mut Handle, index: usize) -> Result<HduSummary> {
    let extname = h
        .key_raw("EXTNAME")?
        .map(|v| v.trim_matches('\'').trim().to_owned())
        .filter(|v| !v.is_empty());
    let t = h.hdu_type()?;
    if t == IMAGE_HDU {
        let (bitpix, dims) = h.image_geometry()?;
        Ok(HduSummary {
            index,
            extname,
            kind: HduKind::Image,
            dims,
            bitpix: Some(bitpix),
            compressed: h.is_compressed_image(),
        })
    } else {
        let cols = h
            .key_raw("TFIELDS")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let rows = h
            .key_raw("NAXIS2")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(HduSummary {
            index,
            extname,
            kind: HduKind::Table,
            dims: vec![cols, rows],
            bitpix: None,
            compressed: false,
        })
    }
}

/// List every HDU of a FITS file.
pub fn list_hdus(path: &Path) -> Result<Vec<HduSummary>> {
    let p = Pinned::open(path)?;
    probe_pinned(&p)?;
    let mut h = Handle::open_pinned(&p)?;
    list_with(&mut h)
}

pub(crate) fn list_with(h: &mut Handle) -> Result<Vec<HduSummary>> {
    let mut out = Vec::new();
    let mut i = 0;
    while h.move_to(i)? {
        out.push(summarize(h, i)?);
        i += 1;
    }
    Ok(out)
}

/// A table HDU's numeric columns (text and other non-numeric columns are skipped).
#[derive(Debug, Clone)]
pub struct Table {
    pub hdu: usize,
    pub rows: usize,
    pub names: Vec<String>,
    pub columns: Vec<Vec<f64>>,
}

/// The HDU `sel` names: an index, an EXTNAME (case-insensitive), or for `Auto` the first HDU `auto`
/// accepts.
fn select(
    path: &Path,
    hdus: &[HduSummary],
    sel: &HduSel,
    auto: impl Fn(&HduSummary) -> bool,
) -> Result<usize> {
    match sel {
        HduSel::Index(i) if *i < hdus.len() => Ok(*i),
        HduSel::Index(i) => Err(FitsError::HduOutOfRange {
            path: path.to_owned(),
            hdu: *i,
            count: hdus.len(),
        }),
        HduSel::Name(name) => hdus
            .iter()
            .find(|s| {
                s.extname
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(name))
            })
            .map(|s| s.index)
            .ok_or_else(|| FitsError::NoSuchExtname {
                path: path.to_owned(),
                name: name.clone(),
            }),
        HduSel::Mosaic(_) => Err(FitsError::BadHduSelector(
            "mosaic (a mosaic is opened with open_raster, not as one HDU)".into(),
        )),
        HduSel::Auto => hdus
            .iter()
            .find(|s| auto(s))
            .map(|s| s.index)
            .ok_or(FitsError::NoImage {
                path: path.to_owned(),
            }),
    }
}

/// Read the numeric columns of a table HDU (`HduSel::Auto`: the first table).
pub fn read_table(path: &Path, sel: &HduSel, max_rows: usize) -> Result<Table> {
    let p = Pinned::open(path)?;
    probe_pinned(&p)?;
    let path = p.shown();
    let mut h = Handle::open_pinned(&p)?;
    let hdus = list_with(&mut h)?;
    let hdu = select(path, &hdus, sel, |s| s.kind == HduKind::Table).map_err(|e| match e {
        FitsError::NoImage { path } => FitsError::NoTable { path },
        e => e,
    })?;
    if hdus[hdu].kind != HduKind::Table {
        return Err(FitsError::NotAnImage {
            path: path.to_owned(),
            hdu,
            kind: "an image (a table was expected)",
        });
    }
    h.move_to(hdu)?;
    let (nrows, cols) = h.table_layout()?;
    let rows = (nrows.max(0) as usize).min(max_rows);
    let header = Header::from_records(h.header_cards()?);
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for (i, (t, repeat)) in cols.iter().enumerate() {
        // cfitsio type codes: 16 = string (TSTRING), 1 = bit (TBIT), 14 = logical; the rest are numbers.
        if matches!(t.abs(), 16 | 1 | 14) || *repeat < 1 {
            continue;
        }
        let name = header
            .str(&format!("TTYPE{}", i + 1))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("col{}", i + 1));
        columns.push(h.read_column_f64(i as i32 + 1, rows as i64, *repeat)?);
        names.push(name);
    }
    Ok(Table {
        hdu,
        rows,
        names,
        columns,
    })
}

/// The longest image side toyz opens: a 256-row band of it is 1 GiB of f32.
pub const MAX_SIDE: i64 = 1 << 20;
/// The most pixels (all planes) toyz opens.
pub const MAX_PIXELS: u64 = 1 << 40;

/// Refuse sizes a header cannot honestly claim, before anything is allocated for them: sides beyond
/// `MAX_SIDE`, more than `MAX_PIXELS` pixels, or (gzip) more bytes than the file can decompress to.
/// All arithmetic is checked.
fn check_size(path: &Path, dims: &[i64], bitpix: i32, gz: bool, file_len: u64) -> Result<()> {
    let too_large = |message: String| FitsError::TooLarge {
        path: path.to_owned(),
        message,
    };
    if let Some(&d) = dims.iter().take(2).find(|&&d| !(1..=MAX_SIDE).contains(&d)) {
        return Err(too_large(format!(
            "an axis of {d} pixels (toyz opens images up to {MAX_SIDE} pixels a side)"
        )));
    }
    let pixels = dims
        .iter()
        .try_fold(1u64, |a, &d| {
            u64::try_from(d).ok().and_then(|d| a.checked_mul(d))
        })
        .filter(|&n| n <= MAX_PIXELS)
        .ok_or_else(|| {
            too_large(format!(
                "{} pixels in all (toyz opens up to {MAX_PIXELS})",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" x ")
            ))
        })?;
    let bytes = pixels.saturating_mul((bitpix.unsigned_abs() / 8) as u64);
    if gz && bytes > file_len.saturating_mul(GZIP_MAX_RATIO) {
        return Err(too_large(format!(
            "the header claims {bytes} bytes of data, more than a {file_len}-byte gzip file can decompress to"
        )));
    }
    Ok(())
}

/// Where an uncompressed image's pixels sit in the file, for direct big-endian reads.
#[derive(Debug, Clone)]
struct RawLayout {
    file: Arc<Pinned>,
    data_start: u64,
    /// The data mapped read-only, for rectangles narrower than a row: one copy instead of one
    /// `pread` per row (256 system calls per tile). Guarded: a truncated file gives an error, not
    /// SIGBUS (see `mapped`). `None` when no guard slot was free; rows are then read with `pread`.
    map: Option<Arc<GuardedMap>>,
}

/// An opened image HDU (one plane of it). `Send + Sync`: share it between threads.
#[derive(Debug)]
pub struct Image {
    path: PathBuf,
    hdu: usize,
    plane: usize,
    planes: usize,
    dims: Vec<i64>,
    width: usize,
    height: usize,
    bitpix: i32,
    bscale: f64,
    bzero: f64,
    blank: Option<i64>,
    compressed: bool,
    header: Header,
    hdus: Vec<HduSummary>,
    wcs: Option<Wcs>,
    wcs_error: Option<String>,
    raw: Option<RawLayout>,
    /// The file, read and reopened only through its descriptor.
    file: Arc<Pinned>,
    /// A tile-compressed image's tiles, decoded here rather than by cfitsio (see `tiled`).
    tiled: Option<crate::tiled::Tiled>,
}

impl Image {
    /// Open `path` at HDU `sel`, plane `plane` (0-based along NAXIS3 and beyond, flattened).
    pub fn open(path: &Path, sel: &HduSel, plane: usize) -> Result<Image> {
        Image::open_pinned(Arc::new(Pinned::open(path)?), sel, plane)
    }

    /// Open HDU `sel` of a file already opened.
    pub fn open_pinned(file: Arc<Pinned>, sel: &HduSel, plane: usize) -> Result<Image> {
        probe_pinned(&file)?;
        let mut h = Handle::open_pinned(&file)?;
        let hdus = list_with(&mut h)?;
        let hdu = select(file.shown(), &hdus, sel, HduSummary::has_data)?;
        Image::open_listed(&file, &mut h, hdus, hdu, plane)
    }

    /// Open HDU `hdu` of a file already listed through `h` (a mosaic opens all its CCDs this way).
    pub(crate) fn open_listed(
        file: &Arc<Pinned>,
        h: &mut Handle,
        hdus: Vec<HduSummary>,
        hdu: usize,
        plane: usize,
    ) -> Result<Image> {
        let path = file.shown();
        let file_len = file.len();
        let chosen = &hdus[hdu];
        if chosen.kind == HduKind::Table || !chosen.has_data() {
            return Err(FitsError::NotAnImage {
                path: path.to_owned(),
                hdu,
                kind: if chosen.kind == HduKind::Table {
                    "a table"
                } else {
                    "an HDU without data"
                },
            });
        }
        h.move_to(hdu)?;
        let s = &hdus[hdu];
        let dims = s.dims.clone();
        check_size(
            path,
            &dims,
            s.bitpix.unwrap_or(-32),
            file.is_gzip(),
            file_len,
        )?;
        let width = dims[0] as usize;
        let height = dims.get(1).copied().unwrap_or(1) as usize;
        let planes: usize = dims.iter().skip(2).map(|&d| d as usize).product();
        if plane >= planes {
            return Err(FitsError::PlaneOutOfRange {
                path: path.to_owned(),
                hdu,
                plane,
                planes,
            });
        }
        let header = Header::from_records(h.header_cards()?);
        let compressed = s.compressed;
        let bitpix = s.bitpix.unwrap_or(-32);
        let (bscale, bzero, blank) = if compressed {
            // cfitsio applies ZSCALE/ZZERO/ZBLANK itself on this path.
            (1.0, 0.0, None)
        } else {
            (
                header.f64("BSCALE").unwrap_or(1.0),
                header.f64("BZERO").unwrap_or(0.0),
                header.i64("BLANK"),
            )
        };

        // The data the header promises must be in the file (checked for plain files; cfitsio reports
        // short reads of compressed ones itself).
        let gz = file.is_gzip();
        let (_, data_start, _) = h.hdu_offsets()?;
        if !gz {
            let raw_bitpix: i64 = h.key_num("BITPIX", 8)?;
            let naxis: i64 = h.key_num("NAXIS", 0)?;
            let mut n: u64 = if naxis > 0 { 1 } else { 0 };
            for k in 1..=naxis {
                n = n.saturating_mul(h.key_num(&format!("NAXIS{k}"), 0u64)?);
            }
            let pcount: u64 = h.key_num("PCOUNT", 0)?;
            let gcount: u64 = h.key_num("GCOUNT", 1)?;
            let bytes = (raw_bitpix.unsigned_abs() / 8)
                .saturating_mul(gcount)
                .saturating_mul(n.saturating_add(pcount));
            let need = data_start.saturating_add(bytes);
            if need > file_len {
                return Err(FitsError::Truncated {
                    path: path.to_owned(),
                    hdu,
                    need,
                    have: file_len,
                });
            }
        }
        let tiled = if compressed {
            if gz {
                // Tiles are read at their offsets: the server and `tiles build` unpack a gzip'd file
                // first (`Pinned::open_unpacked`).
                return Err(FitsError::Corrupt {
                    path: path.to_owned(),
                    message: "a tile-compressed image inside a gzip'd file: gunzip it first".into(),
                });
            }
            Some(
                crate::tiled::Tiled::from_header(&header, data_start, file_len).map_err(
                    |message| FitsError::Corrupt {
                        path: path.to_owned(),
                        message: format!("HDU {hdu}: {message}"),
                    },
                )?,
            )
        } else {
            None
        };
        let raw = if !gz && !compressed {
            let bytes =
                (width * height * planes).saturating_mul((bitpix.unsigned_abs() / 8) as usize);
            Some(RawLayout {
                file: file.clone(),
                data_start,
                // A file already shorter than its header says is read with `pread`: the rows it
                // holds stay readable (a map would report the whole image as cut short).
                map: (file.len() >= data_start.saturating_add(bytes as u64))
                    .then(|| GuardedMap::new(file.file(), data_start, bytes).map(Arc::new))
                    .flatten(),
            })
        } else {
            None
        };
        let (wcs, wcs_error) = match Wcs::from_header(&header, width, height) {
            Ok(w) => (w, None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(Image {
            path: path.to_owned(),
            hdu,
            plane,
            planes,
            dims,
            width,
            height,
            bitpix,
            bscale,
            bzero,
            blank,
            compressed,
            header,
            hdus,
            wcs,
            wcs_error,
            raw,
            file: file.clone(),
            tiled,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn hdu(&self) -> usize {
        self.hdu
    }
    pub fn plane(&self) -> usize {
        self.plane
    }
    pub fn planes(&self) -> usize {
        self.planes
    }
    pub fn dims(&self) -> &[i64] {
        &self.dims
    }
    pub fn width(&self) -> usize {
        self.width
    }
    pub fn height(&self) -> usize {
        self.height
    }
    pub fn bitpix(&self) -> i32 {
        self.bitpix
    }
    /// (BSCALE, BZERO, BLANK) of an uncompressed image; compressed ones report the header's Z keys.
    pub fn scaling(&self) -> (f64, f64, Option<i64>) {
        if self.compressed {
            (
                self.header.f64("ZSCALE").unwrap_or(1.0),
                self.header.f64("ZZERO").unwrap_or(0.0),
                self.header.i64("ZBLANK"),
            )
        } else {
            (self.bscale, self.bzero, self.blank)
        }
    }
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Width of the compression tiles of a tile-compressed image (ZTILE1; fpack's default is whole rows).
    pub fn compression_tile_width(&self) -> Option<usize> {
        if !self.compressed {
            return None;
        }
        Some(
            self.header
                .i64("ZTILE1")
                .map_or(self.width, |t| t.max(1) as usize),
        )
    }

    /// Read through cfitsio even where the direct big-endian path or the Rust tile decoders apply:
    /// for comparing the paths on trusted files (tests and benches/engine.rs).
    pub fn force_cfitsio(&mut self) {
        self.raw = None;
        self.tiled = None;
    }

    /// Bring the image's data into memory ahead of tile reads: into the page cache
    /// (`POSIX_FADV_WILLNEED`) and, when it is mapped, into this process's page tables
    /// (`MADV_POPULATE_READ`: without it, a cold tile takes a page fault per row). Blocks until the
    /// pages are in for a mapped file: call it in the background. Does nothing for compressed files.
    pub fn prefault(&self) {
        #[cfg(target_os = "linux")]
        if let Some(raw) = &self.raw {
            use std::os::fd::AsRawFd;
            let bytes = (self.width * self.height * self.planes) as i64
                * (self.bitpix.unsigned_abs() / 8) as i64;
            // SAFETY: plain syscall on a descriptor this image owns.
            unsafe {
                libc::posix_fadvise(
                    raw.file.file().as_raw_fd(),
                    raw.data_start as i64,
                    bytes,
                    libc::POSIX_FADV_WILLNEED,
                );
            }
            if let Some(map) = &raw.map {
                map.populate();
            }
        }
    }

    /// True when reads go straight to the file's bytes rather than through cfitsio.
    pub fn raw_reads(&self) -> bool {
        self.raw.is_some()
    }
    pub fn header(&self) -> &Header {
        &self.header
    }
    pub fn hdus(&self) -> &[HduSummary] {
        &self.hdus
    }
    pub fn wcs(&self) -> Option<&Wcs> {
        self.wcs.as_ref()
    }
    /// Move the WCS out (a mosaic keeps its CCDs' WCS itself once they are placed).
    pub(crate) fn take_wcs(&mut self) -> Option<Wcs> {
        self.wcs.take()
    }

    /// Why a header that has WCS keys could not be used, if that happened.
    pub fn wcs_error(&self) -> Option<&str> {
        self.wcs_error.as_deref()
    }
    /// The version of the file when it was opened.
    pub fn version(&self) -> FileVersion {
        self.file.version()
    }
    pub fn bunit(&self) -> Option<&str> {
        self.header.str("BUNIT")
    }

    /// Read the `w`×`h` rectangle whose lower-left pixel is (x0, y0), 0-based in FITS order (row 0 is
    /// FITS row 1, the bottom). `out` receives `h` rows of `w` values, bottom row first.
    pub fn read_rect(
        &self,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        out: &mut [f32],
    ) -> Result<()> {
        check_rect((x0, y0, w, h), (self.width, self.height), out.len())?;
        let out = &mut out[..w * h];
        match (&self.raw, &self.tiled) {
            (Some(raw), _) => self.read_raw(raw, x0, y0, w, h, out),
            (None, Some(t)) => t
                .read_rect(&self.file, self.plane, x0, y0, w, h, out)
                .map_err(|message| self.corrupt(message)),
            (None, None) => self.read_cfitsio(x0, y0, w, h, out),
        }
    }

    /// Visit the rows of the `w`×`h` rectangle at (x0, y0) (0-based FITS order), bottom row first:
    /// `f(row_index, values)`. Plain files are read (`pread`) and converted row by row into small reused
    /// buffers (no full-size copy); others read the rectangle first.
    pub fn for_each_row(
        &self,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        mut f: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        match &self.raw {
            Some(raw) if w > 0 && h > 0 && x0 + w <= self.width && y0 + h <= self.height => {
                let bpp = (self.bitpix.unsigned_abs() / 8) as usize;
                let mut buf = vec![0f32; w];
                if let Some(map) = &raw.map {
                    for r in 0..h {
                        self.convert(self.mapped_row(map, x0, y0 + r, w), &mut buf);
                        f(r, &buf);
                    }
                    return self.check_map(map);
                }
                let mut bytes = vec![0u8; w * bpp];
                for r in 0..h {
                    self.read_row_bytes(raw, x0, y0 + r, &mut bytes)?;
                    self.convert(&bytes, &mut buf);
                    f(r, &buf);
                }
                Ok(())
            }
            _ => {
                let mut buf = vec![0f32; w * h];
                self.read_rect(x0, y0, w, h, &mut buf)?;
                for (r, row) in buf.chunks_exact(w).enumerate() {
                    f(r, row);
                }
                Ok(())
            }
        }
    }

    /// One pixel value (0-based FITS order) as the renderer sees it (f32; see `value_exact`).
    pub fn value(&self, x: usize, y: usize) -> Result<f32> {
        let mut v = [0f32];
        self.read_rect(x, y, 1, 1, &mut v)?;
        Ok(v[0])
    }

    /// The stored value at (x, y) (0-based FITS order), exactly: never through f32. `None` for BLANK
    /// and NaN pixels.
    pub fn value_exact(&self, x: usize, y: usize) -> Result<Option<Value>> {
        check_rect((x, y, 1, 1), (self.width, self.height), 1)?;
        let (scale, zero, _) = self.scaling();
        // Integer data with an integral offset and unit scale stays an integer (the unsigned
        // conventions BZERO = 2^15, 2^31, 2^63 included).
        let integral = self.bitpix > 0 && scale == 1.0 && zero.fract() == 0.0;
        let scaled = |v: f64| Value::Scaled {
            value: v,
            decimals: crate::raster::scaled_decimals(scale, zero),
        };
        if let Some(raw) = &self.raw {
            let bpp = (self.bitpix.unsigned_abs() / 8) as usize;
            let index = (self.plane * self.height + y) * self.width + x;
            let mut b = [0u8; 8];
            raw.file
                .file()
                .read_exact_at(&mut b[..bpp], raw.data_start + (index * bpp) as u64)
                .map_err(|e| io_err(&self.path, e))?;
            let int = |v: i64| -> Option<Value> {
                if self.blank == Some(v) {
                    None
                } else if integral {
                    let sum = v as i128 + zero as i128;
                    Some(match i64::try_from(sum) {
                        Ok(i) => Value::Int(i),
                        Err(_) => Value::UInt(sum as u64),
                    })
                } else {
                    Some(scaled(v as f64 * scale + zero))
                }
            };
            let identity = scale == 1.0 && zero == 0.0;
            return Ok(match self.bitpix {
                8 => int(b[0] as i64),
                16 => int(i16::from_be_bytes([b[0], b[1]]) as i64),
                32 => int(i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64),
                64 => int(i64::from_be_bytes(b)),
                -32 => {
                    let v = f32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    // NaN is no data; an infinity is a value (shown as inf, never as NaN).
                    match (!v.is_nan(), identity) {
                        (false, _) => None,
                        (true, true) => Some(Value::F32(v)),
                        (true, false) => Some(Value::F64(v as f64 * scale + zero)),
                    }
                }
                _ => {
                    let v = f64::from_be_bytes(b) * scale + zero;
                    (!v.is_nan()).then_some(Value::F64(v))
                }
            });
        }
        let unsigned = zero >= 9.2e18;
        // Tile-compressed images decode to doubles (as cfitsio reads them: the data is at most
        // 32-bit, or GZIP'd 64-bit below 2^53); gzip'd plain files go through cfitsio, which applies
        // BSCALE/BZERO and BLANK.
        let v = match &self.tiled {
            Some(t) => {
                let f = t
                    .value(&self.file, self.plane, x, y)
                    .map_err(|message| self.corrupt(message))?;
                (!f.is_nan()).then_some(Exact::Float(f))
            }
            None => {
                let mut first: Vec<c_long> = vec![x as c_long + 1, y as c_long + 1];
                let mut p = self.plane;
                for &d in self.dims.iter().skip(2) {
                    first.push((p % d as usize) as c_long + 1);
                    p /= d as usize;
                }
                first.truncate(self.dims.len().max(1));
                // cfitsio decompresses tiles only into types up to 32-bit integers and doubles.
                let as_int = (integral && !self.compressed).then_some(unsigned);
                with_handle(self, |h| {
                    h.move_to(self.hdu)?;
                    h.read_pixel_exact(&first, as_int)
                })?
            }
        };
        Ok(v.and_then(|v| match v {
            Exact::Int(i) => Some(Value::Int(i)),
            Exact::UInt(u) => Some(match i64::try_from(u) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::UInt(u),
            }),
            Exact::Float(f) if f.is_nan() => None,
            Exact::Float(f) if integral && f.abs() < 9.2e18 => Some(Value::Int(f as i64)),
            // float32 data (quantised or not) is float32 once decompressed, as funpack writes it.
            Exact::Float(f) if self.bitpix == -32 && scale == 1.0 && zero == 0.0 => {
                Some(Value::F32(f as f32))
            }
            // Integer data with a scale or a fractional offset: the decimals they hold.
            Exact::Float(f) if self.bitpix > 0 => Some(scaled(f)),
            Exact::Float(f) => Some(Value::F64(f)),
        }))
    }

    /// Rows `top..top+n` counted from the top of the displayed image, top row first, full width.
    pub fn read_band(&self, top: usize, n: usize, band: &mut [f32]) -> Result<()> {
        use rayon::prelude::*;
        let (w, h) = (self.width, self.height);
        let band = &mut band[..w * n];
        // cfitsio decompresses on the calling thread: read column strips in parallel, each a whole
        // number of compression tiles wide (with fpack's default row tiles the band is one read).
        match self
            .compression_tile_width()
            .map(|t| t.div_ceil(256).max(2) * 256)
        {
            Some(strip) => {
                let y0 = h - top - n; // FITS row (0-based) of the band's bottom row
                let strips: Vec<(usize, Vec<f32>)> = (0..w)
                    .step_by(strip.min(w))
                    .collect::<Vec<_>>()
                    .par_iter()
                    .map(|&x0| {
                        let sw = strip.min(w - x0);
                        let mut b = vec![0f32; sw * n];
                        self.read_rect(x0, y0, sw, n, &mut b).map(|_| (x0, b))
                    })
                    .collect::<Result<_>>()?;
                // FITS rows go bottom-up; the display goes top-down.
                for (x0, b) in strips {
                    let sw = b.len() / n;
                    for r in 0..n {
                        let src = &b[(n - 1 - r) * sw..(n - r) * sw];
                        band[r * w + x0..r * w + x0 + sw].copy_from_slice(src);
                    }
                }
                Ok(())
            }
            // Plain files: each row read and converted straight into its display position, in parallel.
            None => band
                .par_chunks_mut(w)
                .enumerate()
                .try_for_each(|(r, row)| self.read_rect(0, h - 1 - (top + r), w, 1, row)),
        }
    }

    fn read_raw(
        &self,
        raw: &RawLayout,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        out: &mut [f32],
    ) -> Result<()> {
        let bpp = (self.bitpix.unsigned_abs() / 8) as usize;
        let plane_off = (self.plane * self.width * self.height) as u64;
        let io = |e| io_err(&self.path, e);
        if x0 == 0 && w == self.width {
            // Whole rows are contiguous: one read.
            let mut buf = vec![0u8; w * h * bpp];
            let off = raw.data_start + (plane_off + (y0 * self.width) as u64) * bpp as u64;
            raw.file.file().read_exact_at(&mut buf, off).map_err(io)?;
            self.convert(&buf, out);
        } else if let Some(map) = &raw.map {
            for r in 0..h {
                self.convert(
                    self.mapped_row(map, x0, y0 + r, w),
                    &mut out[r * w..(r + 1) * w],
                );
            }
            self.check_map(map)?;
        } else {
            let mut buf = vec![0u8; w * bpp];
            for r in 0..h {
                self.read_row_bytes(raw, x0, y0 + r, &mut buf)?;
                self.convert(&buf, &mut out[r * w..(r + 1) * w]);
            }
        }
        Ok(())
    }

    /// The raw bytes of `buf.len() / bpp` pixels of FITS row `y` from column `x0`, by `pread`: a file
    /// shortened since it was opened gives an error here, never a fault.
    fn read_row_bytes(&self, raw: &RawLayout, x0: usize, y: usize, buf: &mut [u8]) -> Result<()> {
        let bpp = (self.bitpix.unsigned_abs() / 8) as u64;
        let index = (self.plane * self.height + y) * self.width + x0;
        raw.file
            .file()
            .read_exact_at(buf, raw.data_start + index as u64 * bpp)
            .map_err(|e| io_err(&self.path, e))
    }

    /// The raw bytes of `w` pixels of FITS row `y` from column `x0`, in the map (zeros where the file
    /// was cut short since: see `check_map`).
    fn mapped_row<'m>(&self, map: &'m GuardedMap, x0: usize, y: usize, w: usize) -> &'m [u8] {
        let bpp = (self.bitpix.unsigned_abs() / 8) as usize;
        let index = (self.plane * self.height + y) * self.width + x0;
        &map.bytes()[index * bpp..(index + w) * bpp]
    }

    /// After reading through the map: an error if the file was cut short under the read, as a short
    /// `pread` would give.
    fn check_map(&self, map: &GuardedMap) -> Result<()> {
        if map.faulted() {
            return Err(io_err(
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file was shortened while it was read",
                ),
            ));
        }
        Ok(())
    }

    fn corrupt(&self, message: String) -> FitsError {
        FitsError::Corrupt {
            path: self.path.clone(),
            message,
        }
    }

    /// Big-endian raw values → physical f32, BLANK → NaN.
    fn convert(&self, buf: &[u8], out: &mut [f32]) {
        let (scale, zero) = (self.bscale, self.bzero);
        let identity = scale == 1.0 && zero == 0.0;
        macro_rules! ints {
            ($t:ty, $n:expr) => {{
                let blank = self.blank;
                for (o, c) in out.iter_mut().zip(buf.chunks_exact($n)) {
                    let v = <$t>::from_be_bytes(c.try_into().unwrap());
                    *o = if blank == Some(v as i64) {
                        f32::NAN
                    } else {
                        (v as f64 * scale + zero) as f32
                    };
                }
            }};
        }
        match self.bitpix {
            8 => {
                let blank = self.blank;
                for (o, &v) in out.iter_mut().zip(buf) {
                    *o = if blank == Some(v as i64) {
                        f32::NAN
                    } else {
                        (v as f64 * scale + zero) as f32
                    };
                }
            }
            16 => ints!(i16, 2),
            32 => ints!(i32, 4),
            64 => ints!(i64, 8),
            -32 if identity => {
                // The common case (float images): a byte swap per value, no branch in the loop.
                for (o, c) in out.iter_mut().zip(buf.chunks_exact(4)) {
                    *o = f32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            -32 => {
                for (o, c) in out.iter_mut().zip(buf.chunks_exact(4)) {
                    let v = f32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                    *o = (v as f64 * scale + zero) as f32;
                }
            }
            _ => {
                for (o, c) in out.iter_mut().zip(buf.chunks_exact(8)) {
                    let v = f64::from_be_bytes(c.try_into().unwrap());
                    *o = (v * scale + zero) as f32;
                }
            }
        }
    }

    fn read_cfitsio(
        &self,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        out: &mut [f32],
    ) -> Result<()> {
        let mut first: Vec<c_long> = vec![x0 as c_long + 1, y0 as c_long + 1];
        let mut last: Vec<c_long> = vec![(x0 + w) as c_long, (y0 + h) as c_long];
        // The plane index decomposes over NAXIS3, NAXIS4, ...
        let mut p = self.plane;
        for &d in self.dims.iter().skip(2) {
            let k = p % d as usize;
            p /= d as usize;
            first.push(k as c_long + 1);
            last.push(k as c_long + 1);
        }
        if self.dims.len() == 1 {
            first.truncate(1);
            last.truncate(1);
        }
        with_handle(self, |h| {
            h.move_to(self.hdu)?;
            h.read_subset(&first, &last, out)
        })
    }
}

struct Cached {
    /// The descriptor's reopen path and the version it had: a reused descriptor number of another
    /// file never matches.
    path: PathBuf,
    version: FileVersion,
    handle: Handle,
}

thread_local! {
    // A few open cfitsio handles per thread: reopening costs a header parse (and a full decompression
    // for .gz files).
    static HANDLES: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}
const HANDLES_PER_THREAD: usize = 4;

fn with_handle<R>(img: &Image, f: impl FnOnce(&mut Handle) -> Result<R>) -> Result<R> {
    HANDLES.with(|cell| {
        let mut v = cell.borrow_mut();
        let (path, version) = (img.file.reopen_path(), img.file.version());
        let pos = v
            .iter()
            .position(|c| c.path == path && c.version == version);
        let idx = match pos {
            Some(i) => i,
            None => {
                let handle = Handle::open_pinned(&img.file)?;
                if v.len() >= HANDLES_PER_THREAD {
                    v.remove(0);
                }
                v.push(Cached {
                    path,
                    version,
                    handle,
                });
                v.len() - 1
            }
        };
        let r = f(&mut v[idx].handle);
        if r.is_err() {
            // A failed read may leave the handle in a bad state: drop it.
            v.remove(idx);
        }
        r
    })
}
