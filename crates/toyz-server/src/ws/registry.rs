//! The job registry: jobs registered by name with typed parameters and a typed reply (serde, each
//! with a JSON schema from schemars) and a description. Programs that embed toyz register their own
//! jobs the same way; `session.jobs` lists every job's schemas and docs/api.md's job table is made
//! from them.

use crate::error::{ApiError, Kind};
use crate::state::AppState;
use futures_util::future::{BoxFuture, FutureExt};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::session::SessionState;

/// A job's failure: its kind (the same [`Kind`] as HTTP errors; a program embedding toyz names its own
/// with [`Kind::Custom`]) and a human message.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    pub kind: Kind,
    pub message: String,
}

impl JobError {
    pub fn new(kind: Kind, message: impl Into<String>) -> JobError {
        JobError {
            kind,
            message: message.into(),
        }
    }
    pub fn bad_params(message: impl Into<String>) -> JobError {
        Self::new(Kind::BadParams, message)
    }
    /// The reply for a job that panicked (the session and the server go on).
    pub fn panicked() -> JobError {
        Self::new(Kind::Panic, "the job panicked; the session goes on")
    }
    /// The reply for a job that stopped because it was cancelled.
    pub fn cancelled() -> JobError {
        Self::new(Kind::Cancelled, "the job was stopped")
    }
}

impl From<ApiError> for JobError {
    fn from(e: ApiError) -> JobError {
        JobError::new(e.kind, e.message)
    }
}

/// What a job answers: its reply (any serialisable type with a schema; `Value` when it is free-form)
/// or an error.
pub type JobResult<R = Value> = Result<R, JobError>;

/// What a running job gets: its id, progress/event output, cancellation, and access to files and
/// images checked for the session's principal. A job registered by a program embedding toyz reaches
/// nothing else of the server: no path is opened but through [`JobCtx::resolve`] or
/// [`JobCtx::open_image`], and the principal cannot be changed.
#[derive(Clone)]
pub struct JobCtx {
    /// Who the job acts for (the session's login).
    pub(crate) principal: crate::auth::Principal,
    pub(crate) state: Arc<AppState>,
    pub(crate) registry: Arc<JobRegistry>,
    pub(crate) session: Arc<SessionState>,
    /// The request's id, as the client sent it.
    pub id: super::protocol::JobId,
    pub(crate) out: super::session::Outbox,
    pub(crate) cancel: Arc<AtomicBool>,
}

/// An image a job opened for its principal ([`JobCtx::open_image`]): the raster the built-in jobs read
/// (one HDU, a cube's plane, or a whole mosaic of CCDs), shared with them and with the tiles.
#[derive(Clone)]
pub struct OpenImage(pub(crate) Arc<crate::sources::OpenSource>);

impl OpenImage {
    /// The path as the client named it (for messages and replies: the server's own paths are
    /// never reachable from here).
    pub fn path(&self) -> &str {
        &self.0.public
    }
    pub fn width(&self) -> usize {
        self.0.src.image.width()
    }
    pub fn height(&self) -> usize {
        self.0.src.image.height()
    }
    /// BUNIT, the unit of the values.
    pub fn bunit(&self) -> Option<&str> {
        self.0.src.image.bunit()
    }
    /// The HDU's header (a mosaic's: its primary header).
    pub fn header(&self) -> &toyz_fits::Header {
        self.0.src.image.header()
    }
    /// Its celestial WCS, if it has one (a mosaic: the focal plane's).
    pub fn wcs(&self) -> Option<&toyz_fits::Wcs> {
        self.0.src.image.wcs()
    }
    /// Read `w` × `h` pixels from 0-based (`x0`, `y0`) as f32 (NaN where undefined: blanks, a
    /// mosaic's gaps). Blocking: call it off the async runtime. A read that fails answers as the
    /// built-in jobs' do (a file changed since it was opened: `not_found`, with the client's path).
    pub fn read_rect(
        &self,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
        out: &mut [f32],
    ) -> Result<(), JobError> {
        self.0
            .src
            .image
            .read_rect(x0, y0, w, h, out)
            .map_err(|e| self.0.read_error(toyz_pyramid::EngineError::Fits(e)).into())
    }
}

impl JobCtx {
    /// Who the job acts for.
    pub fn principal(&self) -> &crate::auth::Principal {
        &self.principal
    }

    /// Open an image for this job's principal, as the built-in jobs do (the same checks, cache,
    /// mosaics and errors): `hdu` an index, an EXTNAME or `mosaic` (default the first image), `plane`
    /// a cube's plane (default the first).
    pub async fn open_image(
        &self,
        path: &str,
        hdu: Option<&str>,
        plane: Option<usize>,
    ) -> Result<OpenImage, JobError> {
        let src = super::builtin::Src {
            path: path.to_owned(),
            hdu: hdu.map(str::to_owned),
            plane,
        };
        Ok(OpenImage(super::builtin::open(self, &src).await?))
    }

    /// Hold `bytes` of the server's memory budget while the returned permit lives (`busy` when the
    /// budget is in use now, `too_large` when it could never be had).
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<crate::state::MemoryPermit, JobError> {
        Ok(self.state.reserve(bytes, what)?)
    }

    /// Resolve a public path for this job's principal: what they may not read answers as a missing
    /// file. The only way a job should reach a file.
    pub fn resolve(&self, path: &str) -> Result<crate::paths::Resolved, JobError> {
        Ok(self.state.resolve_for(&self.principal, path)?)
    }

    /// Send `{"id", "status": "progress", "done", "total"}`.
    pub fn progress(&self, done: u64, total: u64) {
        let msg = super::protocol::progress(&self.id, done, total);
        // Dropped when the client is not reading: the next one says more.
        self.out.try_send(msg);
    }

    /// Send an event (no id) to this session: `{"event": name, "data": …}`. False when it was
    /// dropped because the client has left its session's replies unread (see `Outbox`).
    pub fn event(&self, name: &str, data: Value) -> bool {
        super::protocol::event(name, data).is_ok_and(|m| self.out.try_send(m))
    }

    /// True once the client cancelled this job or closed the session: long jobs check it and stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The flag itself, for engine functions that take one.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }
}

type Handler = Arc<dyn Fn(JobCtx, Value) -> BoxFuture<'static, JobResult> + Send + Sync>;

pub struct JobDef {
    pub name: String,
    pub description: String,
    /// The JSON schema of its parameters.
    pub params: Value,
    /// The JSON schema of its reply (one with no `type`, any JSON, for a job that answers free-form
    /// `Value`s).
    pub reply: Value,
    handler: Handler,
}

#[derive(Default, Clone)]
pub struct JobRegistry {
    jobs: BTreeMap<String, Arc<JobDef>>,
}

/// A typed reply as the JSON sent (a reply that cannot be written out is the server's fault).
fn reply<R: Serialize>(r: R) -> JobResult {
    serde_json::to_value(r).map_err(|e| JobError::new(Kind::Internal, format!("the reply: {e}")))
}

fn parse<P: DeserializeOwned>(params: Value) -> Result<P, JobError> {
    // A job without parameters accepts an absent or null "params".
    let params = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params
    };
    serde_json::from_value(params).map_err(|e| JobError::bad_params(e.to_string()))
}

impl JobRegistry {
    /// An empty registry (see `with_builtins` for toyz's own jobs).
    pub fn new() -> JobRegistry {
        JobRegistry::default()
    }

    /// Register an async job. Its CPU work must not block the runtime: use `register_blocking` for that.
    pub fn register_async<P, R, F, Fut>(&mut self, name: &str, description: &str, f: F)
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        R: Serialize + JsonSchema + 'static,
        F: Fn(JobCtx, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult<R>> + Send + 'static,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |ctx, params| {
            let f = f.clone();
            async move {
                let p = parse::<P>(params)?;
                reply(f(ctx, p).await?)
            }
            .boxed()
        });
        self.insert::<P, R>(name, description, handler);
    }

    /// Register a job whose work runs on a blocking thread (file reads, pixel crunching).
    pub fn register_blocking<P, R, F>(&mut self, name: &str, description: &str, f: F)
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        R: Serialize + JsonSchema + Send + 'static,
        F: Fn(&JobCtx, P) -> JobResult<R> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |ctx, params| {
            let f = f.clone();
            async move {
                let p = parse::<P>(params)?;
                let r = tokio::task::spawn_blocking(move || f(&ctx, p))
                    .await
                    .map_err(|e| {
                        if e.is_panic() {
                            JobError::panicked()
                        } else {
                            JobError::cancelled()
                        }
                    })??;
                reply(r)
            }
            .boxed()
        });
        self.insert::<P, R>(name, description, handler);
    }

    fn insert<P: JsonSchema, R: JsonSchema>(
        &mut self,
        name: &str,
        description: &str,
        handler: Handler,
    ) {
        let params = serde_json::to_value(schemars::schema_for!(P)).unwrap_or(Value::Null);
        let reply = serde_json::to_value(schemars::schema_for!(R)).unwrap_or(Value::Null);
        self.jobs.insert(
            name.to_owned(),
            Arc::new(JobDef {
                name: name.to_owned(),
                description: description.to_owned(),
                params,
                reply,
                handler,
            }),
        );
    }

    pub fn get(&self, name: &str) -> Option<Arc<JobDef>> {
        self.jobs.get(name).cloned()
    }

    /// Every job with its schemas, sorted by name (`session.jobs`).
    pub fn describe(&self) -> Vec<super::replies::JobInfo> {
        self.jobs()
            .map(|j| super::replies::JobInfo {
                name: j.name.clone(),
                description: j.description.clone(),
                params: j.params.clone(),
                reply: j.reply.clone(),
            })
            .collect()
    }

    /// The jobs in name order.
    pub fn jobs(&self) -> impl Iterator<Item = &JobDef> {
        self.jobs.values().map(|j| &**j)
    }

    /// A Markdown table of the jobs as their schemas say: parameters (`?` when optional) and the
    /// reply's fields (docs/api.md's generated part `jobs`).
    pub fn docs_table(&self) -> String {
        let mut s = String::from("| job | parameters | reply |\n|---|---|---|\n");
        for j in self.jobs() {
            let reply = if j.reply.get("type").is_none() {
                "any JSON (not typed yet)".to_owned()
            } else {
                fields(&j.reply, false)
            };
            s.push_str(&format!(
                "| `{}` | {} | {} |\n",
                j.name,
                fields(&j.params, true),
                reply
            ));
        }
        s
    }
}

/// The top-level fields of an object schema, `name` or `name?` (optional), flattened parts included;
/// "—" for none.
fn fields(schema: &Value, mark_optional: bool) -> String {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| {
            p.keys()
                .map(|k| {
                    let opt = mark_optional && !required.contains(&k.as_str());
                    format!("`{k}{}`", if opt { "?" } else { "" })
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        "—".to_owned()
    } else {
        names.join(", ")
    }
}

impl JobDef {
    /// Run the job; a panic anywhere in it becomes an error reply.
    pub async fn run(&self, ctx: JobCtx, params: Value) -> JobResult {
        std::panic::AssertUnwindSafe((self.handler)(ctx, params))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(JobError::panicked()))
    }
}
