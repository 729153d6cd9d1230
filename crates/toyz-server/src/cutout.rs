//! `GET /api/cutout`: the HTTP adapter of [`service::cutout`](crate::service::cutout) — the file an
//! observer's log links to, served inline and cacheable for a minute.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::service::cutout::{cutout as cut, CutoutQuery};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

pub async fn cutout(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<CutoutQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = cut(&state.into_inner(), &who, &q).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, c.content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}\"", c.file_name),
        ))
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(c.bytes))
}
