//! A DECam exposure as one image, against the generator's truth: the CCDs' placement by WCS and by
//! DETSEC, DATASEC trimming, gaps and a missing CCD as no data, exact readouts and sky round trips on
//! every CCD.

use std::path::Path;
use toyz_fits::{open_raster, pixel_at, sky_to_pixel, HduSel, Image, Layout};
use toyz_skygen::{Ccd, Exposure};

fn exposure(dir: &Path, overscan: usize, compressed: bool) -> (Exposure, std::path::PathBuf) {
    let mut e = Exposure::decam_scaled(32);
    e.overscan = overscan;
    e.stars_per_ccd = 10;
    let p = dir.join(if compressed {
        "exp.fits.fz"
    } else {
        "exp.fits"
    });
    e.write(&p, compressed).unwrap();
    (e, p)
}

/// Where the WCS puts a CCD: its data centre's sky position in the first CCD's pixel grid of the
/// shared tangent plane (gnomonic about the tangent point), as whole pixels — computed from the
/// generator's own WCS formulas.
fn wcs_offset(e: &Exposure, first: &Ccd, c: &Ccd) -> (i64, i64) {
    let cx = (c.datasec[0] + c.datasec[1]) as f64 / 2.0;
    let cy = (c.datasec[2] + c.datasec[3]) as f64 / 2.0;
    let (ra, dec) = e.pixel_to_world(c, cx, cy);
    let (a, d) = (ra.to_radians(), dec.to_radians());
    let (a0, d0) = (e.ra.to_radians(), e.dec.to_radians());
    let cosc = d0.sin() * d.sin() + d0.cos() * d.cos() * (a - a0).cos();
    let xi = (d.cos() * (a - a0).sin() / cosc).to_degrees();
    let eta = ((d0.cos() * d.sin() - d0.sin() * d.cos() * (a - a0).cos()) / cosc).to_degrees();
    let m = first.cd;
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let px = (m[1][1] * xi - m[0][1] * eta) / det + first.crpix.0;
    let py = (-m[1][0] * xi + m[0][0] * eta) / det + first.crpix.1;
    ((px - cx).round() as i64, (py - cy).round() as i64)
}

#[test]
fn wcs_layout_places_every_ccd_and_reads_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (e, path) = exposure(dir.path(), 0, true);
    let truth = e.ccds();
    let m = open_raster(&path, &HduSel::Mosaic(Layout::Wcs), 0).unwrap();
    let info = m.mosaic().expect("a mosaic").clone();
    assert_eq!(info.layout, "wcs");
    assert_eq!(info.ccds.len(), 61, "62 CCDs less the dead N30");
    assert!(info.ccds.iter().all(|c| c.name != "N30"));

    // Placement: the offsets between CCDs are those of their WCS positions.
    let base = (info.ccds[0].x0, info.ccds[0].y0);
    let t0 = wcs_offset(&e, &truth[0], &truth[0]);
    for (c, t) in info.ccds.iter().zip(&truth) {
        assert_eq!((c.name.as_str(), c.hdu), (t.name.as_str(), t.hdu));
        let want = wcs_offset(&e, &truth[0], t);
        assert_eq!(
            (c.x0 - base.0, c.y0 - base.1),
            (want.0 - t0.0, want.1 - t0.1),
            "{}",
            c.name
        );
        // Within a few pixels of the undistorted focal-plane grid too (the TPV distortion moves
        // chips by less than a pixel at this scale).
        let grid = (
            t.grid_offset.0 - truth[0].grid_offset.0,
            t.grid_offset.1 - truth[0].grid_offset.1,
        );
        assert!(((c.x0 - base.0) - grid.0).abs() <= 2 && ((c.y0 - base.1) - grid.1).abs() <= 2);
        assert_eq!((c.width, c.height), (e.ccd_width, e.ccd_height));
    }
    // The mosaic starts at pixel 1 and ends at its last CCD.
    assert_eq!(
        info.ccds.iter().map(|c| c.x0 + c.datasec[0] as i64).min(),
        Some(1)
    );
    assert_eq!(
        info.ccds.iter().map(|c| c.y0 + c.datasec[2] as i64).min(),
        Some(1)
    );
    let right = info
        .ccds
        .iter()
        .map(|c| c.x0 + c.datasec[1] as i64)
        .max()
        .unwrap();
    let top = info
        .ccds
        .iter()
        .map(|c| c.y0 + c.datasec[3] as i64)
        .max()
        .unwrap();
    assert_eq!((m.width() as i64, m.height() as i64), (right, top));

    // Readouts and sky positions on every CCD: the value is that CCD's own pixel, exactly; the sky
    // position is its own WCS's (TPV included), to 1 mas; the sky inverts to the same mosaic pixel.
    for (c, t) in info.ccds.iter().zip(&truth) {
        let one = Image::open(&path, &HduSel::Index(c.hdu), 0).unwrap();
        for (fx, fy) in [(0.1, 0.1), (0.5, 0.5), (0.93, 0.07), (0.02, 0.97)] {
            let x = (1.0 + fx * (e.ccd_width - 1) as f64).round();
            let y = (1.0 + fy * (e.ccd_height - 1) as f64).round();
            let (mx, my) = ((x as i64 + c.x0) as f64, (y as i64 + c.y0) as f64);
            let r = pixel_at(&*m, mx, my).unwrap();
            let ccd = r.ccd.clone().flatten().expect("on a CCD");
            assert_eq!(
                (ccd.name.as_str(), ccd.hdu, ccd.x, ccd.y),
                (c.name.as_str(), c.hdu, x, y)
            );
            let own = one.value_exact(x as usize - 1, y as usize - 1).unwrap();
            assert_eq!(r.value, own, "{} ({x}, {y})", c.name);
            assert!(r.value.is_some());
            let w = r.world.expect("world");
            let (ra, dec) = e.pixel_to_world(t, x, y);
            let sep =
                (((w.lon - ra) * dec.to_radians().cos()).powi(2) + (w.lat - dec).powi(2)).sqrt();
            assert!(
                sep * 3.6e6 < 1.0,
                "{} ({x}, {y}): {} mas",
                c.name,
                sep * 3.6e6
            );
            let (bx, by) = sky_to_pixel(&*m, ra, dec).unwrap();
            assert!(
                (bx - mx).hypot(by - my) < 1e-3,
                "{}: {bx} {by} vs {mx} {my}",
                c.name
            );
        }
    }
}

#[test]
fn gaps_and_missing_ccds_are_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = exposure(dir.path(), 0, true);
    let m = open_raster(&path, &HduSel::Mosaic(Layout::Wcs), 0).unwrap();
    let info = m.mosaic().unwrap().clone();
    // A pixel just right of the first CCD of the first column is in a gap.
    let c = &info.ccds[0];
    let gx = (c.x0 + c.datasec[1] as i64 + 2) as f64;
    let gy = (c.y0 + c.datasec[2] as i64 + 5) as f64;
    let r = pixel_at(&*m, gx, gy).unwrap();
    assert_eq!(r.value, None);
    assert_eq!(r.ccd, Some(None));
    assert!(r.world.is_some(), "gaps still have sky positions");
    // A rectangle across the CCD edge: its left part is the CCD's pixels, its right part (narrower
    // than the narrowest gap) NaN.
    let (x0, y0) = (
        (c.x0 + c.datasec[1] as i64 - 4) as usize,
        (c.y0 + 10) as usize,
    );
    let mut buf = vec![0f32; 7 * 3];
    m.read_rect(x0, y0, 7, 3, &mut buf).unwrap();
    let one = Image::open(&path, &HduSel::Index(c.hdu), 0).unwrap();
    let mut own = vec![0f32; 4 * 3];
    one.read_rect(c.datasec[1] - 4, 10, 4, 3, &mut own).unwrap();
    for r in 0..3 {
        assert_eq!(&buf[r * 7..r * 7 + 4], &own[r * 4..r * 4 + 4]);
        assert!(buf[r * 7 + 4..r * 7 + 7].iter().all(|v| v.is_nan()));
    }
    // Where N30 would be, nothing is read; the statistics sample only counts real pixels.
    assert!(info.ccds.iter().all(|c| c.name != "N30"));
    let mut all = vec![0f32; m.width() * m.height()];
    m.read_rect(0, 0, m.width(), m.height(), &mut all).unwrap();
    let data = all.iter().filter(|v| v.is_finite()).count();
    assert_eq!(data, 61 * c.width * c.height);
    // Bounds are checked.
    assert!(m.read_rect(m.width() - 1, 0, 2, 1, &mut buf).is_err());
    assert!(pixel_at(&*m, 0.0, 1.0).is_err());
}

#[test]
fn detsec_layout_and_datasec_trim() {
    let dir = tempfile::tempdir().unwrap();
    let (e, path) = exposure(dir.path(), 3, false);
    let truth = e.ccds();
    let m = open_raster(&path, &HduSel::Mosaic(Layout::Detsec), 0).unwrap();
    let info = m.mosaic().unwrap().clone();
    assert_eq!(info.layout, "detsec");
    assert_eq!(info.ccds.len(), truth.len());
    // The mosaic starts where the lowest DETSEC does.
    let min_x = truth.iter().map(|t| t.detsec[0]).min().unwrap() as i64;
    let min_y = truth.iter().map(|t| t.detsec[2]).min().unwrap() as i64;
    for (c, t) in info.ccds.iter().zip(&truth) {
        // DETSEC places the data section's first pixel at DETSEC's first pixel.
        assert_eq!(c.x0 + c.datasec[0] as i64, t.detsec[0] as i64 - min_x + 1);
        assert_eq!(c.y0 + c.datasec[2] as i64, t.detsec[2] as i64 - min_y + 1);
        assert_eq!(c.datasec, [4, 3 + e.ccd_width, 1, e.ccd_height]);
        assert_eq!((c.width, c.height), (e.ccd_width, e.ccd_height));
    }
    // The overscan (bias ~1500) is trimmed: the mosaic's pixels are sky (~1000–1040) or stars.
    let c = &info.ccds[5];
    let mut row = vec![0f32; e.ccd_width];
    let (x, y) = (
        (c.x0 + c.datasec[0] as i64 - 1) as usize,
        (c.y0 + 20) as usize,
    );
    m.read_rect(x, y, e.ccd_width, 1, &mut row).unwrap();
    let one = Image::open(&path, &HduSel::Index(c.hdu), 0).unwrap();
    let mut own = vec![0f32; e.ccd_width];
    one.read_rect(3, 20, e.ccd_width, 1, &mut own).unwrap();
    assert_eq!(row, own);
    let median = {
        let mut v = row.clone();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    assert!((900.0..1100.0).contains(&median), "median {median}");
    // One of the overscan columns is outside the mosaic: the pixel left of the data is a gap.
    let r = pixel_at(&*m, x as f64, (y + 1) as f64).unwrap();
    assert_eq!(r.ccd, Some(None));
    // The WCS layout of the same file trims the same way.
    let w = open_raster(&path, &HduSel::Mosaic(Layout::Wcs), 0).unwrap();
    assert_eq!(w.mosaic().unwrap().ccds[5].datasec, c.datasec);
}

#[test]
fn not_a_mosaic_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one.fits");
    let mut s = toyz_skygen::SkySpec::new(64, 64);
    s.wcs = None;
    toyz_skygen::write_fits(&p, &s).unwrap();
    // One image is not a mosaic.
    let e = open_raster(&p, &HduSel::Mosaic(Layout::Wcs), 0).unwrap_err();
    assert_eq!(e.kind(), "bad_mosaic");
    assert!(e.to_string().contains("two or more"), "{e}");
    // Two images without WCS or DETSEC: nothing to place them by.
    let two = dir.path().join("two.fits");
    let ext = |name: &str| toyz_skygen::Extension {
        name: name.into(),
        spec: s.clone(),
    };
    toyz_skygen::write_mef(&two, &[ext("A"), ext("B")], false).unwrap();
    let e = open_raster(&two, &HduSel::Mosaic(Layout::Wcs), 0).unwrap_err();
    assert!(e.to_string().contains("no usable celestial WCS"), "{e}");
    let e = open_raster(&two, &HduSel::Mosaic(Layout::Detsec), 0).unwrap_err();
    assert!(e.to_string().contains("DETSEC"), "{e}");
    // Two images of one field (same WCS) overlap: not a focal plane.
    let mut with_wcs = toyz_skygen::SkySpec::new(64, 64);
    with_wcs.stars = Some(3);
    let same = dir.path().join("same.fits");
    let ext = |name: &str| toyz_skygen::Extension {
        name: name.into(),
        spec: with_wcs.clone(),
    };
    toyz_skygen::write_mef(&same, &[ext("SCI"), ext("WHT")], false).unwrap();
    let e = open_raster(&same, &HduSel::Mosaic(Layout::Wcs), 0).unwrap_err();
    assert!(e.to_string().contains("SCI and WHT overlap"), "{e}");
    assert!("mosaic:bogus".parse::<HduSel>().is_err());
    assert_eq!(
        "MOSAIC".parse::<HduSel>().unwrap(),
        HduSel::Mosaic(Layout::Wcs)
    );
    assert_eq!(
        "mosaic:detsec".parse::<HduSel>().unwrap(),
        HduSel::Mosaic(Layout::Detsec)
    );
}
