//! The console's actions: POSTed forms, each checked (see [`Checked`]) and each a call into
//! the same use cases as the JSON API. Most lead back to the page they came from with what they
//! did in its query (`?done=…`); those that make a secret show it on the page they answer,
//! once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{AppState, Checked, Form, context, html, not_found, prefix, see_other};
use crate::http::error::ApiError;
use crate::ingest::{FieldError, parse_time};
use crate::render::console::{
    Flash, FormError, NewEndpointForm, SecretShown, render_new_endpoint_form, render_secret_page,
};
use crate::store::{EndpointPatch, Resend};
use crate::webhooks::fields;
use crate::webhooks::robots;

/// The add-endpoint form as the document `POST /api/v1/webhooks` takes, so that both are
/// read by the same rules. Empty fields are left out (the document's defaults), a rate limit
/// that is not a number is passed on as text for the rules to refuse.
fn endpoint_document(form: &Form) -> Map<String, Value> {
    let mut document = Map::new();
    for name in ["url", "description", "kind", "secret"] {
        if let Some(value) = form.get(name).map(str::trim).filter(|v| !v.is_empty()) {
            document.insert(name.into(), json!(value));
        }
    }
    let types = form.all("event_types");
    if !types.is_empty() {
        document.insert("event_types".into(), json!(types));
    }
    let sections: Vec<&str> = form
        .get("sections")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if !sections.is_empty() {
        document.insert("sections".into(), json!(sections));
    }
    if let Some(raw) = form
        .get("rate_limit")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        let value = raw
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite())
            .map_or_else(|| json!(raw), |r| json!(r));
        document.insert("rate_limit".into(), value);
    }
    // A template is kept as typed (its spaces may matter to the message).
    if let Some(template) = form.get("template").filter(|t| !t.trim().is_empty()) {
        document.insert("template".into(), json!(template));
    }
    document
}

/// The form as it was sent, to show again: with the errors that refused it, or the preview
/// the operator asked for.
fn form_again(form: &Form, errors: Vec<FieldError>) -> NewEndpointForm {
    NewEndpointForm {
        url: form.get("url").unwrap_or_default().to_owned(),
        description: form.get("description").unwrap_or_default().to_owned(),
        event_types: form
            .all("event_types")
            .into_iter()
            .map(Into::into)
            .collect(),
        sections: form.get("sections").unwrap_or_default().to_owned(),
        rate_limit: form.get("rate_limit").unwrap_or_default().to_owned(),
        kind: form.get("kind").unwrap_or_default().to_owned(),
        secret: form.get("secret").unwrap_or_default().to_owned(),
        template: form.get("template").unwrap_or_default().to_owned(),
        errors: errors
            .into_iter()
            .map(|e| FormError {
                field: e.field,
                reason: e.reason,
                suggestions: e.suggestions,
            })
            .collect(),
        preview: None,
        previewed: false,
    }
}

/// `POST /admin/endpoints`: adds an endpoint and shows its secret, once (a robot, whose
/// secret is its vendor's: its page); or the form again with every error (422); or, with
/// `preview`, the form again with the message the endpoint would receive, adding nothing.
pub(super) async fn create_endpoint(
    State(state): State<AppState>,
    checked: Checked,
) -> Result<Response, ApiError> {
    let Checked { operator, form } = checked;
    let service = &state.service;
    let document = endpoint_document(&form);
    let accepted = fields::new_endpoint(&service.outbound, &service.catalog, &document).await;
    let prefix = prefix(&state);
    let csrf = operator.0.csrf_token();
    let ctx = context(&state, &prefix, Some(&csrf), None);
    let accepted = match accepted {
        Ok(accepted) => accepted,
        Err(errors) => {
            let page = render_new_endpoint_form(&ctx, &form_again(&form, errors));
            return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page));
        }
    };
    let new = accepted.value;
    if form.get("preview").is_some() {
        let mut again = form_again(&form, Vec::new());
        again.previewed = true;
        again.preview = new.kind.is_robot().then(|| {
            let message = robots::published_preview(new.kind, new.template.as_deref());
            serde_json::to_string_pretty(&message).unwrap_or_default()
        });
        return Ok(html(StatusCode::OK, render_new_endpoint_form(&ctx, &again)));
    }
    let endpoint = service.webhooks.create(new).await?;
    tracing::info!(token = %operator.token_name(), endpoint = %endpoint.id,
        url = %endpoint.kind.shown_url(&endpoint.url), kind = endpoint.kind.as_str(),
        "console: webhook endpoint created");
    if endpoint.kind.is_robot() {
        for warning in &accepted.warnings {
            tracing::warn!(endpoint = %endpoint.id, "{warning}");
        }
        return Ok(see_other(
            &state,
            &format!("/endpoints/{}?{}", endpoint.id, Flash::Created.query()),
        ));
    }
    let page = render_secret_page(
        &ctx,
        &SecretShown {
            endpoint: &endpoint,
            previous_until: None,
            warnings: &accepted.warnings,
        },
    );
    Ok(html(StatusCode::CREATED, page))
}

/// `POST /admin/endpoints/{id}/{enable|disable|test|rotate-secret|recover}`.
pub(super) async fn on_endpoint(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    checked: Checked,
) -> Result<Response, ApiError> {
    let Checked { operator, form } = checked;
    let webhooks = &state.service.webhooks;
    let Some(endpoint) = webhooks.get(&id).await? else {
        return Ok(not_found(&state, &operator));
    };
    let back = |flash: Flash| see_other(&state, &format!("/endpoints/{id}?{}", flash.query()));
    let who = operator.token_name();
    match action.as_str() {
        "enable" | "disable" => {
            let enabled = action == "enable";
            let patch = EndpointPatch {
                enabled: Some(enabled),
                ..EndpointPatch::default()
            };
            webhooks.update(&id, patch).await?;
            tracing::info!(token = %who, endpoint = %id, enabled, "console: endpoint changed");
            Ok(back(if enabled {
                Flash::Enabled
            } else {
                Flash::Disabled
            }))
        }
        "test" => {
            if webhooks.send_test(&id).await?.is_none() {
                return Ok(not_found(&state, &operator));
            }
            tracing::info!(token = %who, endpoint = %id, "console: test message queued");
            Ok(back(Flash::TestQueued))
        }
        "rotate-secret" if endpoint.kind.is_robot() => Ok(back(Flash::RobotSecret)),
        "rotate-secret" => {
            // The defaults of `POST /api/v1/webhooks/{id}/rotate-secret` with an empty body.
            let rotation = fields::rotation(&Map::new()).map_err(ApiError::Invalid)?;
            let Some((endpoint, until)) = webhooks
                .rotate_secret(&id, &rotation.secret, rotation.grace_secs)
                .await?
            else {
                return Ok(not_found(&state, &operator));
            };
            tracing::info!(token = %who, endpoint = %id, "console: secret rotated");
            let prefix = prefix(&state);
            let csrf = operator.0.csrf_token();
            let ctx = context(&state, &prefix, Some(&csrf), None);
            let page = render_secret_page(
                &ctx,
                &SecretShown {
                    endpoint: &endpoint,
                    previous_until: Some(until),
                    warnings: &[],
                },
            );
            Ok(html(StatusCode::OK, page))
        }
        "recover" => {
            let zone = state.service.catalog.site.time_zone;
            let Ok(since) = parse_time(form.get("since").unwrap_or_default(), zone) else {
                return Ok(back(Flash::BadTime));
            };
            let requeued = webhooks.recover(&id, since.with_timezone(&Utc)).await?;
            tracing::info!(token = %who, endpoint = %id, %since, requeued, "console: failed deliveries re-queued");
            Ok(back(Flash::Recovered(requeued)))
        }
        _ => Ok(not_found(&state, &operator)),
    }
}

/// `POST /admin/deliveries/{id}/resend`: sends a delivery again (same `webhook-id`), back to
/// its endpoint's page.
pub(super) async fn resend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    checked: Checked,
) -> Result<Response, ApiError> {
    let webhooks = &state.service.webhooks;
    let Some(delivery) = webhooks.delivery(&id).await? else {
        return Ok(see_other(
            &state,
            &format!("?{}", Flash::NoSuchDelivery.query()),
        ));
    };
    let flash = match webhooks.resend(&id).await? {
        Resend::Queued => {
            tracing::info!(token = %checked.operator.token_name(), delivery = %id,
                "console: delivery resent");
            Flash::Resent
        }
        Resend::InFlight => Flash::InFlight,
        Resend::NotFound => Flash::NoSuchDelivery,
    };
    // A WebSub delivery has no endpoint page: back to the overview.
    let back = if webhooks.get(&delivery.endpoint_id).await?.is_some() {
        format!("/endpoints/{}?{}", delivery.endpoint_id, flash.query())
    } else {
        format!("?{}", flash.query())
    };
    Ok(see_other(&state, &back))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn the_form_becomes_the_apis_document() {
        let document = endpoint_document(&form(&[
            ("csrf", "x"),
            ("kind", "standard"),
            ("url", " https://hooks.example.org/in "),
            ("description", ""),
            ("event_types", "article.published"),
            ("event_types", "article.deleted"),
            ("sections", "hnyw, zwgk/tzgg，zjhn"),
            ("rate_limit", "2.5"),
            ("secret", ""),
            ("template", "  "),
        ]));
        assert_eq!(
            Value::Object(document),
            json!({
                "url": "https://hooks.example.org/in",
                "kind": "standard",
                "event_types": ["article.published", "article.deleted"],
                "sections": ["hnyw", "zwgk/tzgg", "zjhn"],
                "rate_limit": 2.5,
            })
        );
        let document = endpoint_document(&form(&[("rate_limit", "fast")]));
        assert_eq!(Value::Object(document), json!({ "rate_limit": "fast" }));
        let template = "{\"msgtype\": \"text\", \"text\": {\"content\": \"{{ title }}\"}}\n";
        let document = endpoint_document(&form(&[
            ("kind", "dingtalk"),
            ("url", "https://oapi.dingtalk.com/robot/send?access_token=t"),
            ("secret", " SECabc "),
            ("template", template),
        ]));
        assert_eq!(
            Value::Object(document),
            json!({
                "kind": "dingtalk",
                "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                "secret": "SECabc",
                "template": template,
            })
        );
    }
}
