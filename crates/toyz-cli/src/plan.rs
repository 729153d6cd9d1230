//! `toyz tiles plan`: split the tiles of many files (a night of exposures) into N tasks of similar cost
//! for the batch system an observatory already runs (a Slurm array job: see examples/slurm/), and
//! `toyz tiles build --plan PLAN.json --task I`, which runs one of them into the shared cache. Each
//! finished task leaves a marker in the cache (`plans/PLAN-ID/task-I.json`), which
//! `toyz tiles plan --status PLAN.json` reads.
//!
//! Tasks hold whole files (the tiles of one image share its float levels, built in one streamed pass).
//! A file's cost is estimated from its headers only: pixels to render, compressed bytes to unpack and
//! CCDs to open (see [`file_cost`]); files are dealt out longest first, each to the task with the
//! least cost so far (LPT), which keeps the slowest task within 4/3 of the best possible split.

use crate::tiles::{cache_target, Job, SpecArgs, Totals};
use crate::Fail;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use toyz_fits::{HduKind, HduSel};
use toyz_pyramid::RenderSpec;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// FITS files or directories (searched recursively).
    #[arg(required_unless_present = "status")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    spec: SpecArgs,
    /// Number of tasks (array jobs).
    #[arg(long, required_unless_present = "status")]
    tasks: Option<usize>,
    /// Where to write the plan.
    #[arg(long, required_unless_present = "status")]
    out: Option<PathBuf>,
    /// The cache the tasks build into (a folder on a shared file system, or s3://BUCKET/PREFIX),
    /// recorded in the plan [default: tile-cache].
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Say which tasks of PLAN.json are done (exit 0 when all are, 1 otherwise).
    #[arg(long, value_name = "PLAN.json", conflicts_with_all = [
        "paths", "tasks", "out", "hdu", "plane", "stretch", "cut", "cmap", "contrast", "bias",
        "invert", "nan", "zoom"
    ])]
    status: Option<PathBuf>,
    /// With --status: print JSON.
    #[arg(long, requires = "status")]
    json: bool,
}

/// A plan file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub toyz_plan: u32,
    /// Names this plan's task markers in the cache (a hash of the files, sizes and spec).
    pub id: String,
    /// `--hdu` as given (`null`: the first HDU with an image).
    pub hdu: Option<String>,
    pub plane: usize,
    /// `--zoom` as given.
    pub zoom: Option<String>,
    pub spec: RenderSpec,
    pub cache: String,
    pub tasks: Vec<PlanTask>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanTask {
    pub task: usize,
    pub cost: u64,
    pub files: Vec<PlanFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    /// Absolute, so that a task runs from any working directory.
    pub path: PathBuf,
    pub bytes: u64,
    pub pixels: u64,
    pub ccds: u64,
    pub cost: u64,
}

/// What a finished task leaves in the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDone {
    pub task: usize,
    pub files: usize,
    pub tiles: u64,
    pub written: u64,
    pub kept: u64,
    pub seconds: f64,
    pub host: String,
}

/// Cost units of one file: one per pixel rendered, two per compressed byte unpacked (RICE decoding
/// costs about as much as rendering the pixels it yields, and a compressed byte holds about two
/// pixels' worth), and a million per image HDU opened (headers, statistics sample, WCS).
pub fn file_cost(pixels: u64, compressed_bytes: u64, ccds: u64) -> u64 {
    pixels + 2 * compressed_bytes + 1_000_000 * ccds
}

/// Pixels, CCDs and compressed bytes of what `sel` selects in `path`, from its headers.
fn measure(path: &Path, sel: &HduSel) -> Result<PlanFile, Fail> {
    let hdus = toyz_fits::list_hdus(path)?;
    let images: Vec<_> = hdus
        .iter()
        .filter(|h| h.kind == HduKind::Image && h.dims.len() >= 2 && h.dims.iter().all(|&d| d > 0))
        .collect();
    let chosen: Vec<_> = match sel {
        HduSel::Mosaic(_) => images,
        HduSel::Index(i) => images.into_iter().filter(|h| h.index == *i).collect(),
        HduSel::Name(n) => images
            .into_iter()
            .filter(|h| {
                h.extname
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(n))
            })
            .collect(),
        HduSel::Auto => images.into_iter().take(1).collect(),
    };
    if chosen.is_empty() {
        return Err(Fail::input(format!(
            "{}: no image HDU matches --hdu",
            path.display()
        )));
    }
    // What `tiles build` would refuse is refused here, not by a task on the batch system.
    if matches!(sel, HduSel::Mosaic(_)) && chosen.len() < 2 {
        return Err(Fail::input(format!(
            "{}: not a mosaic (one image HDU; --hdu mosaic needs two or more)",
            path.display()
        )));
    }
    let pixels: u64 = chosen.iter().map(|h| (h.dims[0] * h.dims[1]) as u64).sum();
    let bytes = std::fs::metadata(path)
        .map_err(|e| Fail::input(format!("{}: {e}", path.display())))?
        .len();
    let compressed = chosen.iter().any(|h| h.compressed);
    let ccds = chosen.len() as u64;
    let abs =
        std::fs::canonicalize(path).map_err(|e| Fail::input(format!("{}: {e}", path.display())))?;
    Ok(PlanFile {
        path: abs,
        bytes,
        pixels,
        ccds,
        cost: file_cost(pixels, if compressed { bytes } else { 0 }, ccds),
    })
}

/// Deal `files` into `n` tasks, longest first, each to the least loaded task (ties: lowest number).
pub fn split(mut files: Vec<PlanFile>, n: usize) -> Vec<PlanTask> {
    files.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.path.cmp(&b.path)));
    let mut tasks: Vec<PlanTask> = (0..n)
        .map(|task| PlanTask {
            task,
            cost: 0,
            files: Vec::new(),
        })
        .collect();
    for f in files {
        let t = tasks
            .iter_mut()
            .min_by_key(|t| (t.cost, t.task))
            .expect("at least one task");
        t.cost += f.cost;
        t.files.push(f);
    }
    tasks
}

pub fn plan_cmd(a: PlanArgs) -> Result<(), Fail> {
    if let Some(p) = &a.status {
        return status(p, a.cache.as_deref(), a.json);
    }
    let n = a.tasks.expect("required");
    if n == 0 {
        return Err(Fail::input("--tasks must be at least 1"));
    }
    let (sel, spec, _) = a.spec.resolve()?;
    let cache = a.cache.unwrap_or_else(|| PathBuf::from("tile-cache"));
    let loc = toyz_pyramid::CacheLocation::parse(&cache).map_err(Fail::input)?;
    // A folder cache is recorded absolute: the tasks run elsewhere.
    let cache = match loc {
        toyz_pyramid::CacheLocation::Folder(p) => {
            std::path::absolute(&p).map_err(|e| Fail::input(format!("{}: {e}", p.display())))?
        }
        _ => cache,
    };
    let mut found = Vec::new();
    for p in &a.paths {
        crate::tiles::collect(p, &mut found)?;
    }
    if found.is_empty() {
        return Err(Fail::input("no FITS files found under the given paths"));
    }
    let mut files = Vec::new();
    // As in `tiles build`: a file named on the command line must be usable, one found in a
    // folder that is not is reported and left out of the plan.
    for (p, explicit) in &found {
        match measure(p, &sel) {
            Ok(f) => files.push(f),
            Err(f) if *explicit || f.code != 2 => return Err(f),
            Err(f) => eprintln!("toyz: skipping {}", f.message),
        }
    }
    if files.is_empty() {
        return Err(Fail::input(
            "no file under the given paths can be planned with these options",
        ));
    }
    let mut h = Sha256::new();
    for f in &files {
        h.update(f.path.to_string_lossy().as_bytes());
        h.update(f.bytes.to_le_bytes());
    }
    h.update(spec.id().as_bytes());
    h.update(format!("{:?}|{}|{:?}", a.spec.hdu, a.spec.plane, a.spec.zoom).as_bytes());
    let id: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let nfiles = files.len();
    let plan = Plan {
        toyz_plan: 1,
        id,
        hdu: a.spec.hdu.clone(),
        plane: a.spec.plane,
        zoom: a.spec.zoom.clone(),
        spec,
        cache: cache.to_string_lossy().into_owned(),
        tasks: split(files, n),
    };
    let out = a.out.expect("required");
    let json = serde_json::to_vec_pretty(&plan).expect("json");
    toyz_pyramid::cache::atomic_write(&out, &json)
        .map_err(|e| Fail::input(format!("cannot write {}: {e}", out.display())))?;
    let costs: Vec<u64> = plan.tasks.iter().map(|t| t.cost).collect();
    let max = *costs.iter().max().unwrap_or(&0);
    let mean = costs.iter().sum::<u64>() as f64 / n as f64;
    crate::out!(
        "{}: {nfiles} files in {n} tasks (plan {}; slowest task {:.2}x the mean cost) into {}",
        out.display(),
        plan.id,
        max as f64 / mean.max(1.0),
        plan.cache
    );
    crate::out!(
        "run: sbatch --array=0-{} examples/slurm/prebuild.sbatch {}",
        n - 1,
        out.display()
    );
    Ok(())
}

fn read_plan(path: &Path) -> Result<Plan, Fail> {
    let b = std::fs::read(path).map_err(|e| Fail::input(format!("{}: {e}", path.display())))?;
    let p: Plan = serde_json::from_slice(&b)
        .map_err(|e| Fail::input(format!("{}: not a toyz plan ({e})", path.display())))?;
    if p.toyz_plan != 1 || p.id.len() != 16 || !p.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Fail::input(format!("{}: not a toyz plan", path.display())));
    }
    Ok(p)
}

fn marker_key(plan: &Plan, task: usize) -> String {
    format!("plans/{}/task-{task}.json", plan.id)
}

/// Run task `task` of the plan at `path` into its cache (or `cache`).
pub fn run_task(
    path: &Path,
    task: usize,
    cache: Option<&Path>,
    levels: Option<&Path>,
    jobs: Option<usize>,
    force: bool,
) -> Result<(), Fail> {
    let t0 = std::time::Instant::now();
    let plan = read_plan(path)?;
    let Some(t) = plan.tasks.get(task) else {
        return Err(Fail::input(format!(
            "--task {task}: the plan has tasks 0 to {}",
            plan.tasks.len().saturating_sub(1)
        )));
    };
    let cache = cache.map_or_else(|| PathBuf::from(&plan.cache), Path::to_owned);
    let target = cache_target(&cache, levels)?;
    let job = Job {
        sel: crate::hdu_arg(plan.hdu.as_deref())?,
        plane: plan.plane,
        spec: plan.spec.clone(),
        zoom: plan
            .zoom
            .as_deref()
            .map(crate::tiles::parse_zoom)
            .transpose()?,
        force,
        jobs,
    };
    let files: Vec<(PathBuf, bool)> = t.files.iter().map(|f| (f.path.clone(), true)).collect();
    let totals: Totals = if files.is_empty() {
        Totals::default()
    } else {
        crate::tiles::run_files(&files, &job, None, Some(&target))?
    };
    let done = TaskDone {
        task,
        files: totals.files,
        tiles: totals.tiles,
        written: totals.written,
        kept: totals.kept,
        seconds: t0.elapsed().as_secs_f64(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
    };
    let store = store_of(&target);
    let key = marker_key(&plan, task);
    store
        .put(&key, &serde_json::to_vec_pretty(&done).expect("json"))
        .map_err(|e| Fail {
            code: 1,
            message: format!(
                "cannot record task {task} as done in {}: {e}",
                store.describe()
            ),
        })?;
    crate::out!(
        "task {task} of plan {}: {} files, {} tiles ({} written, {} kept) in {:.1} s",
        plan.id,
        done.files,
        done.tiles,
        done.written,
        done.kept,
        done.seconds
    );
    Ok(())
}

fn store_of(target: &toyz_pyramid::Target) -> std::sync::Arc<dyn toyz_pyramid::TileStore> {
    match target {
        toyz_pyramid::Target::Store { tiles, .. } => tiles.clone(),
        toyz_pyramid::Target::Cache(root) | toyz_pyramid::Target::Out(root) => {
            std::sync::Arc::new(toyz_pyramid::FolderStore::new(root))
        }
    }
}

fn status(path: &Path, cache: Option<&Path>, json: bool) -> Result<(), Fail> {
    let plan = read_plan(path)?;
    let cache = cache.map_or_else(|| PathBuf::from(&plan.cache), Path::to_owned);
    let store = store_of(&cache_target(&cache, None)?);
    let mut done = Vec::new();
    for t in &plan.tasks {
        let m = store
            .get(&marker_key(&plan, t.task))
            .map_err(|e| Fail {
                code: 1,
                message: format!("cannot read {}: {e}", store.describe()),
            })?
            .and_then(|b| serde_json::from_slice::<TaskDone>(&b).ok());
        done.push(m);
    }
    let n_done = done.iter().filter(|d| d.is_some()).count();
    if json {
        let tasks: Vec<_> = plan
            .tasks
            .iter()
            .zip(&done)
            .map(|(t, d)| serde_json::json!({"task": t.task, "files": t.files.len(), "done": d}))
            .collect();
        crate::out!(
            "{}",
            serde_json::json!({"plan": plan.id, "cache": cache, "tasks": tasks, "done": n_done,
                               "total": plan.tasks.len()})
        );
    } else {
        for (t, d) in plan.tasks.iter().zip(&done) {
            match d {
                Some(d) => crate::out!(
                    "task {}: done ({} files, {} tiles, {} written, {:.1} s on {})",
                    t.task,
                    d.files,
                    d.tiles,
                    d.written,
                    d.seconds,
                    d.host
                ),
                None => crate::out!("task {}: not done ({} files)", t.task, t.files.len()),
            }
        }
        crate::out!(
            "plan {}: {n_done} of {} tasks done",
            plan.id,
            plan.tasks.len()
        );
    }
    if n_done == plan.tasks.len() {
        Ok(())
    } else {
        Err(Fail {
            code: 1,
            message: format!(
                "{} of {} tasks not done yet",
                plan.tasks.len() - n_done,
                plan.tasks.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, cost: u64) -> PlanFile {
        PlanFile {
            path: PathBuf::from(name),
            bytes: 0,
            pixels: cost,
            ccds: 0,
            cost,
        }
    }

    #[test]
    fn tasks_get_similar_costs() {
        let files = vec![
            f("a", 7),
            f("b", 5),
            f("c", 4),
            f("d", 4),
            f("e", 3),
            f("f", 3),
        ];
        let tasks = split(files, 3);
        let costs: Vec<u64> = tasks.iter().map(|t| t.cost).collect();
        assert_eq!(costs.iter().sum::<u64>(), 26);
        // LPT: 7 | 5 | 4, then 4 to the 4, 3 to the 5, 3 to the 7: 10, 8, 8.
        assert_eq!(costs, vec![10, 8, 8]);
        let mut names: Vec<_> = tasks
            .iter()
            .flat_map(|t| t.files.iter().map(|f| f.path.clone()))
            .collect();
        names.sort();
        assert_eq!(names.len(), 6, "every file in exactly one task");
        names.dedup();
        assert_eq!(names.len(), 6);
        // More tasks than files: the extra tasks are empty, not missing.
        let tasks = split(vec![f("a", 1)], 4);
        assert_eq!(tasks.len(), 4);
        assert_eq!(tasks.iter().filter(|t| t.files.is_empty()).count(), 3);
    }

    #[test]
    fn costs_count_pixels_unpacking_and_ccds() {
        assert_eq!(file_cost(1000, 0, 1), 1_001_000);
        assert!(file_cost(1000, 500, 1) > file_cost(1000, 0, 1));
        assert!(file_cost(1000, 0, 62) > file_cost(1000, 0, 1));
    }
}
