//! `toyz tiles build`: pre-generate the server's tile cache (or a plain static tree) for files and
//! directories, with a progress bar on a terminal, resume, and a clean stop on Ctrl-C.

use crate::{hdu_arg, Fail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use toyz_pyramid::{build, spec, BuildOptions, RenderSpec, Source, Target};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Render tiles for FITS files (directories are searched recursively), or one task of a plan.
    Build(BuildArgs),
    /// Split the tiles of many files into N tasks of similar cost for a batch system (Slurm array
    /// jobs), or say which tasks of a plan are done (--status).
    Plan(crate::plan::PlanArgs),
}

/// Which image and how it is rendered (shared by `tiles build` and `tiles plan`).
#[derive(clap::Args, Clone)]
pub struct SpecArgs {
    /// HDU index (0 = primary) or EXTNAME; `mosaic` for a whole focal plane; default: the first HDU
    /// with an image.
    #[arg(long)]
    pub hdu: Option<String>,
    /// Plane of a cube (0-based).
    #[arg(long, default_value_t = 0)]
    pub plane: usize,
    /// linear | sqrt | squared | log[=A] | power[=P] | asinh[=A] | sinh[=A] | histeq
    #[arg(long, default_value = "linear")]
    pub stretch: String,
    /// minmax | zscale | percentile=P | percentile=LO,HI | range=LO,HI
    #[arg(long, default_value = "zscale")]
    pub cut: String,
    /// Colormap name, `_r` reverses (grey, viridis, heat, ...).
    #[arg(long, default_value = "grey")]
    pub cmap: String,
    /// DS9 contrast (1 = neutral).
    #[arg(long, default_value_t = 1.0)]
    pub contrast: f64,
    /// DS9 bias (0.5 = neutral).
    #[arg(long, default_value_t = 0.5)]
    pub bias: f64,
    /// Invert the colormap.
    #[arg(long)]
    pub invert: bool,
    /// Colour of NaN/blank pixels: transparent, a name, #rrggbb or #rrggbbaa.
    #[arg(long, default_value = "transparent")]
    pub nan: String,
    /// Zoom levels A..B (inclusive; A.., ..B or a single level).
    #[arg(long)]
    pub zoom: Option<String>,
}

/// The zoom range as given: either end may be open.
pub type ZoomArg = Option<(Option<u32>, Option<u32>)>;

impl SpecArgs {
    /// The HDU selection, the render spec and the zoom range, checked.
    pub fn resolve(&self) -> Result<(toyz_fits::HduSel, RenderSpec, ZoomArg), Fail> {
        let sel = hdu_arg(self.hdu.as_deref())?;
        let mut spec = RenderSpec::parse(Some(&self.stretch), Some(&self.cut), Some(&self.cmap))
            .map_err(|e| Fail::input(e.to_string()))?;
        spec.contrast = self.contrast;
        spec.bias = self.bias;
        spec.invert = self.invert;
        spec.nan = spec::parse_colour(&self.nan).map_err(|e| Fail::input(e.to_string()))?;
        spec.validate().map_err(|e| Fail::input(e.to_string()))?;
        let zoom = self.zoom.as_deref().map(parse_zoom).transpose()?;
        Ok((sel, spec, zoom))
    }
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// FITS files or directories.
    #[arg(required_unless_present = "plan")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    spec: SpecArgs,
    /// Tile cache the server reads: a folder, or s3://BUCKET/PREFIX (endpoint and keys from the
    /// AWS_* variables) [default: tile-cache, or the plan's].
    #[arg(long, conflicts_with = "out")]
    cache: Option<PathBuf>,
    /// With an s3:// cache: the local folder of float levels and decompressed copies
    /// [default: tile-cache].
    #[arg(long, conflicts_with = "out")]
    levels: Option<PathBuf>,
    /// Write a plain DIR/{z}/{x}/{y}.png tree with tiles.json instead of the cache.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Re-render tiles that already exist.
    #[arg(long)]
    force: bool,
    /// Run one task of a plan from `toyz tiles plan` (its files and render spec).
    #[arg(long, requires = "task", conflicts_with_all = [
        "paths", "out", "hdu", "plane", "stretch", "cut", "cmap", "contrast", "bias", "invert",
        "nan", "zoom"
    ])]
    plan: Option<PathBuf>,
    /// The task of --plan to run, 0-based [default: $SLURM_ARRAY_TASK_ID].
    #[arg(long, env = "SLURM_ARRAY_TASK_ID")]
    task: Option<usize>,
}

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

pub fn run(cmd: Cmd) -> Result<(), Fail> {
    match cmd {
        Cmd::Build(a) => build_cmd(a),
        Cmd::Plan(a) => crate::plan::plan_cmd(a),
    }
}

/// Where `--cache`/`--levels` put tiles: a folder cache, or an object store with local levels.
pub fn cache_target(cache: &Path, levels: Option<&Path>) -> Result<Target, Fail> {
    use toyz_pyramid::CacheLocation;
    let loc = CacheLocation::parse(cache).map_err(Fail::input)?;
    let levels_dir = match (&loc, levels) {
        (CacheLocation::Folder(_), Some(_)) => {
            return Err(Fail::input(
                "--levels: only for an s3:// cache (a folder cache keeps its own levels)",
            ))
        }
        (CacheLocation::Folder(_), None) => return Ok(Target::Cache(cache.to_owned())),
        (_, l) => l.map_or_else(|| PathBuf::from("tile-cache"), Path::to_owned),
    };
    let store = loc
        .open(&toyz_pyramid::objstore::S3Options::default())
        .map_err(|e| {
            Fail::input(format!(
                "cannot use the tile cache {}: {e}",
                cache.display()
            ))
        })?;
    Ok(Target::Store {
        levels: levels_dir,
        tiles: store,
    })
}

/// Tiles over all the files one command built.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub files: usize,
    pub tiles: u64,
    pub written: u64,
    pub kept: u64,
}

pub fn parse_zoom(s: &str) -> Result<(Option<u32>, Option<u32>), Fail> {
    let bad = || {
        Fail::input(format!(
            "--zoom '{s}': expected A..B, A.., ..B or a level number"
        ))
    };
    let num = |t: &str| -> Result<Option<u32>, Fail> {
        if t.is_empty() {
            Ok(None)
        } else {
            t.trim().parse().map(Some).map_err(|_| bad())
        }
    };
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if let (Some(a), Some(b)) = (a, b) {
                if a > b {
                    return Err(bad());
                }
            }
            Ok((a, b))
        }
        None => {
            let z = num(s)?.ok_or_else(bad)?;
            Ok((Some(z), Some(z)))
        }
    }
}

const FITS_SUFFIXES: [&str; 9] = [
    ".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fz", ".fits.fz", ".fit.fz",
];

fn is_fits_name(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    !n.starts_with('.') && FITS_SUFFIXES.iter().any(|s| n.ends_with(s))
}

pub fn collect(path: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<(), Fail> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Fail::input(format!("{}: no such file or directory", path.display()))
        }
        _ => Fail::input(format!("{}: {e}", path.display())),
    })?;
    if !meta.is_dir() {
        out.push((path.to_owned(), true));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Fail::input(format!("{}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out)?;
        } else if is_fits_name(&p) {
            out.push((p, false));
        }
    }
    Ok(())
}

/// Names a multi-source --out tree keeps for itself: the shared viewer files and the list page.
fn reserved_names() -> Vec<String> {
    vec!["web".to_owned(), "index.html".to_owned()]
}

/// Folder name for one source in a multi-source --out tree: the file name without its FITS suffix, or
/// the whole file name when that is taken (field.fits and field.fits.fz), then numbered.
fn out_name(p: &Path, used: &mut Vec<String>) -> String {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = n.to_ascii_lowercase();
    let stem = FITS_SUFFIXES
        .iter()
        .filter(|s| lower.ends_with(*s))
        .max_by_key(|s| s.len())
        .map(|s| n[..n.len() - s.len()].to_owned())
        .unwrap_or_else(|| n.clone());
    let mut name = if used.contains(&stem) {
        n.clone()
    } else {
        stem
    };
    let base = name.clone();
    let mut k = 2;
    while used.contains(&name) {
        name = format!("{base}-{k}");
        k += 1;
    }
    used.push(name.clone());
    name
}

/// What to build for each file.
pub struct Job {
    pub sel: toyz_fits::HduSel,
    pub plane: usize,
    pub spec: RenderSpec,
    pub zoom: ZoomArg,
    pub force: bool,
    pub jobs: Option<usize>,
}

fn build_cmd(a: BuildArgs) -> Result<(), Fail> {
    if a.jobs == Some(0) {
        return Err(Fail::input("--jobs must be at least 1"));
    }
    if let Some(plan) = &a.plan {
        let task = a.task.ok_or_else(|| Fail::input("--plan needs --task I"))?;
        return crate::plan::run_task(
            plan,
            task,
            a.cache.as_deref(),
            a.levels.as_deref(),
            a.jobs,
            a.force,
        );
    }
    let (sel, spec, zoom) = a.spec.resolve()?;
    let cache = a
        .cache
        .clone()
        .unwrap_or_else(|| PathBuf::from("tile-cache"));
    let is_folder = matches!(
        toyz_pyramid::CacheLocation::parse(&cache).map_err(Fail::input)?,
        toyz_pyramid::CacheLocation::Folder(_)
    );
    for (dir, flag) in [
        (a.out.as_deref(), "--out"),
        (Some(cache.as_path()).filter(|_| is_folder), "--cache"),
        (a.levels.as_deref(), "--levels"),
    ] {
        if let Some(dir) = dir.filter(|d| d.exists() && !d.is_dir()) {
            return Err(Fail::input(format!(
                "{flag} {} is a file, not a folder",
                dir.display()
            )));
        }
    }
    let mut files = Vec::new();
    for p in &a.paths {
        collect(p, &mut files)?;
    }
    if files.is_empty() {
        return Err(Fail::input("no FITS files found under the given paths"));
    }
    let target = match &a.out {
        None => Some(cache_target(&cache, a.levels.as_deref())?),
        Some(_) => None,
    };
    let job = Job {
        sel,
        plane: a.spec.plane,
        spec,
        zoom,
        force: a.force,
        jobs: a.jobs,
    };
    run_files(&files, &job, a.out.as_deref(), target.as_ref()).map(|_| ())
}

/// Build `files` (path, named on the command line) into the cache `target` or the `out` tree.
pub fn run_files(
    files: &[(PathBuf, bool)],
    job: &Job,
    out: Option<&Path>,
    target: Option<&Target>,
) -> Result<Totals, Fail> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(job.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Fail {
            code: 1,
            message: format!("cannot start worker threads: {e}"),
        })?;
    let _ = ctrlc::set_handler(|| {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
            STOP.store(true, Ordering::SeqCst);
            eprintln!("\ntoyz: stopping after the tiles in flight (Ctrl-C again to quit now)");
        } else {
            std::process::exit(130);
        }
    });
    let local = match target {
        Some(Target::Cache(root)) => Some(root),
        Some(Target::Store { levels, .. }) => Some(levels),
        _ => None,
    };
    if let Some(root) = local.filter(|r| r.is_dir()) {
        // Temp files a killed build or server left in the cache are swept first (live writers'
        // are kept: their process still runs).
        let r = toyz_pyramid::gc::prune(&toyz_pyramid::CacheLayout::new(root), 0, &|_| true);
        if r.temp_removed > 0 {
            eprintln!(
                "toyz: removed {} temp files left by a stopped process",
                r.temp_removed
            );
        }
    }
    let mut totals = Totals::default();
    let several = files.len() > 1;
    let mut used = reserved_names();
    let mut failed = 0;
    let mut last_err = None;
    let mut built = Vec::new();
    for (path, explicit) in files {
        let target = match (out, target) {
            (Some(dir), _) if several => Target::Out(dir.join(out_name(path, &mut used))),
            (Some(dir), _) => Target::Out(dir.to_owned()),
            (None, Some(t)) => t.clone(),
            (None, None) => unreachable!("a cache target or an --out folder"),
        };
        // A build that fails into a folder it created leaves nothing behind (a stopped one keeps its
        // tiles to resume).
        let fresh = matches!(&target, Target::Out(d) if !d.exists());
        let r = pool.install(|| build_one(path, job, &target));
        if let (Err(f), Target::Out(dir), true) = (&r, &target, fresh) {
            if f.code != 130 {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        if let (Ok(_), Target::Out(dir), Some(top)) = (&r, &target, out) {
            // The standalone viewer beside the tiles; several images share one copy of its files.
            let href = if several { "../web/" } else { "web/" };
            toyz_server::viewer::write_static_viewer(dir, &top.join("web"), href).map_err(|e| {
                Fail {
                    code: 1,
                    message: format!("cannot write the viewer into {}: {e}", dir.display()),
                }
            })?;
            built.push((dir.clone(), path.clone()));
        }
        match r {
            Ok(t) => {
                totals.files += 1;
                totals.tiles += t.tiles;
                totals.written += t.written;
                totals.kept += t.kept;
            }
            Err(f) if f.code == 130 => return Err(f),
            Err(f) if *explicit || !several => return Err(f),
            Err(f) => {
                eprintln!("toyz: skipping {}: {}", path.display(), f.message);
                failed += 1;
                last_err = Some(f);
            }
        }
    }
    if let (Some(top), true) = (out, several) {
        write_index(top, &built)?;
    }
    if failed > 0 {
        let f = last_err.expect("a failure");
        return Err(Fail {
            code: f.code,
            message: format!(
                "{failed} of {} files could not be tiled (last: {})",
                files.len(),
                f.message
            ),
        });
    }
    Ok(totals)
}

/// `DIR/index.html` of a multi-image --out tree: a link to each image's viewer.
fn write_index(top: &Path, built: &[(PathBuf, PathBuf)]) -> Result<(), Fail> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut items = String::new();
    for (dir, src) in built {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The folder name as a URL path segment: unreserved bytes as they are, the rest %-encoded.
        let href: String = name
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        items.push_str(&format!(
            "<li><a href=\"{href}/index.html\">{}</a> <small>{}</small></li>\n",
            esc(&name),
            // The file's name only: the page is published, the server's folders are not.
            esc(&src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default())
        ));
    }
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>toyz tiles</title>\n\
         <style>body{{font:14px system-ui,sans-serif;background:#111;color:#ddd;margin:2em}}a{{color:#9cf}}small{{color:#888}}</style>\n\
         </head><body><h1>toyz tiles</h1><ul>\n{items}</ul></body></html>\n"
    );
    toyz_pyramid::cache::atomic_write(&top.join("index.html"), html.as_bytes()).map_err(|e| Fail {
        code: 1,
        message: format!("cannot write {}: {e}", top.join("index.html").display()),
    })
}

fn build_one(path: &Path, job: &Job, target: &Target) -> Result<Totals, Fail> {
    let Job {
        sel,
        plane,
        spec,
        zoom,
        force,
        ..
    } = job;
    let (plane, zoom, force) = (*plane, *zoom, *force);
    let t0 = Instant::now();
    // A gzip'd file is decompressed once (into the cache, or a temporary folder for --out) rather
    // than by every worker thread's cfitsio handle.
    let (file, _scratch) = match target {
        Target::Cache(root) | Target::Store { levels: root, .. } => {
            let unpacked = toyz_pyramid::CacheLayout::new(root).unpacked();
            let file = toyz_fits::Pinned::open_unpacked(path, &unpacked)?;
            (std::sync::Arc::new(file), None)
        }
        Target::Out(dir) => {
            // Resuming a build that was killed: its writers' temp files go first.
            toyz_pyramid::gc::sweep_orphan_temps(dir);
            crate::open_file(path)?
        }
    };
    let src = Source::open_pinned(file, sel, plane)?;
    let zmax = src.geometry.zmax;
    let zoom = zoom.map(|(a, b)| (a.unwrap_or(0), b.unwrap_or(zmax)));
    let total = src.geometry.tile_count(
        zoom.map_or(0, |z| z.0),
        zoom.map_or(zmax, |z| z.1.min(zmax)),
    );
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} tiles  {per_sec}  ETA {eta}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        b.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let opts = BuildOptions {
        spec: spec.clone(),
        zoom,
        force,
    };
    let progress = |n: u64| bar.set_position(n);
    let r = build(&src, target, &opts, &progress, &STOP);
    bar.finish_and_clear();
    let rep = r?;
    let secs = t0.elapsed().as_secs_f64();
    if rep.up_to_date {
        crate::out!(
            "{}: up to date ({} tiles in {})",
            path.display(),
            rep.tiles,
            rep.dir.display()
        );
    } else {
        crate::out!(
            "{}: {} tiles ({} written, {} kept) in {:.2} s ({:.0} tiles/s) -> {}  [cut {:.6} .. {:.6}]",
            path.display(),
            rep.tiles,
            rep.written,
            rep.skipped,
            secs,
            rep.tiles as f64 / secs.max(1e-9),
            rep.dir.display(),
            rep.lo,
            rep.hi
        );
    }
    Ok(Totals {
        files: 1,
        tiles: rep.tiles,
        written: rep.written,
        kept: rep.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_syntax() {
        assert!(matches!(parse_zoom("2..5"), Ok((Some(2), Some(5)))));
        assert!(matches!(parse_zoom("3"), Ok((Some(3), Some(3)))));
        assert!(matches!(parse_zoom("..4"), Ok((None, Some(4)))));
        assert!(matches!(parse_zoom("1.."), Ok((Some(1), None))));
        assert!(parse_zoom("5..2").is_err());
        assert!(parse_zoom("x").is_err());
        assert!(parse_zoom("-1..2").is_err());
    }

    #[test]
    fn out_folder_names() {
        let mut used = Vec::new();
        assert_eq!(out_name(Path::new("/d/field.fits"), &mut used), "field");
        assert_eq!(
            out_name(Path::new("/d/field.fits.fz"), &mut used),
            "field.fits.fz"
        );
        assert_eq!(
            out_name(Path::new("/e/field.fits"), &mut used),
            "field.fits"
        );
        assert_eq!(
            out_name(Path::new("/f/field.fits"), &mut used),
            "field.fits-2"
        );
        assert_eq!(out_name(Path::new("/d/c.fz"), &mut used), "c");
        let mut used = reserved_names();
        assert_eq!(out_name(Path::new("/d/web.fits"), &mut used), "web.fits");
        assert_eq!(
            out_name(Path::new("/d/index.html.fits"), &mut used),
            "index.html.fits"
        );
    }

    #[test]
    fn fits_names() {
        for n in ["a.fits", "b.FITS.fz", "c.fit.gz", "d.fts", "e.fz"] {
            assert!(is_fits_name(Path::new(n)), "{n}");
        }
        for n in ["a.txt", ".hidden.fits", "fits", "a.fits.bak"] {
            assert!(!is_fits_name(Path::new(n)), "{n}");
        }
    }
}
