//! The operator's console (`/admin`): pages rendered by maud, which escapes every value, in
//! the site's language. Every action is a form that POSTs, carrying the session's CSRF token;
//! the one script (see [`live`]) only keeps pages current, and every page works without it. What each page shows comes in as values; the console's own routes and rules are
//! `http::console`'s.

mod endpoint;
mod live;
mod overview;
mod section;
mod words;

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::listing::{ICON, STYLE};
use crate::catalog::Catalog;
use words::ConsoleLabels;

pub use endpoint::{
    EndpointPage, FormError, NewEndpointForm, SecretShown, render_endpoint_page,
    render_new_endpoint_form, render_secret_page,
};
pub use live::{LIVE_SCRIPT, Live, LiveItem};
pub use overview::{EndpointHealth, Overview, SubscriptionHealth, render_overview};
pub use section::{ArticleHistory, SectionHistory, render_section_history};

/// What every console page needs besides its own content.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleContext<'a> {
    pub catalog: &'a Catalog,
    /// What the service's paths start with (`""`, or `/news` when `base_url` has a path): the
    /// console is at `{prefix}/admin`. Links and forms use paths alone, so that the console
    /// works at whichever address the operator reached it.
    pub prefix: &'a str,
    /// The session's CSRF token, which every form carries; `None` without a session.
    pub csrf: Option<&'a str>,
    /// What the last action did, shown once at the top.
    pub flash: Option<Flash>,
    pub now: DateTime<Utc>,
}

/// What an action did (or why it did not), carried in the query of the page it leads back
/// to (`?done=resent`): a fixed set of codes, so that no text is taken from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    Created,
    /// A robot's secret cannot be rotated here: it is its vendor's.
    RobotSecret,
    Enabled,
    Disabled,
    TestQueued,
    Resent,
    InFlight,
    NoSuchDelivery,
    BadTime,
    Recovered(u64),
}

impl Flash {
    /// The query string that carries it.
    pub fn query(self) -> String {
        let code = match self {
            Flash::Created => "created",
            Flash::RobotSecret => "robot-secret",
            Flash::Enabled => "enabled",
            Flash::Disabled => "disabled",
            Flash::TestQueued => "test-queued",
            Flash::Resent => "resent",
            Flash::InFlight => "in-flight",
            Flash::NoSuchDelivery => "no-such-delivery",
            Flash::BadTime => "bad-time",
            Flash::Recovered(n) => return format!("done=recovered&n={n}"),
        };
        format!("done={code}")
    }

    /// Reads [`Flash::query`]'s parameters; `None` for anything else.
    pub fn parse(done: Option<&str>, n: Option<&str>) -> Option<Self> {
        Some(match done? {
            "created" => Flash::Created,
            "robot-secret" => Flash::RobotSecret,
            "enabled" => Flash::Enabled,
            "disabled" => Flash::Disabled,
            "test-queued" => Flash::TestQueued,
            "resent" => Flash::Resent,
            "in-flight" => Flash::InFlight,
            "no-such-delivery" => Flash::NoSuchDelivery,
            "bad-time" => Flash::BadTime,
            "recovered" => Flash::Recovered(n?.parse().ok()?),
            _ => return None,
        })
    }

    fn is_trouble(self) -> bool {
        matches!(
            self,
            Flash::InFlight | Flash::NoSuchDelivery | Flash::BadTime | Flash::RobotSecret
        )
    }
}

/// Why the login form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProblem {
    WrongToken,
    TooManyFailures,
    LoggedOut,
}

/// The console's own rules, after the public pages' style.
const CONSOLE_STYLE: &str = "\
.page{max-width:72rem}\
.bar{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.25rem;padding:.5rem 0;border-bottom:1px solid #ddd}\
.bar .name{font-weight:600;margin-right:auto}\
.bar form{margin:0}\
button.link{background:none;border:none;color:#0b57d0;padding:0;text-decoration:underline}\
.flash{padding:.6rem .8rem;border-radius:4px;background:#e6f4ea;border:1px solid #a8dab5;margin:1rem 0}\
.flash.trouble,.errors{background:#fce8e6;border:1px solid #f4b4ae}\
.errors{padding:.6rem .8rem;border-radius:4px;margin:1rem 0}\
.errors ul{margin:.2rem 0;padding-left:1.2rem}\
table.grid{border-collapse:collapse;font-size:.85rem;width:100%}\
table.grid th,table.grid td{padding:.35rem .5rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
table.grid th{font-weight:600;color:#444;white-space:nowrap}\
table.fields th{width:11rem}\
table.wide{min-width:44rem}\
td.took,td.code{white-space:nowrap}\
.delivery{margin:1.25rem 0;padding-top:.5rem;border-top:2px solid #e3e3e3}\
.delivery .head{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem 1rem;font-size:.85rem}\
.delivery .head form{margin:0 0 0 auto}\
.figures{display:flex;flex-wrap:wrap;gap:.75rem}\
.figure{flex:1 1 8rem;padding:.5rem .75rem;border:1px solid #e3e3e3;border-radius:4px}\
.figure .n{display:block;font-size:1.4rem;font-weight:600}\
.figure .label{font-size:.85rem;color:#555}\
.state{display:inline-block;padding:0 .45rem;border-radius:3px;font-size:.8rem;white-space:nowrap}\
.state.healthy,.state.delivered,.state.active,.state.ok{background:#e6f4ea;color:#137333}\
.state.failing,.state.failed,.state.expired{background:#fce8e6;color:#a50e0e}\
.state.disabled,.state.pending{background:#fef7e0;color:#8a5a00}\
.actions{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end}\
.actions form{margin:0;display:flex;flex-wrap:wrap;gap:.4rem;align-items:flex-end}\
label{display:block;font-size:.9rem;font-weight:600;margin:.8rem 0 .2rem}\
input[type=text],input[type=url],input[type=password],input[type=number],input[type=datetime-local],select,textarea{\
box-sizing:border-box;width:100%;max-width:36rem;padding:.4rem .6rem;border:1px solid #b5b5b5;border-radius:4px;font:inherit;line-height:1.4}\
.actions input{width:auto}\
.checks label{display:inline-block;font-weight:normal;margin:.2rem 1rem .2rem 0}\
.hint{font-size:.8rem;color:#5f5f5f;margin:.1rem 0}\
.secret{display:block;padding:.6rem;border:1px solid #c7c7c7;border-radius:4px;background:#f7f7f7;\
font-size:1rem;-webkit-user-select:all;user-select:all}\
pre.answer{margin:0;max-width:28rem;max-height:6rem;overflow:auto;white-space:pre-wrap;font-size:.8rem;background:#f7f7f7;padding:.2rem .35rem}\
pre.message{max-height:24rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem;background:#f7f7f7;padding:.5rem .6rem;border:1px solid #e3e3e3;border-radius:4px}\
textarea{font-family:ui-monospace,monospace;font-size:.85rem}\
.attempts{margin:.3rem 0 .2rem}\
ul.events{list-style:none;margin:0;padding:0;font-size:.8rem}\
#live-events li{padding:.15rem 0;border-bottom:1px solid #f0f0f0;overflow-wrap:anywhere}\
#live-events li.new{background:#fff8d6}\
.muted{color:#777}\
@media (max-width:34rem){table.grid{font-size:.8rem}table.fields th{width:auto}\
table.wide{min-width:36rem}.delivery .head form{margin:0}}";

impl ConsoleContext<'_> {
    fn labels(&self) -> ConsoleLabels {
        ConsoleLabels::for_language(&self.catalog.site.language)
    }

    /// A console path: `{prefix}/admin{rest}`.
    fn path(&self, rest: &str) -> String {
        format!("{}/admin{rest}", self.prefix)
    }

    /// A time as the site's clock shows it.
    fn time(&self, t: Option<DateTime<Utc>>) -> Markup {
        match t {
            None => html! { span.muted { "—" } },
            Some(t) => {
                let local = t.with_timezone(&self.catalog.site.time_zone);
                html! {
                    time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                        (local.format("%Y-%m-%d %H:%M:%S %:z"))
                    }
                }
            }
        }
    }

    /// The hidden field every form carries.
    fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf.unwrap_or_default()); }
    }

    /// A form of one button that POSTs to `action` (a console path).
    fn button(&self, action: &str, text: &str) -> Markup {
        html! {
            form method="post" action=(self.path(action)) {
                (self.csrf_field())
                button type="submit" { (text) }
            }
        }
    }

    /// A page of the console: its bar (when logged in), the flash, then `content`. A `live`
    /// page loads the console's script, which keeps its `data-live` parts current, and
    /// without scripts may reload itself whole (without its flash).
    fn page(&self, title: &str, live: Option<Live<'_>>, content: Markup) -> String {
        let labels = self.labels();
        let site = &self.catalog.site;
        html! {
            (DOCTYPE)
            html lang=(site.language) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="robots" content="noindex";
                    @if let Some(Live { every_secs, reload: Some(reload) }) = live {
                        noscript {
                            meta http-equiv="refresh" content={ (every_secs) "; url=" (self.path(reload)) };
                        }
                    }
                    @if live.is_some() {
                        script src=(self.path("/live.js")) defer {}
                    }
                    title { (title) " · " (labels.console) " · " (site.title) }
                    link rel="icon" href=(ICON);
                    style { (PreEscaped(STYLE)) (PreEscaped(CONSOLE_STYLE)) }
                }
                body data-every=[live.map(|l| l.every_secs)]
                    data-stream=[live.map(|_| self.path("/events/stream"))] {
                    div.page {
                        nav.bar {
                            span.name { (site.title) " · " (labels.console) }
                            @if self.csrf.is_some() {
                                a href=(self.path("")) { (labels.overview) }
                                a href=(self.path("/endpoints/new")) { (labels.add_endpoint) }
                                form method="post" action=(self.path("/logout")) {
                                    (self.csrf_field())
                                    button.link type="submit" { (labels.log_out) }
                                }
                            }
                        }
                        @if let Some(flash) = self.flash {
                            p.flash.trouble[flash.is_trouble()] role="status" { (labels.flash(flash)) }
                        }
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
        .into_string()
    }
}

/// The login form: one field for an admin token. `problem` says why it is shown again.
pub fn render_login(ctx: &ConsoleContext<'_>, problem: Option<LoginProblem>) -> String {
    let labels = ctx.labels();
    let content = html! {
        @match problem {
            Some(LoginProblem::WrongToken) => p.errors role="alert" { (labels.wrong_token) },
            Some(LoginProblem::TooManyFailures) => p.errors role="alert" { (labels.too_many_logins) },
            Some(LoginProblem::LoggedOut) => p.flash role="status" { (labels.logged_out) },
            None => {},
        }
        p { (labels.login_hint) }
        form.login method="post" action=(ctx.path("/login") ) {
            label for="token" { (labels.token) }
            input #token type="password" name="token" required autocomplete="current-password"
                autofocus;
            p { button type="submit" { (labels.log_in) } }
        }
    };
    ctx.page(labels.log_in, None, content)
}

/// Why a request was refused: no session (`csrf` is then `None`), or a form that failed the
/// CSRF checks.
pub fn render_refusal(ctx: &ConsoleContext<'_>, stale_form: bool) -> String {
    let labels = ctx.labels();
    let (title, text) = if stale_form {
        (labels.console, labels.refused_form)
    } else {
        (labels.log_in, labels.log_in_first)
    };
    let content = html! {
        p.errors role="alert" { (text) }
        p { a href=(ctx.path("")) { (labels.back_to_overview) } }
    };
    ctx.page(title, None, content)
}

/// A console path that leads nowhere.
pub fn render_not_found(ctx: &ConsoleContext<'_>) -> String {
    let labels = ctx.labels();
    let content = html! {
        p { (labels.nothing_here) }
        p { a href=(ctx.path("")) { (labels.back_to_overview) } }
    };
    ctx.page(labels.nothing_here, None, content)
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::entry::fixtures::catalog;
    use super::*;

    pub fn context(catalog: &Catalog) -> ConsoleContext<'_> {
        ConsoleContext {
            catalog,
            prefix: "/news",
            csrf: Some("csrf-token-<&>"),
            flash: None,
            now: "2026-05-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn flashes_read_back_and_nothing_else_does() {
        for flash in [
            Flash::Enabled,
            Flash::Disabled,
            Flash::TestQueued,
            Flash::Resent,
            Flash::InFlight,
            Flash::NoSuchDelivery,
            Flash::BadTime,
            Flash::Recovered(3),
        ] {
            let query = flash.query();
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            assert_eq!(Flash::parse(get("done"), get("n")), Some(flash), "{query}");
        }
        assert_eq!(Flash::parse(Some("<script>"), None), None);
        assert_eq!(Flash::parse(Some("recovered"), Some("x")), None);
        assert_eq!(Flash::parse(None, None), None);
    }

    #[test]
    fn the_login_form_posts_a_password_field_and_no_script() {
        let catalog = catalog();
        let ctx = ConsoleContext {
            csrf: None,
            ..context(&catalog)
        };
        let html = render_login(&ctx, Some(LoginProblem::WrongToken));
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"zh-CN\">"));
        assert!(
            html.contains("<form class=\"login\" method=\"post\" action=\"/news/admin/login\">")
        );
        assert!(html.contains("type=\"password\" name=\"token\""));
        assert!(html.contains("令牌错误"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("/admin/logout"), "no bar without a session");
        assert!(html.contains("<meta name=\"robots\" content=\"noindex\">"));
    }

    #[test]
    fn forms_carry_the_csrf_token_escaped() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let html = render_not_found(&ctx);
        assert!(html.contains(
            "<form method=\"post\" action=\"/news/admin/logout\"><input type=\"hidden\" \
             name=\"csrf\" value=\"csrf-token-&lt;&amp;&gt;\">"
        ));
    }
}
