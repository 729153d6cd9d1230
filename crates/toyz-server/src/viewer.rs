//! The viewer's files (web/), embedded in the binary so one file serves everything offline (with an
//! ETag each, sent without a copy per request); with `TOYZ_WEB_DIR` set they are read from that
//! folder instead (live editing). `/view?…` is the viewer
//! page whatever the query: the page restores the view from it.

use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use std::borrow::Cow;

/// Every file of web/ but its tests, embedded at build time by rust-embed (`debug-embed`: debug
/// builds too, so tests serve what ships), each with the SHA-256 of its bytes for the ETag.
#[derive(rust_embed::Embed)]
#[folder = "../../web/"]
#[exclude = "tests/*"]
struct Web;

/// Write the viewer beside a static tile tree (`toyz tiles build --out`): `dir/index.html`, which reads
/// `tiles.json` next to it, and the viewer's files in `web_dir`, reached from the page as `web_href`
/// (e.g. "web/", or "../web/" when several images share one copy). Nothing else is needed to serve
/// it: any static web server will do, and no toyz server is involved.
pub fn write_static_viewer(
    dir: &std::path::Path,
    web_dir: &std::path::Path,
    web_href: &str,
) -> std::io::Result<()> {
    let mut index = Cow::Borrowed(&[][..]);
    for path in Web::iter() {
        let bytes = Web::get(&path).expect("an embedded file").data;
        if path == "index.html" {
            index = bytes;
        } else {
            toyz_pyramid::cache::atomic_write(&web_dir.join(&*path), &bytes)?;
        }
    }
    let html = String::from_utf8_lossy(&index)
        .replace("\"/web/", &format!("\"{web_href}"))
        .replace("<body>", "<body data-static=\"tiles.json\">");
    toyz_pyramid::cache::atomic_write(&dir.join("index.html"), html.as_bytes())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

/// A file of web/ and its ETag (none for files read live from `TOYZ_WEB_DIR`).
fn asset_bytes(path: &str) -> Option<(Cow<'static, [u8]>, Option<String>)> {
    if let Some(dir) = std::env::var_os("TOYZ_WEB_DIR") {
        if path.split('/').any(|p| p == ".." || p.is_empty()) {
            return None;
        }
        let bytes = std::fs::read(std::path::Path::new(&dir).join(path)).ok()?;
        return Some((Cow::Owned(bytes), None));
    }
    let f = Web::get(path)?;
    let hash = f.metadata.sha256_hash();
    let tag: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    Some((f.data, Some(format!("\"{tag}\""))))
}

/// A file of web/: embedded bytes are sent as they are (no copy per request), with an ETag so a
/// browser that has them is answered 304 without a body.
pub(crate) fn serve_conditional(
    path: &str,
    req: Option<&HttpRequest>,
) -> Result<HttpResponse, ApiError> {
    let (bytes, etag) =
        asset_bytes(path).ok_or_else(|| ApiError::not_found(format!("no file web/{path}")))?;
    let mut r = HttpResponse::Ok();
    r.insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Some(tag) = &etag {
        r.insert_header((header::ETAG, tag.as_str()));
        let seen = req
            .and_then(|q| q.headers().get(header::IF_NONE_MATCH))
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
        if seen {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, tag.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .finish());
        }
    }
    r.insert_header((header::CONTENT_TYPE, content_type(path)));
    Ok(match bytes {
        Cow::Borrowed(b) => r.body(b),
        Cow::Owned(b) => r.body(b),
    })
}

pub(crate) fn serve(path: &str) -> Result<HttpResponse, ApiError> {
    serve_conditional(path, None)
}

pub async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve_conditional(req.match_info().get("file").unwrap_or(""), Some(&req))
}

pub async fn view(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve_conditional("index.html", Some(&req))
}

pub async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/view"))
        .finish()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/view", web::get().to(view))
        .route("/web/{file:.*}", web::get().to(asset));
}
