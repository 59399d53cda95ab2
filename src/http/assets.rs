//! The few static files the service serves itself, built into the binary.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use crate::render::LOGO_PATH;

/// A 512×512 PNG feed emblem: the feeds' image when the catalogue names no `logo`.
const LOGO: &[u8] = include_bytes!("../../assets/logo.png");

pub fn router() -> Router<AppState> {
    Router::new().route(LOGO_PATH, get(get_logo))
}

/// `GET /logo.png`: never changes within a release, so caches may keep it for a day.
async fn get_logo() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        LOGO,
    )
}
