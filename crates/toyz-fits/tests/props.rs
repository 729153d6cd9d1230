//! Property tests of the FITS layer's parsers: header cards, HDU selectors and DATASEC/DETSEC
//! sections never panic on any input, and what they accept is consistent.

use proptest::prelude::*;
use toyz_fits::{parse_section, Card, HduSel};

/// Text that looks like FITS cards often enough to reach deep into the parser.
fn card_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Z0-9_-]{0,8} {0,2}=? {0,3}('[^']{0,20}'{0,2}|[-+]?[0-9.EeDd+-]{0,25}|[TF]) {0,3}(/.{0,30})?",
        "(COMMENT|HISTORY|CONTINUE|HIERARCH [A-Z ]{1,20}=) .{0,70}",
    ]
}

fn section_text() -> impl Strategy<Value = String> {
    let n = "-?[0-9]{0,12}";
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex(&format!("\\[ ?{n} ?: ?{n} ?, ?{n} ?: ?{n} ?\\]")).unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn cards_never_panic_and_keep_their_keyword(text in card_text()) {
        let c = Card::parse(&text);
        // The keyword is what the card starts with, never more than the card holds.
        prop_assert!(c.keyword.len() <= text.len().max(80));
    }

    #[test]
    fn hdu_selectors_never_panic(s in any::<String>()) {
        let _ = s.parse::<HduSel>();
    }

    #[test]
    fn hdu_indices_round_trip(i in 0usize..100_000) {
        prop_assert!(matches!(i.to_string().parse::<HduSel>(), Ok(HduSel::Index(j)) if j == i));
    }

    #[test]
    fn sections_never_panic_and_hold_what_they_say(s in section_text()) {
        if let Some([x1, x2, y1, y2]) = parse_section(&s) {
            let text = format!("[{x1}:{x2},{y1}:{y2}]");
            prop_assert_eq!(parse_section(&text), Some([x1, x2, y1, y2]));
        }
    }
}
