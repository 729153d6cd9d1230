//! The cost of a cold tile render whose float levels come from the object store (ranged GETs of the
//! tile's rows, coalesced by object_store) against one whose levels are on the local disk (the guarded
//! map the server uses), side by side in one run against a real S3 server (s3s-fs on loopback).
//! Decides where a replica keeps its float levels: see docs/architecture.md ("Scale-out").
//!
//! Run: `cargo bench -p toyz-pyramid --bench levels_ranged` (env: SIZE=4096 TILES=300 ROUNDS=3).

use std::time::Instant;
use toyz_pyramid::objstore::{S3Options, S3Store};
use toyz_pyramid::{
    build_levels, render_tile, CacheLayout, LevelStore, RenderSpec, Renderer, Source, TileCoord,
    TileStore, TILE,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing and is skipped.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // As the toyz binary does: files are read through guarded memory maps.
    toyz_fits::install_sigbus_guard();
    let (size, tiles, rounds) = (env("SIZE", 4096), env("TILES", 300), env("ROUNDS", 3));
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("sky.fits");
    toyz_skygen::write_fits(&img, &toyz_skygen::SkySpec::new(size, size)).unwrap();
    let src = Source::open(&img, &toyz_fits::HduSel::Auto, 0).unwrap();
    let layout = CacheLayout::new(d.path().join("cache"));
    build_levels(
        &src,
        &layout,
        &|_| {},
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    let levels = LevelStore::open(&layout, &src).unwrap();
    let spec = RenderSpec::parse(Some("asinh"), Some("zscale"), Some("viridis")).unwrap();
    let (lo, hi) = src.levels(&spec).unwrap();
    let renderer = Renderer::new(&spec, lo, hi, None).unwrap();

    // The level below full resolution (the one most cold renders read), uploaded whole.
    let g = src.geometry;
    let z = g.zmax - 1;
    let (lw, lh) = g.level_size(z);
    let s3 = toyz_s3_server::start(&d.path().join("s3"), "127.0.0.1:0", &["levels"]).unwrap();
    let store = S3Store::new(
        "levels",
        "bench",
        &S3Options::plain_http(
            s3.endpoint(),
            toyz_s3_server::ACCESS_KEY,
            toyz_s3_server::SECRET_KEY,
        ),
    )
    .unwrap();
    let key = format!("{}/levels/{z}.f32", src.id);
    store
        .put(&key, &std::fs::read(layout.level_file(&src.id, z)).unwrap())
        .unwrap();

    let (nx, ny) = (lw.div_ceil(TILE) as u32, lh.div_ceil(TILE) as u32);
    let coords: Vec<TileCoord> = (0..tiles as u32)
        .map(|i| TileCoord {
            z,
            x: (i.wrapping_mul(2654435761) >> 7) % nx,
            y: (i.wrapping_mul(40503) >> 3) % ny,
        })
        .collect();
    println!(
        "levels_ranged: {size}x{size} image, level {z} ({lw}x{lh}), {tiles} tiles a round, {rounds} rounds"
    );
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        // Local: the server's path (guarded map of the level file).
        let t0 = Instant::now();
        let mut local_bytes = 0;
        for &t in &coords {
            local_bytes += render_tile(&src, Some(&levels), &renderer, t)
                .unwrap()
                .len();
        }
        let local = t0.elapsed().as_secs_f64();
        // Object store: the tile's rows as ranged reads of the level object, then the same render.
        let t0 = Instant::now();
        let mut s3_bytes = 0;
        let mut px = Vec::new();
        for &t in &coords {
            let x0 = t.x as usize * TILE;
            let top = t.y as usize * TILE;
            let (w, h) = (TILE.min(lw - x0), TILE.min(lh - top));
            let ranges = (0..h)
                .map(|r| {
                    let at = (((top + r) * lw + x0) * 4) as u64;
                    at..at + (w * 4) as u64
                })
                .collect();
            let rows = store.get_ranges(&key, ranges).unwrap();
            px.clear();
            for row in &rows {
                px.extend(
                    row.chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap())),
                );
            }
            s3_bytes += renderer.tile_png(&px, w, h, 0, 0).len();
        }
        let remote = t0.elapsed().as_secs_f64();
        assert_eq!(local_bytes, s3_bytes, "the same tiles either way");
        println!(
            "round {round}: local disk {:8.0} tiles/s ({:.2} ms each)   object store {:8.0} tiles/s ({:.2} ms each)   \
             object store / local time {:.1}x",
            tiles as f64 / local,
            local * 1e3 / tiles as f64,
            tiles as f64 / remote,
            remote * 1e3 / tiles as f64,
            remote / local
        );
        ratios.push(remote / local);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "levels_ranged: a cold render with levels from the object store costs {:.1}x one from the local disk (median)",
        ratios[ratios.len() / 2]
    );
}
