//! FITS header cards: parse 80-character records into keyword / value / comment, and typed lookups.
//! Reading the records from the file is handle.rs's job; interpreting WCS keys is wcs.rs's.

use serde::Serialize;
use std::collections::HashMap;

/// One header record. `value` is the value text with string quotes removed (`None` for commentary cards).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Card {
    pub keyword: String,
    pub value: Option<String>,
    /// True when the value was a quoted FITS string.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub string: bool,
    pub comment: Option<String>,
    /// The record as read (up to 80 characters), for copying cards verbatim.
    #[serde(skip)]
    pub raw: String,
}

impl Card {
    pub fn parse(record: &str) -> Card {
        let record = record.trim_end_matches(['\n', '\r']);
        let mut c = Self::parse_fields(record);
        c.raw = record.to_owned();
        c
    }

    fn parse_fields(record: &str) -> Card {
        let (keyword, rest) = if record.len() >= 8 {
            let (k, r) = split_at_char(record, 8);
            (k.trim_end().to_owned(), r)
        } else {
            (record.trim_end().to_owned(), "")
        };
        // HIERARCH cards: the keyword runs to the '='.
        if keyword == "HIERARCH" {
            if let Some(eq) = rest.find('=') {
                let key = rest[..eq].trim().to_owned();
                return Self::value_card(key, &rest[eq + 1..]);
            }
        }
        if rest.starts_with("= ") || rest == "=" {
            return Self::value_card(keyword, rest.get(2..).unwrap_or(""));
        }
        let text = rest.trim_end();
        Card {
            keyword,
            value: None,
            string: false,
            comment: (!text.is_empty()).then(|| text.trim_start().to_owned()),
            raw: String::new(),
        }
    }

    fn value_card(keyword: String, text: &str) -> Card {
        let t = text.trim_start();
        if let Some(body) = t.strip_prefix('\'') {
            // A FITS string: '' is an escaped quote; trailing spaces are not significant.
            let mut value = String::new();
            let mut chars = body.char_indices().peekable();
            let mut end = body.len();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if matches!(chars.peek(), Some((_, '\''))) {
                        value.push('\'');
                        chars.next();
                    } else {
                        end = i + 1;
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let after = &body[end.min(body.len())..];
            let comment = after.find('/').map(|p| after[p + 1..].trim().to_owned());
            Card {
                keyword,
                value: Some(value.trim_end().to_owned()),
                string: true,
                comment: comment.filter(|c| !c.is_empty()),
                raw: String::new(),
            }
        } else {
            let (v, c) = match t.find('/') {
                Some(p) => (&t[..p], Some(t[p + 1..].trim().to_owned())),
                None => (t, None),
            };
            let v = v.trim();
            Card {
                keyword,
                value: (!v.is_empty()).then(|| v.to_owned()),
                string: false,
                comment: c.filter(|c| !c.is_empty()),
                raw: String::new(),
            }
        }
    }
}

fn split_at_char(s: &str, n: usize) -> (&str, &str) {
    match s.char_indices().nth(n) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    }
}

/// All cards of one HDU in order, with a keyword index (first occurrence wins, as cfitsio reads).
#[derive(Debug, Clone, Default)]
pub struct Header {
    cards: Vec<Card>,
    index: HashMap<String, usize>,
}

impl Header {
    pub fn from_records<I: IntoIterator<Item = String>>(records: I) -> Header {
        let cards: Vec<Card> = records.into_iter().map(|r| Card::parse(&r)).collect();
        let mut index = HashMap::new();
        for (i, c) in cards.iter().enumerate() {
            if c.value.is_some() {
                index.entry(c.keyword.clone()).or_insert(i);
            }
        }
        Header { cards, index }
    }

    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    pub fn get(&self, key: &str) -> Option<&Card> {
        self.index.get(key).map(|&i| &self.cards[i])
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key)?.value.as_deref()
    }

    pub fn f64(&self, key: &str) -> Option<f64> {
        let c = self.get(key)?;
        if c.string {
            return None;
        }
        // FITS allows Fortran exponents (1.0D+03).
        c.value.as_deref()?.replace(['D', 'd'], "E").parse().ok()
    }

    pub fn i64(&self, key: &str) -> Option<i64> {
        let c = self.get(key)?;
        if c.string {
            return None;
        }
        c.value.as_deref()?.parse().ok()
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)?.value.as_deref()? {
            "T" => Some(true),
            "F" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_value_string_and_commentary_cards() {
        let c = Card::parse("NAXIS1  =                 2048 / length of axis 1");
        assert_eq!(c.keyword, "NAXIS1");
        assert_eq!(c.value.as_deref(), Some("2048"));
        assert_eq!(c.comment.as_deref(), Some("length of axis 1"));
        let c = Card::parse("OBJECT  = 'M31 ''core'' / x  '   / target");
        assert_eq!(c.value.as_deref(), Some("M31 'core' / x"));
        assert!(c.string);
        assert_eq!(c.comment.as_deref(), Some("target"));
        let c = Card::parse("HISTORY made by toyz = not a value");
        assert_eq!(c.keyword, "HISTORY");
        assert_eq!(c.value, None);
        assert_eq!(c.comment.as_deref(), Some("made by toyz = not a value"));
        let c = Card::parse("HIERARCH ESO DET CHIP = 3 / chip");
        assert_eq!(c.keyword, "ESO DET CHIP");
        assert_eq!(c.value.as_deref(), Some("3"));
    }

    #[test]
    fn typed_lookups() {
        let h = Header::from_records(
            [
                "BSCALE  =                  1.5",
                "BZERO   =              3.2D+04",
                "SIMPLE  =                    T",
                "CTYPE1  = 'RA---TAN'",
            ]
            .map(String::from),
        );
        assert_eq!(h.f64("BSCALE"), Some(1.5));
        assert_eq!(h.f64("BZERO"), Some(32000.0));
        assert_eq!(h.bool("SIMPLE"), Some(true));
        assert_eq!(h.str("CTYPE1"), Some("RA---TAN"));
        assert_eq!(h.f64("CTYPE1"), None);
    }
}
