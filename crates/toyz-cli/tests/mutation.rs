//! Mutation test: real FITS files (plain float and scaled integers, RICE-, GZIP-, HCOMPRESS- and
//! PLIO-tiled, gzip'd, multi-extension) with bytes flipped, truncated at many places and their size
//! cards rewritten, given to the CLI (info, pixel, tiles build) and to a running server. Nothing may
//! panic, abort, die of a signal or hang: the CLI exits 0 or 2 with one line, a failed build leaves no
//! output, and the server answers every request with JSON (or a PNG) and stays up.

mod common;
use common::{get, s, serve_root};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use toyz_skygen::{write_fits, write_fz, write_mef, Compression, Extension, SkySpec};

/// Deterministic pseudo-random numbers (xorshift), so a failure names a reproducible file.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn originals(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut float = SkySpec::new(300, 260);
    float.nan_patches = true;
    let mut int = SkySpec::new(280, 300);
    int.bitpix = 16;
    int.bscale = 2.0;
    int.bzero = 32768.0;
    int.blank = Some(-32768);
    for (name, spec) in [("float.fits", &float), ("int.fits", &int)] {
        let p = dir.join(name);
        write_fits(&p, spec).unwrap();
        out.push((name.to_owned(), std::fs::read(&p).unwrap()));
    }
    for (name, c) in [
        ("rice.fits.fz", Compression::Rice),
        ("gzip.fits.fz", Compression::Gzip),
    ] {
        let p = dir.join(name);
        write_fz(&p, &SkySpec::new(300, 200), c).unwrap();
        out.push((name.to_owned(), std::fs::read(&p).unwrap()));
    }
    // HCOMPRESS and PLIO are lossless for integers (PLIO: up to 24 bits).
    let mut ints = SkySpec::new(240, 200);
    ints.bitpix = 32;
    ints.nan_patches = false;
    for (name, c) in [
        ("hcomp.fits.fz", Compression::Hcompress),
        ("plio.fits.fz", Compression::Plio),
    ] {
        let p = dir.join(name);
        write_fz(&p, &ints, c).unwrap();
        out.push((name.to_owned(), std::fs::read(&p).unwrap()));
    }
    let mef = dir.join("mef.fits");
    write_mef(
        &mef,
        &[
            Extension {
                name: "SCI".into(),
                spec: SkySpec::new(200, 150),
            },
            Extension {
                name: "WHT".into(),
                spec: SkySpec::ramp(200, 150),
            },
        ],
        true,
    )
    .unwrap();
    out.push(("mef.fits".to_owned(), std::fs::read(&mef).unwrap()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&out[0].1).unwrap();
    out.push(("float.fits.gz".to_owned(), gz.finish().unwrap()));
    out
}

/// Replace the value of every `KEY =` card in `b` (the first 2880-byte blocks) by `value`.
fn rewrite_card(b: &mut [u8], key: &str, value: &str) {
    let n = b.len().min(5 * 2880);
    for i in (0..n.saturating_sub(79)).step_by(80) {
        if b[i..i + 8].starts_with(key.as_bytes()) && b[i + 8] == b'=' {
            let card = format!("{:<8}= {:>20}", key, value);
            let card = format!("{card:<80}");
            b[i..i + 80].copy_from_slice(&card.as_bytes()[..80]);
        }
    }
}

/// Flips per file (800 ran clean once, in 8 minutes; CI runs fewer).
const FLIPS: usize = 16;

fn mutants(originals: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for (name, orig) in originals {
        let stem = name.replace('.', "_");
        // Truncated at header, block and data boundaries, and at random places.
        for (k, cut) in [
            0,
            1,
            79,
            80,
            2879,
            2880,
            2881,
            5760,
            orig.len() / 2,
            orig.len() - 1,
        ]
        .into_iter()
        .chain((0..4).map(|_| rng.below(orig.len())))
        .enumerate()
        {
            out.push((
                format!("{stem}-cut{k}.fits"),
                orig[..cut.min(orig.len())].to_vec(),
            ));
        }
        // Bytes flipped in the header, and in the data.
        for k in 0..FLIPS {
            let mut b = orig.clone();
            let region = if k < 5 { 2880.min(b.len()) } else { b.len() };
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(region);
                b[i] ^= 1 << rng.below(8);
            }
            out.push((format!("{stem}-flip{k}.fits"), b));
        }
        // Bytes flipped inside the compressed streams of HCOMPRESS and PLIO tiles, as often as in the
        // whole file (RICE streams have their own property test against cfitsio's walk).
        if name.starts_with("hcomp") || name.starts_with("plio") {
            let heap = toyz_skygen::hostile::heap_range(orig);
            for k in 0..FLIPS {
                let mut b = orig.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = heap.start + rng.below(heap.len());
                    b[i] ^= 1 << rng.below(8);
                }
                out.push((format!("{stem}-stream{k}.fits"), b));
            }
        }
        // Size cards rewritten to impossible or hostile values.
        for (k, (key, value)) in [
            ("NAXIS1", "0"),
            ("NAXIS1", "-5"),
            ("NAXIS1", "4294967296"),
            ("NAXIS2", "99999999999999"),
            ("NAXIS", "9"),
            ("NAXIS", "1"),
            ("BITPIX", "7"),
            ("BITPIX", "-64"),
            ("BITPIX", "64"),
            ("ZNAXIS1", "65536"),
            // cfitsio divides by it while opening the file (SIGFPE before the header check).
            ("ZTILE1", "0"),
            ("ZTILE2", "-1"),
            ("ZNAXIS2", "4294967296"),
            ("ZBITPIX", "-64"),
            ("NAXIS1", "'abc'"),
            ("PCOUNT", "99999999"),
            ("ZDITHER0", "-2147483648"),
            ("ZDITHER0", "0"),
            ("BSCALE", "0"),
            ("BLANK", "1e400"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut b = orig.clone();
            if name.ends_with(".gz") {
                continue;
            }
            rewrite_card(&mut b, key, value);
            if b != *orig {
                out.push((format!("{stem}-card{k}.fits"), b));
            }
        }
    }
    out
}

/// Run the CLI with a time limit: exit 0 or 2 (one line on stderr), never a signal, panic or hang.
fn run_cli(args: &[&str], what: &str) -> i32 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("{what}: hangs");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let code = status.code().unwrap_or_else(|| {
        // Kept for a reproduction outside the test's temporary folder.
        let keep = std::env::temp_dir().join("toyz-mutant.fits");
        let _ = std::fs::copy(args[1], &keep);
        panic!(
            "{what}: killed by a signal ({status:?}), file kept as {}: {err}",
            keep.display()
        )
    });
    assert!(code == 0 || code == 2, "{what}: exit {code}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    if code == 2 {
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
    }
    code
}

#[test]
fn mutated_files_never_crash_the_cli_or_the_server() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let data = d.path().join("data");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let all = mutants(&originals(&src));
    assert!(all.len() > 200, "{} mutants", all.len());
    let mut paths: Vec<PathBuf> = Vec::new();
    for (name, bytes) in &all {
        let p = data.join(name);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }

    // The CLI on every mutant.
    let (mut ok, mut refused) = (0, 0);
    for p in &paths {
        let f = s(p);
        run_cli(&["info", f], &format!("info {f}"));
        run_cli(&["pixel", f, "3", "4"], &format!("pixel {f}"));
        let out = d.path().join("out").join(p.file_name().unwrap());
        match run_cli(
            &["tiles", "build", f, "--out", s(&out)],
            &format!("tiles build {f}"),
        ) {
            0 => ok += 1,
            _ => {
                refused += 1;
                assert!(!out.exists(), "a failed build left {}", out.display());
            }
        }
    }
    assert!(ok > 10 && refused > 50, "{ok} built, {refused} refused");

    // A server over all of them.
    let srv = serve_root("m", &data, &d.path().join("cache"), &[]);
    for (name, _) in &all {
        for q in [
            format!("/api/sources?path=m/{name}"),
            format!("/api/header?path=m/{name}"),
            format!("/api/pixel?path=m/{name}&x=3&y=4"),
            format!("/api/cutout?path=m/{name}&x=20&y=20&w=16&h=16"),
        ] {
            let (st, body) = get(&format!("{}{q}", srv.url));
            assert!((200..=503).contains(&st), "{q}: {st}");
            if st != 200 {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                    panic!("{q}: {st} not JSON: {}", String::from_utf8_lossy(&body))
                });
                assert!(v["error"]["message"].is_string(), "{q}");
                assert!(
                    !String::from_utf8_lossy(&body).contains(s(&data)),
                    "{q}: server path"
                );
            }
            if q.starts_with("/api/sources") && st == 200 {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let t = v["tiles"].as_str().unwrap();
                let zmax = v["zmax"].as_u64().unwrap_or(0);
                for z in [0, zmax] {
                    let (st, _) = get(&format!(
                        "{}{}",
                        srv.url,
                        t.replace("{z}/{x}/{y}", &format!("{z}/0/0"))
                    ));
                    assert!(
                        st == 200 || st == 503 || st == 422 || st == 404,
                        "{t} z={z}: {st}"
                    );
                }
            }
        }
    }
    assert_eq!(
        get(&format!("{}/healthz", srv.url)).0,
        200,
        "the server is up"
    );
}

/// The crafted files that killed cfitsio (docs/security.md): each is refused in one line with exit 2
/// by every command, and with a JSON `bad_fits` by every route of a running server, which stays up.
#[test]
fn hostile_tile_compressed_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let files = toyz_skygen::hostile::write_all(&data).unwrap();
    assert!(files.len() >= 12);
    for p in &files {
        let f = s(p);
        assert_eq!(run_cli(&["info", f], &format!("info {f}")), 2, "info {f}");
        assert_eq!(
            run_cli(&["pixel", f, "3", "4"], &format!("pixel {f}")),
            2,
            "pixel {f}"
        );
        let out = d.path().join("out").join(p.file_name().unwrap());
        let code = run_cli(
            &["tiles", "build", f, "--out", s(&out)],
            &format!("tiles build {f}"),
        );
        assert_eq!(code, 2, "tiles build {f}");
        assert!(!out.exists(), "a failed build left {}", out.display());
    }
    let srv = serve_root("h", &data, &d.path().join("cache"), &[]);
    for p in &files {
        let name = p.file_name().unwrap().to_str().unwrap();
        for q in [
            format!("/api/sources?path=h/{name}"),
            format!("/api/pixel?path=h/{name}&x=3&y=4"),
            format!("/api/cutout?path=h/{name}&x=20&y=20&w=16&h=16"),
            format!("/api/histogram?path=h/{name}"),
        ] {
            let (st, body) = get(&format!("{}{q}", srv.url));
            let v: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| panic!("{q}: {st} {}", String::from_utf8_lossy(&body)));
            assert_eq!(st, 422, "{q}: {v}");
            assert_eq!(v["error"]["kind"], "bad_fits", "{q}: {v}");
        }
    }
    assert_eq!(
        get(&format!("{}/healthz", srv.url)).0,
        200,
        "the server is up"
    );
}
