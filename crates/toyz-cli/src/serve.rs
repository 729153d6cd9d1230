//! `toyz serve` and `toyz demo`: run the tile server over data roots (demo: over generated demo data).

use crate::Fail;
use std::io::Write;
use std::path::{Path, PathBuf};
use toyz_server::{Config, Overrides};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A data root NAME=PATH (repeatable); URLs name files as NAME/relative/path.
    #[arg(long = "root", value_name = "NAME=PATH")]
    roots: Vec<String>,
    /// Address to listen on [default: 127.0.0.1:8080, loopback only].
    #[arg(long)]
    bind: Option<String>,
    /// Tile cache (shared with `toyz tiles build`): a folder, or s3://BUCKET/PREFIX shared by
    /// replicas (endpoint and keys from AWS_* variables or the config's [s3]) [default: tile-cache].
    #[arg(long)]
    cache: Option<PathBuf>,
    /// With an s3:// cache: the local folder of float levels [default: tile-cache].
    #[arg(long)]
    levels: Option<PathBuf>,
    /// Bytes of tiles kept in memory, e.g. 256MiB [default: 256MiB].
    #[arg(long)]
    memory_cache: Option<String>,
    /// Bytes that memory-heavy jobs and requests may hold at once, e.g. 2GiB [default: 2GiB].
    #[arg(long)]
    memory_budget: Option<String>,
    /// Size of the disk cache before the least recently used sources are evicted, e.g. 20GiB
    /// (0: no limit) [default: 20GiB].
    #[arg(long)]
    cache_max: Option<String>,
    /// A toyz.toml with the same settings (command line wins; unknown keys are an error).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Accounts: every request needs a login (users from `toyz user add`).
    #[arg(long)]
    auth: bool,
    /// Serve everything under the roots to anyone on a non-loopback address without --auth, on
    /// purpose (a warning line says so).
    #[arg(long)]
    public: bool,
    /// The account database: a SQLite file or postgres://USER@HOST:PORT/DBNAME [default: toyz.sqlite
    /// beside the config file, or here].
    #[arg(long)]
    db: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo data lives (written if missing).
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = toyz_server::config::DEFAULT_BIND)]
    bind: String,
    /// Tile cache directory.
    #[arg(long, default_value = "tile-cache")]
    cache: PathBuf,
    /// Write the demo data and exit without serving.
    #[arg(long)]
    no_serve: bool,
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOYZ_LOG")
        // object_store logs each retry of a request at info: its final error is what matters.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,object_store=warn"));
    // Colour only on a terminal (and not with NO_COLOR): a log in a file, a pipe or the journal is
    // plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}

/// Every 10 s, give the memory glibc holds free back to the system. Freed blocks stay in the arena of
/// the thread that freed them, and a server's tile renders, level builds and job replies free large
/// ones on many threads: with two arenas, a 20-minute soak peaked at 1,558 MiB without this and 1,500
/// MiB with it, against its 1,536 MiB budget.
fn trim_memory_now_and_then() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = std::thread::Builder::new()
        .name("toyz-malloc-trim".into())
        .spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            // SAFETY: malloc_trim only returns free memory to the system.
            unsafe {
                libc::malloc_trim(0);
            }
        });
}

fn run_server(config: Config, banner: impl FnOnce(&str)) -> Result<(), Fail> {
    init_logs();
    trim_memory_now_and_then();
    let sys = actix_web::rt::System::new();
    let r = sys.block_on(async move {
        // The cache must be a folder the server can write (a read-only file system said "cannot
        // listen" before): checked with a probe file, removed at once.
        let cache = config.cache_dir.clone();
        let probe = cache.join(format!(".toyz-probe.{}.tmp", std::process::id()));
        std::fs::create_dir_all(&cache)
            .and_then(|()| std::fs::write(&probe, b"toyz"))
            .map_err(|e| {
                Fail::input(format!(
                    "the cache folder {} cannot be written: {e}",
                    cache.display()
                ))
            })?;
        let _ = std::fs::remove_file(&probe);
        let store = config
            .open_tile_store()
            .map_err(|e| Fail::input(format!("cannot use the tile cache: {e}")))?;
        store.check().map_err(|e| {
            Fail::input(format!(
                "cannot use the tile cache {}: {e}",
                store.describe()
            ))
        })?;
        let (server, addr) =
            toyz_server::start(config).map_err(|e| Fail::input(format!("cannot listen: {e}")))?;
        banner(&format!("http://{addr}"));
        server.await.map_err(|e| Fail {
            code: 1,
            message: format!("server failed: {e}"),
        })
    });
    // Stopped (SIGTERM, Ctrl-C): the connections had their grace period; the runtime is not torn
    // down, which would wait for every blocking task (renders, level builds, jobs) to finish and
    // took SIGTERM under load to 9 s. The process ends with them.
    std::mem::forget(sys);
    r
}

pub fn serve(a: ServeArgs) -> Result<(), Fail> {
    let mut roots = Vec::new();
    for r in &a.roots {
        let (name, path) = r
            .split_once('=')
            .ok_or_else(|| Fail::input(format!("--root '{r}': expected NAME=PATH")))?;
        roots.push((name.to_owned(), PathBuf::from(path)));
    }
    let config = Config::load(
        a.config.as_deref(),
        Overrides {
            bind: a.bind,
            cache: a.cache,
            levels: a.levels,
            memory_cache: a.memory_cache,
            memory_budget: a.memory_budget,
            cache_max: a.cache_max,
            roots,
            auth: a.auth,
            public: a.public,
            database: a.db,
        },
    )
    .map_err(Fail::input)?;
    if config.roots.is_empty() {
        return Err(Fail::input(
            "no data roots: give --root NAME=PATH or a [roots] table in toyz.toml",
        ));
    }
    // A public address needs accounts (or --public on purpose); --auth needs a user.
    if let Some(warning) = toyz_server::auth::check_bind(&config).map_err(Fail::input)? {
        eprintln!("toyz: {warning}");
    }
    toyz_server::auth::open(&config).map_err(Fail::input)?;
    let names: Vec<String> = config.roots.iter().map(|r| r.name.clone()).collect();
    run_server(config, |url| {
        // Errors ignored: a closed stdout must not take the server down.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "toyz: serving {url}/ (roots: {})", names.join(", "));
        let _ = out.flush();
    })
}

/// Write the demo data set into `dir` (each file only if missing).
pub fn write_demo_data(dir: &Path) -> Result<(), Fail> {
    use toyz_skygen::{
        write_catalog, write_fits, write_fz, write_mef, Compression, Extension, SkySpec,
    };
    let fail = |e: std::io::Error| Fail {
        code: 1,
        message: format!("writing demo data into {}: {e}", dir.display()),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let field = dir.join("field.fits");
    if !field.exists() {
        eprintln!(
            "toyz: writing {} (8192 x 8192 star field, float32, TAN WCS)",
            field.display()
        );
        let mut s = SkySpec::new(8192, 8192);
        s.nan_patches = true;
        write_fits(&field, &s).map_err(fail)?;
        write_catalog(&dir.join("field-stars.csv"), &s).map_err(fail)?;
    }
    let fz = dir.join("compressed.fits.fz");
    if !fz.exists() {
        eprintln!(
            "toyz: writing {} (4096 x 4096, RICE tile-compressed)",
            fz.display()
        );
        let mut s = SkySpec::new(4096, 4096);
        s.seed = 2;
        if let Some(w) = s.wcs.as_mut() {
            w.ra = 150.6;
        }
        write_fz(&fz, &s, Compression::Rice).map_err(fail)?;
    }
    let mef = dir.join("mosaic.fits");
    if !mef.exists() {
        eprintln!(
            "toyz: writing {} (4 CCDs of 2048 x 4096 and a STARS table)",
            mef.display()
        );
        let exts: Vec<Extension> = (1..=4)
            .map(|i| {
                let mut s = SkySpec::new(2048, 4096);
                s.seed = 10 + i as u64;
                if let Some(w) = s.wcs.as_mut() {
                    w.ra = 151.0
                        + (i as f64 - 1.0) * 2048.0 * w.scale_arcsec
                            / 3600.0
                            / w.dec.to_radians().cos();
                }
                Extension {
                    name: format!("CCD{i}"),
                    spec: s,
                }
            })
            .collect();
        write_mef(&mef, &exts, true).map_err(fail)?;
    }
    let exposure = dir.join("exposure.fits.fz");
    if !exposure.exists() {
        eprintln!(
            "toyz: writing {} (a DECam exposure at 1/4 scale: 61 CCDs of 511 x 1023, TPV WCS, RICE)",
            exposure.display()
        );
        toyz_skygen::Exposure::decam_scaled(4)
            .write(&exposure, true)
            .map_err(fail)?;
    }
    Ok(())
}

pub fn demo(a: DemoArgs) -> Result<(), Fail> {
    write_demo_data(&a.data)?;
    if a.no_serve {
        return Ok(());
    }
    let config = Config::load(
        None,
        Overrides {
            bind: Some(a.bind),
            cache: Some(a.cache),
            roots: vec![("demo".into(), a.data.clone())],
            ..Default::default()
        },
    )
    .map_err(Fail::input)?;
    run_server(config, |url| {
        // One write, errors ignored: a reader that closed the pipe after the first line must not
        // take the server down.
        let banner = format!(
            "toyz: serving {url}/ (root: demo = {})\n\
             \x20 viewer:  {url}/view?path=demo/field.fits&cmap=viridis&stretch=asinh&cut=percentile%3D99.5\n\
             \x20 overlays: {url}/view?path=demo/field.fits&cmap=viridis&stretch=asinh&cut=percentile%3D99.5\
             &x=4096&y=4096&zoom=4&grid=1&catalog=demo%2Ffield-stars.csv\n\
             \x20 mosaic:  {url}/view?path=demo/exposure.fits.fz&hdu=mosaic&stretch=asinh&cut=zscale\n\
             \x20 files:   {url}/api/files?path=demo\n\
             \x20 source:  {url}/api/sources?path=demo/field.fits&stretch=asinh&cut=percentile=99.5&cmap=viridis\n\
             \x20 pixel:   {url}/api/pixel?path=demo/field.fits&x=4096&y=4096\n\
             \x20 cutout:  {url}/api/cutout?path=demo/field.fits&ra=150.1&dec=2.2&size=60&format=png\n\
             \x20 Ctrl-C stops the server.\n",
            a.data.display()
        );
        let mut out = std::io::stdout();
        let _ = out.write_all(banner.as_bytes());
        let _ = out.flush();
    })
}
