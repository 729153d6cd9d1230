//! The third axis of a cube as a world coordinate (frequency, velocity, wavelength, …): what the viewer
//! shows beside the plane number. Linear axes and the `-LOG` algorithm are read from CTYPE3, CRVAL3,
//! CRPIX3 and CDELT3 (or CD3_3, or PC3_3 × CDELT3); any other algorithm (`-F2W`, `-TAB`, …) gives none
//! rather than a wrong value.

use crate::header::Header;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpectralAxis {
    /// CTYPE3 without its algorithm code: FREQ, VRAD, WAVE, …
    pub ctype: String,
    /// CUNIT3, if given.
    pub unit: Option<String>,
    crval: f64,
    cdelt: f64,
    crpix: f64,
    log: bool,
}

impl SpectralAxis {
    /// The header's third axis, when it has one with a CTYPE3 this can evaluate.
    pub fn from_header(h: &Header) -> Option<SpectralAxis> {
        if h.i64("NAXIS")? < 3 {
            return None;
        }
        let ctype = h.str("CTYPE3")?.trim().to_owned();
        let (name, algorithm) = match ctype.split_once('-') {
            Some((n, a)) => (n.to_owned(), a.trim_start_matches('-').to_owned()),
            None => (ctype.clone(), String::new()),
        };
        let log = match algorithm.as_str() {
            "" => false,
            "LOG" => true,
            _ => return None,
        };
        let cdelt = h
            .f64("CD3_3")
            .or_else(|| Some(h.f64("PC3_3").unwrap_or(1.0) * h.f64("CDELT3")?))?;
        let crval = h.f64("CRVAL3").unwrap_or(0.0);
        if name.is_empty() || !cdelt.is_finite() || cdelt == 0.0 || (log && crval <= 0.0) {
            return None;
        }
        Some(SpectralAxis {
            ctype: name,
            unit: h
                .str("CUNIT3")
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty()),
            crval,
            cdelt,
            crpix: h.f64("CRPIX3").unwrap_or(1.0),
            log,
        })
    }

    /// The world value at plane `plane` (0-based, as the API counts planes; FITS pixel `plane + 1`).
    pub fn value(&self, plane: usize) -> f64 {
        let d = (plane as f64 + 1.0 - self.crpix) * self.cdelt;
        if self.log {
            self.crval * (d / self.crval).exp()
        } else {
            self.crval + d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cards: &[&str]) -> Header {
        Header::from_records(cards.iter().map(|c| format!("{c:80}")))
    }

    #[test]
    fn axes() {
        let h = header(&[
            "NAXIS   = 3",
            "CTYPE3  = 'FREQ    '",
            "CRVAL3  = 1.4E9",
            "CDELT3  = 1.0D6",
            "CRPIX3  = 2",
            "CUNIT3  = 'Hz'",
        ]);
        let a = SpectralAxis::from_header(&h).unwrap();
        assert_eq!((a.ctype.as_str(), a.unit.as_deref()), ("FREQ", Some("Hz")));
        assert_eq!(a.value(1), 1.4e9);
        assert_eq!(a.value(0), 1.4e9 - 1e6);
        let h = header(&[
            "NAXIS   = 3",
            "CTYPE3  = 'WAVE-LOG'",
            "CRVAL3  = 5000",
            "CDELT3  = 1",
            "CRPIX3  = 1",
        ]);
        let a = SpectralAxis::from_header(&h).unwrap();
        assert!((a.value(10) - 5000.0 * (10.0f64 / 5000.0).exp()).abs() < 1e-9);
        // CD3_3 wins; PC3_3 scales CDELT3.
        let h = header(&[
            "NAXIS   = 3",
            "CTYPE3  = 'VRAD'",
            "CRVAL3  = 0",
            "CD3_3   = 2.5",
            "CDELT3  = 7",
        ]);
        assert_eq!(SpectralAxis::from_header(&h).unwrap().value(2), 5.0);
        let h = header(&[
            "NAXIS   = 3",
            "CTYPE3  = 'VRAD'",
            "PC3_3   = 2",
            "CDELT3  = 3",
        ]);
        assert_eq!(SpectralAxis::from_header(&h).unwrap().value(1), 6.0);
        // Algorithms not evaluated here, and images without a third axis, give none.
        for cards in [
            &["NAXIS   = 3", "CTYPE3  = 'WAVE-F2W'", "CDELT3  = 1"][..],
            &["NAXIS   = 2", "CTYPE3  = 'FREQ'", "CDELT3  = 1"][..],
            &["NAXIS   = 3", "CDELT3  = 1"][..],
            &["NAXIS   = 3", "CTYPE3  = 'FREQ'"][..],
        ] {
            assert_eq!(SpectralAxis::from_header(&header(cards)), None, "{cards:?}");
        }
    }
}
