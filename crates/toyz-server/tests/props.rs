//! Property tests of the server's parsers: DS9 regions, CSV catalogs, sizes, and path resolution,
//! which must never panic and never resolve a path outside its data root.

use proptest::prelude::*;
use toyz_server::config::parse_size;
use toyz_server::service::catalog::parse_csv;
use toyz_server::service::regions;

fn region_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // Brackets in any order (`circle)(1,2,3` panicked).
        "(circle|box|polygon|point|text)?[()# ]{0,3}[-0-9.,:]{0,10}[()#\n;]{0,3}[-0-9.,]{0,6}[()]{0,2}",
        "(# Region file format: DS9\n)?(global .{0,20}\n)?(fk5|image|icrs|galactic|physical)?;?\n?\
         ((# )?(circle|box|polygon|point|line|ellipse|annulus|text|vector|x point)\\(([-+0-9.:dh\"' ]{0,12},?){0,7}\\)\
         ( ?# ?.{0,20})?[\n;]?){0,4}",
    ]
}

fn csv_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(#.{0,10}\n)?[a-z,\" ]{0,30}\n(([-+0-9.eE\" ,]|nan|inf){0,40}\n){0,6}",
    ]
}

fn path_text() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("".to_owned()),
        Just("data".to_owned()),
        Just("sub".to_owned()),
        Just("link".to_owned()),
        Just("up".to_owned()),
        Just("a.fits".to_owned()),
        "[a-z.%~\\\\\0]{1,6}",
    ];
    prop::collection::vec(part, 0..7).prop_map(|v| v.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn regions_never_panic_and_round_trip(text in region_text()) {
        if let Ok(p) = regions::parse(&text) {
            if let Ok(out) = regions::write(&p.regions) {
                let again = regions::parse(&out).expect("what toyz writes, toyz reads");
                prop_assert_eq!(again.regions.len(), p.regions.len());
                prop_assert!(again.unknown.is_empty(), "{:?}", again.unknown);
                prop_assert_eq!(regions::write(&again.regions).expect("writes again"), out);
            }
        }
    }

    #[test]
    fn csv_never_panics_and_keeps_its_row_limit(text in csv_text(), max in 0usize..5) {
        if let Ok((cols, rows)) = parse_csv(&text, max) {
            prop_assert!(rows.len() <= max);
            prop_assert!(rows.iter().all(|r| r.len() == cols.len()));
        }
    }

    #[test]
    fn sizes_never_panic(s in any::<String>()) {
        let _ = parse_size(&s);
    }
}

/// Paths are resolved inside the root or not at all, whatever they hold (run against a real tree with
/// a link inside the root and links leading out of it).
#[test]
fn resolved_paths_stay_inside_the_root() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::create_dir_all(d.path().join("outside")).unwrap();
    std::fs::write(data.join("a.fits"), b"x").unwrap();
    std::fs::write(d.path().join("outside/a.fits"), b"secret").unwrap();
    std::os::unix::fs::symlink("sub", data.join("link")).unwrap();
    std::os::unix::fs::symlink("../outside", data.join("sub/up")).unwrap();
    let root = std::fs::canonicalize(&data).unwrap();
    let config = toyz_server::Config::load(
        None,
        toyz_server::Overrides {
            roots: vec![("data".into(), root.clone())],
            cache: Some(d.path().join("cache")),
            ..Default::default()
        },
    )
    .unwrap();
    let state = toyz_server::AppState::new(config).unwrap();
    let who = toyz_server::auth::Principal::Local;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
    runner
        .run(&path_text(), |p| {
            if let Ok(r) = state.resolve_for(&who, &p) {
                prop_assert!(r.abs.starts_with(&root), "{p} -> {}", r.abs.display());
                let opened = std::fs::canonicalize(r.open_path()).unwrap();
                prop_assert!(opened.starts_with(&root), "{p} opened {}", opened.display());
            }
            Ok(())
        })
        .unwrap();
}
