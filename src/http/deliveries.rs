//! `/api/v1/webhooks/{id}/deliveries` and `/api/v1/deliveries`: the delivery log and replay.

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, cursor_param, limit_param, query_param};
use super::webhooks::{admin, find};
use crate::store::Resend;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route("/api/v1/deliveries/{id}", get(get_delivery))
        .route("/api/v1/deliveries/{id}/resend", post(resend))
}

/// `GET /api/v1/webhooks/{id}/deliveries?status=&after=&limit=`: the delivery log, with each
/// attempt; `next` is the cursor of the following page (null once a page comes back short).
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    find(&state, &id).await?;
    let query = query.as_deref();
    let status = query_param(query, "status");
    if let Some(s) = &status
        && !matches!(s.as_str(), "pending" | "delivered" | "failed")
    {
        return Err(ApiError::bad_field(
            "status",
            "must be pending, delivered or failed",
        ));
    }
    let after = cursor_param(query)?;
    let limit = limit_param(query, 50, 500)?;
    let deliveries = state
        .service
        .webhooks
        .deliveries(&id, status.as_deref(), after, limit)
        .await?;
    let next =
        (deliveries.len() as u32 == limit).then(|| deliveries.last().map(|d| d.cursor.to_string()));
    Ok(Json(
        json!({ "deliveries": deliveries, "next": next.flatten() }),
    ))
}

async fn get_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    let delivery = state
        .service
        .webhooks
        .delivery(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery has the id {id}")))?;
    Ok(Json(
        serde_json::to_value(delivery).expect("a delivery serialises"),
    ))
}

/// `POST /api/v1/deliveries/{id}/resend`: sends again, with the same `webhook-id`.
async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admin(&caller)?;
    match state.service.webhooks.resend(&id).await? {
        Resend::Queued => {}
        Resend::InFlight => {
            return Err(ApiError::Conflict(format!(
                "the delivery {id} is being sent right now; resend it once that attempt is recorded"
            )));
        }
        Resend::NotFound => return Err(ApiError::NotFound(format!("no delivery has the id {id}"))),
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "pending", "id": id })),
    )
        .into_response())
}
