//! `toyz cache stats|prune`: what a tile cache holds, and keeping it bounded and clean (the server
//! does the same by itself with `--cache-max`).

use crate::Fail;
use std::path::PathBuf;
use toyz_pyramid::{gc, CacheLayout};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Sizes: sources, stale sources (their file changed or is gone), unpacked .gz copies, orphan
    /// temp files.
    Stats(Args),
    /// Remove stale sources and orphan temp files, then (with --max) the least recently used sources
    /// until the cache fits.
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct Args {
    /// The tile cache.
    #[arg(long, default_value = "tile-cache")]
    cache: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    a: Args,
    /// Size to keep at most, e.g. 20GiB.
    #[arg(long)]
    max: Option<String>,
}

fn layout(a: &Args) -> Result<CacheLayout, Fail> {
    toyz_pyramid::tilestore::check_cache_location(&a.cache).map_err(Fail::input)?;
    if !a.cache.is_dir() {
        return Err(Fail::input(format!(
            "--cache {}: not a folder",
            a.cache.display()
        )));
    }
    Ok(CacheLayout::new(&a.cache))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

pub fn run(cmd: Cmd) -> Result<(), Fail> {
    match cmd {
        Cmd::Stats(a) => {
            let s = gc::stats(&layout(&a)?);
            if a.json {
                crate::print_json(&s);
            } else {
                crate::out!(
                    "{}: {} in {} sources ({} stale: {}), {} unpacked .gz copies ({}), {} orphan temp files ({})",
                    a.cache.display(),
                    mib(s.bytes),
                    s.sources,
                    s.stale_sources,
                    mib(s.stale_bytes),
                    s.unpacked,
                    mib(s.unpacked_bytes),
                    s.orphan_temp_files,
                    mib(s.orphan_temp_bytes)
                );
            }
        }
        Cmd::Prune(p) => {
            let max = match &p.max {
                Some(m) => toyz_server::config::parse_size(m)
                    .map_err(|e| Fail::input(format!("--max: {e}")))?,
                None => 0,
            };
            let r = gc::prune(&layout(&p.a)?, max, &|_| false);
            if p.a.json {
                crate::print_json(&r);
            } else {
                crate::out!(
                    "{}: removed {} stale and {} least recently used sources, {} temp files; freed {}, {} left",
                    p.a.cache.display(),
                    r.stale_removed,
                    r.evicted,
                    r.temp_removed,
                    mib(r.freed_bytes),
                    mib(r.bytes)
                );
            }
        }
    }
    Ok(())
}
