//! Endpoint documents read field by field, every error collected: what a new endpoint, a
//! change to one and a secret's rotation may say, whichever front door sent them (the JSON
//! API, or the console's forms, which it turns into the same documents).

use serde_json::{Map, Value};
use url::Url;

use super::robots;
use crate::catalog::Catalog;
use crate::delivery::client::Outbound;
use crate::domain::{Endpoint, EndpointKind, EventType, RobotSecret, Secret, SectionPath};
use crate::ingest::FieldError;
use crate::store::{EndpointPatch, NewEndpoint};

/// A document accepted, with what the answer should point out without refusing it (a host
/// that does not resolve now).
#[derive(Debug)]
pub struct Accepted<T> {
    pub value: T,
    pub warnings: Vec<String>,
}

/// Reads a new endpoint: `url` (required), `description`, `event_types`, `sections`,
/// `rate_limit`, `kind` (`standard` when absent) and, for a chat robot, `template` and the
/// vendor's `secret`; for a standard endpoint `secret` (generated when absent).
pub async fn new_endpoint(
    outbound: &Outbound,
    catalog: &Catalog,
    obj: &Map<String, Value>,
) -> Result<Accepted<NewEndpoint>, Vec<FieldError>> {
    let mut fields = EndpointFields::new(outbound, catalog, obj);
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
        (fields.secret(), None)
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
        return Err(fields.errors);
    };
    Ok(Accepted {
        value: NewEndpoint {
            url: url.into(),
            description,
            event_types,
            sections,
            secret,
            rate_limit,
            kind,
            template,
            robot_secret,
        },
        warnings: fields.warnings,
    })
}

/// Reads a change to `current`: any field but a standard endpoint's secret (rotated on its
/// own), and `enabled`. A robot's kind changes only to another robot's, and the endpoint as it
/// will be is checked whole.
pub async fn endpoint_patch(
    outbound: &Outbound,
    catalog: &Catalog,
    obj: &Map<String, Value>,
    current: &Endpoint,
) -> Result<Accepted<EndpointPatch>, Vec<FieldError>> {
    let mut fields = EndpointFields::new(outbound, catalog, obj);
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
        enabled: match obj.get("enabled") {
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
    } else if obj.contains_key("secret") {
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
        return Err(fields.errors);
    }
    Ok(Accepted {
        value: patch,
        warnings: fields.warnings,
    })
}

/// A rotation: the new `secret` (generated when absent) and `grace_secs`, how long the old
/// one keeps signing (`None`: the configured grace).
#[derive(Debug)]
pub struct Rotation {
    pub secret: Secret,
    pub grace_secs: Option<f64>,
}

/// Reads a rotation's document (`{}` for the defaults).
pub fn rotation(obj: &Map<String, Value>) -> Result<Rotation, Vec<FieldError>> {
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
    match (secret, grace, errors.is_empty()) {
        (Some(secret), Some(grace_secs), true) => Ok(Rotation { secret, grace_secs }),
        _ => Err(errors),
    }
}

/// Field-by-field parsing of endpoint documents, collecting every error.
struct EndpointFields<'a> {
    outbound: &'a Outbound,
    catalog: &'a Catalog,
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
    warnings: Vec<String>,
}

impl<'a> EndpointFields<'a> {
    fn new(outbound: &'a Outbound, catalog: &'a Catalog, obj: &'a Map<String, Value>) -> Self {
        Self {
            outbound,
            catalog,
            obj,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

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
        match self.outbound.check_destination(&url).await {
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
        let mut sections = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let raw = item.as_str().unwrap_or_default();
            match SectionPath::parse(raw)
                .ok()
                .filter(|p| self.catalog.section(p).is_some())
            {
                Some(path) => sections.push(path),
                None => {
                    let mut err = FieldError::new(
                        format!("sections[{i}]"),
                        format!("unknown section {item}"),
                    );
                    err.suggestions = self.catalog.suggest(raw, 3);
                    self.errors.push(err);
                }
            }
        }
        Some(sections)
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

    /// The given secret, or a generated one when none is given.
    fn secret(&mut self) -> Option<Secret> {
        match self.obj.get("secret") {
            None | Some(Value::Null) => Some(Secret::generate()),
            Some(Value::String(s)) => match Secret::parse(s) {
                Ok(secret) => Some(secret),
                Err(reason) => self.fail("secret", reason),
            },
            Some(_) => self.fail("secret", "must be a string"),
        }
    }
}
