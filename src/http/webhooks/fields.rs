//! Endpoint documents (`POST` and `PATCH /api/v1/webhooks`), parsed field by field into
//! domain values, every error collected.

use serde_json::{Map, Value};
use url::Url;

use super::AppState;
use crate::domain::{EndpointKind, EventType, RobotSecret, SectionPath};
use crate::http::error::ApiError;
use crate::ingest::FieldError;
use crate::webhooks::robots;

/// Field-by-field parsing of endpoint documents, collecting every error.
pub(super) struct EndpointFields<'a> {
    pub state: &'a AppState,
    pub obj: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
    /// What the answer should point out without refusing (a host that does not resolve now).
    pub warnings: Vec<String>,
}

impl EndpointFields<'_> {
    pub(super) fn fail<T>(&mut self, field: &str, reason: impl Into<String>) -> Option<T> {
        self.errors.push(FieldError::new(field, reason));
        None
    }

    pub(super) async fn url(&mut self) -> Option<Url> {
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

    pub(super) fn description(&mut self) -> Option<String> {
        match self.obj.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= 500 => Some(s.trim().to_owned()),
            Some(Value::String(_)) => self.fail("description", "must be at most 500 characters"),
            Some(_) => self.fail("description", "must be a string"),
        }
    }

    pub(super) fn event_types(&mut self) -> Option<Vec<EventType>> {
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

    pub(super) fn sections(&mut self) -> Option<Vec<SectionPath>> {
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

    pub(super) fn kind(&mut self) -> Option<EndpointKind> {
        match self.obj.get("kind") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if EndpointKind::parse(s).is_some() => EndpointKind::parse(s),
            Some(_) => self.fail("kind", "must be one of standard, wecom, dingtalk, feishu"),
        }
    }

    /// `Some(None)`: given as null (back to the kind's default message).
    pub(super) fn template(&mut self) -> Option<Option<String>> {
        match self.obj.get("template") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(Some(s.clone())),
            Some(Value::String(_)) => Some(None),
            Some(_) => self.fail("template", "must be a string or null"),
        }
    }

    /// A robot's vendor secret (`Some(None)`: given as null, unsigned).
    pub(super) fn robot_secret(&mut self, kind: EndpointKind) -> Option<Option<RobotSecret>> {
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
    pub(super) fn robot_rules(
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

    pub(super) fn rate_limit(&mut self) -> Option<Option<f64>> {
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

pub(super) fn object(value: &Value) -> Result<&Map<String, Value>, ApiError> {
    value.as_object().ok_or_else(|| {
        ApiError::Invalid(vec![FieldError::new("", "the body must be a JSON object")])
    })
}
