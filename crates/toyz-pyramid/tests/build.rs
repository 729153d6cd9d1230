//! The engine end to end on generated FITS files: orientation, streamed levels against an in-memory
//! pyramid, NaN handling, golden tiles, resume after an interruption, cancel, and cache ids.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use toyz_fits::HduSel;
use toyz_pyramid::build::read_level;
use toyz_pyramid::levels::downsample;
use toyz_pyramid::{build, BuildOptions, CacheLayout, EngineError, RenderSpec, Source, Target};
use toyz_skygen::{write_fits, SkySpec};

fn gen(dir: &Path, name: &str, spec: &SkySpec) -> PathBuf {
    let p = dir.join(name);
    write_fits(&p, spec).unwrap();
    p
}

fn decode(path: &Path) -> Vec<u8> {
    let mut d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    d.set_transformations(png::Transformations::EXPAND);
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (256, 256));
    assert_eq!(info.color_type, png::ColorType::Rgba);
    buf
}

fn rgba(tile: &[u8], col: usize, row: usize) -> [u8; 4] {
    let i = (row * 256 + col) * 4;
    [tile[i], tile[i + 1], tile[i + 2], tile[i + 3]]
}

fn spec(stretch: &str, cut: &str, cmap: &str) -> RenderSpec {
    RenderSpec::parse(Some(stretch), Some(cut), Some(cmap)).unwrap()
}

fn run(src: &Source, target: &Target, spec: RenderSpec) -> toyz_pyramid::BuildReport {
    let opts = BuildOptions {
        spec,
        ..Default::default()
    };
    build(src, target, &opts, &|_| {}, &AtomicBool::new(false)).unwrap()
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(d: &Path, base: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn ramp_orientation_fits_origin_bottom_left() {
    let d = tempfile::tempdir().unwrap();
    let (w, h) = (600, 300);
    let p = gen(d.path(), "ramp.fits", &SkySpec::ramp(w, h));
    let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
    assert_eq!(src.geometry.zmax, 2);
    let out = d.path().join("out");
    let max = (w * h - 1) as f64;
    let rep = run(
        &src,
        &Target::Out(out.clone()),
        spec("linear", &format!("range=0,{max}"), "grey"),
    );
    assert_eq!(rep.tiles, 3 * 2 + 2 + 1);
    // FITS (1,1) = value 0 = black, at the bottom-left: tile (2,0,1), column 0, row (299 - 256).
    let t = decode(&out.join("2/0/1.png"));
    assert_eq!(rgba(&t, 0, 43), [0, 0, 0, 255]);
    // Below the image: transparent.
    assert_eq!(rgba(&t, 0, 44)[3], 0);
    // FITS (600,300) = max = white, at the top-right: tile (2,2,0), column 87, row 0.
    let t = decode(&out.join("2/2/0.png"));
    assert_eq!(rgba(&t, 87, 0), [255, 255, 255, 255]);
    assert_eq!(rgba(&t, 88, 0)[3], 0, "right of the image: transparent");
    // FITS (1, 300) (top-left) = 299*600: grey level of that value.
    let t = decode(&out.join("2/0/0.png"));
    let v = (299 * 600) as f64 / max;
    let want = ((v * 254.0).round() as u8) as i32; // index - 1 = grey level position
    let got = rgba(&t, 0, 0)[0] as i32;
    assert!(
        (got - (want as f64 * 255.0 / 254.0).round() as i32).abs() <= 1,
        "{got} vs {want}"
    );
    // Level 0 holds the whole image in one tile, shrunk 4×: 150 × 75 opaque pixels.
    let t = decode(&out.join("0/0/0.png"));
    assert_eq!(rgba(&t, 149, 74)[3], 255);
    assert_eq!(rgba(&t, 150, 74)[3], 0);
    assert_eq!(rgba(&t, 149, 75)[3], 0);
}

/// The whole image in memory, top row first, shrunk level by level: what the streamed build must equal.
fn reference_levels(src: &Source) -> Vec<Vec<f32>> {
    let img = &src.image;
    let (w, h) = (img.width(), img.height());
    let mut fits = vec![0f32; w * h];
    img.read_rect(0, 0, w, h, &mut fits).unwrap();
    let mut top = vec![0f32; w * h];
    for r in 0..h {
        top[r * w..(r + 1) * w].copy_from_slice(&fits[(h - 1 - r) * w..(h - r) * w]);
    }
    let mut levels = vec![top];
    let g = src.geometry;
    for z in (0..g.zmax).rev() {
        let (pw, ph) = g.level_size(z + 1);
        let (lw, lh) = g.level_size(z);
        let mut next = vec![0f32; lw * lh];
        downsample(levels.last().unwrap(), pw, ph, &mut next);
        levels.push(next);
    }
    levels.reverse();
    levels
}

#[test]
fn streamed_levels_equal_the_in_memory_pyramid() {
    let d = tempfile::tempdir().unwrap();
    for (w, h) in [(1000, 777), (257, 257), (1, 600), (1300, 40)] {
        let mut s = SkySpec::new(w, h);
        s.nan_patches = true;
        let p = gen(d.path(), &format!("s{w}x{h}.fits"), &s);
        let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
        let cache = d.path().join("cache");
        run(&src, &Target::Cache(cache.clone()), RenderSpec::default());
        let layout = CacheLayout::new(&cache);
        let reference = reference_levels(&src);
        for z in 0..src.geometry.zmax {
            let got = read_level(&layout.level_file(&src.id, z)).unwrap();
            let want = &reference[z as usize];
            assert_eq!(got.len(), want.len(), "{w}x{h} level {z} size");
            for (i, (a, b)) in got.iter().zip(want).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{w}x{h} z{z} px {i}: {a} vs {b}"
                );
            }
        }
        // Every tile of every level exists.
        let g = src.geometry;
        for z in 0..=g.zmax {
            let (nx, ny) = g.tiles(z);
            for x in 0..nx {
                for y in 0..ny {
                    assert!(layout
                        .tile(&src.id, &RenderSpec::default().id(), z, x, y)
                        .exists());
                }
            }
        }
        assert!(layout.manifest(&src.id).exists());
    }
}

#[test]
fn nan_patches_stay_transparent_and_stars_survive_shrinking() {
    let d = tempfile::tempdir().unwrap();
    let mut s = SkySpec::new(1024, 1024);
    s.nan_patches = true;
    s.stars = Some(0);
    s.extra_cards.clear();
    let p = gen(d.path(), "nan.fits", &s);
    let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
    let out = d.path().join("out");
    run(
        &src,
        &Target::Out(out.clone()),
        spec("linear", "zscale", "grey"),
    );
    // The dead rectangle covers FITS x 768..896, y 768..896 (0-based): at level 0 (4× smaller),
    // display column 200, row (1024-832)/4 = 48 is inside it.
    let t = decode(&out.join("0/0/0.png"));
    assert_eq!(
        rgba(&t, 208, 48)[3],
        0,
        "all-NaN blocks stay NaN (transparent)"
    );
    assert_eq!(rgba(&t, 10, 10)[3], 255);
    // The bad-column band (x 341..351) is 10 px wide: at level 0 its 2.5-px footprint has partly
    // finite blocks, which must not turn NaN.
    let edge = rgba(&t, 85, 100);
    assert_eq!(edge[3], 255, "a block with some finite pixels is finite");
}

#[test]
fn golden_tiles() {
    let d = tempfile::tempdir().unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let mut s = SkySpec::new(300, 200);
    s.nan_patches = true;
    let p = gen(d.path(), "g.fits", &s);
    let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
    for (name, st, cut, cmap) in [
        ("sky_zscale_linear_grey", "linear", "zscale", "grey"),
        (
            "sky_asinh_percentile_viridis",
            "asinh",
            "percentile=99.5",
            "viridis",
        ),
        ("sky_log_minmax_heat_r", "log", "minmax", "heat_r"),
    ] {
        let out = d.path().join(name);
        run(&src, &Target::Out(out.clone()), spec(st, cut, cmap));
        let got = decode(&out.join("1/0/0.png"));
        let gpath = golden.join(format!("{name}.png"));
        if std::env::var_os("TOYZ_BLESS").is_some() {
            std::fs::copy(out.join("1/0/0.png"), &gpath).unwrap();
        }
        let want = decode(&gpath);
        // Exact: the generator, the stats sample and the LUT are all deterministic.
        assert!(got == want, "{name} differs from {}", gpath.display());
    }
}

#[test]
fn resume_after_interruption_gives_the_same_tiles() {
    let d = tempfile::tempdir().unwrap();
    let p = gen(d.path(), "r.fits", &SkySpec::new(1100, 900));
    let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
    let full = d.path().join("full");
    run(&src, &Target::Out(full.clone()), RenderSpec::default());

    // Stop a build part-way with the cancel flag.
    let part = d.path().join("part");
    let cancel = AtomicBool::new(false);
    let opts = BuildOptions::default();
    let stop_at = |n: u64| {
        if n >= 7 {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let e = build(&src, &Target::Out(part.clone()), &opts, &stop_at, &cancel).unwrap_err();
    assert!(matches!(e, EngineError::Cancelled));
    assert!(
        !part.join("tiles.json").exists(),
        "an interrupted build is not marked complete"
    );
    // Tiles, and the claim that says what the folder holds (kept through the stop).
    let partial: Vec<_> = files(&part)
        .into_iter()
        .filter(|(p, _)| !p.ends_with("toyz-out.json"))
        .collect();
    assert!(part.join("toyz-out.json").exists());
    assert!(!partial.is_empty() && partial.len() < files(&full).len() - 1);
    assert!(
        partial
            .iter()
            .all(|(p, _)| !p.to_string_lossy().contains(".tmp")),
        "no temp files"
    );

    let rep = run(&src, &Target::Out(part.clone()), RenderSpec::default());
    assert_eq!(
        rep.skipped as usize,
        partial.len(),
        "tiles already there are kept"
    );
    assert_eq!(
        files(&part),
        files(&full),
        "resumed build == uninterrupted build"
    );
    // A third run has nothing to do.
    let rep = run(&src, &Target::Out(part.clone()), RenderSpec::default());
    assert!(rep.up_to_date);
}

#[test]
fn out_dir_of_another_render_is_not_overwritten_without_force() {
    let d = tempfile::tempdir().unwrap();
    let p = gen(d.path(), "o.fits", &SkySpec::new(300, 300));
    let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
    let out = d.path().join("out");
    run(&src, &Target::Out(out.clone()), RenderSpec::default());
    let before = files(&out);
    let opts = BuildOptions {
        spec: spec("sqrt", "minmax", "viridis"),
        ..Default::default()
    };
    let e = build(
        &src,
        &Target::Out(out.clone()),
        &opts,
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(matches!(e, EngineError::Conflict(_)), "{e}");
    assert_eq!(files(&out), before, "nothing touched");
    let forced = BuildOptions {
        force: true,
        ..opts
    };
    build(
        &src,
        &Target::Out(out.clone()),
        &forced,
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_ne!(files(&out), before);
}

#[test]
fn a_changed_source_gets_a_new_id_and_never_old_tiles() {
    let d = tempfile::tempdir().unwrap();
    let p = gen(d.path(), "c.fits", &SkySpec::new(300, 300));
    let a = Source::open(&p, &HduSel::Auto, 0).unwrap();
    let cache = d.path().join("cache");
    run(&a, &Target::Cache(cache.clone()), RenderSpec::default());
    let mut s2 = SkySpec::new(300, 300);
    s2.seed = 99;
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_fits(&p, &s2).unwrap();
    let b = Source::open(&p, &HduSel::Auto, 0).unwrap();
    assert_ne!(a.id, b.id);
    let rep = run(&b, &Target::Cache(cache.clone()), RenderSpec::default());
    assert_eq!(rep.written, rep.tiles, "everything rendered afresh");
    assert!(CacheLayout::new(&cache).source_dir(&a.id).exists());
    // Same file, other HDU selection spelled differently but equal: same id.
    let c = Source::open(&p, &HduSel::Index(0), 0).unwrap();
    assert_eq!(c.id, b.id);
}

#[test]
fn zoom_range_limits_the_levels_rendered() {
    let d = tempfile::tempdir().unwrap();
    let p = gen(d.path(), "z.fits", &SkySpec::new(1100, 600));
    let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
    let out = d.path().join("out");
    let opts = BuildOptions {
        zoom: Some((1, 2)),
        ..Default::default()
    };
    let rep = build(
        &src,
        &Target::Out(out.clone()),
        &opts,
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(rep.tiles, src.geometry.tile_count(1, 2));
    assert!(!out.join("0").exists() && !out.join("3").exists());
    assert!(out.join("1/0/0.png").exists() && out.join("2/0/0.png").exists());
    let bad = BuildOptions {
        zoom: Some((2, 9)),
        ..Default::default()
    };
    assert!(matches!(
        build(
            &src,
            &Target::Out(out),
            &bad,
            &|_| {},
            &AtomicBool::new(false)
        ),
        Err(EngineError::BadZoom { .. })
    ));
}

/// The overview is the level it stands for, made from every n-th row: on a ramp (value = x + y·w,
/// 0-based FITS order) each of its pixels is the mean over its columns of the sampled row; it draws
/// tiles of its level and below, never above.
#[test]
fn the_overview_samples_rows_and_averages_columns() {
    let d = tempfile::tempdir().unwrap();
    let (w, h) = (1000usize, 700usize);
    let p = gen(d.path(), "ramp.fits", &SkySpec::ramp(w, h));
    let src = Source::open(&p, &HduSel::Auto, 0).unwrap();
    let ov = toyz_pyramid::Overview::build(&src, 300).unwrap();
    // zmax 2 (1000 px): level 0 is 250×175, the largest level within 300 px.
    assert_eq!((ov.z, ov.width, ov.height), (0, 250, 175));
    let f = 4;
    let r =
        toyz_pyramid::Renderer::new(&spec("linear", "minmax", "grey"), 0.0, (w * h) as f64, None)
            .unwrap();
    for (row, col) in [(0usize, 0usize), (10, 7), (174, 249), (100, 120)] {
        let top = (row * f + f / 2).min(h - 1);
        let y = (h - 1 - top) as f64;
        let xs: Vec<f64> = (col * f..((col + 1) * f).min(w))
            .map(|x| x as f64)
            .collect();
        let want = xs.iter().sum::<f64>() / xs.len() as f64 + y * w as f64;
        let got = ov.value(col, row) as f64;
        assert!(
            (got - want).abs() <= want * 1e-6,
            "({col}, {row}): {got} vs {want}"
        );
    }
    // Tiles: level 0 from the overview; none above it.
    let t = src.geometry.tile(0, 0, 0).unwrap();
    assert!(ov.render(&r, t).is_some());
    let above = src.geometry.tile(1, 0, 0).unwrap();
    assert!(ov.render(&r, above).is_none());
}
