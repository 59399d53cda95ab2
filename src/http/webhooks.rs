//! `/api/v1/webhooks`, `/api/v1/deliveries`, `/api/v1/events`: managing push to other systems.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use url::Url;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, Payload};
use crate::config::Scope;
use crate::domain::{EndpointKind, EventType, RobotSecret, SectionPath};
use crate::ingest::FieldError;
use crate::store::{EndpointPatch, NewEndpoint};
use crate::webhooks::{Endpoint, Secret, robots};

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

/// Field-by-field parsing of endpoint documents, collecting every error.
struct EndpointFields<'a> {
    state: &'a AppState,
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
    /// What the answer should point out without refusing (a host that does not resolve now).
    warnings: Vec<String>,
}

impl EndpointFields<'_> {
    fn fail<T>(&mut self, field: &str, reason: impl Into<String>) -> Option<T> {
        self.errors.push(FieldError::new(field, reason));
        None
    }

    async fn url(&mut self) -> Option<Url> {
        let raw = match self.obj.get("url") {
            None | Some(Value::Null) => return None,
            Some(Value::String(s)) => s.clone(),
            Some(_) => return self.fail("url", "must be a string"),
        };
        let url = match Url::parse(raw.trim()) {
            Ok(url) => url,
            Err(e) => return self.fail("url", format!("is not a URL: {e}")),
        };
        match self.state.service.outbound.check_destination(&url).await {
            Ok(note) => {
                self.warnings
                    .extend(note.map(|note| format!("url: {note}")));
                Some(url)
            }
            Err(reason) => self.fail("url", reason),
        }
    }

    fn description(&mut self) -> Option<String> {
        match self.obj.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= 500 => Some(s.trim().to_owned()),
            Some(Value::String(_)) => self.fail("description", "must be at most 500 characters"),
            Some(_) => self.fail("description", "must be a string"),
        }
    }

    fn event_types(&mut self) -> Option<Vec<EventType>> {
        let items = match self.obj.get("event_types") {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) => items,
            Some(_) => return self.fail("event_types", "must be an array"),
        };
        let mut types = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str().and_then(EventType::parse) {
                Some(t) if !types.contains(&t) => types.push(t),
                Some(_) => {}
                None => {
                    self.errors.push(FieldError::new(
                        format!("event_types[{i}]"),
                        "must be one of article.published, article.updated, article.deleted",
                    ));
                }
            }
        }
        Some(types)
    }

    fn sections(&mut self) -> Option<Vec<SectionPath>> {
        let items = match self.obj.get("sections") {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) => items,
            Some(_) => return self.fail("sections", "must be an array of section paths"),
        };
        let catalog = &self.state.service.catalog;
        let mut sections = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let raw = item.as_str().unwrap_or_default();
            match SectionPath::parse(raw)
                .ok()
                .filter(|p| catalog.section(p).is_some())
            {
                Some(path) => sections.push(path),
                None => {
                    let mut err = FieldError::new(
                        format!("sections[{i}]"),
                        format!("unknown section {item}"),
                    );
                    err.suggestions = catalog.suggest(raw, 3);
                    self.errors.push(err);
                }
            }
        }
        Some(sections)
    }

    fn kind(&mut self) -> Option<EndpointKind> {
        match self.obj.get("kind") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if EndpointKind::parse(s).is_some() => EndpointKind::parse(s),
            Some(_) => self.fail("kind", "must be one of standard, wecom, dingtalk, feishu"),
        }
    }

    /// `Some(None)`: given as null (back to the kind's default message).
    fn template(&mut self) -> Option<Option<String>> {
        match self.obj.get("template") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(Some(s.clone())),
            Some(Value::String(_)) => Some(None),
            Some(_) => self.fail("template", "must be a string or null"),
        }
    }

    /// A robot's vendor secret (`Some(None)`: given as null, unsigned).
    fn robot_secret(&mut self, kind: EndpointKind) -> Option<Option<RobotSecret>> {
        match self.obj.get("secret") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(_)) if kind == EndpointKind::WeCom => self.fail(
                "secret",
                "WeCom robots sign nothing: their key is in the URL (…/cgi-bin/webhook/send?key=…)",
            ),
            Some(Value::String(s)) => match RobotSecret::parse(s.trim()) {
                Ok(secret) => Some(Some(secret)),
                Err(reason) => self.fail("secret", reason),
            },
            Some(_) => self.fail("secret", "must be a string"),
        }
    }

    /// The robot checks of an endpoint as it will be: its URL's credential, its template
    /// (rendered with the sample article), and its event types (robots take no deletions).
    fn robot_rules(
        &mut self,
        kind: EndpointKind,
        url: Option<&Url>,
        template: Option<&str>,
        event_types: &[EventType],
    ) {
        if let Some(url) = url
            && let Err(reason) = robots::check_url(kind, url)
        {
            self.fail::<()>("url", reason);
        }
        if let Some(template) = template
            && let Err(reason) = robots::check_template(kind, template)
        {
            self.fail::<()>("template", reason);
        }
        if kind.is_robot() && event_types.contains(&EventType::Deleted) {
            self.fail::<()>(
                "event_types",
                "chat robots receive no article.deleted: a chat message cannot be taken back",
            );
        }
    }

    fn rate_limit(&mut self) -> Option<Option<f64>> {
        match self.obj.get("rate_limit") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => match v.as_f64() {
                Some(r) if (0.001..=10_000.0).contains(&r) => Some(Some(r)),
                _ => self.fail(
                    "rate_limit",
                    "must be a number of deliveries per second from 0.001 to 10000, or null",
                ),
            },
        }
    }
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
    let mut fields = EndpointFields {
        state: &state,
        obj: object(&document)?,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let url = fields.url().await;
    if url.is_none() && fields.errors.iter().all(|e| e.field != "url") {
        fields.fail::<()>("url", "is required");
    }
    let description = fields.description().unwrap_or_default();
    let kind = fields.kind().unwrap_or_default();
    let mut event_types = fields.event_types().unwrap_or_default();
    let sections = fields.sections().unwrap_or_default();
    let rate_limit = fields.rate_limit().flatten();
    let template = fields.template().flatten();
    let (secret, robot_secret) = if kind.is_robot() {
        // A robot's secret is its vendor's; the Standard Webhooks one is never used.
        (
            Some(Secret::generate()),
            fields.robot_secret(kind).flatten(),
        )
    } else {
        let secret = match fields.obj.get("secret") {
            None | Some(Value::Null) => Some(Secret::generate()),
            Some(Value::String(s)) => match Secret::parse(s) {
                Ok(secret) => Some(secret),
                Err(reason) => fields.fail("secret", reason),
            },
            Some(_) => fields.fail("secret", "must be a string"),
        };
        (secret, None)
    };
    if kind.is_robot() && event_types.is_empty() {
        // A chat group wants new articles; updates only when asked for.
        event_types = vec![EventType::Published];
    }
    fields.robot_rules(kind, url.as_ref(), template.as_deref(), &event_types);
    if template.is_some() && !kind.is_robot() {
        fields.fail::<()>(
            "template",
            "is only for chat robot endpoints (kind wecom, dingtalk or feishu)",
        );
    }
    let (Some(url), Some(secret), true) = (url, secret, fields.errors.is_empty()) else {
        return Err(ApiError::Invalid(fields.errors));
    };
    let endpoint = state
        .service
        .webhooks
        .create(NewEndpoint {
            url: url.into(),
            description,
            event_types,
            sections,
            secret,
            rate_limit,
            kind,
            template,
            robot_secret,
        })
        .await?;
    tracing::info!(token = %caller.name, endpoint = %endpoint.id, url = %endpoint.url, "webhook endpoint created");
    let mut answer = endpoint_json(&endpoint, true);
    with_warnings(&mut answer, fields.warnings);
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
    let mut fields = EndpointFields {
        state: &state,
        obj: object(&document)?,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let url = fields.url().await;
    let kind = fields.kind();
    let next_kind = kind.unwrap_or(current.kind);
    if next_kind.is_robot() != current.kind.is_robot() {
        fields.fail::<()>(
            "kind",
            "changes only between chat robot kinds: a standard endpoint and a robot differ in \
             secret and message; create a new endpoint",
        );
    }
    let mut patch = EndpointPatch {
        url: url.clone().map(Into::into),
        description: fields.description(),
        event_types: fields.event_types(),
        sections: fields.sections(),
        rate_limit: fields.rate_limit(),
        enabled: match fields.obj.get("enabled") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => fields.fail("enabled", "must be true or false"),
        },
        kind,
        template: fields.template(),
        robot_secret: None,
    };
    if next_kind.is_robot() {
        patch.robot_secret = fields.robot_secret(next_kind);
        if next_kind == EndpointKind::WeCom {
            // WeCom signs nothing: a secret kept from another kind goes.
            patch.robot_secret = Some(None);
        }
        // The endpoint as it will be is checked whole: a new kind with the URL and the
        // template it keeps, a new template with the kind it has.
        let url = url.unwrap_or_else(|| current.url.clone().into_inner());
        let template = match &patch.template {
            Some(template) => template.clone(),
            None => current.template.clone(),
        };
        let event_types = patch
            .event_types
            .clone()
            .unwrap_or_else(|| current.event_types.clone());
        if event_types.is_empty() {
            patch.event_types = Some(vec![EventType::Published]);
        }
        fields.robot_rules(next_kind, Some(&url), template.as_deref(), &event_types);
    } else if fields.obj.contains_key("secret") {
        fields.fail::<()>(
            "secret",
            "is changed with POST /api/v1/webhooks/{id}/rotate-secret",
        );
    } else if matches!(patch.template, Some(Some(_))) {
        fields.fail::<()>(
            "template",
            "is only for chat robot endpoints (kind wecom, dingtalk or feishu)",
        );
    }
    if !fields.errors.is_empty() {
        return Err(ApiError::Invalid(fields.errors));
    }
    let endpoint = state
        .service
        .webhooks
        .update(&id, patch)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook endpoint has the id {id}")))?;
    let mut answer = endpoint_json(&endpoint, false);
    with_warnings(&mut answer, fields.warnings);
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
    let obj = object(&document)?;
    let mut errors = Vec::new();
    let secret = match obj.get("secret") {
        None | Some(Value::Null) => Some(Secret::generate()),
        Some(Value::String(s)) => Secret::parse(s)
            .map_err(|r| errors.push(FieldError::new("secret", r)))
            .ok(),
        Some(_) => {
            errors.push(FieldError::new("secret", "must be a string"));
            None
        }
    };
    let grace = match obj.get("grace_secs") {
        None | Some(Value::Null) => Some(None),
        Some(v) => match v.as_f64() {
            Some(g) if (0.0..=30.0 * 86400.0).contains(&g) => Some(Some(g)),
            _ => {
                errors.push(FieldError::new(
                    "grace_secs",
                    "must be a number of seconds from 0 to 2592000",
                ));
                None
            }
        },
    };
    let (Some(secret), Some(grace), true) = (secret, grace, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let (endpoint, until) = state
        .service
        .webhooks
        .rotate_secret(&id, &secret, grace)
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
