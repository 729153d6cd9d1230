//! Colour-bar ticks: round values between the cut levels, placed where the render puts them along the
//! colour bar (through the stretch, histogram equalisation included), so a log or asinh bar is labelled
//! where its colours really are.

use crate::spec::{RenderSpec, Stretch};
use crate::stats::Sample;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Tick {
    pub value: f64,
    /// 0 (left end, `lo`) … 1 (right end, `hi`) along the colour bar.
    pub pos: f64,
    pub label: String,
}

/// The smallest 1-2-5 step giving at most `n` intervals over `span`.
fn step(span: f64, n: f64) -> f64 {
    let e = 10f64.powf((span / n).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|k| k * e)
        .find(|&s| span / s <= n)
        .unwrap_or(10.0 * e)
}

/// A tick value written with as many decimals as its step needs: decimal while the value reads well
/// that way (a narrow range about 3 is `3.000004`, not `3.000004e0`), exponent form for very large or
/// small values.
fn label(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let decimal =
        (1e-4..1e6).contains(&step) || ((1e-4..1e6).contains(&v.abs().max(step)) && decimals <= 8);
    if !decimal {
        let digits = (v.abs().max(step).log10().floor() - step.log10().floor()).max(0.0) as usize;
        return format!("{v:.digits$e}");
    }
    format!("{v:.decimals$}")
}

/// Where value `v` falls along the colour bar of `spec` with cut levels `lo`..`hi`.
pub fn bar_position(spec: &RenderSpec, lo: f64, hi: f64, sample: Option<&Sample>, v: f64) -> f64 {
    let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    match (spec.stretch, sample) {
        (Stretch::Histeq, Some(s)) => {
            let a = s.sorted.partition_point(|&x| (x as f64) < lo);
            let b = s.sorted.partition_point(|&x| (x as f64) <= hi);
            let inside = &s.sorted[a..b];
            if inside.is_empty() {
                t
            } else {
                inside.partition_point(|&x| (x as f64) <= v) as f64 / inside.len() as f64
            }
        }
        _ => spec.stretch.apply(t),
    }
}

/// Up to eight round values between `lo` and `hi` (a tick nearer than 6 % of the bar to the previous
/// one is left out), each with its place along the bar.
pub fn colorbar_ticks(spec: &RenderSpec, lo: f64, hi: f64, sample: Option<&Sample>) -> Vec<Tick> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Vec::new();
    }
    let st = step(hi - lo, 7.0);
    let mut out: Vec<Tick> = Vec::new();
    let mut k = (lo / st).ceil();
    while k * st <= hi + st * 1e-9 && out.len() < 12 {
        let value = k * st;
        let pos = bar_position(spec, lo, hi, sample, value);
        if out.last().is_none_or(|t| pos - t.pos >= 0.06) {
            out.push(Tick {
                value,
                pos,
                label: label(value, st),
            });
        }
        k += 1.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_values_where_the_stretch_puts_them() {
        let lin = RenderSpec::default();
        let t = colorbar_ticks(&lin, 920.46, 1213.09, None);
        let labels: Vec<&str> = t.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["950", "1000", "1050", "1100", "1150", "1200"]);
        assert!((t[1].pos - (1000.0 - 920.46) / (1213.09 - 920.46)).abs() < 1e-12);
        // A log stretch puts 10 % of the range far right of 10 % of the bar.
        let log = RenderSpec::parse(Some("log"), Some("minmax"), None).unwrap();
        let t = colorbar_ticks(&log, 0.0, 1.0, None);
        assert_eq!(t[0].label, "0.0");
        let p = t.iter().find(|t| t.label == "0.2").unwrap().pos;
        assert!((p - (1000.0 * 0.2f64 + 1.0).ln() / 1001f64.ln()).abs() < 1e-12);
        // Ticks crowded by the stretch are thinned: never nearer than 6 % of the bar.
        assert!(t.windows(2).all(|w| w[1].pos - w[0].pos >= 0.06), "{t:?}");
        // Histogram equalisation places a value at its rank in the sample.
        let mut s = Sample {
            raw: vec![],
            sorted: (0..100).map(|v| (v * v) as f32).collect(),
            nan_count: 0,
            inf_count: 0,
        };
        s.raw = s.sorted.clone();
        let h = RenderSpec::parse(Some("histeq"), Some("minmax"), None).unwrap();
        assert!((bar_position(&h, 0.0, 9801.0, Some(&s), 2500.0) - 0.51).abs() < 1e-12);
        // Tiny, huge and negative ranges.
        assert_eq!(colorbar_ticks(&lin, 1e-7, 5e-7, None)[0].label, "1e-7");
        assert_eq!(colorbar_ticks(&lin, 0.0, 3e7, None)[1].label, "5e6");
        assert_eq!(
            colorbar_ticks(&lin, -0.3, 0.3, None)
                .iter()
                .map(|t| t.label.as_str())
                .collect::<Vec<_>>(),
            ["-0.2", "-0.1", "0.0", "0.1", "0.2", "0.3"]
        );
        assert!(colorbar_ticks(&lin, 1.0, 1.0, None).is_empty());
        // A narrow range about a value that reads well in decimals stays decimal.
        let narrow: Vec<String> = colorbar_ticks(&lin, 3.0, 3.00001, None)
            .into_iter()
            .map(|t| t.label)
            .collect();
        assert_eq!(
            narrow[..3],
            ["3.000000", "3.000002", "3.000004"],
            "{narrow:?}"
        );
        assert_eq!(
            colorbar_ticks(&lin, 1000.0, 1000.00001, None)[1].label,
            "1000.000002"
        );
    }
}
