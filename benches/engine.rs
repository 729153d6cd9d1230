//! Hot paths of the engine (criterion): the NaN-aware 2×2 mean, value → palette index, and PNG encoding
//! under the settings considered (the chosen one is indexed + Fast + Up; RGB and other filters and
//! deflate levels are here so the choice can be re-measured). Run: `cargo bench -p toyz-pyramid`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use toyz_pyramid::levels::downsample;
use toyz_pyramid::{RenderSpec, Renderer, Sample, TILE};
use toyz_skygen::SkySpec;

fn sky(w: usize, h: usize) -> Vec<f32> {
    let mut s = SkySpec::new(w, h);
    s.nan_patches = true;
    s.rows(&s.star_list(), 0, h)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

fn bench_downsample(c: &mut Criterion) {
    let (w, h) = (4096, 256);
    let band = sky(w, h);
    let mut out = vec![0f32; w / 2 * h / 2];
    let mut g = c.benchmark_group("downsample");
    g.throughput(Throughput::Bytes((w * h * 4) as u64));
    g.bench_function("band_4096x256", |b| {
        b.iter(|| downsample(black_box(&band), w, h, &mut out))
    });
    g.finish();
}

fn renderer(stretch: &str) -> Renderer {
    let spec = RenderSpec::parse(Some(stretch), Some("zscale"), Some("viridis")).unwrap();
    Renderer::new(&spec, 950.0, 1150.0, None).unwrap()
}

fn bench_render(c: &mut Criterion) {
    let tile = sky(TILE, TILE);
    let mut idx = vec![0u8; TILE * TILE];
    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements((TILE * TILE) as u64));
    for st in ["linear", "asinh", "log"] {
        let r = renderer(st);
        g.bench_with_input(BenchmarkId::new("indices", st), &r, |b, r| {
            b.iter(|| r.tile_indices(black_box(&tile), TILE, TILE, 0, 0, &mut idx))
        });
    }
    g.bench_function("lut_build_histeq", |b| {
        let sample = Sample::from_values(tile.iter().copied());
        let spec = RenderSpec::parse(Some("histeq"), Some("zscale"), Some("grey")).unwrap();
        b.iter(|| Renderer::new(&spec, 950.0, 1150.0, Some(&sample)).unwrap())
    });
    g.finish();
}

fn encode(
    idx: &[u8],
    rgb: Option<&[u8]>,
    comp: png::Compression,
    filter: png::Filter,
    plte: &[u8],
) -> usize {
    let mut out = Vec::with_capacity(80_000);
    let mut enc = png::Encoder::new(&mut out, TILE as u32, TILE as u32);
    match rgb {
        Some(_) => enc.set_color(png::ColorType::Rgb),
        None => {
            enc.set_color(png::ColorType::Indexed);
            enc.set_palette(plte);
            enc.set_trns(vec![0u8]);
        }
    }
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(comp);
    enc.set_filter(filter);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(rgb.unwrap_or(idx)).unwrap();
    drop(w);
    out.len()
}

fn bench_encode(c: &mut Criterion) {
    let tile = sky(TILE, TILE);
    let r = renderer("linear");
    let mut idx = vec![0u8; TILE * TILE];
    r.tile_indices(&tile, TILE, TILE, 0, 0, &mut idx);
    let cm = toyz_pyramid::Colormap::get("viridis").unwrap();
    let (plte, _) = cm.palette([0, 0, 0, 0]);
    let rgb: Vec<u8> = idx
        .iter()
        .flat_map(|&i| plte[i as usize * 3..i as usize * 3 + 3].to_vec())
        .collect();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let variants = [
        (
            "indexed_fast_up",
            None,
            png::Compression::Fast,
            png::Filter::Up,
        ),
        (
            "indexed_fast_none",
            None,
            png::Compression::Fast,
            png::Filter::NoFilter,
        ),
        (
            "indexed_fast_sub",
            None,
            png::Compression::Fast,
            png::Filter::Sub,
        ),
        (
            "indexed_fast_paeth",
            None,
            png::Compression::Fast,
            png::Filter::Paeth,
        ),
        (
            "indexed_balanced_up",
            None,
            png::Compression::Balanced,
            png::Filter::Up,
        ),
        (
            "indexed_fastest",
            None,
            png::Compression::Fastest,
            png::Filter::NoFilter,
        ),
        (
            "indexed_stored",
            None,
            png::Compression::NoCompression,
            png::Filter::NoFilter,
        ),
        (
            "rgb_fast_up",
            Some(rgb.as_slice()),
            png::Compression::Fast,
            png::Filter::Up,
        ),
        (
            "rgb_balanced_adaptive",
            Some(rgb.as_slice()),
            png::Compression::Balanced,
            png::Filter::Adaptive,
        ),
    ];
    let out = r.encode(&idx);
    eprintln!("encode/toyz_choice: {} bytes per sky tile", out.len());
    g.bench_function("toyz_choice", |b| b.iter(|| r.encode(black_box(&idx))));
    for (name, rgb, comp, filter) in variants {
        let size = encode(&idx, rgb, comp, filter, &plte);
        eprintln!("encode/{name}: {size} bytes per sky tile");
        g.bench_function(name, |b| {
            b.iter(|| encode(black_box(&idx), rgb, comp, filter, &plte))
        });
    }
    g.finish();
}

/// A 256² region read: direct big-endian `pread` against cfitsio on the same uncompressed file, and
/// cfitsio on a tile-compressed copy (256² RICE tiles).
fn bench_read(c: &mut Criterion) {
    // As the toyz binary does: files are read through guarded memory maps.
    toyz_fits::install_sigbus_guard();
    let d = tempfile::tempdir().unwrap();
    let spec = SkySpec::new(4096, 4096);
    let plain = d.path().join("plain.fits");
    toyz_skygen::write_fits(&plain, &spec).unwrap();
    let fz = d.path().join("rice.fz");
    toyz_skygen::write_fz(&fz, &spec, toyz_skygen::Compression::Rice).unwrap();
    let sel = toyz_fits::HduSel::Auto;
    let raw = toyz_fits::Image::open(&plain, &sel, 0).unwrap();
    let mut via = toyz_fits::Image::open(&plain, &sel, 0).unwrap();
    via.force_cfitsio();
    let comp = toyz_fits::Image::open(&fz, &sel, 0).unwrap();
    let mut buf = vec![0f32; TILE * TILE];
    let mut g = c.benchmark_group("read_256");
    g.throughput(Throughput::Elements((TILE * TILE) as u64));
    let mut k = 0usize;
    for (name, img) in [("direct", &raw), ("cfitsio", &via), ("cfitsio_rice", &comp)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                k = (k + 7) % 15;
                img.read_rect(k * 256, (k * 3 % 15) * 256, TILE, TILE, &mut buf)
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_downsample,
    bench_render,
    bench_encode,
    bench_read
);
criterion_main!(benches);
