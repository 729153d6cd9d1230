//! Exact readouts: values that f32 cannot hold (int32 above 2^24, int64, doubles, the unsigned BZERO
//! conventions, scaled integers) come back exactly, from plain and gzip'd files alike, and serialise as
//! JSON integers or full-precision numbers.

use std::io::Write;
use std::path::Path;
use toyz_fits::{pixel_at, HduSel, Image, Value};

fn card(s: &str) -> String {
    format!("{s:<80}")
}

/// A 3×1 image with the given BITPIX, extra cards and big-endian data bytes; optionally gzip'd.
fn write(path: &Path, bitpix: i32, extra: &[&str], data: &[u8], gz: bool) {
    let mut h = vec![
        card("SIMPLE  =                    T"),
        card(&format!("BITPIX  = {bitpix:>20}")),
        card("NAXIS   =                    2"),
        card("NAXIS1  =                    3"),
        card("NAXIS2  =                    1"),
    ];
    h.extend(extra.iter().map(|c| card(c)));
    h.push(card("END"));
    let mut bytes = h.concat().into_bytes();
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes.extend_from_slice(data);
    bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
    if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        bytes = e.finish().unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn values(path: &Path) -> Vec<Option<Value>> {
    let img = Image::open(path, &HduSel::Auto, 0).unwrap();
    (0..3).map(|x| img.value_exact(x, 0).unwrap()).collect()
}

fn be<T: Copy, const N: usize>(v: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

#[test]
fn integers_and_doubles_are_read_exactly_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    for gz in [false, true] {
        let p = |n: &str| {
            dir.path().join(if gz {
                format!("{n}.fits.gz")
            } else {
                format!("{n}.fits")
            })
        };

        write(
            &p("i32"),
            32,
            &["BLANK   =                   -1"],
            &be(&[16_777_217i32, -1, i32::MIN], i32::to_be_bytes),
            gz,
        );
        assert_eq!(
            values(&p("i32")),
            [
                Some(Value::Int(16_777_217)),
                None,
                Some(Value::Int(i32::MIN as i64))
            ]
        );

        write(
            &p("i64"),
            64,
            &[],
            &be(
                &[1_000_000_007i64, i64::MAX, -(1i64 << 53) - 1],
                i64::to_be_bytes,
            ),
            gz,
        );
        assert_eq!(
            values(&p("i64")),
            [
                Some(Value::Int(1_000_000_007)),
                Some(Value::Int(i64::MAX)),
                Some(Value::Int(-(1i64 << 53) - 1))
            ]
        );

        write(
            &p("f64"),
            -64,
            &[],
            &be(&[1.000000006363f64, f64::NAN, -2.5e-300], f64::to_be_bytes),
            gz,
        );
        assert_eq!(
            values(&p("f64")),
            [
                Some(Value::F64(1.000000006363)),
                None,
                Some(Value::F64(-2.5e-300))
            ]
        );

        write(
            &p("f32"),
            -32,
            &[],
            &be(&[0.1f32, f32::NAN, 3.4e38], f32::to_be_bytes),
            gz,
        );
        assert_eq!(
            values(&p("f32")),
            [Some(Value::F32(0.1)), None, Some(Value::F32(3.4e38))]
        );

        // Unsigned conventions: BZERO 2^15, 2^31, 2^63 keep integers.
        write(
            &p("u16"),
            16,
            &[
                "BZERO   =                32768",
                "BSCALE  =                    1",
            ],
            &be(&[i16::MAX, i16::MIN, 0], i16::to_be_bytes),
            gz,
        );
        assert_eq!(
            values(&p("u16")),
            [
                Some(Value::Int(65535)),
                Some(Value::Int(0)),
                Some(Value::Int(32768))
            ]
        );
        write(
            &p("u32"),
            32,
            &["BZERO   =           2147483648"],
            &be(&[i32::MAX, 0, i32::MIN], i32::to_be_bytes),
            gz,
        );
        assert_eq!(
            values(&p("u32")),
            [
                Some(Value::Int(4_294_967_295)),
                Some(Value::Int(2_147_483_648)),
                Some(Value::Int(0))
            ]
        );
        write(
            &p("u64"),
            64,
            &["BZERO   =  9223372036854775808"],
            &be(&[i64::MAX, 0, i64::MIN], i64::to_be_bytes),
            gz,
        );
        assert_eq!(
            values(&p("u64")),
            [
                Some(Value::UInt(u64::MAX)),
                Some(Value::UInt(1 << 63)),
                Some(Value::Int(0))
            ]
        );

        // Scaled integers: BSCALE·v + BZERO in double.
        write(
            &p("scaled"),
            16,
            &[
                "BSCALE  =                  0.1",
                "BZERO   =                 -5.0",
            ],
            &be(&[12345i16, -3, 0], i16::to_be_bytes),
            gz,
        );
        assert_eq!(
            values(&p("scaled")),
            [
                Some(Value::Scaled {
                    value: 12345.0 * 0.1 - 5.0,
                    decimals: 1
                }),
                Some(Value::Scaled {
                    value: -3.0 * 0.1 - 5.0,
                    decimals: 1
                }),
                Some(Value::Scaled {
                    value: -5.0,
                    decimals: 1
                })
            ]
        );
        // Written with the decimals the scaling holds, not the double's noise (1229.5000000000002).
        let text: Vec<String> = values(&p("scaled"))
            .into_iter()
            .flatten()
            .map(Value::text)
            .collect();
        assert_eq!(text, ["1229.5", "-5.3", "-5.0"]);
    }
}

#[test]
fn readouts_serialise_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("i64.fits");
    write(
        &p,
        64,
        &[],
        &be(
            &[9_007_199_254_740_993i64, 1_000_000_007, 5],
            i64::to_be_bytes,
        ),
        false,
    );
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    let r = pixel_at(&img, 1.0, 1.0).unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"value\":9007199254740993"), "{json}");
    assert!(
        !json.contains("\"ccd\""),
        "a single HDU has no ccd field: {json}"
    );
    let p = dir.path().join("f64.fits");
    write(
        &p,
        -64,
        &[],
        &be(&[1.000000006363f64, 0.1, 1e-310], f64::to_be_bytes),
        false,
    );
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    let json = serde_json::to_string(&pixel_at(&img, 1.0, 1.0).unwrap()).unwrap();
    assert!(json.contains("\"value\":1.000000006363"), "{json}");
    let p = dir.path().join("f32.fits");
    write(
        &p,
        -32,
        &[],
        &be(&[0.1f32, 1.0, 2.0], f32::to_be_bytes),
        false,
    );
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    let json = serde_json::to_string(&pixel_at(&img, 1.0, 1.0).unwrap()).unwrap();
    assert!(
        json.contains("\"value\":0.1,"),
        "float32 data keeps its own digits: {json}"
    );
    let through_value = serde_json::to_value(pixel_at(&img, 1.0, 1.0).unwrap()).unwrap();
    assert_eq!(
        through_value["value"].to_string(),
        "0.1",
        "also through serde_json::Value"
    );
    assert_eq!(Value::F32(0.1).text(), "0.1");
    assert_eq!(Value::Int(-7).text(), "-7");
}

#[test]
fn tile_compressed_integers_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ramp.fz");
    let mut s = toyz_skygen::SkySpec::ramp(300, 200);
    s.bitpix = 32;
    toyz_skygen::write_fz(&p, &s, toyz_skygen::Compression::Rice).unwrap();
    let img = Image::open(&p, &HduSel::Auto, 0).unwrap();
    assert!(img.compressed());
    for (x, y) in [(0, 0), (299, 0), (17, 150), (299, 199)] {
        assert_eq!(
            img.value_exact(x, y).unwrap(),
            Some(Value::Int((x + y * 300) as i64))
        );
    }
}
