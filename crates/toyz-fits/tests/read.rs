//! Reading real FITS files written by the project's generator: every BITPIX and scaling, BLANK and NaN,
//! gzip, tile compression, MEF selection, cubes, headers, bounds, and the bad-input list.

use std::path::{Path, PathBuf};
use toyz_fits::{list_hdus, FitsError, HduKind, HduSel, Image};
use toyz_skygen::{write_fits, write_fz, write_mef, Compression, Extension, SkySpec};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn read_all(img: &Image) -> Vec<f32> {
    let (w, h) = (img.width(), img.height());
    let mut v = vec![0f32; w * h];
    img.read_rect(0, 0, w, h, &mut v).unwrap();
    v
}

/// Compare what toyz reads with what the generator meant, pixel by pixel.
fn check(path: &Path, spec: &SkySpec, sel: HduSel, tol: f64) {
    let img = Image::open(path, &sel, 0).unwrap();
    assert_eq!((img.width(), img.height()), (spec.width, spec.height));
    let got = read_all(&img);
    let want = spec.rows(&spec.star_list(), 0, spec.height);
    let mut nans = 0;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let e = spec.expected(*w);
        if e.is_nan() {
            assert!(
                g.is_nan(),
                "{}: pixel {i}: expected NaN, got {g}",
                path.display()
            );
            nans += 1;
        } else {
            let d = (*g as f64 - e).abs();
            assert!(
                d <= tol + e.abs() * 1e-6,
                "{}: pixel {i}: got {g}, expected {e}",
                path.display()
            );
        }
    }
    if spec.nan_patches && (spec.bitpix < 0 || spec.blank.is_some()) {
        assert!(nans > 0, "NaN patches must read back as NaN");
    }
}

fn sky(w: usize, h: usize, bitpix: i32, bscale: f64, bzero: f64, blank: Option<i64>) -> SkySpec {
    let mut s = SkySpec::new(w, h);
    s.bitpix = bitpix;
    s.bscale = bscale;
    s.bzero = bzero;
    s.blank = blank;
    s.nan_patches = true;
    s
}

#[test]
fn every_bitpix_with_scaling_and_blank() {
    let d = tmp();
    let cases = [
        (8, 8.0, 0.0, Some(0)),
        (16, 1.0, 0.0, Some(-32768)),
        (16, 1.0, 32768.0, None), // unsigned 16-bit
        (16, 1.0, 32768.0, Some(-32768)),
        (32, 0.5, 100.0, Some(-999)),
        (64, 1.0, 0.0, Some(-1)),
        (-32, 1.0, 0.0, None),
        (-64, 1.0, 0.0, None),
        (-32, 2.0, 10.0, None),
    ];
    for (i, (bitpix, bscale, bzero, blank)) in cases.into_iter().enumerate() {
        let spec = sky(67, 45, bitpix, bscale, bzero, blank);
        for ext in ["fits", "fits.gz"] {
            let p = d.path().join(format!("c{i}.{ext}"));
            write_fits(&p, &spec).unwrap();
            check(&p, &spec, HduSel::Auto, 1e-3);
            let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
            assert_eq!(img.bitpix(), bitpix);
            assert_eq!(img.scaling().0, bscale);
        }
    }
}

#[test]
fn direct_reads_equal_cfitsio_reads() {
    let d = tmp();
    for (i, (bitpix, bscale, bzero, blank)) in [
        (8, 8.0, 0.0, Some(0)),
        (16, 1.0, 32768.0, Some(-32768)),
        (32, 0.5, 100.0, Some(-999)),
        (64, 1.0, 0.0, Some(-1)),
        (-32, 1.0, 0.0, None),
        (-64, 2.0, 10.0, None),
    ]
    .into_iter()
    .enumerate()
    {
        let p = d.path().join(format!("r{i}.fits"));
        write_fits(&p, &sky(131, 77, bitpix, bscale, bzero, blank)).unwrap();
        let raw = Image::open(&p, &HduSel::Auto, 0).unwrap();
        assert!(raw.raw_reads());
        let mut via = Image::open(&p, &HduSel::Auto, 0).unwrap();
        via.force_cfitsio();
        assert!(!via.raw_reads());
        let (a, b) = (read_all(&raw), read_all(&via));
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())),
            "BITPIX {bitpix}: direct and cfitsio reads differ"
        );
        let (mut x, mut y) = (vec![0f32; 30 * 20], vec![0f32; 30 * 20]);
        raw.read_rect(100, 50, 30, 20, &mut x).unwrap();
        via.read_rect(100, 50, 30, 20, &mut y).unwrap();
        assert!(x
            .iter()
            .zip(&y)
            .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())));
    }
}

#[test]
fn tile_compressed_images() {
    let d = tmp();
    // Lossless: GZIP floats (quantize level 0), integer RICE/HCOMPRESS/PLIO.
    let mut f = sky(300, 280, -32, 1.0, 0.0, None);
    let p = d.path().join("gzip.fz");
    write_fz(&p, &f, Compression::Gzip).unwrap();
    check(&p, &f, HduSel::Auto, 0.0);
    for (name, comp) in [
        ("rice", Compression::Rice),
        ("hcomp", Compression::Hcompress),
        ("plio", Compression::Plio),
    ] {
        let mut s = sky(300, 280, 32, 1.0, 0.0, None);
        s.nan_patches = false;
        let p = d.path().join(format!("{name}.fz"));
        write_fz(&p, &s, comp).unwrap();
        check(&p, &s, HduSel::Auto, 0.0);
        let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
        assert!(img.compressed());
        assert_eq!(img.hdu(), 1, "the compressed image lives in extension 1");
    }
    // Quantised RICE floats with subtractive dithering: within the quantisation step (noise/4).
    f.nan_patches = true;
    let p = d.path().join("rice_float.fz");
    write_fz(&p, &f, Compression::Rice).unwrap();
    check(&p, &f, HduSel::Auto, f.noise / 4.0);
    // Unsigned 16-bit, compressed.
    let mut u = sky(100, 90, 16, 1.0, 0.0, None);
    u.nan_patches = false;
    u.background = 40000.0;
    let p = d.path().join("u16.fz");
    write_fz(&p, &u, Compression::Rice).unwrap();
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    let v = read_all(&img);
    assert!(
        v.iter().all(|&x| x > 32767.0),
        "values above 32767 survive as unsigned"
    );
}

#[test]
fn ramp_rectangles_land_where_they_should_and_never_wrap() {
    let d = tmp();
    let spec = SkySpec::ramp(300, 200);
    let p = d.path().join("ramp.fits");
    write_fits(&p, &spec).unwrap();
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    let mut v = vec![0f32; 7 * 5];
    img.read_rect(290, 10, 7, 5, &mut v).unwrap();
    for r in 0..5 {
        for c in 0..7 {
            assert_eq!(v[r * 7 + c], ((290 + c) + (10 + r) * 300) as f32);
        }
    }
    assert_eq!(img.value(0, 0).unwrap(), 0.0, "FITS pixel (1,1)");
    assert_eq!(img.value(299, 199).unwrap(), (300 * 200 - 1) as f32);
    // Past the right edge: an error, not the next row's pixels.
    let e = img.read_rect(295, 0, 10, 1, &mut v).unwrap_err();
    assert!(matches!(e, FitsError::OutOfBounds { .. }), "{e}");
    assert!(img.read_rect(0, 199, 1, 2, &mut v).is_err());
    assert!(img.read_rect(0, 0, 0, 1, &mut v).is_err());
    // The same through cfitsio (gzip'd file).
    let pz = d.path().join("ramp.fits.gz");
    write_fits(&pz, &spec).unwrap();
    let gz = Image::open(&pz, &HduSel::Auto, 0).unwrap();
    let mut g = vec![0f32; 7 * 5];
    gz.read_rect(290, 10, 7, 5, &mut g).unwrap();
    img.read_rect(290, 10, 7, 5, &mut v).unwrap();
    assert_eq!(g, v);
    assert!(gz.read_rect(295, 0, 10, 1, &mut g).is_err());
}

#[test]
fn reads_from_many_threads_agree() {
    let d = tmp();
    let spec = SkySpec::ramp(512, 512);
    for name in ["t.fits", "t.fits.gz"] {
        let p = d.path().join(name);
        write_fits(&p, &spec).unwrap();
        let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let img = &img;
                s.spawn(move || {
                    let mut v = vec![0f32; 64 * 64];
                    for k in 0..20 {
                        let (x, y) = ((t * 97 + k * 31) % 448, (t * 53 + k * 17) % 448);
                        img.read_rect(x, y, 64, 64, &mut v).unwrap();
                        assert_eq!(v[0], (x + y * 512) as f32);
                        assert_eq!(v[64 * 64 - 1], (x + 63 + (y + 63) * 512) as f32);
                    }
                });
            }
        });
    }
}

fn mef(d: &Path) -> PathBuf {
    let p = d.join("mef.fits");
    let exts: Vec<Extension> = (1..=3)
        .map(|i| Extension {
            name: format!("CCD{i}"),
            spec: {
                let mut s = SkySpec::ramp(40 + i, 30);
                s.seed = i as u64;
                s
            },
        })
        .collect();
    write_mef(&p, &exts, true).unwrap();
    p
}

#[test]
fn multi_extension_selection() {
    let d = tmp();
    let p = mef(d.path());
    let hdus = list_hdus(&p).unwrap();
    assert_eq!(hdus.len(), 5);
    assert_eq!(hdus[0].dims, Vec::<i64>::new());
    assert_eq!(hdus[2].extname.as_deref(), Some("CCD2"));
    assert_eq!(hdus[2].dims, vec![42, 30]);
    assert_eq!(hdus[4].kind, HduKind::Table);
    // The empty primary is skipped by default.
    assert_eq!(Image::open(&p, &HduSel::Auto, 0).unwrap().hdu(), 1);
    assert_eq!(Image::open(&p, &HduSel::Index(3), 0).unwrap().width(), 43);
    assert_eq!(
        Image::open(&p, &"ccd2".parse().unwrap(), 0).unwrap().hdu(),
        2
    );
    let e = Image::open(&p, &HduSel::Index(4), 0).unwrap_err();
    assert!(matches!(e, FitsError::NotAnImage { .. }), "{e}");
    assert!(e.to_string().contains("table"));
    let e = Image::open(&p, &HduSel::Name("STARS".into()), 0).unwrap_err();
    assert!(matches!(e, FitsError::NotAnImage { .. }));
    let e = Image::open(&p, &HduSel::Index(9), 0).unwrap_err();
    assert!(e.to_string().contains("numbered 0 to 4"), "{e}");
    assert!(matches!(
        Image::open(&p, &HduSel::Index(0), 0),
        Err(FitsError::NotAnImage { .. })
    ));
    assert!(matches!(
        Image::open(&p, &HduSel::Name("nope".into()), 0),
        Err(FitsError::NoSuchExtname { .. })
    ));
    assert!("-1".parse::<HduSel>().is_err());
    // An EXTNAME on an HDU without data is not an image either (never a panic).
    let mut spec = SkySpec::ramp(0, 0);
    spec.extra_cards.push("EXTNAME = 'EMPTY'".into());
    let empty = d.path().join("empty_named.fits");
    write_fits(&empty, &spec).unwrap();
    assert!(matches!(
        Image::open(&empty, &HduSel::Name("EMPTY".into()), 0),
        Err(FitsError::NotAnImage { .. })
    ));
}

#[test]
fn cubes_and_degenerate_axes() {
    let d = tmp();
    let mut spec = SkySpec::ramp(20, 10);
    spec.cube = Some(3);
    for name in ["cube.fits", "cube.fits.gz"] {
        let p = d.path().join(name);
        write_fits(&p, &spec).unwrap();
        let img = Image::open(&p, &HduSel::Auto, 2).unwrap();
        assert_eq!(img.planes(), 3);
        assert_eq!(img.value(3, 4).unwrap(), (3 + 4 * 20 + 2 * 200) as f32);
        assert!(matches!(
            Image::open(&p, &HduSel::Auto, 3),
            Err(FitsError::PlaneOutOfRange { .. })
        ));
    }
    spec.cube = Some(1);
    let p = d.path().join("flat.fits");
    write_fits(&p, &spec).unwrap();
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    assert_eq!((img.width(), img.height(), img.planes()), (20, 10, 1));
    assert_eq!(img.value(19, 9).unwrap(), 199.0);
}

#[test]
fn header_keeps_every_card_in_order() {
    let d = tmp();
    let mut spec = SkySpec::ramp(16, 16);
    spec.extra_cards = (0..20_000).map(|i| format!("HISTORY step {i}")).collect();
    spec.extra_cards
        .push("OBSERVER= 'Vera Rubin'         / who".into());
    let p = d.path().join("hist.fits");
    write_fits(&p, &spec).unwrap();
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    let cards = img.header().cards();
    let hist: Vec<_> = cards.iter().filter(|c| c.keyword == "HISTORY").collect();
    assert_eq!(hist.len(), 20_000);
    assert_eq!(hist[12345].comment.as_deref(), Some("step 12345"));
    assert_eq!(cards[0].keyword, "SIMPLE");
    assert_eq!(img.header().str("OBSERVER"), Some("Vera Rubin"));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let d = tmp();
    let missing = d.path().join("missing.fits");
    assert!(matches!(
        Image::open(&missing, &HduSel::Auto, 0),
        Err(FitsError::NotFound { .. })
    ));

    let text = d.path().join("notes.fits");
    std::fs::write(&text, "this is not FITS\n".repeat(300)).unwrap();
    let e = Image::open(&text, &HduSel::Auto, 0).unwrap_err();
    assert!(matches!(e, FitsError::NotFits { .. }), "{e}");

    let empty = d.path().join("empty.fits");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        Image::open(&empty, &HduSel::Auto, 0),
        Err(FitsError::NotFits { .. })
    ));

    // A real file cut short: NAXISn claims more data than is there.
    let spec = SkySpec::new(200, 200);
    let good = d.path().join("good.fits");
    write_fits(&good, &spec).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = d.path().join("cut.fits");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = Image::open(&cut, &HduSel::Auto, 0).unwrap_err();
    assert!(matches!(e, FitsError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("truncated"));

    // Cut inside the header.
    let head = d.path().join("head.fits");
    std::fs::write(&head, &bytes[..1000]).unwrap();
    assert!(Image::open(&head, &HduSel::Auto, 0).is_err());

    // A gzip'd file cut short: cfitsio's error, not a panic.
    let gz = d.path().join("g.fits.gz");
    write_fits(&gz, &spec).unwrap();
    let b = std::fs::read(&gz).unwrap();
    let gzcut = d.path().join("gcut.fits.gz");
    std::fs::write(&gzcut, &b[..b.len() / 2]).unwrap();
    if let Ok(img) = Image::open(&gzcut, &HduSel::Auto, 0) {
        let mut v = vec![0f32; 200 * 200];
        assert!(img.read_rect(0, 0, 200, 200, &mut v).is_err());
    }

    // A directory.
    assert!(Image::open(d.path(), &HduSel::Auto, 0).is_err());
}

/// Concurrent first opens of one gzip'd file unpack it once: every thread reads the whole file
/// (two at once used to share a temp file and one renamed it half written); a limit refuses a file
/// that would unpack to more, leaving nothing behind.
#[test]
fn gzip_files_unpack_once_whoever_asks() {
    let d = tmp();
    let plain = d.path().join("sky.fits");
    let spec = SkySpec::new(1500, 1400);
    write_fits(&plain, &spec).unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    let gz = d.path().join("sky.fits.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &bytes).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let dir = d.path().join("unpacked");
    let copies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let all: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let p = toyz_fits::Pinned::open_unpacked(&gz, &dir).unwrap();
                    let mut b = vec![0u8; p.len() as usize];
                    assert_eq!(p.read_at(&mut b, 0).unwrap(), b.len());
                    b
                })
            })
            .collect();
        all.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for c in copies {
        assert!(c == bytes, "a thread read a copy that is not the file");
    }
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "one copy and no temp file: {names:?}");
    // Over a limit: refused, nothing written.
    let other = d.path().join("other");
    let e = toyz_fits::Pinned::open_unpacked_within(&gz, &other, 1 << 20).unwrap_err();
    assert_eq!(e.kind(), "too_large", "{e}");
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 0);
}
