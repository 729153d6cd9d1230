//! Pre-generating tiles: stream the image top to bottom in 256-row bands, render each band's tiles in
//! parallel, shrink it into the next level's band, and so on down to level 0. Memory is about two bands
//! per level whatever the image size. Used by `toyz tiles build` (and later by the server's cache).

use crate::cache::{atomic_write, CacheLayout};
use crate::error::{io, EngineError, Result};
use crate::geometry::TILE;
use crate::levels::downsample;
use crate::render::Renderer;
use crate::source::Source;
use crate::spec::{RenderSpec, Stretch};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

/// Where tiles go.
#[derive(Debug, Clone)]
pub enum Target {
    /// The server's cache: `<root>/<source-id>/<render-id>/<z>/<x>/<y>.png`, plus float levels.
    Cache(PathBuf),
    /// The server's cache in any tile store (an object store shared by replicas), with the float
    /// levels in the local folder `levels`.
    Store {
        levels: PathBuf,
        tiles: std::sync::Arc<dyn crate::TileStore>,
    },
    /// A plain tree `DIR/<z>/<x>/<y>.png` with `DIR/tiles.json`, for any static web server.
    Out(PathBuf),
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub spec: RenderSpec,
    /// Inclusive zoom range; `None` = all levels.
    pub zoom: Option<(u32, u32)>,
    /// Re-render tiles that already exist.
    pub force: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub dir: PathBuf,
    pub source_id: String,
    pub render_id: String,
    pub tiles: u64,
    pub written: u64,
    pub skipped: u64,
    /// Nothing to do: a complete build with the same source and spec was already there.
    pub up_to_date: bool,
    pub lo: f64,
    pub hi: f64,
}

/// `tiles.json` (for --out) and `render.json` (in the cache): what was built, from what, how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TilesManifest {
    pub toyz: u32,
    pub width: usize,
    pub height: usize,
    pub zmax: u32,
    pub tile_size: usize,
    pub format: String,
    pub layout: String,
    pub zoom: [u32; 2],
    pub tiles: u64,
    pub source: SourceInfo,
    pub render: RenderInfo,
    pub bunit: Option<String>,
    pub wcs: Option<toyz_fits::WcsSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    pub path: PathBuf,
    pub hdu: usize,
    pub plane: usize,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RenderInfo {
    pub spec: String,
    pub id: String,
    pub lo: f64,
    pub hi: f64,
}

/// What an `--out` folder holds: written before its first tile and kept through interrupted builds, so
/// a build of another source or spec into it (even while the first is running or after it was
/// stopped) is refused rather than mixing two renders.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct OutClaim {
    source_id: String,
    render_id: String,
}

const CLAIM: &str = "toyz-out.json";

/// Claim `dir` for (source, render): a folder claimed for something else is refused unless `force`,
/// which first removes its tiles (the numbered level folders, tiles.json) and claims it anew.
fn claim_out_dir(dir: &Path, sid: &str, rid: &str, force: bool) -> Result<()> {
    let want = OutClaim {
        source_id: sid.to_owned(),
        render_id: rid.to_owned(),
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(CLAIM);
    let held =
        |p: &Path| -> Option<OutClaim> { serde_json::from_slice(&std::fs::read(p).ok()?).ok() };
    // A folder of tiles from before claims existed: its tiles.json says what it holds.
    let legacy = || -> Option<OutClaim> {
        let m: TilesManifest =
            serde_json::from_slice(&std::fs::read(dir.join("tiles.json")).ok()?).ok()?;
        Some(OutClaim {
            source_id: m.source.id,
            render_id: m.render.id,
        })
    };
    let current = held(&path).or_else(legacy);
    match current {
        Some(c) if c == want => return Ok(()),
        Some(_) if !force => {
            return Err(EngineError::Conflict(format!(
                "{} holds tiles of another source or render spec; use --force to replace them",
                dir.display()
            )))
        }
        Some(_) => {
            for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let p = e.path();
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) && p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(io(&p))?;
                } else if name == "tiles.json" || name == CLAIM {
                    std::fs::remove_file(&p).map_err(io(&p))?;
                }
            }
        }
        None => {}
    }
    // Claimed atomically: of two builds starting at once, one writes the claim and the other reads it.
    let json = serde_json::to_vec_pretty(&want).expect("json");
    // (a whole file linked into place, so a reader never sees it half-written).
    let tmp = crate::cache::temp_path(&path);
    std::fs::write(&tmp, &json).map_err(io(&tmp))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match held(&path) {
            Some(c) if c == want => Ok(()),
            _ => Err(EngineError::Conflict(format!(
                "{} is being filled by another build of another source or render spec",
                dir.display()
            ))),
        },
        Err(e) => Err(io(&path)(e)),
    }
}

/// `manifest.json` of a source in the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceManifest {
    pub toyz: u32,
    pub key: crate::cache::SourceKey,
    pub width: usize,
    pub height: usize,
    pub zmax: u32,
    pub bitpix: i32,
    pub bunit: Option<String>,
    pub stats: crate::stats::Stats,
    /// Float levels 0..zmax−1 are complete in `levels/`.
    pub levels_complete: bool,
}

struct Ctx<'a> {
    src: &'a Source,
    renderer: Renderer,
    zoom: (u32, u32),
    skip_existing: bool,
    tiles: Tiles<'a>,
    cancel: &'a AtomicBool,
    progress: &'a (dyn Fn(u64) + Sync),
    /// Rows of the full-resolution image read so far.
    rows_progress: &'a (dyn Fn(u64) + Sync),
    done: AtomicU64,
    written: AtomicU64,
    skipped: AtomicU64,
}

/// Where a build's tiles are written.
enum Tiles<'a> {
    Dir(PathBuf),
    Store {
        store: &'a dyn crate::TileStore,
        sid: String,
        rid: String,
        /// Keys already in the store (one listing at the start, not a request per tile).
        existing: std::collections::HashSet<String>,
    },
    None,
}

impl Tiles<'_> {
    fn name(&self, z: u32, x: u32, y: u32) -> String {
        match self {
            Tiles::Dir(d) => d
                .join(z.to_string())
                .join(x.to_string())
                .join(format!("{y}.png"))
                .to_string_lossy()
                .into_owned(),
            Tiles::Store { sid, rid, .. } => crate::tilestore::tile_key(sid, rid, z, x, y),
            Tiles::None => String::new(),
        }
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Tiles::Dir(_) => Path::new(name).exists(),
            Tiles::Store { existing, .. } => existing.contains(name),
            Tiles::None => true,
        }
    }

    fn put(&self, name: &str, png: &[u8]) -> Result<()> {
        match self {
            Tiles::Dir(_) => atomic_write(Path::new(name), png).map_err(io(Path::new(name))),
            Tiles::Store { store, .. } => store.put(name, png).map_err(store_error(*store, name)),
            Tiles::None => Ok(()),
        }
    }
}

/// An error of a tile store, named by store and key.
fn store_error<'a>(
    store: &'a dyn crate::TileStore,
    key: &'a str,
) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io {
        path: PathBuf::from(format!("{}/{key}", store.describe().trim_end_matches('/'))),
        source,
    }
}

struct Level {
    width: usize,
    height: usize,
    buf: Vec<f32>,
    rows: usize,
    start: usize,
    file: Option<(BufWriter<File>, PathBuf, PathBuf)>,
}

/// Build the tiles of `src` into `target`. `progress` receives the number of tiles done so far;
/// setting `cancel` stops the build between tiles (nothing half-written is left under a final name).
pub fn build(
    src: &Source,
    target: &Target,
    opts: &BuildOptions,
    progress: &(dyn Fn(u64) + Sync),
    cancel: &AtomicBool,
) -> Result<BuildReport> {
    let g = src.geometry;
    let zoom = opts.zoom.unwrap_or((0, g.zmax));
    if zoom.0 > zoom.1 || zoom.1 > g.zmax {
        return Err(EngineError::BadZoom {
            a: zoom.0,
            b: zoom.1,
            zmax: g.zmax,
        });
    }
    let spec = &opts.spec;
    let (lo, hi) = src.levels(spec)?;
    let hist = matches!(spec.stretch, Stretch::Histeq).then_some(&src.sample);
    let renderer = Renderer::new(spec, lo, hi, hist)?;
    let rid = spec.id();
    let tiles = g.tile_count(zoom.0, zoom.1);
    let manifest = TilesManifest {
        toyz: 1,
        width: g.width,
        height: g.height,
        zmax: g.zmax,
        tile_size: TILE,
        format: "png".into(),
        layout: "{z}/{x}/{y}.png".into(),
        zoom: [zoom.0, zoom.1],
        tiles,
        source: SourceInfo {
            // An --out folder is published as it is: it names its source by file name only, never
            // by where the file is on the machine that built it.
            path: match target {
                Target::Out(_) => src
                    .key
                    .path
                    .file_name()
                    .map_or_else(|| src.key.path.clone(), PathBuf::from),
                _ => src.key.path.clone(),
            },
            hdu: src.key.hdu,
            plane: src.key.plane,
            id: src.id.clone(),
        },
        render: RenderInfo {
            spec: spec.normal_form(),
            id: rid.clone(),
            lo,
            hi,
        },
        bunit: src.image.bunit().map(str::to_owned),
        wcs: src.image.wcs().map(|w| w.summary().clone()),
    };

    let folder;
    let (store, levels_dir): (Option<&dyn crate::TileStore>, Option<CacheLayout>) = match target {
        Target::Cache(root) => {
            folder = crate::FolderStore::new(root);
            (Some(&folder), Some(CacheLayout::new(root)))
        }
        Target::Store { levels, tiles } => (Some(&**tiles), Some(CacheLayout::new(levels))),
        Target::Out(dir) => {
            claim_out_dir(dir, &src.id, &rid, opts.force)?;
            (None, None)
        }
    };
    let render_key = format!("{}/{rid}/render.json", src.id);
    let (dir, done_marker) = match (store, target) {
        (Some(st), _) => {
            let layout = levels_dir.as_ref().expect("levels");
            write_source_manifest(layout, src, false)?;
            publish_manifest(layout, st, &src.id)?;
            // The spec beside its tiles: the tile URLs of this build work in any server sharing the
            // store, before and without anyone opening the image there.
            let key = crate::tilestore::spec_key(&src.id, &rid);
            if !st.exists(&key).map_err(store_error(st, &key))? {
                let json = serde_json::to_vec_pretty(spec).expect("json");
                st.put(&key, &json).map_err(store_error(st, &key))?;
            }
            let dir = match st.folder() {
                Some(f) => f.join(&src.id).join(&rid),
                None => PathBuf::from(format!("{}/{}/{rid}", st.describe(), src.id)),
            };
            (dir, None)
        }
        (None, Target::Out(d)) => (d.clone(), Some(d.join("tiles.json"))),
        (None, _) => unreachable!("a cache target has a store"),
    };
    let read_marker = || -> Option<Vec<u8>> {
        match (&done_marker, store) {
            (Some(p), _) => std::fs::read(p).ok(),
            (None, Some(st)) => st.get(&render_key).ok().flatten(),
            (None, None) => None,
        }
    };

    // A complete build of the same thing: nothing to do.
    if !opts.force {
        if let Some(old) = read_marker() {
            if let Ok(old) = serde_json::from_slice::<TilesManifest>(&old) {
                if old.render.id == rid
                    && old.source.id == src.id
                    && old.zoom[0] <= zoom.0
                    && old.zoom[1] >= zoom.1
                    && levels_done(levels_dir.as_ref(), src)
                {
                    progress(tiles);
                    return Ok(BuildReport {
                        dir,
                        source_id: src.id.clone(),
                        render_id: rid,
                        tiles,
                        written: 0,
                        skipped: tiles,
                        up_to_date: true,
                        lo,
                        hi,
                    });
                }
            }
        }
    }
    // Remove the marker first: an interrupted rebuild must not look complete.
    match (&done_marker, store) {
        (Some(p), _) => {
            let _ = std::fs::remove_file(p);
        }
        (None, Some(st)) => {
            st.delete_prefix(&render_key)
                .map_err(store_error(st, &render_key))?;
        }
        (None, None) => {}
    }

    let sink = match store {
        Some(st) => {
            let prefix = format!("{}/{rid}/", src.id);
            let existing = if opts.force {
                Default::default()
            } else {
                st.list(&prefix)
                    .map_err(store_error(st, &prefix))?
                    .into_iter()
                    .collect()
            };
            Tiles::Store {
                store: st,
                sid: src.id.clone(),
                rid: rid.clone(),
                existing,
            }
        }
        None => Tiles::Dir(dir.clone()),
    };
    let ctx = Ctx {
        src,
        renderer,
        zoom,
        skip_existing: !opts.force,
        tiles: sink,
        cancel,
        progress,
        rows_progress: &|_| {},
        done: AtomicU64::new(0),
        written: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    };
    let write_levels = levels_dir
        .as_ref()
        .filter(|_| !levels_done(levels_dir.as_ref(), src));
    let result = run(&ctx, write_levels);
    result?;

    if let Some(layout) = write_levels {
        write_source_manifest(layout, src, true)?;
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("json");
    match (&done_marker, store) {
        (Some(p), _) => atomic_write(p, &json).map_err(io(p))?,
        (None, Some(st)) => st
            .put(&render_key, &json)
            .map_err(store_error(st, &render_key))?,
        (None, None) => {}
    }
    Ok(BuildReport {
        dir,
        source_id: src.id.clone(),
        render_id: rid,
        tiles,
        written: ctx.written.load(Ordering::Relaxed),
        skipped: ctx.skipped.load(Ordering::Relaxed),
        up_to_date: false,
        lo,
        hi,
    })
}

/// Write the float levels of `src` into the cache without rendering any tile (what the server needs to
/// serve any tile of a never-seen image), then mark them complete in the source manifest. `rows`
/// receives the number of image rows processed so far (of `src.geometry.height`).
pub fn build_levels(
    src: &Source,
    layout: &CacheLayout,
    rows: &(dyn Fn(u64) + Sync),
    cancel: &AtomicBool,
) -> Result<()> {
    write_source_manifest(layout, src, false)?;
    if levels_done(Some(layout), src) {
        return Ok(());
    }
    let ctx = Ctx {
        src,
        renderer: Renderer::new(&RenderSpec::default(), 0.0, 1.0, None)?,
        zoom: (u32::MAX, u32::MAX), // no level is in range: nothing is rendered
        skip_existing: true,
        tiles: Tiles::None,
        cancel,
        progress: &|_| {},
        rows_progress: rows,
        done: AtomicU64::new(0),
        written: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    };
    run(&ctx, Some(layout))?;
    write_source_manifest(layout, src, true)
}

/// Write `manifest.json` for `src` (always when `levels_complete`, else only if missing).
pub fn write_source_manifest(
    layout: &CacheLayout,
    src: &Source,
    levels_complete: bool,
) -> Result<()> {
    if !levels_complete && layout.manifest(&src.id).exists() {
        return Ok(());
    }
    put_manifest(layout, src, levels_complete)
}

/// Put the source manifest into a tile store that is not the levels' own folder (an object store), so
/// that any server sharing the store finds the source from its id alone.
pub fn publish_manifest(
    layout: &CacheLayout,
    store: &dyn crate::TileStore,
    sid: &str,
) -> Result<()> {
    if store.folder() == Some(layout.root.as_path()) {
        return Ok(());
    }
    let key = crate::tilestore::manifest_key(sid);
    if store.exists(&key).map_err(store_error(store, &key))? {
        return Ok(());
    }
    let m = layout.manifest(sid);
    let bytes = std::fs::read(&m).map_err(io(&m))?;
    store.put(&key, &bytes).map_err(store_error(store, &key))
}

/// Mark the cached levels of `src` as incomplete (damaged on disk): whoever opens it next builds them.
pub fn mark_levels_incomplete(layout: &CacheLayout, src: &Source) -> Result<()> {
    put_manifest(layout, src, false)
}

fn put_manifest(layout: &CacheLayout, src: &Source, levels_complete: bool) -> Result<()> {
    let m = layout.manifest(&src.id);
    let g = src.geometry;
    let sm = SourceManifest {
        toyz: 1,
        key: src.key.clone(),
        width: g.width,
        height: g.height,
        zmax: g.zmax,
        bitpix: src.image.bitpix(),
        bunit: src.image.bunit().map(str::to_owned),
        stats: src.stats.clone(),
        levels_complete,
    };
    atomic_write(&m, &serde_json::to_vec_pretty(&sm).expect("json")).map_err(io(&m))
}

/// True when the cache holds complete float levels for `src`.
pub fn levels_complete(layout: &CacheLayout, src: &Source) -> bool {
    levels_done(Some(layout), src)
}

fn levels_done(layout: Option<&CacheLayout>, src: &Source) -> bool {
    let Some(layout) = layout else { return true };
    std::fs::read(layout.manifest(&src.id))
        .ok()
        .and_then(|b| serde_json::from_slice::<SourceManifest>(&b).ok())
        .is_some_and(|m| m.levels_complete)
}

fn run(ctx: &Ctx, levels_to: Option<&CacheLayout>) -> Result<()> {
    let g = ctx.src.geometry;
    let mut levels: Vec<Level> = (0..=g.zmax)
        .map(|z| {
            let (width, height) = g.level_size(z);
            Ok(Level {
                width,
                height,
                buf: Vec::new(),
                rows: 0,
                start: 0,
                file: match levels_to {
                    Some(layout) if z < g.zmax => {
                        let path = layout.level_file(&ctx.src.id, z);
                        std::fs::create_dir_all(path.parent().expect("levels dir"))
                            .map_err(io(&path))?;
                        let tmp = crate::cache::temp_path(&path);
                        let f = File::create(&tmp).map_err(io(&tmp))?;
                        Some((BufWriter::with_capacity(1 << 20, f), tmp, path))
                    }
                    _ => None,
                },
            })
        })
        .collect::<Result<_>>()?;

    let img = &*ctx.src.image;
    let (w, h) = (img.width(), img.height());
    let result = std::thread::scope(|s| -> Result<()> {
        // Reading runs one band ahead of rendering.
        let (tx, rx) = mpsc::sync_channel::<Result<(usize, Vec<f32>)>>(1);
        let cancel = ctx.cancel;
        s.spawn(move || {
            let mut top = 0;
            while top < h && !cancel.load(Ordering::Relaxed) {
                let n = TILE.min(h - top);
                let r = read_band(img, top, n, w);
                let failed = r.is_err();
                if tx.send(r.map(|b| (n, b))).is_err() || failed {
                    break;
                }
                top += n;
            }
        });
        let mut start = 0;
        for msg in rx {
            let (n, band) = msg?;
            feed(ctx, &mut levels, g.zmax, band, n, start)?;
            start += n;
            (ctx.rows_progress)(start as u64);
            if ctx.cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
        }
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            for l in levels.iter_mut() {
                if let Some((mut f, tmp, path)) = l.file.take() {
                    f.flush().map_err(io(&tmp))?;
                    drop(f);
                    std::fs::rename(&tmp, &path).map_err(io(&path))?;
                }
            }
            Ok(())
        }
        Err(e) => {
            for l in levels.iter_mut() {
                if let Some((f, tmp, _)) = l.file.take() {
                    drop(f);
                    let _ = std::fs::remove_file(tmp);
                }
            }
            Err(e)
        }
    }
}

/// Rows `top..top+n` counted from the top of the displayed image, top row first.
fn read_band(img: &dyn toyz_fits::Raster, top: usize, n: usize, w: usize) -> Result<Vec<f32>> {
    let mut band = vec![0f32; w * n];
    img.read_band(top, n, &mut band)?;
    Ok(band)
}

/// Handle one band of level `z` starting at level row `start`: render its tiles, store it, shrink it into
/// level z−1 and flush that level when it has a full band.
fn feed(
    ctx: &Ctx,
    levels: &mut [Level],
    z: u32,
    band: Vec<f32>,
    rows: usize,
    start: usize,
) -> Result<()> {
    let lw = levels[z as usize].width;
    if z >= ctx.zoom.0 && z <= ctx.zoom.1 {
        render_band(ctx, z, &band, lw, rows, start)?;
    }
    if let Some((f, tmp, _)) = levels[z as usize].file.as_mut() {
        let bytes: Vec<u8> = band[..lw * rows]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        f.write_all(&bytes).map_err(io(tmp))?;
    }
    // Below the lowest requested level, shrinking is only needed to store float levels.
    if z == 0 || (z <= ctx.zoom.0 && levels.iter().all(|l| l.file.is_none())) {
        return Ok(());
    }
    let (ow, oh) = (lw.div_ceil(2), rows.div_ceil(2));
    let next = &mut levels[z as usize - 1];
    if next.buf.is_empty() {
        next.buf = vec![0f32; next.width * TILE.min(next.height)];
        next.start = start / 2;
        next.rows = 0;
    }
    debug_assert_eq!(ow, next.width);
    let off = next.rows * ow;
    downsample(
        &band[..lw * rows],
        lw,
        rows,
        &mut next.buf[off..off + ow * oh],
    );
    next.rows += oh;
    if next.rows == TILE || next.start + next.rows == next.height {
        let buf = std::mem::take(&mut next.buf);
        let (r, s) = (next.rows, next.start);
        feed(ctx, levels, z - 1, buf, r, s)?;
    }
    Ok(())
}

fn render_band(
    ctx: &Ctx,
    z: u32,
    band: &[f32],
    lw: usize,
    rows: usize,
    start: usize,
) -> Result<()> {
    let ty = (start / TILE) as u32;
    let nx = lw.div_ceil(TILE) as u32;
    (0..nx).into_par_iter().try_for_each(|tx| {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let name = ctx.tiles.name(z, tx, ty);
        if ctx.skip_existing && ctx.tiles.exists(&name) {
            ctx.skipped.fetch_add(1, Ordering::Relaxed);
        } else {
            let png = ctx.renderer.tile_png(band, lw, rows, tx as usize * TILE, 0);
            ctx.tiles.put(&name, &png)?;
            ctx.written.fetch_add(1, Ordering::Relaxed);
        }
        let d = ctx.done.fetch_add(1, Ordering::Relaxed) + 1;
        (ctx.progress)(d);
        Ok(())
    })
}

/// Read back a float level written into the cache (for tests and the server): `width`×`height` values.
pub fn read_level(path: &Path) -> std::io::Result<Vec<f32>> {
    let b = std::fs::read(path)?;
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}
