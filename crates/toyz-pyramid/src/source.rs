//! A source ready to tile: the opened image, its id, geometry and sampled statistics. Opening is cheap
//! (header + a ~1 Mpixel sample), so the CLI and the server do it once per file.

use crate::cache::SourceKey;
use crate::error::Result;
use crate::geometry::Geometry;
use crate::spec::{Cut, RenderSpec};
use crate::stats::{resolve_cut, Sample, Stats, SAMPLE_TARGET};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;
use toyz_fits::{open_raster, open_raster_pinned, HduSel, Pinned, Raster};

pub struct Source {
    /// A single HDU or a mosaic: nothing here needs to know which.
    pub image: Box<dyn Raster>,
    pub key: SourceKey,
    pub id: String,
    pub geometry: Geometry,
    pub sample: Sample,
    pub stats: Stats,
}

impl Source {
    pub fn open(path: &Path, hdu: &HduSel, plane: usize) -> Result<Source> {
        Source::from_raster(open_raster(path, hdu, plane)?)
    }

    /// Open a file already opened (e.g. a gzip'd file unpacked once into the cache).
    pub fn open_pinned(file: Arc<Pinned>, hdu: &HduSel, plane: usize) -> Result<Source> {
        Source::from_raster(open_raster_pinned(file, hdu, plane)?)
    }

    fn from_raster(image: Box<dyn Raster>) -> Result<Source> {
        let key = SourceKey::of(&*image);
        let id = key.id();
        let geometry = Geometry::new(image.width(), image.height());
        let sample = Sample::read(&*image, SAMPLE_TARGET)?;
        let stats = Stats::of(&sample);
        Ok(Source {
            image,
            key,
            id,
            geometry,
            sample,
            stats,
        })
    }

    /// The cut levels of `spec` for this source. `minmax` scans every pixel (DS9's "scan" mode), so the
    /// brightest star is never clipped; other cuts use the sample.
    pub fn levels(&self, spec: &RenderSpec) -> Result<(f64, f64)> {
        let exact = match spec.cut {
            Cut::MinMax => self.exact_minmax()?,
            _ => None,
        };
        Ok(resolve_cut(&spec.cut, &self.sample, exact))
    }

    /// True min and max of the finite pixels, read in row bands (flat memory).
    pub fn exact_minmax(&self) -> Result<Option<(f64, f64)>> {
        let (w, h) = (self.image.width(), self.image.height());
        let band = (1 << 22) / w.max(1) + 1;
        let starts: Vec<usize> = (0..h).step_by(band).collect();
        let parts: Vec<(f32, f32)> = starts
            .par_iter()
            .map(|&y0| {
                let n = band.min(h - y0);
                let mut buf = vec![0f32; w * n];
                self.image.read_rect(0, y0, w, n, &mut buf)?;
                Ok(buf
                    .iter()
                    .filter(|v| v.is_finite())
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                        (a.min(v), b.max(v))
                    }))
            })
            .collect::<Result<_>>()?;
        let (lo, hi) = parts
            .into_iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), (c, d)| {
                (a.min(c), b.max(d))
            });
        Ok((lo <= hi).then_some((lo as f64, hi as f64)))
    }
}
