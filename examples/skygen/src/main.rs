//! `toyz-skygen`: write synthetic DECam-like FITS files (see the library docs for what is in them).

use anyhow::{bail, Context};
use clap::Parser;
use std::path::PathBuf;
use toyz_skygen::{
    write_catalog, write_fits, write_fz, write_mef, Compression, Exposure, Extension, SkySpec,
};

/// Write a synthetic sky image: background, noise, stars, TAN WCS at DECam's 0.263"/px.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Output file: .fits, .fits.gz, or .fz (tile-compressed).
    out: PathBuf,
    /// Image size WxH (or N for square).
    #[arg(long, default_value = "4096x4096")]
    size: String,
    /// BITPIX: 8, 16, 32, 64, -32, -64.
    #[arg(long, default_value_t = -32, allow_hyphen_values = true)]
    bitpix: i32,
    #[arg(long, default_value_t = 1.0)]
    bscale: f64,
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    bzero: f64,
    /// BLANK value for integer images (NaN pixels are stored as it).
    #[arg(long, allow_hyphen_values = true)]
    blank: Option<i64>,
    /// Add NaN patches (a bad column band and a dead rectangle).
    #[arg(long)]
    nan_patches: bool,
    /// Number of stars (default: one per 20 000 pixels).
    #[arg(long)]
    stars: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ramp pattern (value = x + y*width) instead of sky.
    #[arg(long)]
    ramp: bool,
    /// Compression for .fz output: rice, gzip, hcompress, plio.
    #[arg(long, default_value = "rice")]
    compress: String,
    /// Write a multi-extension file with this many image extensions (CCD1..CCDn) and a STARS table.
    #[arg(long)]
    mef: Option<usize>,
    /// Also write the planted stars as CSV here.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Write a DECam exposure instead: 61 CCDs (N30 dead) of 2046x4094 float32 with TPV WCS, RICE
    /// row tiles (.fz) or plain; --shrink N makes it N times smaller in pixels.
    #[arg(long)]
    decam: bool,
    #[arg(long, default_value_t = 1)]
    shrink: usize,
    /// DECam CCDs left out, comma-separated (N30 is dead in most exposures; "" writes all 62).
    #[arg(long, default_value = "N30")]
    missing: String,
    /// Write the hostile tile-compressed files the mutation test uses (docs/security.md) into the
    /// folder OUT instead.
    #[arg(long)]
    hostile: bool,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if a.hostile {
        for p in toyz_skygen::hostile::write_all(&a.out)? {
            println!("{}", p.display());
        }
        return Ok(());
    }
    if a.decam {
        let mut e = Exposure::decam_scaled(a.shrink);
        e.seed = a.seed;
        e.missing = a
            .missing
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let name = a.out.to_string_lossy();
        e.write(&a.out, name.ends_with(".fz"))?;
        if let Some(c) = &a.catalog {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(c)?);
            writeln!(f, "id,ra,dec,flux,fwhm")?;
            for (i, s) in e.stars().iter().enumerate() {
                writeln!(
                    f,
                    "{},{:.9},{:.9},{:.1},{:.2}",
                    i + 1,
                    s.ra,
                    s.dec,
                    s.flux,
                    s.fwhm
                )?;
            }
        }
        eprintln!("wrote {} ({} CCDs)", a.out.display(), e.ccds().len());
        return Ok(());
    }
    let (w, h) = match a.size.split_once(['x', 'X']) {
        Some((w, h)) => (w.parse()?, h.parse()?),
        None => {
            let n: usize = a.size.parse().context("--size is WxH or N")?;
            (n, n)
        }
    };
    if ![8, 16, 32, 64, -32, -64].contains(&a.bitpix) {
        bail!("--bitpix must be one of 8, 16, 32, 64, -32, -64");
    }
    let mut spec = if a.ramp {
        SkySpec::ramp(w, h)
    } else {
        SkySpec::new(w, h)
    };
    spec.bitpix = a.bitpix;
    spec.bscale = a.bscale;
    spec.bzero = a.bzero;
    spec.blank = a.blank;
    spec.nan_patches = a.nan_patches;
    spec.stars = a.stars;
    spec.seed = a.seed;
    let name = a.out.to_string_lossy().to_string();
    if let Some(n) = a.mef {
        let exts: Vec<Extension> = (1..=n)
            .map(|i| {
                let mut s = spec.clone();
                s.seed = spec.seed + i as u64;
                if let Some(wcs) = s.wcs.as_mut() {
                    // Side by side on the sky like CCDs in a focal plane.
                    wcs.ra += (i as f64 - 1.0) * w as f64 * wcs.scale_arcsec
                        / 3600.0
                        / wcs.dec.to_radians().cos();
                }
                Extension {
                    name: format!("CCD{i}"),
                    spec: s,
                }
            })
            .collect();
        write_mef(&a.out, &exts, true)?;
    } else if name.ends_with(".fz") {
        let c =
            Compression::parse(&a.compress).context("--compress: rice, gzip, hcompress or plio")?;
        write_fz(&a.out, &spec, c)?;
    } else {
        write_fits(&a.out, &spec)?;
    }
    if let Some(c) = &a.catalog {
        write_catalog(c, &spec)?;
    }
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
