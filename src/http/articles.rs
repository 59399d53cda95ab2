//! `/api/v1/articles`: ingest from the CMS.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::error::ApiError;
use super::extract::{BodyKind, Caller, Payload};
use crate::config::Scope;
use crate::domain::{ArticleId, StoredArticle};
use crate::ingest::{FieldError, ndjson_line};
use crate::service::PublishError;
use crate::store::{DeleteOutcome, StoreError, UpsertOutcome, Upserted};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/articles", post(create_article))
        .route("/api/v1/articles/batch", post(create_batch))
        .route(
            "/api/v1/articles/{id}",
            get(get_article).put(put_article).delete(delete_article),
        )
}

/// `POST /api/v1/articles`: create, or update by the publisher's id.
async fn create_article(
    State(state): State<AppState>,
    caller: Caller,
    payload: Payload,
) -> Result<Response, ApiError> {
    caller.require(Scope::Publish, "publish articles")?;
    let document = payload.json()?;
    let upserted = publish(&state, &caller, document).await?;
    Ok(upsert_response(&state, upserted))
}

/// `PUT /api/v1/articles/{id}`: the same, with the id in the path (the body's, if any, must
/// agree).
async fn put_article(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    payload: Payload,
) -> Result<Response, ApiError> {
    caller.require(Scope::Publish, "publish articles")?;
    let id = parse_id(&id)?;
    let mut document = payload.json()?;
    if let Some(obj) = document.as_object_mut() {
        match obj.get("id") {
            None | Some(Value::Null) => {
                obj.insert("id".into(), Value::String(id.to_string()));
            }
            Some(Value::String(body_id)) if body_id == id.as_str() => {}
            Some(_) => {
                return Err(ApiError::Invalid(vec![FieldError::new(
                    "id",
                    format!("does not match the id in the URL ({id})"),
                )]));
            }
        }
    }
    let upserted = publish(&state, &caller, document).await?;
    Ok(upsert_response(&state, upserted))
}

async fn publish(state: &AppState, caller: &Caller, document: Value) -> Result<Upserted, ApiError> {
    let upserted = state.service.publish(document).await.map_err(|e| match e {
        PublishError::Rejected(rejection) => ApiError::Invalid(rejection.0),
        PublishError::Store(e) => e.into(),
    })?;
    tracing::info!(
        token = %caller.name,
        article = %upserted.article.article.id,
        outcome = ?upserted.outcome,
        version = upserted.article.version,
        "article stored"
    );
    Ok(upserted)
}

pub(super) fn upsert_response(state: &AppState, upserted: Upserted) -> Response {
    let status = match upserted.outcome {
        UpsertOutcome::Created => StatusCode::CREATED,
        UpsertOutcome::Updated | UpsertOutcome::Unchanged => StatusCode::OK,
    };
    let location = article_location(state, &upserted.article);
    let body = json!({ "status": upserted.outcome, "article": upserted.article });
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::CREATED
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn article_location(state: &AppState, article: &StoredArticle) -> String {
    format!(
        "{}/api/v1/articles/{}",
        state.service.config.public_base(),
        article.article.id
    )
}

fn parse_id(raw: &str) -> Result<ArticleId, ApiError> {
    ArticleId::parse(raw).map_err(|e| ApiError::bad_field("id", e.to_string()))
}

/// `GET /api/v1/articles/{id}`: the stored article; 410 for a tombstone.
async fn get_article(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_any(&[Scope::Read, Scope::Publish], "read articles")?;
    let id = parse_id(&id)?;
    let Some(stored) = state.service.article(&id).await? else {
        return Err(ApiError::NotFound(format!("no article has the id {id}")));
    };
    if let Some(deleted_at) = stored.deleted_at {
        return Err(ApiError::Gone(format!(
            "the article {id} was deleted at {}",
            deleted_at.to_rfc3339()
        )));
    }
    Ok(Json(stored).into_response())
}

/// `DELETE /api/v1/articles/{id}`: leaves a tombstone; deleting twice changes nothing.
async fn delete_article(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Publish, "delete articles")?;
    let id = parse_id(&id)?;
    match state.service.delete(&id).await? {
        DeleteOutcome::Deleted(stored) => Ok(Json(json!({
            "status": "deleted", "id": id, "version": stored.version
        }))
        .into_response()),
        DeleteOutcome::AlreadyDeleted(stored) => Ok(Json(json!({
            "status": "unchanged", "id": id, "version": stored.version
        }))
        .into_response()),
        DeleteOutcome::NotFound => Err(ApiError::NotFound(format!("no article has the id {id}"))),
    }
}

/// One item's result in a batch.
#[derive(Debug, Serialize)]
struct BatchResult {
    /// 0-based position in the batch.
    index: usize,
    /// 1-based line of the item, for NDJSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// created, updated, unchanged or rejected.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}

/// `POST /api/v1/articles/batch`: a JSON array or NDJSON; one result per item. The valid
/// items are committed together, all or none: an answer always reports every item's outcome,
/// and a batch that cannot finish within its time (or whose client went away) commits nothing.
async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    payload: Payload,
) -> Result<Response, ApiError> {
    caller.require(Scope::Publish, "publish articles")?;
    let limit = state.service.config.ingest.max_batch_items;
    let too_many = |count| ApiError::TooManyItems { count, limit };
    let items: Vec<(Option<usize>, Result<Value, String>)> = match payload.kind {
        BodyKind::Json => {
            let batch = json_batch(&payload.bytes, limit)?;
            if batch.count > limit {
                return Err(too_many(batch.count));
            }
            batch.items.into_iter().map(|v| (None, Ok(v))).collect()
        }
        BodyKind::Ndjson => {
            let text = std::str::from_utf8(&payload.bytes)
                .map_err(|e| ApiError::bad_field("", format!("the body is not UTF-8: {e}")))?;
            let count = text.lines().filter(|l| !l.trim().is_empty()).count();
            if count > limit {
                return Err(too_many(count));
            }
            ndjson_items(text)
        }
    };
    let (lines, documents): (Vec<_>, Vec<_>) = items.into_iter().unzip();
    let ids: Vec<Option<String>> = documents
        .iter()
        .map(|d| {
            let id = d.as_ref().ok()?.get("id")?.as_str()?;
            Some(id.to_owned())
        })
        .collect();

    // The request time-out drops this handler; the guard then tells the unit of work to roll
    // back instead of committing what nobody will hear of. Before that, the batch gets most
    // of the request's time and is told to give up, so that the answer can still be sent.
    let caller_gone = CancellationToken::new();
    let guard = caller_gone.clone().drop_guard();
    let budget = Duration::from_secs(state.service.config.http.request_timeout_secs).mul_f64(0.8);
    let work = state.service.publish_batch(documents, caller_gone.clone());
    tokio::pin!(work);
    let outcome = tokio::select! {
        outcome = &mut work => outcome,
        _ = tokio::time::sleep(budget) => {
            caller_gone.cancel();
            work.await
        }
    };
    guard.disarm();
    let outcomes = match outcome {
        Ok(outcomes) => outcomes,
        Err(StoreError::Abandoned) => {
            return Err(ApiError::Unavailable {
                reason: format!(
                    "the batch could not be stored within {} s, so none of it was stored; \
                     send it again, or in smaller batches",
                    budget.as_secs()
                ),
                retry_after_secs: 5,
            });
        }
        Err(e) => return Err(e.into()),
    };

    let mut results = Vec::with_capacity(outcomes.len());
    let mut counts = [0usize; 4];
    for (index, ((line, id), outcome)) in lines.into_iter().zip(ids).zip(outcomes).enumerate() {
        let (status, version, errors) = match outcome {
            Ok(upserted) => {
                let status = match upserted.outcome {
                    UpsertOutcome::Created => "created",
                    UpsertOutcome::Updated => "updated",
                    UpsertOutcome::Unchanged => "unchanged",
                };
                (status, Some(upserted.article.version), Vec::new())
            }
            Err(rejection) => ("rejected", None, rejection.0),
        };
        counts[match status {
            "created" => 0,
            "updated" => 1,
            "unchanged" => 2,
            _ => 3,
        }] += 1;
        results.push(BatchResult {
            index,
            line,
            id,
            status,
            version,
            errors,
        });
    }
    tracing::info!(
        token = %caller.name,
        created = counts[0], updated = counts[1], unchanged = counts[2], rejected = counts[3],
        "batch stored"
    );
    Ok(Json(json!({
        "created": counts[0], "updated": counts[1], "unchanged": counts[2], "rejected": counts[3],
        "results": results,
    }))
    .into_response())
}

/// A JSON batch: its first items, and how many it holds.
struct JsonBatch {
    items: Vec<Value>,
    count: usize,
}

/// Reads a JSON array of articles, keeping at most `keep` items: the rest are only counted
/// (without being built), so an oversized batch costs no more memory than an accepted one.
fn json_batch(bytes: &[u8], keep: usize) -> Result<JsonBatch, ApiError> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};

    struct Bounded(usize);

    impl<'de> Visitor<'de> for Bounded {
        type Value = JsonBatch;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of articles")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonBatch, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.0));
            while items.len() < self.0 {
                match seq.next_element::<Value>()? {
                    Some(item) => items.push(item),
                    None => {
                        let count = items.len();
                        return Ok(JsonBatch { items, count });
                    }
                }
            }
            let mut count = items.len();
            while seq.next_element::<IgnoredAny>()?.is_some() {
                count += 1;
            }
            Ok(JsonBatch { items, count })
        }
    }

    impl<'de> DeserializeSeed<'de> for Bounded {
        type Value = JsonBatch;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JsonBatch, D::Error> {
            d.deserialize_seq(self)
        }
    }

    let mut reader = serde_json::Deserializer::from_slice(bytes);
    Bounded(keep)
        .deserialize(&mut reader)
        .and_then(|batch| reader.end().map(|()| batch))
        .map_err(|e| {
            let reason = if e.is_data() {
                "a JSON batch must be an array of articles".to_owned()
            } else {
                format!(
                    "the body is not valid JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                )
            };
            ApiError::bad_field("", reason)
        })
}

/// Splits NDJSON into documents with their line numbers; blank lines are skipped.
pub fn ndjson_items(text: &str) -> Vec<(Option<usize>, Result<Value, String>)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| ndjson_line(i + 1, line).map(|parsed| (Some(i + 1), parsed)))
        .collect()
}
