//! TPV polynomial distortion (RA---TPV/DEC--TPV, PVi_0..PVi_39) of intermediate world coordinates, as
//! WCSLIB (hence astropy) applies it: forward, analytic Jacobian, Newton inverse. std only, no I/O.

/// One term of the polynomial of axis 1: x^a y^b, or r^n.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Term {
    Xy(u8, u8),
    R(u8),
}

use Term::{Xy, R};

/// The 40 TPV terms in PVi_j order (j = index), written for axis 1; axis 2 swaps x and y.
const TERMS: [Term; 40] = [
    Xy(0, 0),
    Xy(1, 0),
    Xy(0, 1),
    R(1),
    Xy(2, 0),
    Xy(1, 1),
    Xy(0, 2),
    Xy(3, 0),
    Xy(2, 1),
    Xy(1, 2),
    Xy(0, 3),
    R(3),
    Xy(4, 0),
    Xy(3, 1),
    Xy(2, 2),
    Xy(1, 3),
    Xy(0, 4),
    Xy(5, 0),
    Xy(4, 1),
    Xy(3, 2),
    Xy(2, 3),
    Xy(1, 4),
    Xy(0, 5),
    R(5),
    Xy(6, 0),
    Xy(5, 1),
    Xy(4, 2),
    Xy(3, 3),
    Xy(2, 4),
    Xy(1, 5),
    Xy(0, 6),
    Xy(7, 0),
    Xy(6, 1),
    Xy(5, 2),
    Xy(4, 3),
    Xy(3, 4),
    Xy(2, 5),
    Xy(1, 6),
    Xy(0, 7),
    R(7),
];

/// Number of PVi_j coefficients per axis (j = 0..=39).
pub(crate) const NTERMS: usize = 40;

/// Newton iterations allowed by [`Tpv::inverse`].
const MAX_ITER: usize = 50;
/// Convergence of [`Tpv::inverse`]: the Newton step, degrees.
const TOL: f64 = 1e-12;
/// Step halvings tried by [`Tpv::inverse`] when a full Newton step does not reduce the residual.
const MAX_HALVINGS: usize = 30;

/// TPV polynomial distortion of the intermediate coordinates (degrees).
///
/// Where it sits: pixel → CD (p − CRPIX) = (x, y) in degrees → TPV → (ξ, η) in degrees → plain TAN.
/// WCSLIB (wcs.c `wcsset`) turns TPV into TAN plus a *sequent* distortion evaluated by its TPD code
/// (dis.c `tpvset`/`tpd1`..`tpd7`), applied after the PC matrix but BEFORE CDELT: the polynomial
/// only means degrees when the header uses CDi_j (as every TPV writer does). With PC + CDELT,
/// WCSLIB feeds it intermediate *pixel* coordinates and scales the result by CDELT afterwards.
///
/// Conventions (WCS registry "TPV", WCSLIB dis.h): ξ = Σ PV1_j T_j(x, y) and η = Σ PV2_j T_j(y, x),
/// the second axis swapping x and y, with T_j = 1, x, y, r, x², xy, y², x³, x²y, xy², y³, r³, x⁴ …
/// y⁷, r⁷ (r = √(x² + y²); radial terms at j = 3, 11, 23, 39, no even powers of r).
///
/// Defaults, as WCSLIB 8.6 really does them (checked in its source and against astropy 8.0.2, see
/// tests/data/tpv/absent.txt): the PVi_j present are copied into a zero-filled array of 40
/// coefficients and nothing else is set, so EVERY absent term is 0 — PVi_1 included, whether or not
/// other PVi_j are given. There is no identity default: an axis without any PVi_j gets the zero
/// polynomial (that coordinate is 0 everywhere) and a TPV header with no PV at all maps every pixel
/// to CRVAL in astropy. `Tpv::new` follows that; `Tpv::is_degenerate` tells the caller when it
/// happened, so it can decide whether to imitate astropy or fall back to plain TAN.
#[derive(Debug, Clone)]
pub struct Tpv {
    /// The nonzero terms of each axis, each written for its own axis (u = x for axis 1, u = y for
    /// axis 2).
    terms: [Vec<(Term, f64)>; 2],
    /// Some radial term is nonzero (r is computed only then).
    radial: bool,
}

/// Powers 0..=7 of both coordinates and the odd powers of r (r[n] = rⁿ for odd n).
struct Powers {
    x: [f64; 8],
    y: [f64; 8],
    r: [f64; 8],
}

impl Powers {
    fn new(x: f64, y: f64, radial: bool) -> Powers {
        let pow = |v: f64| {
            let mut p = [1.0; 8];
            for k in 1..8 {
                p[k] = p[k - 1] * v;
            }
            p
        };
        let mut r = [0.0; 8];
        if radial {
            // As WCSLIB: r = sqrt(x² + y²).
            let s = x * x + y * y;
            r[1] = s.sqrt();
            r[3] = r[1] * s;
            r[5] = r[3] * s;
            r[7] = r[5] * s;
        }
        Powers {
            x: pow(x),
            y: pow(y),
            r,
        }
    }
}

/// Σ c T(u, v) over the terms of one axis.
fn value(terms: &[(Term, f64)], u: &[f64; 8], v: &[f64; 8], r: &[f64; 8]) -> f64 {
    terms
        .iter()
        .map(|&(t, c)| match t {
            Xy(a, b) => c * (u[a as usize] * v[b as usize]),
            R(n) => c * r[n as usize],
        })
        .sum()
}

/// (∂/∂u, ∂/∂v) of Σ c T(u, v); `ur`, `vr` are u/r and v/r (0 at r = 0).
fn gradient(
    terms: &[(Term, f64)],
    u: &[f64; 8],
    v: &[f64; 8],
    r: &[f64; 8],
    (ur, vr): (f64, f64),
) -> (f64, f64) {
    let (mut du, mut dv) = (0.0, 0.0);
    for &(t, c) in terms {
        match t {
            Xy(a, b) => {
                let (a, b) = (a as usize, b as usize);
                if a > 0 {
                    du += c * (a as f64 * u[a - 1] * v[b]);
                }
                if b > 0 {
                    dv += c * (b as f64 * u[a] * v[b - 1]);
                }
            }
            // d(rⁿ)/du = n r^(n-2) u: for n = 1 that is u/r, which has no limit at r = 0; the
            // value there is 0, what a central difference gives (r is even in u and in v).
            R(1) => {
                du += c * ur;
                dv += c * vr;
            }
            R(n) => {
                let n = n as usize;
                du += c * (n as f64 * r[n - 2] * u[1]);
                dv += c * (n as f64 * r[n - 2] * v[1]);
            }
        }
    }
    (du, dv)
}

impl Tpv {
    /// pv1(j)/pv2(j): the header's PV1_j / PV2_j (j = 0..=39), None when absent. None (no Tpv)
    /// when the coefficients are exactly the identity (PV1_1 = PV2_1 = 1, every other term 0 or
    /// absent), i.e. TPV is plain TAN.
    ///
    /// Defaults as WCSLIB (dis.c `tpvset` fills a zeroed array with the PVi_j present): every absent
    /// term is 0, PVi_1 included. So an axis with no PVi_j at all is the zero polynomial, and
    /// `pv1 = pv2 = |_| None` gives a Tpv mapping everything to (0, 0) — exactly what astropy does
    /// with such a header; see [`Tpv::is_degenerate`].
    pub fn new(
        pv1: &dyn Fn(usize) -> Option<f64>,
        pv2: &dyn Fn(usize) -> Option<f64>,
    ) -> Option<Tpv> {
        let mut coef = [[0.0; NTERMS]; 2];
        for (axis, pv) in [pv1, pv2].into_iter().enumerate() {
            for (j, c) in coef[axis].iter_mut().enumerate() {
                *c = pv(j).unwrap_or(0.0);
            }
        }
        let identity = |c: &[f64; NTERMS]| {
            c.iter()
                .enumerate()
                .all(|(j, &v)| v == if j == 1 { 1.0 } else { 0.0 })
        };
        if identity(&coef[0]) && identity(&coef[1]) {
            return None;
        }
        let nonzero = |c: &[f64; NTERMS]| -> Vec<(Term, f64)> {
            TERMS
                .iter()
                .zip(c)
                .filter(|&(_, &v)| v != 0.0)
                .map(|(&t, &v)| (t, v))
                .collect()
        };
        let terms = [nonzero(&coef[0]), nonzero(&coef[1])];
        let radial = terms.iter().flatten().any(|(t, _)| matches!(t, R(_)));
        Some(Tpv { terms, radial })
    }

    /// True when an axis depends on neither x nor y (every term but the constant is 0 — e.g. a TPV
    /// header without any PVi_j for that axis): the mapping squashes the image onto a line or a
    /// point, as WCSLIB/astropy do, and [`Tpv::inverse`] always returns None.
    pub fn is_degenerate(&self) -> bool {
        self.terms
            .iter()
            .any(|t| t.iter().all(|&(term, _)| term == Xy(0, 0)))
    }

    /// (x, y) intermediate, degrees -> (xi, eta), degrees.
    pub fn forward(&self, x: f64, y: f64) -> (f64, f64) {
        let p = Powers::new(x, y, self.radial);
        (
            value(&self.terms[0], &p.x, &p.y, &p.r),
            value(&self.terms[1], &p.y, &p.x, &p.r),
        )
    }

    /// Analytic Jacobian d(xi, eta)/d(x, y) at (x, y): [[dxi/dx, dxi/dy], [deta/dx, deta/dy]],
    /// including the radial terms; at r = 0 the derivative of r (which has none) is taken as 0, the
    /// central-difference value, and the higher odd powers of r have derivative 0 there.
    pub fn jacobian(&self, x: f64, y: f64) -> [[f64; 2]; 2] {
        let p = Powers::new(x, y, self.radial);
        let unit = if self.radial {
            // hypot, not p.r[1]: x² + y² underflows to 0 for |x|, |y| < 1e-154 while x/r does not.
            let h = x.hypot(y);
            if h == 0.0 {
                (0.0, 0.0)
            } else {
                (x / h, y / h)
            }
        } else {
            (0.0, 0.0)
        };
        let (dxi_dx, dxi_dy) = gradient(&self.terms[0], &p.x, &p.y, &p.r, unit);
        // Axis 2 is written in (u, v) = (y, x).
        let (deta_dy, deta_dx) = gradient(&self.terms[1], &p.y, &p.x, &p.r, (unit.1, unit.0));
        [[dxi_dx, dxi_dy], [deta_dx, deta_dy]]
    }

    /// Inverse by Newton iteration with the analytic Jacobian, starting from (xi, eta); None if it
    /// does not converge (Newton step <= 1e-12 deg) within 50 iterations, or meets a singular
    /// Jacobian or a non-finite value. A step that would increase the residual is halved (up to 30
    /// times), which only matters far from the solution.
    pub fn inverse(&self, xi: f64, eta: f64) -> Option<(f64, f64)> {
        if !(xi.is_finite() && eta.is_finite()) {
            return None;
        }
        let residual = |x: f64, y: f64| {
            let (f, g) = self.forward(x, y);
            (f - xi, g - eta)
        };
        let norm2 = |(a, b): (f64, f64)| a * a + b * b;
        let (mut x, mut y) = (xi, eta);
        let mut res = residual(x, y);
        for _ in 0..MAX_ITER {
            if !norm2(res).is_finite() {
                return None;
            }
            let [[a, b], [c, d]] = self.jacobian(x, y);
            let det = a * d - b * c;
            if det == 0.0 || !det.is_finite() {
                return None;
            }
            let dx = -(d * res.0 - b * res.1) / det;
            let dy = -(a * res.1 - c * res.0) / det;
            if !(dx.is_finite() && dy.is_finite()) {
                return None;
            }
            if dx.abs().max(dy.abs()) <= TOL {
                let (x, y) = (x + dx, y + dy);
                return (x.is_finite() && y.is_finite()).then_some((x, y));
            }
            let before = norm2(res);
            let mut t = 1.0;
            let mut next = (x + dx, y + dy);
            let mut next_res = residual(next.0, next.1);
            for _ in 0..MAX_HALVINGS {
                if norm2(next_res) < before {
                    break;
                }
                t *= 0.5;
                next = (x + t * dx, y + t * dy);
                next_res = residual(next.0, next.1);
            }
            if norm2(next_res) >= before {
                // No decrease along the Newton direction: take the full step regardless.
                next = (x + dx, y + dy);
                next_res = residual(next.0, next.1);
            }
            (x, y) = next;
            res = next_res;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference files written by tools/gen_tpv_ref.py from astropy/WCSLIB.
    macro_rules! data_files {
        ($($name:literal),* $(,)?) => {
            [$(($name, include_str!(concat!("../tests/data/tpv/", $name, ".txt")))),*]
        };
    }

    const FILES: [(&str, &str); 5] =
        data_files!("terms", "all_terms", "des_ccd", "scamp_tan", "absent");

    /// A header plus reference points: one per file, or one per "S" section.
    struct Case {
        label: String,
        cards: Vec<(String, f64)>,
        /// px py ix iy xi eta lon lat.
        points: Vec<[f64; 8]>,
    }

    impl Case {
        fn num(&self, key: &str) -> Option<f64> {
            self.cards.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
        }

        fn tpv(&self) -> Option<Tpv> {
            Tpv::new(&|j| self.num(&format!("PV1_{j}")), &|j| {
                self.num(&format!("PV2_{j}"))
            })
        }

        /// Pixel scale sqrt|det CD|, degrees per pixel.
        fn scale(&self) -> f64 {
            let cd = |k: &str| self.num(k).unwrap_or(0.0);
            (cd("CD1_1") * cd("CD2_2") - cd("CD1_2") * cd("CD2_1"))
                .abs()
                .sqrt()
        }
    }

    /// (keyword, numeric value) of an 80-column card; None for strings, comments, non-numbers.
    fn card_value(card: &str) -> Option<(String, f64)> {
        let key = card.get(..8)?.trim().to_owned();
        let rest = card.get(8..)?.strip_prefix("= ")?;
        let value = rest.split('/').next()?.trim().replace(['D', 'd'], "E");
        Some((key, value.parse().ok()?))
    }

    fn parse(name: &str, text: &str) -> Vec<Case> {
        let mut common = Vec::new();
        let mut cases: Vec<Case> = Vec::new();
        for line in text.lines() {
            if let Some(card) = line.strip_prefix("H ") {
                let target = match cases.last_mut() {
                    Some(case) => &mut case.cards,
                    None => &mut common,
                };
                target.extend(card_value(card));
            } else if let Some(label) = line.strip_prefix("S ") {
                cases.push(Case {
                    label: format!("{name}/{label}"),
                    cards: common.clone(),
                    points: Vec::new(),
                });
            } else if let Some(nums) = line.strip_prefix("P ") {
                if cases.is_empty() {
                    cases.push(Case {
                        label: name.to_owned(),
                        cards: common.clone(),
                        points: Vec::new(),
                    });
                }
                let v: Vec<f64> = nums
                    .split_whitespace()
                    .map(|s| s.parse().unwrap())
                    .collect();
                assert_eq!(v.len(), 8, "{name}: {line}");
                let case = cases.last_mut().unwrap();
                case.points.push(v.try_into().unwrap());
            }
        }
        assert!(!cases.is_empty(), "{name}: no data");
        cases
    }

    fn all_cases() -> Vec<(&'static str, Vec<Case>)> {
        FILES.iter().map(|&(n, t)| (n, parse(n, t))).collect()
    }

    #[test]
    fn data_covers_every_term_alone() {
        let terms = &all_cases()[0].1;
        assert_eq!(terms.len(), 80);
        for (k, case) in terms.iter().enumerate() {
            let (axis, j) = (k / 40 + 1, k % 40);
            assert_eq!(case.label, format!("terms/{axis} {j}"));
            let tpv = case.tpv().expect("not the identity");
            for (ax, terms) in tpv.terms.iter().enumerate() {
                let mut nonzero: Vec<usize> = terms
                    .iter()
                    .map(|(t, _)| TERMS.iter().position(|u| u == t).unwrap())
                    .collect();
                nonzero.sort_unstable();
                let mut expected = vec![1];
                if ax + 1 == axis && j != 1 {
                    expected.push(j);
                    expected.sort_unstable();
                }
                assert_eq!(nonzero, expected, "{} axis {}", case.label, ax + 1);
            }
            assert!(case.points.len() >= 12);
        }
    }

    #[test]
    fn forward_matches_wcslib() {
        for (name, cases) in all_cases() {
            let mut worst = 0.0f64;
            for case in &cases {
                let tpv = case.tpv().expect("not the identity");
                for p in &case.points {
                    let (xi, eta) = tpv.forward(p[2], p[3]);
                    let err = (xi - p[4]).abs().max((eta - p[5]).abs());
                    assert!(
                        err <= 1e-12,
                        "{}: {p:?} -> ({xi}, {eta}), err {err:e} deg",
                        case.label
                    );
                    worst = worst.max(err);
                }
            }
            println!("{name}: forward max error {worst:.2e} deg");
        }
    }

    #[test]
    fn inverse_recovers_intermediate() {
        for (name, cases) in all_cases() {
            let mut worst = 0.0f64;
            for case in &cases {
                let tpv = case.tpv().expect("not the identity");
                let scale = case.scale();
                assert!(scale > 0.0);
                for p in &case.points {
                    let got = tpv.inverse(p[4], p[5]);
                    if tpv.is_degenerate() {
                        assert_eq!(got, None, "{}: {p:?}", case.label);
                        continue;
                    }
                    let (x, y) =
                        got.unwrap_or_else(|| panic!("{}: no inverse at {p:?}", case.label));
                    let err = (x - p[2]).abs().max((y - p[3]).abs()) / scale;
                    assert!(
                        err <= 1e-6,
                        "{}: {p:?} -> ({x}, {y}), err {err:e} px",
                        case.label
                    );
                    worst = worst.max(err);
                }
            }
            println!("{name}: inverse max error {worst:.2e} px");
        }
    }

    /// Largest deviation between the analytic Jacobian and a central difference, relative to the
    /// largest element of the Jacobian.
    fn jacobian_error(tpv: &Tpv, x: f64, y: f64) -> f64 {
        const H: f64 = 1e-6;
        let j = tpv.jacobian(x, y);
        let (fxp, fxm) = (tpv.forward(x + H, y), tpv.forward(x - H, y));
        let (fyp, fym) = (tpv.forward(x, y + H), tpv.forward(x, y - H));
        let fd = [
            [(fxp.0 - fxm.0) / (2.0 * H), (fyp.0 - fym.0) / (2.0 * H)],
            [(fxp.1 - fxm.1) / (2.0 * H), (fyp.1 - fym.1) / (2.0 * H)],
        ];
        let size = j.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut err = 0.0f64;
        for (row, fd_row) in j.iter().zip(&fd) {
            for (a, b) in row.iter().zip(fd_row) {
                assert!(a.is_finite(), "non-finite Jacobian at ({x}, {y})");
                err = err.max((a - b).abs() / size.max(1e-300));
            }
        }
        err
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        for (name, cases) in all_cases() {
            let mut worst = 0.0f64;
            for case in &cases {
                let tpv = case.tpv().expect("not the identity");
                if tpv.is_degenerate() {
                    continue;
                }
                let mut at = vec![(0.0, 0.0)];
                for p in &case.points {
                    at.extend([(p[2], p[3]), (p[2], 0.0), (0.0, p[3])]);
                }
                for (x, y) in at {
                    let err = jacobian_error(&tpv, x, y);
                    assert!(
                        err <= 1e-6,
                        "{}: Jacobian at ({x}, {y}) off by {err:e}",
                        case.label
                    );
                    worst = worst.max(err);
                }
            }
            println!("{name}: Jacobian max relative error {worst:.2e}");
        }
    }

    fn from(pv1: &[(usize, f64)], pv2: &[(usize, f64)]) -> Option<Tpv> {
        let find = |t: &[(usize, f64)], j: usize| t.iter().find(|&&(k, _)| k == j).map(|&(_, v)| v);
        Tpv::new(&|j| find(pv1, j), &|j| find(pv2, j))
    }

    #[test]
    fn identity_is_none_and_absent_terms_are_zero() {
        assert!(from(&[(1, 1.0)], &[(1, 1.0)]).is_none());
        assert!(from(&[(0, 0.0), (1, 1.0), (3, 0.0)], &[(1, 1.0), (2, 0.0)]).is_none());
        // WCSLIB: nothing given means the zero polynomial, not the identity.
        let none = from(&[], &[]).unwrap();
        assert!(none.is_degenerate());
        assert_eq!(none.forward(0.3, -0.2), (0.0, 0.0));
        assert_eq!(none.inverse(0.3, -0.2), None);
        // An axis without PV collapses to 0; PV2_1 = 1 keeps eta.
        let one = from(&[(0, 1e-3)], &[(1, 1.0)]).unwrap();
        assert!(one.is_degenerate());
        assert_eq!(one.forward(0.3, -0.2), (1e-3, -0.2));
        // PV1_1 absent while PV1_2 is given: xi has no x term.
        let t = from(&[(2, 1.0)], &[(2, 1.0)]).unwrap();
        assert!(!t.is_degenerate());
        assert_eq!(t.forward(0.3, -0.2), (-0.2, 0.3));
        let (x, y) = t.inverse(-0.2, 0.3).unwrap();
        assert!((x - 0.3).abs() < 1e-15 && (y + 0.2).abs() < 1e-15);
    }

    #[test]
    fn second_axis_swaps_x_and_y() {
        // PV1_8 is x²y on axis 1; PV2_8 is y²x on axis 2.
        let t = from(&[(1, 1.0), (8, 2.0)], &[(1, 1.0), (8, 3.0)]).unwrap();
        let (x, y) = (0.5f64, 0.25f64);
        let (xi, eta) = t.forward(x, y);
        assert!((xi - (x + 2.0 * x * x * y)).abs() < 1e-15);
        assert!((eta - (y + 3.0 * y * y * x)).abs() < 1e-15);
    }

    #[test]
    fn radial_terms_at_the_origin() {
        for j in [3, 11, 23, 39] {
            let t = from(&[(1, 1.0), (j, 0.5)], &[(1, 1.0), (j, -0.25)]).unwrap();
            assert_eq!(t.forward(0.0, 0.0), (0.0, 0.0));
            assert_eq!(t.jacobian(0.0, 0.0), [[1.0, 0.0], [0.0, 1.0]]);
            let tiny = t.jacobian(1e-200, -1e-200);
            assert!(
                tiny.iter().flatten().all(|v| v.is_finite()),
                "{j}: {tiny:?}"
            );
            assert!(jacobian_error(&t, 0.0, 0.0) < 1e-9);
            assert!(jacobian_error(&t, 0.1, 0.0) < 1e-9);
            assert!(jacobian_error(&t, 0.0, -0.1) < 1e-9);
            let (x, y) = t.inverse(0.0, 0.0).unwrap();
            assert!(x.abs() < 1e-12 && y.abs() < 1e-12);
        }
        // r alone with a unit coefficient: the derivative along x just off the origin is the sign.
        let t = from(&[(1, 1.0), (3, 1.0)], &[(1, 1.0)]).unwrap();
        let j = t.jacobian(1e-200, 0.0);
        assert_eq!(j[0][0], 2.0);
        let j = t.jacobian(-1e-200, 0.0);
        assert_eq!(j[0][0], 0.0);
    }

    #[test]
    fn non_finite_input_never_panics() {
        let t = from(&[(1, 1.0), (3, 1e-3), (7, 1e-2)], &[(1, 1.0), (5, 1e-2)]).unwrap();
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300] {
            let (a, b) = t.forward(v, 0.1);
            assert!(
                !(a.is_finite() && b.is_finite()) || v.abs() < 1e300,
                "{v}: {a} {b}"
            );
            let _ = t.jacobian(v, v);
            let _ = t.jacobian(0.1, v);
            assert_eq!(t.inverse(v, 0.1), None, "{v}");
            assert_eq!(t.inverse(0.1, v), None, "{v}");
        }
        assert!(t.forward(f64::NAN, 0.0).0.is_nan());
        assert!(t.jacobian(f64::NAN, 0.0)[0][0].is_nan());
        // A NaN coefficient poisons the output, never panics.
        let bad = from(&[(1, 1.0), (4, f64::NAN)], &[(1, 1.0)]).unwrap();
        assert!(bad.forward(0.1, 0.1).0.is_nan());
        assert_eq!(bad.inverse(0.1, 0.1), None);
    }

    #[test]
    fn inverse_gives_up_on_a_fold() {
        // xi = x - x³ has a fold at x = ±1/√3 (xi = ±0.385): no real preimage for xi = 1 near
        // the start, and the Jacobian vanishes on the fold.
        let t = from(&[(1, 1.0), (7, -1.0)], &[(1, 1.0)]).unwrap();
        if let Some((x, y)) = t.inverse(1.0, 0.0) {
            let (xi, eta) = t.forward(x, y);
            assert!((xi - 1.0).abs() < 1e-9 && eta.abs() < 1e-9);
        }
        let (x, _) = t.inverse(0.2, 0.0).unwrap();
        assert!((x - x * x * x - 0.2).abs() < 1e-14);
    }
}
