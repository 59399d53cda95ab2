//! `/admin`: the operator's console, HTML for people, usable without JavaScript (its one
//! script only keeps pages current, see [`live`]).
//!
//! Logging in takes a token with the `admin` scope and opens a session held in a cookie alone
//! (see [`session`]), so that it holds across instances and restarts. Nothing of the console
//! is served without a valid session: a GET is sent to the login form (303), a POST is refused
//! (403). Every POST carries the session's CSRF token and, when the browser says where
//! it comes from (`Origin`, `Sec-Fetch-Site`), must come from this site. The actions call the
//! same use cases as the JSON API (`webhooks::Webhooks`, `webhooks::fields`).

mod actions;
mod live;
mod pages;
mod session;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;

use super::AppState;
use super::clients::Client;
use super::extract::Login;
use crate::render::console::{
    ConsoleContext, Flash, LoginProblem, render_login, render_not_found, render_refusal,
};
pub use session::SessionKey;
use session::{COOKIE, Session};

/// Marks an answer of the console, so that error answers keep their HTML (the rest of the
/// service answers errors as problem+json).
#[derive(Debug, Clone, Copy)]
pub struct Page;

/// The most a console form may hold; the add-endpoint form is the largest, well under it.
const FORM_LIMIT: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    // Every console path answers GET and POST as the console does: without a session a GET
    // is sent to the login form and a POST is refused, whatever the path.
    Router::new()
        .route("/admin", get(pages::overview_or_login).post(nowhere))
        .route("/admin/", get(to_the_console).post(nowhere))
        .route("/admin/login", get(to_the_console).post(log_in))
        .route("/admin/logout", get(nowhere).post(log_out))
        .route("/admin/live.js", get(live::script).post(nowhere))
        .route("/admin/events/stream", get(live::stream).post(nowhere))
        .route(
            "/admin/endpoints",
            get(nowhere).post(actions::create_endpoint),
        )
        .route(
            "/admin/endpoints/new",
            get(pages::new_endpoint_form).post(nowhere),
        )
        .route(
            "/admin/endpoints/{id}",
            get(pages::endpoint_page).post(nowhere),
        )
        .route(
            "/admin/endpoints/{id}/{action}",
            get(nowhere).post(actions::on_endpoint),
        )
        .route(
            "/admin/deliveries/{id}/resend",
            get(nowhere).post(actions::resend),
        )
        .route(
            "/admin/sections/{*path}",
            get(pages::section_page).post(nowhere),
        )
        .route("/admin/{*rest}", get(nowhere).post(nowhere))
}

/// The path prefix of the service's URLs (`base_url`'s path, without its trailing slash).
fn prefix(state: &AppState) -> String {
    url::Url::parse(state.service.config.public_base())
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// A console page's context; `csrf` is the session's token when there is a session.
fn context<'a>(
    state: &'a AppState,
    prefix: &'a str,
    csrf: Option<&'a str>,
    flash: Option<Flash>,
) -> ConsoleContext<'a> {
    ConsoleContext {
        catalog: &state.service.catalog,
        prefix,
        csrf,
        flash,
        now: Utc::now(),
    }
}

/// An HTML answer of the console: never cached, never framed, no scripts, forms to this
/// site only.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; connect-src 'self'; \
             style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response.extensions_mut().insert(Page);
    response
}

/// `303 See Other` to a console path (`{prefix}/admin{rest}`).
fn see_other(state: &AppState, rest: &str) -> Response {
    let location = format!("{}/admin{rest}", prefix(state));
    let mut response = html(StatusCode::SEE_OTHER, String::new());
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The session a request's cookies carry, if one is valid now.
fn session_of(headers: &HeaderMap, state: &AppState) -> Option<Session> {
    let now = Utc::now().timestamp();
    let longest = state.service.config.admin.session_secs as i64;
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .find_map(|value| {
            Session::check(value, now, longest, |name| state.tokens.session_keys(name))
        })
}

/// The cookie that carries `value` for `max_age` seconds (0 ends it).
fn session_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = state.service.config.public_base().starts_with("https:");
    let cookie = format!(
        "{COOKIE}={value}; Path={}/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        prefix(state),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).expect("a cookie of visible ASCII")
}

/// The operator of a request with a valid session. Without one, a GET or HEAD is sent to the
/// login form and anything else is refused.
pub(super) struct Operator(Session);

impl Operator {
    fn token_name(&self) -> &str {
        &self.0.token_name
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(session) = session_of(&parts.headers, state) {
            return Ok(Self(session));
        }
        if parts.method == Method::GET || parts.method == Method::HEAD {
            return Err(see_other(state, ""));
        }
        let prefix = prefix(state);
        let page = render_refusal(&context(state, &prefix, None, None), false);
        Err(html(StatusCode::FORBIDDEN, page))
    }
}

/// The fields of a form (`application/x-www-form-urlencoded`), in order.
#[derive(Debug, Default)]
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of a field.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a field (ticked checkboxes).
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A POSTed form of a session that passed the CSRF checks: the session's token in its `csrf`
/// field, and no sign of coming from another site.
pub(super) struct Checked {
    operator: Operator,
    form: Form,
}

impl FromRequest<AppState> for Checked {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, state).await?;
        let refuse = |status| {
            let prefix = prefix(state);
            let csrf = operator.0.csrf_token();
            html(
                status,
                render_refusal(&context(state, &prefix, Some(&csrf), None), true),
            )
        };
        if !is_same_origin(&parts.headers, state) {
            return Err(refuse(StatusCode::FORBIDDEN));
        }
        let Ok(body) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE));
        };
        let form = Form::parse(&body);
        if !form
            .get("csrf")
            .is_some_and(|token| operator.0.is_csrf_token(token))
        {
            tracing::warn!(token = %operator.token_name(), path = %parts.uri.path(),
                "console: a form without this session's CSRF token was refused");
            return Err(refuse(StatusCode::FORBIDDEN));
        }
        Ok(Self { operator, form })
    }
}

/// Whether a request may have come from this site: `Sec-Fetch-Site`, when sent, says
/// `same-origin`, and `Origin`, when sent, is the origin of `base_url` or of the host the
/// request was sent to. (Browsers send both with every form POST; a client that sends neither
/// still needs the CSRF token.)
fn is_same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Ok(parsed) = url::Url::parse(origin) else {
        // `null`, from a sandboxed or privacy-sensitive context.
        return false;
    };
    let own = url::Url::parse(state.service.config.public_base())
        .is_ok_and(|base| base.origin() == parsed.origin());
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    own || (host.is_some() && authority == host)
}

/// `GET /admin/login`, `GET /admin/`: the form and the overview are at `/admin`.
async fn to_the_console(State(state): State<AppState>) -> Response {
    see_other(&state, "")
}

/// `POST /admin/login`: a token with the `admin` scope opens a session; anything else gets
/// the form again (401). Past `admin.max_failed_logins_per_client_per_minute` failures a
/// client gets 429, whatever it sends, until it is within that rate again.
async fn log_in(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prefix = prefix(&state);
    let login_page = |status, problem| {
        html(
            status,
            render_login(&context(&state, &prefix, None, None), Some(problem)),
        )
    };
    let too_many = |wait: std::time::Duration| {
        let mut response = login_page(StatusCode::TOO_MANY_REQUESTS, LoginProblem::TooManyFailures);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs() + 1));
        response
    };
    if !is_same_origin(&headers, &state) {
        let page = render_refusal(&context(&state, &prefix, None, None), true);
        return html(StatusCode::FORBIDDEN, page);
    }
    if let Some(wait) = state.limits.logins.held_back(client) {
        return too_many(wait);
    }
    let form = Form::parse(&body);
    let presented = form.get("token").unwrap_or_default().trim();
    match state.tokens.login(presented) {
        Login::Admin { name, key } => {
            let secs = state.service.config.admin.session_secs;
            let expires_at = Utc::now().timestamp() + secs as i64;
            let session = Session::open(key, name, expires_at);
            tracing::info!(token = %name, client = ?client, "console: session opened");
            let mut response = see_other(&state, "");
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&state, session.value(), secs),
            );
            response
        }
        refused => {
            let why = if matches!(refused, Login::NotAdmin) {
                "a token without the admin scope"
            } else {
                "an unknown token"
            };
            tracing::warn!(client = ?client, "console: a login with {why} was refused");
            match state.limits.logins.failed(client) {
                Some(wait) => too_many(wait),
                None => login_page(StatusCode::UNAUTHORIZED, LoginProblem::WrongToken),
            }
        }
    }
}

/// `POST /admin/logout`: ends the session in this browser (its cookie is cleared). A copy of
/// the cookie kept elsewhere stays valid until it expires or the token changes.
async fn log_out(State(state): State<AppState>, checked: Checked) -> Response {
    tracing::info!(token = %checked.operator.token_name(), "console: logged out");
    let mut response = see_other(&state, "?done=logged-out");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    response
}

/// Any other console path: refused without a session, else nothing there.
async fn nowhere(State(state): State<AppState>, operator: Operator) -> Response {
    not_found(&state, &operator)
}

fn not_found(state: &AppState, operator: &Operator) -> Response {
    let prefix = prefix(state);
    let csrf = operator.0.csrf_token();
    html(
        StatusCode::NOT_FOUND,
        render_not_found(&context(state, &prefix, Some(&csrf), None)),
    )
}
