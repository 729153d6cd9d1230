//! Request heads read before actix-http sees them, so that every refusal is JSON.
//!
//! actix-http answers a request head over its 128 KiB buffer with an empty `431` and a head it cannot
//! parse (a bad URI, a broken header line) with an empty `400`, before any application code runs,
//! and no setting changes that. [`HeadGuard`] wraps each accepted connection: it holds a request's
//! head back until the head is complete (at most [`MAX_HEAD`] bytes), parses it (`httparse`, then the
//! URI as actix-http does), and hands it on only when actix-http will accept it. Otherwise it hands
//! on a small request for [`REFUSED_PATH`] instead, whose handler answers with the JSON error, and
//! drops the rest of what the client sends: the connection closes after that answer. Bodies pass
//! straight through (their length is known from `Content-Length`); after a chunked body or a
//! protocol upgrade (WebSockets) the connection passes through unchecked.

use actix_web::http::StatusCode;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request head (request line and headers) read; actix-http's own limit is 128 KiB.
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers per request (actix-http's limit).
pub const MAX_HEADERS: usize = 96;
/// Where refused heads are sent instead (see the module); its query names the status.
pub const REFUSED_PATH: &str = "/__toyz/refused";

enum State {
    /// Reading a head; the bytes so far are in `held`.
    Head,
    /// Passing `n` more body bytes through.
    Body(u64),
    /// Everything passes through unchecked (after an upgrade or a chunked body).
    Pass,
    /// A head was refused: what the client sends from now on is dropped.
    Drain,
}

/// A body must arrive within this long plus a second per [`BODY_RATE`] bytes, as a head must within
/// actix-http's 5 s: a client sending a byte every two seconds held its connection for ever (19,990 of
/// them took every file descriptor).
pub const BODY_GRACE: std::time::Duration = std::time::Duration::from_secs(8);
pub const BODY_RATE: u64 = 64 * 1024;

/// Connections held open at once, in all and per client address; beyond either a new connection is
/// closed as soon as it is accepted. Each admitted connection holds a [`Ticket`].
pub struct ConnLimits {
    max_total: usize,
    max_per_address: usize,
    open: std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
}

/// One admitted connection (given back when the connection ends).
pub struct Ticket {
    limits: std::sync::Arc<ConnLimits>,
    ip: Option<std::net::IpAddr>,
}

impl ConnLimits {
    pub fn new(max_total: usize, max_per_address: usize) -> std::sync::Arc<ConnLimits> {
        std::sync::Arc::new(ConnLimits {
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
            open: Default::default(),
        })
    }

    /// Admit a connection from `ip`, or None when a limit is reached.
    pub fn admit(self: &std::sync::Arc<Self>, ip: Option<std::net::IpAddr>) -> Option<Ticket> {
        let mut g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 >= self.max_total {
            return None;
        }
        if let Some(ip) = ip {
            let n = g.1.entry(ip).or_insert(0);
            if *n >= self.max_per_address {
                return None;
            }
            *n += 1;
        }
        g.0 += 1;
        Some(Ticket {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut g = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if let Some(ip) = self.ip {
            if let Some(n) = g.1.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    g.1.remove(&ip);
                }
            }
        }
    }
}

/// An accepted connection whose request heads are checked (see the module).
pub struct HeadGuard<T> {
    io: T,
    state: State,
    /// When the body being read must be complete (see [`BODY_GRACE`]), and its timer (made when
    /// first waited on, inside the runtime).
    body_deadline: Option<std::time::Instant>,
    body_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    _ticket: Option<Ticket>,
    /// Bytes read from the client and not yet handed on: a head being read, or what followed a body.
    held: Vec<u8>,
    /// Bytes ready to hand on to actix-http.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes of `held` already searched for the end of a head (a head that arrives a byte at a
    /// time is searched once, not once per byte).
    scanned: usize,
}

impl<T> HeadGuard<T> {
    pub fn new(io: T) -> HeadGuard<T> {
        HeadGuard::with_ticket(io, None)
    }

    /// A guard holding its connection's place in the [`ConnLimits`].
    pub fn with_ticket(io: T, ticket: Option<Ticket>) -> HeadGuard<T> {
        HeadGuard {
            io,
            body_deadline: None,
            body_timer: None,
            _ticket: ticket,
            state: State::Head,
            held: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            scanned: 0,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Move what can be decided from `held` to `out`.
    fn advance(&mut self) {
        loop {
            match self.state {
                State::Pass => {
                    self.out.append(&mut self.held);
                    return;
                }
                State::Drain => {
                    self.held.clear();
                    return;
                }
                State::Body(n) => {
                    let k = (n as usize).min(self.held.len());
                    self.out.extend(self.held.drain(..k));
                    let left = n - k as u64;
                    self.state = if left == 0 {
                        self.body_deadline = None;
                        self.body_timer = None;
                        State::Head
                    } else {
                        State::Body(left)
                    };
                    if left > 0 || self.held.is_empty() {
                        return;
                    }
                }
                State::Head => {
                    if self.scanned == 0 {
                        // Empty lines before a request line are allowed (RFC 9112 2.2).
                        let blank = self
                            .held
                            .iter()
                            .take_while(|&&b| b == b'\r' || b == b'\n')
                            .count();
                        self.held.drain(..blank);
                    }
                    let from = self.scanned.saturating_sub(3);
                    let Some(end) = find_end(&self.held[from..]).map(|e| e + from) else {
                        self.scanned = self.held.len();
                        if self.held.len() > MAX_HEAD {
                            self.refuse(431);
                        }
                        return;
                    };
                    self.scanned = 0;
                    if end > MAX_HEAD {
                        self.refuse(431);
                        return;
                    }
                    match check_head(&self.held[..end]) {
                        Ok(next) => {
                            self.out.extend(self.held.drain(..end));
                            if let State::Body(n) = next {
                                let t = BODY_GRACE + std::time::Duration::from_secs(n / BODY_RATE);
                                self.body_deadline = Some(std::time::Instant::now() + t);
                                self.body_timer = None;
                            }
                            self.state = next;
                        }
                        Err(status) => {
                            self.refuse(status);
                            return;
                        }
                    }
                }
            }
        }
    }

    fn refuse(&mut self, status: u16) {
        self.held.clear();
        self.out.extend_from_slice(
            format!(
                "GET {REFUSED_PATH}?status={status} HTTP/1.1\r\nHost: toyz\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        self.state = State::Drain;
    }
}

/// Index just past the blank line ending a head, if it is there.
fn find_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// What follows a head actix-http will accept, or the status to refuse it with.
fn check_head(head: &[u8]) -> Result<State, u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(400),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
    }
    let path = req.path.unwrap_or("");
    if actix_web::http::Uri::try_from(path).is_err() {
        return Err(400);
    }
    if req.method == Some("CONNECT") {
        return Ok(State::Pass);
    }
    let (mut length, mut chunked, mut upgrade) = (None::<u64>, false, false);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(400u16)?;
            if length.is_some_and(|l| l != v) {
                return Err(400);
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        }
    }
    if chunked && length.is_some() {
        return Err(400);
    }
    Ok(match length {
        _ if chunked || upgrade => State::Pass,
        Some(n) if n > 0 => State::Body(n),
        _ => State::Head,
    })
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = (this.out.len() - this.out_pos).min(buf.remaining());
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if matches!(this.state, State::Pass) && this.held.is_empty() {
                return Pin::new(&mut this.io).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut rb) {
                Poll::Pending => {
                    // A body that comes too slowly ends the connection.
                    if let (State::Body(_), Some(at)) = (&this.state, this.body_deadline) {
                        let timer = this.body_timer.get_or_insert_with(|| {
                            Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(at)))
                        });
                        if timer.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "the request body came too slowly",
                            )));
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                    // End of input: whatever was held goes on as it is (actix-http sees the
                    // incomplete head and the end, as it would have).
                    if !matches!(this.state, State::Drain) {
                        this.out.append(&mut this.held);
                    }
                    if this.out.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    this.state = State::Drain;
                }
                Poll::Ready(Ok(())) => {
                    this.held.extend_from_slice(rb.filled());
                    this.advance();
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The JSON answer for a refused head (`GET /__toyz/refused?status=N`).
pub async fn refused(
    q: actix_web::web::Query<Refused>,
) -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    let (status, message) = match q.status {
        431 => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request heads are at most {MAX_HEAD} bytes and {MAX_HEADERS} headers"),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "the request line or a header cannot be read".to_owned(),
        ),
    };
    Err(crate::error::ApiError::new(
        status,
        crate::error::Kind::BadRequest,
        message,
    ))
}

#[derive(serde::Deserialize)]
pub struct Refused {
    status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(parts: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut g = HeadGuard::new(());
        for p in parts {
            g.held.extend_from_slice(p);
            g.advance();
        }
        let drained = matches!(g.state, State::Drain);
        (g.out, drained)
    }

    #[test]
    fn heads_are_held_until_complete_and_bodies_pass() {
        let (out, _) = feed(&[b"GET /a HTTP/1.1\r\nHo", b"st: x\r\n"]);
        assert!(out.is_empty(), "an incomplete head is held back");
        let req = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let next = b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        let all = [&req[..], &next[..]].concat();
        let (out, drained) = feed(&[&all[..30], &all[30..]]);
        assert_eq!(out, all, "pipelined requests pass unchanged");
        assert!(!drained);
    }

    #[test]
    fn bad_and_huge_heads_become_the_refusal_request() {
        let huge = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD + 10));
        let (out, drained) = feed(&[huge.as_bytes()]);
        assert!(drained);
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("GET /__toyz/refused?status=431 "));
        let (out, _) = feed(&[b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert!(String::from_utf8(out).unwrap().contains("status=400"));
        let (out, _) =
            feed(&[b"GET /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"]);
        assert!(String::from_utf8(out).unwrap().contains("status=400"));
        // A good request before a bad one is answered first (pipelining keeps its order).
        let (out, _) = feed(&[b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /\x01 HTTP/1.1\r\n\r\n"]);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /__toyz/refused?status=400 ")
        );
    }

    #[test]
    fn upgrades_pass_through() {
        let head =
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        let frames = [0x81u8, 0x85, 1, 2, 3, 4, b'\r', b'\n', b'\r', b'\n', 0];
        let all = [&head[..], &frames[..]].concat();
        let (out, drained) = feed(&[&all[..]]);
        assert_eq!(out, all);
        assert!(!drained);
    }
}
