//! The session protocol's envelopes as types: what a client sends (a job request or a cancel) and
//! what the server sends back (a job's result, its error, its progress, an event). Every message of
//! the session is one of these, serialised here; the jobs' parameters and results inside them have
//! their own types and schemas (the registry). docs/api.md describes the same shapes.

use crate::error::Kind;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// A job's id as the client gave it (a number or a string), echoed in every message about the job.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum JobId {
    Number(serde_json::Number),
    Text(String),
}

impl JobId {
    /// The key of a running job (a number and the same digits as a string are different ids).
    pub fn key(&self) -> String {
        serde_json::to_string(self).expect("an id serialises")
    }
}

/// What a client asks.
#[derive(Debug, PartialEq)]
pub enum Request {
    /// `{"id", "job", "params"?}`: run a job (`params` null when absent).
    Run {
        id: JobId,
        job: String,
        params: Value,
    },
    /// `{"id", "cancel": true}`: stop a running job.
    Cancel { id: JobId },
}

/// Why a client's message is not a request: what to answer (with the id when it had one).
#[derive(Debug, PartialEq)]
pub struct Refused {
    pub id: Option<JobId>,
    pub kind: Kind,
    pub message: String,
}

impl Request {
    /// Read one text message. Refusals say what is missing, as a client author needs to hear it.
    pub fn parse(text: &str) -> Result<Request, Refused> {
        let refuse = |id: Option<JobId>, message: String| Refused {
            id,
            kind: Kind::BadMessage,
            message,
        };
        let msg: Value =
            serde_json::from_str(text).map_err(|e| refuse(None, format!("not JSON: {e}")))?;
        let Value::Object(mut obj) = msg else {
            return Err(refuse(None, "a message is a JSON object".into()));
        };
        let id = match obj.remove("id") {
            Some(Value::Number(n)) => JobId::Number(n),
            Some(Value::String(s)) => JobId::Text(s),
            _ => {
                let m = "every request needs an \"id\" (number or string)";
                return Err(refuse(None, m.into()));
            }
        };
        if obj.get("cancel").and_then(Value::as_bool) == Some(true) {
            return Ok(Request::Cancel { id });
        }
        let Some(Value::String(job)) = obj.remove("job") else {
            return Err(refuse(Some(id), "a request names its \"job\"".into()));
        };
        let params = obj.remove("params").unwrap_or(Value::Null);
        Ok(Request::Run { id, job, params })
    }
}

/// The state a job message reports.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
    Progress,
}

/// A job's result: `{"id", "status": "ok", "result"}`.
#[derive(Serialize)]
pub struct Done<'a, R: Serialize> {
    pub id: &'a JobId,
    pub status: Status,
    pub result: R,
}

/// An error's kind and message.
#[derive(Serialize)]
pub struct ErrorBody {
    pub kind: Kind,
    pub message: String,
}

/// A job's error, or a refused message: `{"id", "status": "error", "error": {"kind", "message"}}`
/// (`id` null when the message had none).
#[derive(Serialize)]
pub struct Failed<'a> {
    pub id: Option<&'a JobId>,
    pub status: Status,
    pub error: ErrorBody,
}

/// A job's progress: `{"id", "status": "progress", "done", "total"}`.
#[derive(Serialize)]
pub struct Progress<'a> {
    pub id: &'a JobId,
    pub status: Status,
    pub done: u64,
    pub total: u64,
}

/// An event of the session or a job: `{"event", "data"}`.
#[derive(Serialize)]
pub struct Event<'a, D: Serialize> {
    pub event: &'a str,
    pub data: D,
}

/// The data of `session.ready`, the first message of every session.
#[derive(Serialize, JsonSchema)]
pub struct Ready<'a> {
    pub session: u64,
    /// The logged-in user (null without accounts).
    pub user: Option<&'a str>,
    pub admin: bool,
}

/// The text of a job's result.
pub fn done<R: Serialize>(id: &JobId, result: R) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Done {
        id,
        status: Status::Ok,
        result,
    })
}

/// The text of an error.
pub fn failed(id: Option<&JobId>, kind: Kind, message: impl Into<String>) -> String {
    serde_json::to_string(&Failed {
        id,
        status: Status::Error,
        error: ErrorBody {
            kind,
            message: message.into(),
        },
    })
    .expect("an error serialises")
}

/// The text of a progress message.
pub fn progress(id: &JobId, done: u64, total: u64) -> String {
    serde_json::to_string(&Progress {
        id,
        status: Status::Progress,
        done,
        total,
    })
    .expect("progress serialises")
}

/// The text of an event.
pub fn event<D: Serialize>(name: &str, data: D) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Event { event: name, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_parse_and_refusals_say_why() {
        assert_eq!(
            Request::parse(r#"{"id": 7, "job": "image.open", "params": {"path": "a"}}"#),
            Ok(Request::Run {
                id: JobId::Number(7.into()),
                job: "image.open".into(),
                params: json!({"path": "a"})
            })
        );
        assert_eq!(
            Request::parse(r#"{"id": "x", "cancel": true}"#),
            Ok(Request::Cancel {
                id: JobId::Text("x".into())
            })
        );
        let refused = |t: &str| Request::parse(t).unwrap_err();
        assert!(refused("{").message.starts_with("not JSON"));
        assert_eq!(refused("[1]").message, "a message is a JSON object");
        assert_eq!(refused(r#"{"id": null, "job": "a"}"#).id, None);
        let r = refused(r#"{"id": 3}"#);
        assert_eq!(
            (r.id, r.kind),
            (Some(JobId::Number(3.into())), Kind::BadMessage)
        );
        // Ids keep their type: 1 and "1" are different jobs.
        assert_ne!(JobId::Number(1.into()).key(), JobId::Text("1".into()).key());
    }

    #[test]
    fn messages_have_the_documented_shapes() {
        let id = JobId::Text("a".into());
        let v = |s: String| serde_json::from_str::<Value>(&s).unwrap();
        assert_eq!(
            v(done(&id, json!({"n": 1})).unwrap()),
            json!({"id": "a", "status": "ok", "result": {"n": 1}})
        );
        assert_eq!(
            v(failed(None, Kind::BadMessage, "no")),
            json!({"id": null, "status": "error", "error": {"kind": "bad_message", "message": "no"}})
        );
        assert_eq!(
            v(progress(&id, 2, 5)),
            json!({"id": "a", "status": "progress", "done": 2, "total": 5})
        );
        let ready = Ready {
            session: 4,
            user: None,
            admin: false,
        };
        assert_eq!(
            v(event("session.ready", ready).unwrap()),
            json!({"event": "session.ready", "data": {"session": 4, "user": null, "admin": false}})
        );
    }
}
