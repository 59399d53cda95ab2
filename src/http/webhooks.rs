//! `/api/v1/webhooks`, `/api/v1/deliveries`, `/api/v1/events`: managing push to other systems.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, Payload};
use crate::config::Scope;
use crate::ingest::FieldError;
use crate::webhooks::{Endpoint, fields, robots};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/webhooks",
            post(create_endpoint).get(list_endpoints),
        )
        .route(
            "/api/v1/webhooks/{id}",
            get(get_endpoint)
                .patch(patch_endpoint)
                .delete(delete_endpoint),
        )
        .route("/api/v1/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/api/v1/webhooks/{id}/test", post(send_test))
        .route("/api/v1/webhooks/{id}/recover", post(recover))
        .route("/api/v1/schemas/webhooks/{name}", get(get_schema))
}

/// The JSON Schema of each webhook body, by event type.
const SCHEMAS: [(&str, &str); 4] = [
    (
        "article.published.json",
        include_str!("../../schemas/webhooks/article.published.json"),
    ),
    (
        "article.updated.json",
        include_str!("../../schemas/webhooks/article.updated.json"),
    ),
    (
        "article.deleted.json",
        include_str!("../../schemas/webhooks/article.deleted.json"),
    ),
    (
        "webhook.test.json",
        include_str!("../../schemas/webhooks/webhook.test.json"),
    ),
];

/// `GET /api/v1/schemas/webhooks/{type}.json`: public, so that consumers can validate.
async fn get_schema(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, schema) = SCHEMAS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| ApiError::NotFound(format!("no schema named {name}")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/schema+json")],
        *schema,
    )
        .into_response())
}

pub(super) fn admin(caller: &Caller) -> Result<(), ApiError> {
    caller.require(Scope::Admin, "manage webhooks")
}

/// The endpoint as the API shows it; the secret only when just made. A chat robot's URL is
/// shown with its credential masked, its vendor secret never (`signed` says whether it has
/// one), and its generated Standard Webhooks secret never either.
fn endpoint_json(endpoint: &Endpoint, with_secret: bool) -> Value {
    let mut value = serde_json::to_value(endpoint).expect("an endpoint serialises");
    let Some(obj) = value.as_object_mut() else {
        return value;
    };
    if endpoint.kind.is_robot() {
        obj.insert(
            "url".into(),
            Value::String(endpoint.kind.shown_url(&endpoint.url)),
        );
        obj.insert(
            "signed".into(),
            Value::Bool(endpoint.robot_secret.is_some()),
        );
    } else if with_secret {
        obj.insert(
            "secret".into(),
            Value::String(endpoint.secret.as_str().to_owned()),
        );
    }
    value
}

pub(super) async fn find(state: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    state
        .service
        .webhooks
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook endpoint has the id {id}")))
}

fn object(value: &Value) -> Result<&Map<String, Value>, ApiError> {
    value.as_object().ok_or_else(|| {
        ApiError::Invalid(vec![FieldError::new("", "the body must be a JSON object")])
    })
}

/// `POST /api/v1/webhooks`: 201 with the endpoint and its secret.
async fn create_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    payload: Payload,
) -> Result<Response, ApiError> {
    admin(&caller)?;
    let document = payload.json()?;
    let service = &state.service;
    let accepted = fields::new_endpoint(&service.outbound, &service.catalog, object(&document)?)
        .await
        .map_err(ApiError::Invalid)?;
    let endpoint = service.webhooks.create(accepted.value).await?;
    tracing::info!(token = %caller.name, endpoint = %endpoint.id, url = %endpoint.url, "webhook endpoint created");
    let mut answer = endpoint_json(&endpoint, true);
    with_warnings(&mut answer, accepted.warnings);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn list_endpoints(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    let endpoints: Vec<Value> = state
        .service
        .webhooks
        .list()
        .await?
        .iter()
        .map(|e| endpoint_json(e, false))
        .collect();
    Ok(Json(json!({ "endpoints": endpoints })))
}

async fn get_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    Ok(Json(endpoint_json(&find(&state, &id).await?, false)))
}

/// `PATCH /api/v1/webhooks/{id}`: change filters, URL, limit; `"enabled": true` re-enables
/// and resets the failure history.
async fn patch_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    payload: Payload,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    let current = find(&state, &id).await?;
    let document = payload.json()?;
    let service = &state.service;
    let accepted = fields::endpoint_patch(
        &service.outbound,
        &service.catalog,
        object(&document)?,
        &current,
    )
    .await
    .map_err(ApiError::Invalid)?;
    let endpoint = state
        .service
        .webhooks
        .update(&id, accepted.value)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook endpoint has the id {id}")))?;
    let mut answer = endpoint_json(&endpoint, false);
    with_warnings(&mut answer, accepted.warnings);
    Ok(Json(answer))
}

/// Adds `warnings` to an answer when there are any.
fn with_warnings(answer: &mut Value, warnings: Vec<String>) {
    if !warnings.is_empty() {
        answer["warnings"] = json!(warnings);
    }
}

async fn delete_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller)?;
    if state.service.webhooks.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no webhook endpoint has the id {id}"
        )))
    }
}

/// `POST /api/v1/webhooks/{id}/rotate-secret`: a new secret (given or generated); the old one
/// keeps signing beside it for the grace period (`grace_secs`, default from configuration).
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    if find(&state, &id).await?.kind.is_robot() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "secret",
            "a chat robot's secret is its vendor's: change it with PATCH /api/v1/webhooks/{id}",
        )]));
    }
    // The body is optional here: an empty POST rotates to a generated secret.
    let document = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        super::extract::parse_json(&body)?
    };
    let rotation = fields::rotation(object(&document)?).map_err(ApiError::Invalid)?;
    let (endpoint, until) = state
        .service
        .webhooks
        .rotate_secret(&id, &rotation.secret, rotation.grace_secs)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook endpoint has the id {id}")))?;
    let mut value = endpoint_json(&endpoint, true);
    value["previous_secret_expires_at"] = json!(until);
    Ok(Json(value))
}

/// `POST /api/v1/webhooks/{id}/test`: queues a `webhook.test` message; a chat robot is sent
/// the sample article in its message, shown in the answer's `preview`.
async fn send_test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admin(&caller)?;
    let endpoint = find(&state, &id).await?;
    let sent = state
        .service
        .webhooks
        .send_test(&endpoint.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook endpoint has the id {id}")))?;
    let mut answer = json!({ "message_id": sent.message_id, "delivery_id": sent.delivery_id });
    if endpoint.kind.is_robot() {
        // What the robot is sent, before signing: the sample article in its message.
        answer["preview"] = robots::preview(&endpoint);
    }
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `POST /api/v1/webhooks/{id}/recover {"since": RFC 3339}`: re-queues every failed delivery
/// created since then.
async fn recover(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    payload: Payload,
) -> Result<Response, ApiError> {
    admin(&caller)?;
    find(&state, &id).await?;
    let document = payload.json()?;
    let since = document
        .get("since")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .ok_or_else(|| {
            ApiError::Invalid(vec![FieldError::new(
                "since",
                "is required, as an RFC 3339 time",
            )])
        })?;
    let requeued = state
        .service
        .webhooks
        .recover(&id, since.with_timezone(&Utc))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "requeued": requeued }))).into_response())
}
