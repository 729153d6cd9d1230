//! A complete example of extending toyz: register a `sky.background` job (sigma-clipped sky level and
//! noise in a rectangle) next to the built-in ones, and serve them all. Clients call it over the session
//! WebSocket like any other job: `{"id": 1, "job": "sky.background", "params": {"path": …, "rect": …}}`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use toyz_server::{JobCtx, JobError, JobRegistry, JobResult, Kind};

/// Parameters of `sky.background` (deserialised and documented as a JSON schema by the registry).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackgroundParams {
    /// Image, as `ROOT/REL` under a data root.
    pub path: String,
    /// HDU index or EXTNAME (default: the first image).
    pub hdu: Option<String>,
    /// Rectangle in FITS pixels, inclusive: [x1, y1, x2, y2].
    pub rect: [usize; 4],
    /// Clipping threshold in σ (default 3).
    pub clip: Option<f64>,
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

fn background(ctx: &JobCtx, p: BackgroundParams) -> JobResult {
    // Paths go through the server's one check (roots, links, and with --auth the session user's
    // grants): never trust the client's path, and never act for anyone but `ctx.principal`.
    let res = ctx.resolve(&p.path)?;
    let sel = match &p.hdu {
        Some(h) => h
            .parse()
            .map_err(|e: toyz_fits::FitsError| JobError::bad_params(e.to_string()))?,
        None => toyz_fits::HduSel::Auto,
    };
    // Read through the descriptor the check opened (a name swapped since cannot change what is read).
    let img = toyz_fits::Image::open(&res.open_path(), &sel, 0)
        .map_err(|e| JobError::fits(e, &p.path))?;
    let [x1, y1, x2, y2] = p.rect;
    if x1 < 1 || y1 < 1 || x2 < x1 || y2 < y1 || x2 > img.width() || y2 > img.height() {
        return Err(JobError::bad_params(format!(
            "rect must lie inside the {}x{} image (FITS pixels, inclusive)",
            img.width(),
            img.height()
        )));
    }
    let (w, h) = (x2 - x1 + 1, y2 - y1 + 1);
    let mut v = vec![0f32; w * h];
    img.read_rect(x1 - 1, y1 - 1, w, h, &mut v)
        .map_err(|e| JobError::fits(e, &p.path))?;
    let clip = p.clip.unwrap_or(3.0);
    if !(clip.is_finite() && clip > 0.0) {
        return Err(JobError::bad_params("clip must be a positive number of σ"));
    }
    let (mean, median, std, used) = clipped_stats(&v, clip).ok_or_else(|| {
        JobError::new(Kind::Custom("no_data"), "no finite pixel in the rectangle")
    })?;
    Ok(
        json!({"path": res.public, "rect": p.rect, "mean": mean, "median": median, "sigma": std,
              "pixels": w * h, "used": used, "clip": clip, "bunit": img.bunit()}),
    )
}

/// toyz's built-in jobs plus `sky.background`.
pub fn registry() -> JobRegistry {
    let mut r = JobRegistry::with_builtins();
    r.register_blocking(
        "sky.background",
        "Sigma-clipped sky level (mean, median) and noise (σ) in a rectangle of an image.",
        background,
    );
    r
}
