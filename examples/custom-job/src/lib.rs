//! A complete example of extending toyz: register a `sky.background` job (sigma-clipped sky level and
//! noise in a rectangle) next to the built-in ones, and serve them all. Clients call it over the session
//! WebSocket like any other job: `{"id": 1, "job": "sky.background", "params": {"path": …, "rect": …}}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toyz_server::{JobCtx, JobError, JobRegistry, JobResult, Kind};

/// Parameters of `sky.background` (deserialised and documented as a JSON schema by the registry).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackgroundParams {
    /// Image, as `ROOT/REL` under a data root.
    pub path: String,
    /// HDU index or EXTNAME, or "mosaic" for a whole focal plane (default: the first image).
    pub hdu: Option<String>,
    /// Rectangle in FITS pixels, inclusive: [x1, y1, x2, y2].
    pub rect: [usize; 4],
    /// Clipping threshold in σ (default 3).
    pub clip: Option<f64>,
}

/// The reply of `sky.background` (its JSON schema is listed by `session.jobs` next to the parameters').
#[derive(Serialize, JsonSchema)]
pub struct Background {
    /// The image, as the client named it.
    pub path: String,
    pub rect: [usize; 4],
    /// Sigma-clipped mean and median of the finite values, in `bunit`.
    pub mean: f64,
    pub median: f64,
    /// Their standard deviation (the noise).
    pub sigma: f64,
    /// Pixels in the rectangle, and those left after clipping.
    pub pixels: usize,
    pub used: usize,
    /// The clipping threshold used, in σ.
    pub clip: f64,
    pub bunit: Option<String>,
}

/// Sigma-clipped mean, median and standard deviation of the finite values.
pub fn clipped_stats(values: &[f32], clip: f64) -> Option<(f64, f64, f64, usize)> {
    let mut v: Vec<f64> = values
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| x as f64)
        .collect();
    for _ in 0..10 {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable_by(f64::total_cmp);
        let median = v[v.len() / 2];
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        let before = v.len();
        v.retain(|x| (x - median).abs() <= clip * std);
        if v.len() == before {
            return Some((mean, median, std, v.len()));
        }
    }
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt();
    Some((
        mean,
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
        std,
        v.len(),
    ))
}

async fn background(ctx: JobCtx, p: BackgroundParams) -> JobResult<Background> {
    // Images are opened for the session's user through the server's one check (roots, links, and
    // with --auth their grants) and read through the same raster as the built-in jobs: a single
    // HDU, a cube's plane, or a whole DECam exposure (`"hdu": "mosaic"`). Errors name the client's
    // path, never the server's.
    let img = ctx.open_image(&p.path, p.hdu.as_deref(), None).await?;
    let [x1, y1, x2, y2] = p.rect;
    if x1 < 1 || y1 < 1 || x2 < x1 || y2 < y1 || x2 > img.width() || y2 > img.height() {
        return Err(JobError::bad_params(format!(
            "rect must lie inside the {}x{} image (FITS pixels, inclusive)",
            img.width(),
            img.height()
        )));
    }
    let clip = p.clip.unwrap_or(3.0);
    if !(clip.is_finite() && clip > 0.0) {
        return Err(JobError::bad_params("clip must be a positive number of σ"));
    }
    let (w, h) = (x2 - x1 + 1, y2 - y1 + 1);
    // The pixels are held while this runs: count them against the server's memory budget.
    let permit = ctx.reserve((w * h * 12) as u64, "sky.background")?;
    // Reading and sorting are CPU work: off the async runtime.
    let image = img.clone();
    let (stats, bunit) = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut v = vec![0f32; w * h];
        image.read_rect(x1 - 1, y1 - 1, w, h, &mut v)?;
        Ok::<_, JobError>((clipped_stats(&v, clip), image.bunit().map(str::to_owned)))
    })
    .await
    .map_err(|_| JobError::panicked())??;
    let (mean, median, std, used) = stats.ok_or_else(|| {
        JobError::new(Kind::Custom("no_data"), "no finite pixel in the rectangle")
    })?;
    Ok(Background {
        path: img.path().to_owned(),
        rect: p.rect,
        mean,
        median,
        sigma: std,
        pixels: w * h,
        used,
        clip,
        bunit,
    })
}

/// toyz's built-in jobs plus `sky.background`.
pub fn registry() -> JobRegistry {
    let mut r = JobRegistry::with_builtins();
    r.register_async(
        "sky.background",
        "Sigma-clipped sky level (mean, median) and noise (σ) in a rectangle of an image.",
        background,
    );
    r
}
