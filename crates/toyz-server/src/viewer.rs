//! The viewer's files (web/), embedded in the binary so one file serves everything offline; with
//! `TOYZ_WEB_DIR` set they are read from that folder instead (live editing). `/view?…` is the viewer
//! page whatever the query: the page restores the view from it.

use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

macro_rules! asset {
    ($path:literal) => {
        (
            $path,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $path)) as &[u8],
        )
    };
}

const ASSETS: [(&str, &[u8]); 22] = [
    asset!("index.html"),
    asset!("login.html"),
    asset!("admin.html"),
    asset!("admin.js"),
    asset!("app.js"),
    asset!("tools.js"),
    asset!("nav.js"),
    asset!("live.js"),
    asset!("tile.js"),
    asset!("lib/geometry.js"),
    asset!("lib/format.js"),
    asset!("lib/render.js"),
    asset!("lib/url.js"),
    asset!("style.css"),
    asset!("vendor/leaflet/leaflet-src.esm.js"),
    asset!("vendor/leaflet/leaflet.css"),
    asset!("vendor/leaflet/LICENSE"),
    asset!("vendor/leaflet/images/layers.png"),
    asset!("vendor/leaflet/images/layers-2x.png"),
    asset!("vendor/leaflet/images/marker-icon.png"),
    asset!("vendor/leaflet/images/marker-icon-2x.png"),
    asset!("vendor/leaflet/images/marker-shadow.png"),
];

/// Write the viewer beside a static tile tree (`toyz tiles build --out`): `dir/index.html`, which reads
/// `tiles.json` next to it, and the viewer's files in `web_dir`, reached from the page as `web_href`
/// (e.g. "web/", or "../web/" when several images share one copy). Nothing else is needed to serve
/// it: any static web server will do, and no toyz server is involved.
pub fn write_static_viewer(
    dir: &std::path::Path,
    web_dir: &std::path::Path,
    web_href: &str,
) -> std::io::Result<()> {
    let mut index: &[u8] = &[];
    for (path, bytes) in ASSETS {
        if path == "index.html" {
            index = bytes;
        } else {
            toyz_pyramid::cache::atomic_write(&web_dir.join(path), bytes)?;
        }
    }
    let html = String::from_utf8_lossy(index)
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

fn asset_bytes(path: &str) -> Option<Vec<u8>> {
    if let Some(dir) = std::env::var_os("TOYZ_WEB_DIR") {
        if path.split('/').any(|p| p == ".." || p.is_empty()) {
            return None;
        }
        return std::fs::read(std::path::Path::new(&dir).join(path)).ok();
    }
    ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| b.to_vec())
}

pub(crate) fn serve(path: &str) -> Result<HttpResponse, ApiError> {
    let bytes =
        asset_bytes(path).ok_or_else(|| ApiError::not_found(format!("no file web/{path}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(bytes))
}

pub async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(req.match_info().get("file").unwrap_or(""))
}

pub async fn view() -> Result<HttpResponse, ApiError> {
    serve("index.html")
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
