//! One WebSocket session per browser window: parse requests `{"id","job","params"}` and cancels
//! `{"id","cancel":true}`, run jobs concurrently up to a bound, send replies/progress/events, keep the
//! connection alive, and on close cancel every job and drop the session's state.

use super::protocol::{self, JobId, Request};
use super::registry::{JobCtx, JobRegistry};
use crate::error::Kind;
use crate::state::AppState;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use futures_util::FutureExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// Largest message accepted (frames and aggregated continuations); bigger ones close the session.
pub const MAX_MESSAGE: usize = 4 << 20;
/// Sources a session keeps open for its jobs, and lists in `session.info`.
pub const MAX_OPENED: usize = 16;
pub const MAX_LISTED_SOURCES: usize = 256;
/// Jobs of one session running at once; more wait for a slot.
pub const MAX_RUNNING: usize = 4;
/// Jobs of one session running or waiting; beyond this a request is refused with `busy`.
pub const MAX_PENDING: usize = 64;
const HEARTBEAT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// A source as a client names it in job parameters: (path, hdu, plane).
pub type SourceKey = (String, Option<String>, Option<usize>);

/// Per-session state kept on the server while the socket is open.
pub struct SessionState {
    pub id: u64,
    pub created: Instant,
    /// Sources opened in this session (source id → public path).
    pub sources: Mutex<Vec<(String, String)>>,
    /// Sources this session opened, by (path, hdu, plane) as the client named them: repeated jobs on the
    /// same image (the cursor readout) skip path resolution; a changed file is noticed by its version.
    /// The most recently used few only (each holds an open file and a statistics sample).
    pub opened: Mutex<lru::LruCache<SourceKey, Arc<crate::sources::OpenSource>>>,
    /// Catalogs loaded in this session.
    pub catalogs: Mutex<Vec<Arc<crate::service::catalog::Catalog>>>,
    /// Free-form client state (frames, selections): whatever the viewer stores with `session.set`,
    /// kept as its JSON text (a parsed tree of 1 MiB of JSON took 5 to 19 MiB).
    pub values: Mutex<std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>>,
    pub jobs_run: AtomicU64,
    /// Who the session acts for: the login that opened the socket, for its whole life.
    pub principal: crate::auth::Principal,
}

impl SessionState {
    fn new(principal: crate::auth::Principal) -> SessionState {
        SessionState {
            principal,
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            created: Instant::now(),
            sources: Mutex::new(Vec::new()),
            opened: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(MAX_OPENED).expect("> 0"),
            )),
            catalogs: Mutex::new(Vec::new()),
            values: Mutex::new(Default::default()),
            jobs_run: AtomicU64::new(0),
        }
    }
}

/// What a session sends, bounded in bytes: a client that stops reading makes its jobs wait (replies)
/// or lose what a later message replaces (progress, events), never grows a queue. Each message
/// holds its size (at most the whole room) from when it is queued until it is written.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<(String, u32)>,
    room: Arc<Semaphore>,
    limit: u32,
}

impl Outbox {
    fn new(limit: usize) -> (Outbox, mpsc::UnboundedReceiver<(String, u32)>) {
        let limit = limit.clamp(1 << 16, u32::MAX as usize >> 4) as u32;
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(limit as usize));
        (Outbox { tx, room, limit }, rx)
    }

    fn cost(&self, s: &str) -> u32 {
        s.len().min(self.limit as usize).max(1) as u32
    }

    /// Send if there is room now (progress, events, refusals of bad requests); false if dropped.
    pub(crate) fn try_send(&self, s: String) -> bool {
        let n = self.cost(&s);
        match self.room.clone().try_acquire_many_owned(n) {
            Ok(p) => {
                p.forget();
                self.tx.send((s, n)).is_ok()
            }
            Err(_) => false,
        }
    }

    /// Send once there is room (a job's reply: the job keeps its running slot until then).
    pub(crate) async fn send(&self, s: String) {
        let n = self.cost(&s);
        if let Ok(p) = self.room.clone().acquire_many_owned(n).await {
            p.forget();
            let _ = self.tx.send((s, n));
        }
    }
}

fn error(id: &JobId, kind: Kind, message: impl Into<String>) -> String {
    protocol::failed(Some(id), kind, message)
}

struct Running {
    cancel: Arc<AtomicBool>,
    abort: tokio::task::AbortHandle,
}

/// Serve one upgraded connection until it closes.
pub async fn run(
    state: Arc<AppState>,
    registry: Arc<JobRegistry>,
    mut ws: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
    principal: crate::auth::Principal,
    token: Option<String>,
) {
    let session = Arc::new(SessionState::new(principal));
    let mut accounts = state.access.accounts_changed();
    state.metrics.sessions_open.inc();
    let (out_tx, mut out_rx) = Outbox::new(state.config.limits.reply_bytes);
    let running: Arc<Mutex<HashMap<String, Running>>> = Arc::new(Mutex::new(HashMap::new()));
    let slots = Arc::new(Semaphore::new(MAX_RUNNING));
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_seen = Instant::now();
    let ready = protocol::Ready {
        session: session.id,
        user: session.principal.user().map(|u| u.name.as_str()),
        admin: session.principal.user().is_some_and(|u| u.admin),
    };
    out_tx.try_send(protocol::event("session.ready", ready).expect("the ready event serialises"));

    // Replies are written by a task of their own, so that a client that stops reading blocks only
    // the writing (and, through the outbox, the jobs that wait to reply), never the reading of its
    // requests, pings and cancels.
    let (done_tx, mut writer_done) = tokio::sync::oneshot::channel::<Option<CloseReason>>();
    let writer = {
        let (mut ws, room) = (ws.clone(), out_tx.room.clone());
        actix_web::rt::spawn(async move {
            while let Some((out, n)) = out_rx.recv().await {
                // A client that reads nothing for a whole idle period is gone.
                let sent = tokio::time::timeout(IDLE_TIMEOUT, write(&mut ws, out)).await;
                room.add_permits(n as usize);
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => {
                        let _ = done_tx.send(None);
                        return;
                    }
                    Err(_) => {
                        let _ = done_tx.send(Some(CloseReason {
                            code: CloseCode::Away,
                            description: Some("replies left unread".into()),
                        }));
                        return;
                    }
                }
            }
        })
    };
    let close_reason: Option<CloseReason> = loop {
        tokio::select! {
            msg = stream.recv() => {
                last_seen = Instant::now();
                match msg {
                    None => break None,
                    Some(Err(e)) => {
                        // Oversized or malformed frames: close with the reason rather than guess.
                        let code = match e {
                            actix_ws::ProtocolError::Overflow => CloseCode::Size,
                            _ => CloseCode::Protocol,
                        };
                        break Some(CloseReason { code, description: Some(e.to_string()) });
                    }
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        handle_text(&text, &state, &registry, &session, &out_tx, &running, &slots);
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        let m = "binary frames are not supported: send JSON text";
                        out_tx.try_send(protocol::failed(None, Kind::BadMessage, m));
                    }
                    Some(Ok(AggregatedMessage::Ping(b))) => {
                        // Never waits: when the queue to the socket is full the client is not
                        // reading, and the writer's timeout deals with it.
                        if let Some(Err(_)) = ws.pong(&b).now_or_never() {
                            break None;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) => break None,
                }
            }
            gone = &mut writer_done => break gone.ok().flatten(),
            Ok(()) = accounts.changed(), if state.access.enabled() => {
                // The login may have ended (user deleted, password changed, sessions ended) or the
                // account changed under it (admin rights, groups): the socket closes at once, and
                // its jobs with it. A client reconnects with a login it still has.
                if let Some(reason) = login_gone(&state, token.as_deref(), &session.principal).await {
                    break Some(CloseReason { code: CloseCode::Policy, description: Some(reason.into()) });
                }
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > IDLE_TIMEOUT {
                    break Some(CloseReason { code: CloseCode::Away, description: Some("idle timeout".into()) });
                }
                if let Some(Err(_)) = ws.ping(b"toyz").now_or_never() {
                    break None;
                }
            }
        }
    };
    // Closing cancels the session's jobs and frees its state.
    for (_, r) in running.lock().expect("running").drain() {
        r.cancel.store(true, Ordering::Relaxed);
        r.abort.abort();
    }
    writer.abort();
    // A client that reads nothing may never take the close frame either.
    let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(close_reason)).await;
    drop(session);
    state.metrics.sessions_open.dec();
    // Give the pages freed by the session (catalogs, job buffers) back to the system: glibc keeps
    // freed memory in its arenas otherwise, and the process's size never shrinks.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    drop(tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only returns free memory to the system.
        unsafe { libc::malloc_trim(0) }
    }));
}

/// Frames of at most this many bytes: actix-ws queues up to 32 frames ahead of the socket, so a
/// message in pieces makes that queue hold at most 2 MiB, whatever the reply.
const FRAME: usize = 64 << 10;

/// Write one text message, as continuation frames when it is larger than a frame (the client sees
/// one message). Only this loop writes, so nothing comes between the pieces but pings.
async fn write(ws: &mut actix_ws::Session, text: String) -> Result<(), actix_ws::Closed> {
    if text.len() <= FRAME {
        return ws.text(text).await;
    }
    let bytes = bytes::Bytes::from(text);
    let n = bytes.len().div_ceil(FRAME);
    for i in 0..n {
        let piece = bytes.slice(i * FRAME..((i + 1) * FRAME).min(bytes.len()));
        let item = match i {
            0 => actix_ws::Item::FirstText(piece),
            i if i + 1 == n => actix_ws::Item::Last(piece),
            _ => actix_ws::Item::Continue(piece),
        };
        ws.continuation(item).await?;
    }
    Ok(())
}

/// Why a session's login no longer holds, if it does not: looked up in the store again.
async fn login_gone(
    state: &Arc<AppState>,
    token: Option<&str>,
    had: &crate::auth::Principal,
) -> Option<&'static str> {
    let Some(token) = token else {
        return Some("the login ended");
    };
    let (st, token) = (state.clone(), token.to_owned());
    let now = tokio::task::spawn_blocking(move || st.access.session(&token)).await;
    match now {
        Ok(Ok(Some(p))) => {
            let same = match (p.user(), had.user()) {
                (Some(a), Some(b)) => {
                    a.name == b.name && a.admin == b.admin && a.groups == b.groups
                }
                _ => false,
            };
            (!same).then_some("the account changed: reconnect")
        }
        Ok(Ok(None)) => Some("the login ended"),
        // The store cannot answer now: the session keeps its login until it can (as the gate
        // answers 500 rather than logging people out).
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn handle_text(
    text: &str,
    state: &Arc<AppState>,
    registry: &Arc<JobRegistry>,
    session: &Arc<SessionState>,
    out: &Outbox,
    running: &Arc<Mutex<HashMap<String, Running>>>,
    slots: &Arc<Semaphore>,
) {
    let (id, name, params) = match Request::parse(text) {
        Ok(Request::Run { id, job, params }) => (id, job, params),
        Ok(Request::Cancel { id }) => {
            match running.lock().expect("running").remove(&id.key()) {
                Some(r) => {
                    r.cancel.store(true, Ordering::Relaxed);
                    r.abort.abort();
                    out.try_send(error(&id, Kind::Cancelled, "cancelled by the client"));
                }
                None => {
                    out.try_send(error(&id, Kind::UnknownId, "no running job has this id"));
                }
            }
            return;
        }
        Err(r) => {
            out.try_send(protocol::failed(r.id.as_ref(), r.kind, r.message));
            return;
        }
    };
    let key = id.key();
    let Some(job) = registry.get(&name) else {
        out.try_send(error(
            &id,
            Kind::UnknownJob,
            format!("no job named '{name}' (session.jobs lists them)"),
        ));
        return;
    };

    let cancel = Arc::new(AtomicBool::new(false));
    let ctx = JobCtx {
        principal: session.principal.clone(),
        state: state.clone(),
        registry: registry.clone(),
        session: session.clone(),
        id: id.clone(),
        out: out.clone(),
        cancel: cancel.clone(),
    };
    let mut map = running.lock().expect("running");
    if map.contains_key(&key) {
        out.try_send(error(
            &id,
            Kind::DuplicateId,
            "a job with this id is still running",
        ));
        return;
    }
    if map.len() >= MAX_PENDING {
        out.try_send(error(
            &id,
            Kind::Busy,
            format!("{MAX_PENDING} jobs are already running or waiting in this session"),
        ));
        return;
    }
    let (out2, running2, slots2, key2, session2) = (
        out.clone(),
        running.clone(),
        slots.clone(),
        key.clone(),
        session.clone(),
    );
    let max_reply = state.config.limits.reply_bytes;
    let state2 = state.clone();
    let task = actix_web::rt::spawn(async move {
        let _permit = slots2.acquire_owned().await;
        let result = job.run(ctx, params).await;
        session2.jobs_run.fetch_add(1, Ordering::Relaxed);
        // Only reply if the job was not cancelled meanwhile (the cancel already answered).
        if running2.lock().expect("running").remove(&key2).is_some() {
            let reply = match result {
                Ok(v) => protocol::done(&id, v).unwrap_or_else(|e| {
                    error(
                        &id,
                        Kind::Internal,
                        format!("the result could not be written: {e}"),
                    )
                }),
                Err(e) => error(&id, e.kind, e.message),
            };
            // Bounded outgoing frames: a reply over the limit is replaced by an error saying so.
            let reply = if reply.len() > max_reply {
                error(
                    &id,
                    Kind::TooLarge,
                    format!(
                        "the reply would be {} bytes, over the limit of {max_reply}",
                        reply.len()
                    ),
                )
            } else {
                reply
            };
            // Counted while it waits (a guard: an aborted task stops waiting too).
            struct Waiting<'a>(&'a prometheus_client::metrics::gauge::Gauge);
            impl Drop for Waiting<'_> {
                fn drop(&mut self) {
                    self.0.dec();
                }
            }
            state2.metrics.replies_waiting.inc();
            let _waiting = Waiting(&state2.metrics.replies_waiting);
            out2.send(reply).await;
        }
    });
    map.insert(
        key,
        Running {
            cancel,
            abort: task.abort_handle(),
        },
    );
}
