//! Property tests of the engine's parsers and tile geometry: render specs never panic, valid specs
//! have stable ids, and the pyramid's levels and tiles cover each image exactly.

use proptest::prelude::*;
use toyz_pyramid::spec::{parse_colour, parse_cut, parse_stretch};
use toyz_pyramid::{Geometry, RenderSpec, TILE};

fn spec_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(linear|sqrt|squared|log|power|asinh|sinh|histeq|minmax|zscale|percentile|range)(=[-+0-9.eE,]{0,24})?",
        "#[0-9a-fA-F]{0,9}",
        "[a-z_]{0,12}(_r)?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn spec_parsers_never_panic(s in spec_text()) {
        let _ = parse_stretch(&s);
        let _ = parse_cut(&s);
        let _ = parse_colour(&s);
    }

    #[test]
    fn valid_specs_have_stable_ids(
        stretch in spec_text(), cut in spec_text(), cmap in spec_text(),
        contrast in -10.0f64..10.0, bias in -1.0f64..2.0,
    ) {
        if let Ok(mut s) = RenderSpec::parse(Some(&stretch), Some(&cut), Some(&cmap)) {
            s.contrast = contrast;
            s.bias = bias;
            if s.validate().is_ok() {
                let id = s.id();
                prop_assert_eq!(id.len(), 12);
                prop_assert_eq!(s.clone().id(), id);
                // The JSON a server stores (spec.json) reads back as the same spec.
                let back: RenderSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
                prop_assert_eq!(back.id(), s.id());
            }
        }
    }

    #[test]
    fn levels_and_tiles_cover_the_image_exactly(w in 1usize..(1 << 20), h in 1usize..(1 << 20)) {
        let g = Geometry::new(w, h);
        prop_assert_eq!(g.level_size(g.zmax), (w, h));
        // Level 0 fits one tile; each level halves the next (rounding up).
        let (w0, h0) = g.level_size(0);
        prop_assert!(w0 <= TILE && h0 <= TILE);
        for z in 1..=g.zmax {
            let (a, b) = g.level_size(z);
            let (c, d) = g.level_size(z - 1);
            prop_assert_eq!((a.div_ceil(2), b.div_ceil(2)), (c, d));
            let (tx, ty) = g.tiles(z);
            prop_assert!((tx as usize) * TILE >= a && ((tx as usize) - 1) * TILE < a);
            prop_assert!((ty as usize) * TILE >= b && ((ty as usize) - 1) * TILE < b);
            prop_assert!(g.tile(z, tx - 1, ty - 1).is_some());
            prop_assert!(g.tile(z, tx, 0).is_none() && g.tile(z, 0, ty).is_none());
        }
        prop_assert!(g.tile(g.zmax + 1, 0, 0).is_none());
        let total: u64 = (0..=g.zmax).map(|z| { let (a, b) = g.tiles(z); a as u64 * b as u64 }).sum();
        prop_assert_eq!(g.tile_count(0, g.zmax), total);
    }
}
