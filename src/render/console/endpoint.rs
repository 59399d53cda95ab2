//! One endpoint's page (what it receives, its health, its recent deliveries with every
//! attempt, and the actions on it), the form that adds an endpoint, and the page that shows a
//! new secret, once.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::ConsoleContext;
use super::live::Live;
use super::overview::endpoint_state;
use super::words::ConsoleLabels;
use crate::domain::{DeliveryView, Endpoint, EndpointKind, EventType};

/// How much of a receiver's answer the page shows (the log keeps up to 4 KiB).
const ANSWER_CHARS: usize = 300;

/// How often the page's health and deliveries are fetched again, in seconds: while a delivery
/// is about to be sent (within the longer of the two), and otherwise.
const WAITING_REFRESH_SECS: u32 = 2;
const REFRESH_SECS: u32 = 30;

/// What an endpoint's page shows.
#[derive(Debug, Clone, Copy)]
pub struct EndpointPage<'a> {
    pub endpoint: &'a Endpoint,
    pub last_success: Option<DateTime<Utc>>,
    /// How long a failing endpoint may go without a success before it is disabled.
    pub disable_after_secs: f64,
    /// Its deliveries, newest first.
    pub deliveries: &'a [DeliveryView],
    /// The cursor of the page of older deliveries, when there may be some.
    pub older: Option<i64>,
    /// Whether this page starts below the newest delivery.
    pub is_behind: bool,
    /// A robot's message for a new article, with the sample article (JSON).
    pub preview: Option<&'a str>,
}

/// The endpoint's page.
pub fn render_endpoint_page(ctx: &ConsoleContext<'_>, page: &EndpointPage<'_>) -> String {
    let labels = ctx.labels();
    let e = page.endpoint;
    let base = format!("/endpoints/{}", e.id);
    let content = html! {
        section #health data-live { (fields(ctx, &labels, page)) }
        section #actions {
            h2 { (labels.actions) }
            div.actions {
                @if e.enabled {
                    (ctx.button(&format!("{base}/disable"), labels.disable))
                } @else {
                    (ctx.button(&format!("{base}/enable"), labels.enable))
                }
                (ctx.button(&format!("{base}/test"), labels.send_test))
                @if !e.kind.is_robot() {
                    (ctx.button(&format!("{base}/rotate-secret"), labels.rotate_secret))
                }
                form method="post" action=(ctx.path(&format!("{base}/recover"))) {
                    (ctx.csrf_field())
                    div {
                        label for="since" { (labels.recover_since) }
                        input #since type="datetime-local" name="since" required step="1";
                    }
                    button type="submit" { (labels.recover) }
                }
            }
            p.hint {
                @if !e.kind.is_robot() { (labels.rotate_hint) " " }
                (labels.recover_hint)
            }
        }
        @if let Some(preview) = page.preview {
            (message_preview(&labels, preview))
        }
        section #deliveries data-live {
            h2 { (labels.deliveries) }
            (deliveries(ctx, &labels, page.deliveries))
            p {
                @if page.is_behind {
                    a href=(ctx.path(&base)) { (labels.newest) } " "
                }
                @if let Some(cursor) = page.older {
                    a href=(ctx.path(&format!("{base}?before={cursor}"))) { (labels.older) }
                }
            }
        }
    };
    // While a delivery is about to be sent, its outcome is looked for often; one that waits
    // for a retry later, or behind a disabled endpoint, is not.
    let soon = ctx.now + chrono::Duration::seconds(i64::from(REFRESH_SECS));
    let waiting = e.enabled
        && page
            .deliveries
            .iter()
            .any(|d| d.status == "pending" && d.next_attempt_at.is_none_or(|at| at <= soon));
    let live = Live {
        every_secs: if waiting {
            WAITING_REFRESH_SECS
        } else {
            REFRESH_SECS
        },
        reload: None,
    };
    ctx.page(&e.id, Some(live), content)
}

fn fields(ctx: &ConsoleContext<'_>, labels: &ConsoleLabels, page: &EndpointPage<'_>) -> Markup {
    let e = page.endpoint;
    let f = &labels.endpoint_fields;
    let disabled_from = e.failing_since.filter(|_| e.enabled).map(|since| {
        since + chrono::Duration::milliseconds((page.disable_after_secs * 1000.0) as i64)
    });
    html! {
        table.grid.fields {
            tbody {
                tr { th { (f[0]) } td { code.url-full { (e.kind.shown_url(&e.url)) } } }
                tr { th { (f[1]) } td { (e.description) } }
                tr { th { (f[2]) } td #kind data-kind=(e.kind.as_str()) { (labels.kind(e.kind)) } }
                tr {
                    th { (f[3]) }
                    td {
                        @if e.event_types.is_empty() { (labels.every_type) }
                        @for t in &e.event_types { code { (t.as_str()) } " " }
                    }
                }
                tr {
                    th { (f[4]) }
                    td {
                        @if e.sections.is_empty() { (labels.every_section) }
                        @for s in &e.sections {
                            a href=(ctx.path(&format!("/sections/{s}"))) { code { (s) } } " "
                        }
                    }
                }
                tr {
                    th { (f[5]) }
                    td {
                        @match (e.rate_limit, e.kind.default_rate()) {
                            (Some(r), _) => { (r) " " (labels.per_second) }
                            (None, Some(_)) => (labels.robot_rate),
                            (None, None) => (labels.unlimited),
                        }
                    }
                }
                tr {
                    th { (f[6]) }
                    td #state {
                        (endpoint_state(labels, e))
                        @if let Some(reason) = &e.disabled_reason { " " (reason) }
                    }
                }
                tr {
                    th { (f[7]) }
                    td #last-success {
                        @if page.last_success.is_some() { (ctx.time(page.last_success)) }
                        @else { span.muted { (labels.never) } }
                    }
                }
                tr { th { (f[8]) } td { (ctx.time(e.failing_since)) } }
                @if disabled_from.is_some() {
                    tr { th { (f[9]) } td { (ctx.time(disabled_from)) } }
                }
                @if e.kind.is_robot() {
                    tr {
                        th { (f[12]) }
                        td { @if e.template.is_some() { (labels.own_template) } @else { (labels.default_template) } }
                    }
                }
                tr { th { (f[10]) } td { (ctx.time(Some(e.created_at))) } }
                tr { th { (f[11]) } td { (ctx.time(Some(e.updated_at))) } }
            }
        }
    }
}

fn deliveries(
    ctx: &ConsoleContext<'_>,
    labels: &ConsoleLabels,
    deliveries: &[DeliveryView],
) -> Markup {
    html! {
        @if deliveries.is_empty() {
            p.muted { (labels.no_deliveries) }
        }
        @for d in deliveries {
            @let c = &labels.delivery_columns;
            div.delivery #(d.id) data-status=(d.status) {
                div.head {
                    span { code { (d.id) } }
                    span { code { (d.message_type) } }
                    span class={ "state " (d.status) } { (labels.status(&d.status)) }
                    span {
                        // The count the retry schedule goes by starts again at a resend; the
                        // log keeps every attempt.
                        @let logged = d.attempt_log.len() as u32;
                        (c[3]) " " (logged.max(d.attempts))
                        @if logged > d.attempts { " " (labels.since_resent(d.attempts)) }
                    }
                    span { (c[4]) " " (ctx.time(Some(d.created_at))) }
                    @if d.next_attempt_at.is_some() {
                        span { (c[5]) " " (ctx.time(d.next_attempt_at)) }
                    }
                    (ctx.button(&format!("/deliveries/{}/resend", d.id), labels.resend))
                }
                p.hint { (labels.message_id) " " code { (d.message_id) } }
                (attempts(ctx, labels, d))
            }
        }
    }
}

/// Each attempt: when, the status code (or the error's class), how long it took, the error,
/// and the start of the answer.
fn attempts(ctx: &ConsoleContext<'_>, labels: &ConsoleLabels, d: &DeliveryView) -> Markup {
    html! {
        div.scroll.attempts {
            @if d.attempt_log.is_empty() {
                p.hint { (labels.no_attempts) }
            } @else {
                table.grid.wide {
                    thead { tr { @for column in labels.attempt_columns { th { (column) } } } }
                    tbody {
                        @for a in d.attempt_log.iter().rev() {
                            @let ok = a.status_code.is_some_and(|s| (200..300).contains(&s));
                            tr.attempt {
                                td { (ctx.time(Some(a.attempted_at))) }
                                td.code {
                                    @match a.status_code {
                                        Some(code) => span class={ "state " (if ok { "delivered" } else { "failed" }) } { (code) },
                                        None => span.state.failed { (a.error_class.as_deref().unwrap_or("—")) },
                                    }
                                }
                                td.took { (a.duration_ms) " ms" }
                                td { (a.error.as_deref().unwrap_or("")) }
                                td {
                                    @if !a.response_body.is_empty() {
                                        pre.answer { (excerpt(&a.response_body)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The first [`ANSWER_CHARS`] characters of an answer, marked when cut.
fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(ANSWER_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// A field the add-endpoint form could not take, and why (with close values, if any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormError {
    pub field: String,
    pub reason: String,
    pub suggestions: Vec<String>,
}

/// What the add-endpoint form holds: empty at first, or what was sent, with its errors.
#[derive(Debug, Clone, Default)]
pub struct NewEndpointForm {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub sections: String,
    pub rate_limit: String,
    /// `standard`, `wecom`, `dingtalk` or `feishu` (empty: standard).
    pub kind: String,
    /// A robot's signing secret, kept in its (password) field when the form comes back, so
    /// that an endpoint added after its preview signs as the operator typed it. The page is
    /// never stored (`no-store`) and only the session's operator sees it.
    pub secret: String,
    pub template: String,
    pub errors: Vec<FormError>,
    /// What the endpoint would receive, when the operator asked for a preview: a robot's
    /// message as JSON, or `None` with [`NewEndpointForm::previewed`] for a standard one.
    pub preview: Option<String>,
    pub previewed: bool,
}

/// A robot's message (pretty JSON), with what it is.
fn message_preview(labels: &ConsoleLabels, preview: &str) -> Markup {
    html! {
        section #preview {
            h2 { (labels.message_preview) }
            p.hint { (labels.robot_preview_hint) }
            pre.message { code { (preview) } }
        }
    }
}

/// The form that adds an endpoint, a standard one or a chat robot, with a button that shows
/// the message the endpoint would receive before it is added.
pub fn render_new_endpoint_form(ctx: &ConsoleContext<'_>, form: &NewEndpointForm) -> String {
    let labels = ctx.labels();
    let f = &labels.form_fields;
    let h = &labels.form_hints;
    let content = html! {
        @if !form.errors.is_empty() {
            div.errors role="alert" {
                (labels.not_created)
                ul {
                    @for e in &form.errors {
                        li {
                            code { (e.field) } " " (e.reason)
                            @if !e.suggestions.is_empty() { " (" (e.suggestions.join(", ")) ")" }
                        }
                    }
                }
            }
        }
        @if form.previewed {
            @match &form.preview {
                Some(preview) => (message_preview(&labels, preview)),
                None => section #preview {
                    h2 { (labels.message_preview) }
                    p.hint { (labels.standard_preview) }
                },
            }
        }
        form.endpoint method="post" action=(ctx.path("/endpoints")) {
            (ctx.csrf_field())
            label for="url" { (f[0]) }
            input #url type="url" name="url" value=(form.url) required;
            p.hint { (h[0]) }
            label for="description" { (f[1]) }
            input #description type="text" name="description" value=(form.description) maxlength="500";
            p.hint { (h[1]) }
            label for="kind" { (f[2]) }
            select #kind name="kind" {
                @for kind in [EndpointKind::Standard, EndpointKind::WeCom, EndpointKind::DingTalk, EndpointKind::Feishu] {
                    option value=(kind.as_str()) selected[form.kind == kind.as_str() || (form.kind.is_empty() && kind == EndpointKind::Standard)] { (labels.kind(kind)) }
                }
            }
            p.hint { (h[2]) }
            fieldset.checks {
                legend { (f[3]) }
                @for t in [EventType::Published, EventType::Updated, EventType::Deleted] {
                    label {
                        input type="checkbox" name="event_types" value=(t.as_str())
                            checked[form.event_types.iter().any(|s| s == t.as_str())];
                        " " code { (t.as_str()) }
                    }
                }
                p.hint { (h[3]) }
            }
            label for="sections" { (f[4]) }
            input #sections type="text" name="sections" value=(form.sections) list="section-paths";
            datalist #section-paths {
                @for s in ctx.catalog.sections() { option value=(s.path) { (s.title) } }
            }
            p.hint { (h[4]) }
            details {
                summary { (labels.known_sections) }
                ul.events {
                    @for s in ctx.catalog.sections() { li { code { (s.path) } " " (s.title) } }
                }
            }
            label for="rate_limit" { (f[5]) }
            input #rate_limit type="text" inputmode="decimal" name="rate_limit" value=(form.rate_limit);
            p.hint { (h[5]) }
            label for="secret" { (f[6]) }
            input #secret type="password" name="secret" value=(form.secret) autocomplete="off" spellcheck="false";
            p.hint { (h[6]) }
            label for="template" { (f[7]) }
            textarea #template name="template" rows="5" spellcheck="false" placeholder=(labels.template_example) { (form.template) }
            p.hint { (h[7]) }
            p.buttons {
                button type="submit" name="preview" value="1" { (labels.preview) }
                " "
                button type="submit" { (labels.create) }
            }
        }
    };
    ctx.page(labels.add_endpoint, None, content)
}

/// A secret just made, shown once.
#[derive(Debug, Clone, Copy)]
pub struct SecretShown<'a> {
    pub endpoint: &'a Endpoint,
    /// After a rotation: until when the old secret keeps signing.
    pub previous_until: Option<DateTime<Utc>>,
    /// What the answer should point out (a host that does not resolve now).
    pub warnings: &'a [String],
}

/// The page that shows an endpoint's new secret: the only time it is ever shown.
pub fn render_secret_page(ctx: &ConsoleContext<'_>, shown: &SecretShown<'_>) -> String {
    let labels = ctx.labels();
    let e = shown.endpoint;
    let content = html! {
        @for warning in shown.warnings { p.errors { (warning) } }
        p { code { (e.id) } " · " code { (e.kind.shown_url(&e.url)) } }
        p { strong { (labels.secret_once) } }
        code.secret #secret { (e.secret.as_str()) }
        @if let Some(until) = shown.previous_until {
            p { (labels.previous_secret_until) " " (ctx.time(Some(until))) }
        }
        p { a href=(ctx.path(&format!("/endpoints/{}", e.id))) { (labels.to_the_endpoint) } }
    };
    ctx.page(labels.new_secret, None, content)
}

#[cfg(test)]
mod tests {
    use super::super::super::entry::fixtures::{catalog, utc};
    use super::super::tests::context;
    use super::*;
    use crate::domain::{Attempt, EndpointUrl, Secret};

    fn endpoint() -> Endpoint {
        Endpoint {
            id: "ep_1".into(),
            url: EndpointUrl::new(url::Url::parse("https://hooks.example.org/in").unwrap()),
            description: String::new(),
            event_types: vec![EventType::Published],
            sections: vec![crate::domain::SectionPath::parse("hnyw").unwrap()],
            secret: Secret::generate(),
            previous_secret: None,
            rate_limit: Some(2.5),
            enabled: true,
            disabled_reason: None,
            failing_since: Some(utc("2026-04-30T00:00:00Z")),
            after_seq: 0,
            kind: crate::domain::EndpointKind::Standard,
            template: None,
            robot_secret: None,
            created_at: utc("2026-04-01T00:00:00Z"),
            updated_at: utc("2026-04-01T00:00:00Z"),
        }
    }

    fn delivery() -> DeliveryView {
        DeliveryView {
            id: "dlv_1".into(),
            message_id: "evt_1".into(),
            message_type: "article.published".into(),
            endpoint_id: "ep_1".into(),
            status: "failed".into(),
            attempts: 2,
            next_attempt_at: None,
            last_status: Some(500),
            last_error: None,
            created_at: utc("2026-04-30T00:00:00Z"),
            finished_at: Some(utc("2026-04-30T00:00:05Z")),
            cursor: 7,
            attempt_log: vec![
                Attempt {
                    attempted_at: utc("2026-04-30T00:00:00Z"),
                    status_code: None,
                    duration_ms: 5000,
                    error_class: Some("timeout".into()),
                    error: Some("no answer in time".into()),
                    response_body: String::new(),
                },
                Attempt {
                    attempted_at: utc("2026-04-30T00:00:05Z"),
                    status_code: Some(500),
                    duration_ms: 12,
                    error_class: Some("http".into()),
                    error: None,
                    response_body: format!("<h1>down</h1>{}", "x".repeat(400)),
                },
            ],
        }
    }

    #[test]
    fn the_page_shows_health_actions_and_each_attempt_newest_first() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let endpoint = endpoint();
        let deliveries = [delivery()];
        let page = EndpointPage {
            endpoint: &endpoint,
            last_success: None,
            disable_after_secs: 5.0 * 86400.0,
            deliveries: &deliveries,
            older: Some(7),
            is_behind: false,
            preview: None,
        };
        let html = render_endpoint_page(&ctx, &page);
        assert!(html.contains("<span class=\"state failing\">失败中</span>"));
        assert!(
            html.contains("2026-05-05 08:00:00 +08:00"),
            "disabled five days on"
        );
        for action in ["disable", "test", "rotate-secret", "recover"] {
            assert!(html.contains(&format!(
                "<form method=\"post\" action=\"/news/admin/endpoints/ep_1/{action}\">\
                 <input type=\"hidden\" name=\"csrf\""
            )));
        }
        assert!(!html.contains("/enable\""));
        assert!(html.contains("action=\"/news/admin/deliveries/dlv_1/resend\""));
        let timeout = html.find(">timeout<").unwrap();
        let code = html
            .find("<span class=\"state failed\">500</span>")
            .unwrap();
        assert!(code < timeout, "the newest attempt first");
        assert!(html.contains("<pre class=\"answer\">&lt;h1&gt;down&lt;/h1&gt;xxx"));
        assert!(html.contains("x…</pre>"), "an answer is cut");
        assert!(html.contains("href=\"/news/admin/endpoints/ep_1?before=7\""));
        assert!(html.contains("2.5 次/秒"));
        assert!(html.contains("<span>尝试次数 2</span>"));
        // Resent once it had failed twice, and tried once since.
        let mut resent = delivery();
        resent.attempts = 1;
        let deliveries = [resent];
        let html = render_endpoint_page(
            &ctx,
            &EndpointPage {
                deliveries: &deliveries,
                ..page
            },
        );
        assert!(html.contains("<span>尝试次数 2 （重发后 1 次）</span>"));
        assert!(html.contains("<code>article.published</code>"));
    }

    #[test]
    fn the_page_looks_often_only_while_a_delivery_is_about_to_be_sent() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let mut endpoint = endpoint();
        let every = |endpoint: &Endpoint, next: Option<DateTime<Utc>>| {
            let mut pending = delivery();
            pending.status = "pending".into();
            pending.next_attempt_at = next;
            let deliveries = [pending];
            let html = render_endpoint_page(
                &ctx,
                &EndpointPage {
                    endpoint,
                    last_success: None,
                    disable_after_secs: 86400.0,
                    deliveries: &deliveries,
                    older: None,
                    is_behind: false,
                    preview: None,
                },
            );
            let at = html.find("data-every=\"").unwrap() + 12;
            html[at..at + html[at..].find('"').unwrap()].to_owned()
        };
        assert_eq!(every(&endpoint, Some(ctx.now)), "2");
        assert_eq!(every(&endpoint, None), "2");
        let later = ctx.now + chrono::Duration::hours(1);
        assert_eq!(every(&endpoint, Some(later)), "30", "a retry an hour away");
        endpoint.enabled = false;
        assert_eq!(
            every(&endpoint, Some(ctx.now)),
            "30",
            "behind a disabled endpoint"
        );
    }

    #[test]
    fn a_robots_page_shows_its_kind_and_message_and_no_secret_to_rotate() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let mut endpoint = endpoint();
        endpoint.kind = crate::domain::EndpointKind::DingTalk;
        endpoint.rate_limit = None;
        endpoint.url = EndpointUrl::new(
            url::Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc123").unwrap(),
        );
        let page = EndpointPage {
            endpoint: &endpoint,
            last_success: None,
            disable_after_secs: 86400.0,
            deliveries: &[],
            older: None,
            is_behind: false,
            preview: Some("{\n  \"msgtype\": \"actionCard\"\n}"),
        };
        let html = render_endpoint_page(&ctx, &page);
        assert!(html.contains("data-kind=\"dingtalk\">钉钉自定义机器人</td>"));
        assert!(html.contains("access_token=***"));
        assert!(!html.contains("abc123"));
        assert!(!html.contains("/rotate-secret"));
        assert!(html.contains("该类型的默认消息"));
        assert!(
            html.contains("每分钟 20 条"),
            "a robot's default rate limit"
        );
        assert!(html.contains("<pre class=\"message\"><code>{\n  &quot;msgtype&quot;: &quot;actionCard&quot;\n}</code></pre>"));
    }

    #[test]
    fn a_previewed_form_shows_the_message_and_keeps_every_field() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let form = NewEndpointForm {
            url: "https://oapi.dingtalk.com/robot/send?access_token=abc".into(),
            kind: "dingtalk".into(),
            secret: "SECabc".into(),
            template: "{\"msgtype\":\"text\"}".into(),
            preview: Some("{\"msgtype\":\"text\"}".into()),
            previewed: true,
            ..NewEndpointForm::default()
        };
        let html = render_new_endpoint_form(&ctx, &form);
        assert!(html.contains("<option value=\"dingtalk\" selected>"));
        assert!(!html.contains("<option value=\"standard\" selected>"));
        assert!(html.contains("name=\"secret\" value=\"SECabc\""));
        assert!(html.contains(">{&quot;msgtype&quot;:&quot;text&quot;}</textarea>"));
        assert!(html.contains("<section id=\"preview\">"));
        assert!(html.contains("name=\"preview\" value=\"1\""));
        let standard = NewEndpointForm {
            previewed: true,
            ..NewEndpointForm::default()
        };
        let html = render_new_endpoint_form(&ctx, &standard);
        assert!(html.contains("Standard Webhooks JSON"));
    }

    #[test]
    fn the_form_keeps_what_was_sent_and_names_each_error() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let error = FormError {
            field: "sections[0]".into(),
            reason: "unknown section \"hnyww\"".into(),
            suggestions: vec!["hnyw".into()],
        };
        let form = NewEndpointForm {
            url: "https://hooks.example.org/\"in".into(),
            event_types: vec!["article.deleted".into()],
            sections: "hnyww".into(),
            errors: vec![error],
            ..NewEndpointForm::default()
        };
        let html = render_new_endpoint_form(&ctx, &form);
        assert!(html.contains("value=\"https://hooks.example.org/&quot;in\""));
        assert!(html.contains("<code>sections[0]</code> unknown section &quot;hnyww&quot; (hnyw)"));
        assert!(html.contains("value=\"article.deleted\" checked"));
        assert!(!html.contains("value=\"article.published\" checked"));
        assert!(html.contains("<option value=\"standard\" selected>"));
        assert!(html.contains("<option value=\"hnyw/ldhd\">领导动态</option>"));
    }

    #[test]
    fn a_new_secret_is_shown_with_when_the_old_one_stops() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let endpoint = endpoint();
        let html = render_secret_page(
            &ctx,
            &SecretShown {
                endpoint: &endpoint,
                previous_until: Some(utc("2026-05-02T00:00:00Z")),
                warnings: &[],
            },
        );
        assert!(html.contains(&format!(
            "<code class=\"secret\" id=\"secret\">{}</code>",
            endpoint.secret.as_str()
        )));
        assert!(html.contains("2026-05-02 08:00:00 +08:00"));
    }
}
