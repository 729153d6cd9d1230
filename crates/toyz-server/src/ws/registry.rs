//! The job registry: jobs registered by name with typed parameters (serde + a JSON schema from
//! schemars) and a description. Programs that embed toyz register their own jobs the same way.

use crate::error::{ApiError, Kind};
use crate::state::AppState;
use futures_util::future::{BoxFuture, FutureExt};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
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
    /// A FITS error about the file the client named `shown` (its path as the client wrote it: the
    /// server's own paths never appear in a message).
    pub fn fits(e: toyz_fits::FitsError, shown: &str) -> JobError {
        crate::error::fits_error(e, shown).into()
    }
}

impl From<ApiError> for JobError {
    fn from(e: ApiError) -> JobError {
        JobError::new(e.kind, e.message)
    }
}

pub type JobResult = Result<Value, JobError>;

/// What a running job gets: the server, its session, its id, progress/event output and cancellation.
#[derive(Clone)]
pub struct JobCtx {
    /// Who the job acts for (the session's login): every path a job touches goes through
    /// [`JobCtx::resolve`], which checks it for this principal.
    pub principal: crate::auth::Principal,
    pub state: Arc<AppState>,
    pub registry: Arc<JobRegistry>,
    pub session: Arc<SessionState>,
    pub id: Value,
    pub(crate) out: super::session::Outbox,
    pub(crate) cancel: Arc<AtomicBool>,
}

impl JobCtx {
    /// Resolve a public path for this job's principal: what they may not read answers as a missing
    /// file. The only way a job should reach a file.
    pub fn resolve(&self, path: &str) -> Result<crate::paths::Resolved, JobError> {
        Ok(self.state.resolve_for(&self.principal, path)?)
    }

    /// Send `{"id", "status": "progress", "done", "total"}`.
    pub fn progress(&self, done: u64, total: u64) {
        let msg =
            serde_json::json!({"id": self.id, "status": "progress", "done": done, "total": total});
        // Dropped when the client is not reading: the next one says more.
        self.out.try_send(msg.to_string());
    }

    /// Send an event (no id) to this session: `{"event": name, "data": …}`. False when it was
    /// dropped because the client has left its session's replies unread (see `Outbox`).
    pub fn event(&self, name: &str, data: Value) -> bool {
        self.out
            .try_send(serde_json::json!({"event": name, "data": data}).to_string())
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
    pub params: Value,
    handler: Handler,
}

#[derive(Default, Clone)]
pub struct JobRegistry {
    jobs: BTreeMap<String, Arc<JobDef>>,
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
    pub fn register_async<P, F, Fut>(&mut self, name: &str, description: &str, f: F)
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(JobCtx, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |ctx, params| {
            let f = f.clone();
            async move {
                let p = parse::<P>(params)?;
                f(ctx, p).await
            }
            .boxed()
        });
        self.insert::<P>(name, description, handler);
    }

    /// Register a job whose work runs on a blocking thread (file reads, pixel crunching).
    pub fn register_blocking<P, F>(&mut self, name: &str, description: &str, f: F)
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(&JobCtx, P) -> JobResult + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |ctx, params| {
            let f = f.clone();
            async move {
                let p = parse::<P>(params)?;
                tokio::task::spawn_blocking(move || f(&ctx, p))
                    .await
                    .map_err(|e| {
                        if e.is_panic() {
                            JobError::panicked()
                        } else {
                            JobError::cancelled()
                        }
                    })?
            }
            .boxed()
        });
        self.insert::<P>(name, description, handler);
    }

    fn insert<P: JsonSchema>(&mut self, name: &str, description: &str, handler: Handler) {
        let params = serde_json::to_value(schemars::schema_for!(P)).unwrap_or(Value::Null);
        self.jobs.insert(
            name.to_owned(),
            Arc::new(JobDef {
                name: name.to_owned(),
                description: description.to_owned(),
                params,
                handler,
            }),
        );
    }

    pub fn get(&self, name: &str) -> Option<Arc<JobDef>> {
        self.jobs.get(name).cloned()
    }

    /// `[{"name", "description", "params": <JSON schema>}]` sorted by name.
    pub fn describe(&self) -> Value {
        Value::Array(
            self.jobs
                .values()
                .map(|j| serde_json::json!({"name": j.name, "description": j.description, "params": j.params}))
                .collect(),
        )
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
