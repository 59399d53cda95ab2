//! The one mapping from errors to HTTP answers: RFC 9457 `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ingest::FieldError;
use crate::store::StoreError;

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a bearer token is required")]
    Unauthorized,
    #[error("the token may not {0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("{reason}")]
    BadRequest { field: String, reason: String },
    #[error("send {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the batch has {count} items; at most {limit} are accepted in one request")]
    TooManyItems { count: usize, limit: usize },
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("{reason}")]
    HeadersTooLarge { reason: String },
    #[error("{reason}; try again in {retry_after_secs} s")]
    TooManyRequests {
        reason: String,
        retry_after_secs: u64,
    },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The service cannot do it now; the client may try again after `retry_after_secs`.
    #[error("{reason}")]
    Unavailable {
        reason: String,
        retry_after_secs: u64,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => {
                crate::store::report_fault("the database is unavailable", &err);
                ApiError::Unavailable {
                    reason: "the database is unavailable; nothing was changed, try again shortly"
                        .into(),
                    retry_after_secs: 5,
                }
            }
            err => ApiError::Internal(err.into()),
        }
    }
}

/// RFC 9457 §3 members, plus `errors` (one per field) as an extension member.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } | ApiError::TooManyItems { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type: a URI reference naming the kind of problem (documented in the README).
    fn kind(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "/problems/unauthorized",
            ApiError::Forbidden(_) => "/problems/forbidden",
            ApiError::NotFound(_) => "/problems/not-found",
            ApiError::Gone(_) => "/problems/gone",
            ApiError::Conflict(_) => "/problems/conflict",
            ApiError::Invalid(_) => "/problems/invalid-fields",
            ApiError::BadRequest { .. } => "/problems/bad-request",
            ApiError::UnsupportedMediaType { .. } => "/problems/unsupported-media-type",
            ApiError::PayloadTooLarge { .. } => "/problems/payload-too-large",
            ApiError::TooManyItems { .. } => "/problems/too-many-items",
            ApiError::UriTooLong { .. } => "/problems/uri-too-long",
            ApiError::HeadersTooLarge { .. } => "/problems/headers-too-large",
            ApiError::TooManyRequests { .. } => "/problems/too-many-requests",
            ApiError::MethodNotAllowed => "/problems/method-not-allowed",
            ApiError::Unavailable { .. } => "/problems/unavailable",
            ApiError::Internal(_) => "/problems/internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "Authentication required",
            ApiError::Forbidden(_) => "Not allowed for this token",
            ApiError::NotFound(_) => "Not found",
            ApiError::Gone(_) => "Deleted",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Invalid(_) => "Invalid fields",
            ApiError::BadRequest { .. } => "Bad request",
            ApiError::UnsupportedMediaType { .. } => "Unsupported media type",
            ApiError::PayloadTooLarge { .. } => "Request body too large",
            ApiError::TooManyItems { .. } => "Too many items in one batch",
            ApiError::UriTooLong { .. } => "Request target too long",
            ApiError::HeadersTooLarge { .. } => "Request header fields too large",
            ApiError::TooManyRequests { .. } => "Too many requests from this client",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::Unavailable { .. } => "Unavailable; try again later",
            ApiError::Internal(_) => "Internal error",
        }
    }

    /// A problem naming one field.
    pub fn bad_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(err) = &self {
            // The whole cause chain goes to the log, nothing of it to the client.
            tracing::error!(error = ?err, "request failed");
        }
        let single;
        let errors: &[FieldError] = match &self {
            ApiError::Invalid(errors) => errors,
            ApiError::BadRequest { field, reason } => {
                single = [FieldError::new(field.clone(), reason.clone())];
                &single
            }
            ApiError::UriTooLong { .. } => {
                single = [FieldError::new("uri", self.to_string())];
                &single
            }
            ApiError::HeadersTooLarge { reason } => {
                single = [FieldError::new("headers", reason.clone())];
                &single
            }
            _ => &[],
        };
        let detail = match &self {
            ApiError::Invalid(errors) => errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        let body = serde_json::to_vec(&Problem {
            kind: self.kind(),
            title: self.title(),
            status: status.as_u16(),
            detail,
            errors,
        })
        .expect("a problem always serialises");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::Unavailable {
            retry_after_secs, ..
        }
        | ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if matches!(self, ApiError::Unauthorized) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tidings\""),
            );
        }
        response
    }
}
