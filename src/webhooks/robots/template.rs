//! An endpoint's own message: a MiniJinja template whose output is the vendor's JSON.
//!
//! Templates are written as the vendor's JSON with placeholders inside its strings:
//! `{"msgtype":"text","text":{"content":"{{ title }} {{ url }}"}}`. Whatever a placeholder
//! prints is escaped for the inside of a JSON string (quotes, backslashes, control
//! characters), so that no article can break the message's structure; `tojson` prints a
//! whole JSON value instead (`"images": {{ article.images | tojson }}`). MiniJinja runs no
//! code of the host, reads no files, and each render has a bounded amount of work (fuel).

use minijinja::value::Value as TemplateValue;
use minijinja::{AutoEscape, Environment, Error, State, UndefinedBehavior};
use serde_json::Value;

use super::MessageContext;
use crate::domain::EndpointKind;

/// The longest template, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 20_000;

/// The most instructions one render may run: a template that loops for long is stopped.
const FUEL: u64 = 50_000;

/// The longest message a template may render, in bytes (the vendors take 4 KiB to 30 KiB).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The field that names the message's type, per vendor.
fn type_field(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Feishu => "msg_type",
        _ => "msgtype",
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // `article.images[0].url` of an article without images prints nothing, rather than
    // failing the message.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_formatter(format_inside_json_string);
    env
}

/// Prints a value for the inside of a JSON string: a safe value (`tojson`'s) as it is, nothing
/// for none or undefined, anything else as its text, JSON-escaped, without quotes.
fn format_inside_json_string(
    out: &mut minijinja::Output,
    _state: &State,
    value: &TemplateValue,
) -> Result<(), Error> {
    if value.is_safe() {
        return write!(out, "{value}").map_err(Error::from);
    }
    if value.is_none() || value.is_undefined() {
        return Ok(());
    }
    let quoted = serde_json::to_string(&value.to_string()).map_err(|_| {
        Error::new(
            minijinja::ErrorKind::WriteFailure,
            "a value cannot be written",
        )
    })?;
    out.write_str(&quoted[1..quoted.len() - 1])
        .map_err(Error::from)
}

/// Renders `template` for `context` and reads the result as the vendor's message: a JSON
/// object naming its type (`msgtype`, or Feishu's `msg_type`).
pub(super) fn render(
    kind: EndpointKind,
    template: &str,
    context: &MessageContext,
) -> Result<Value, String> {
    let env = environment();
    let rendered = env
        .render_str(template, context)
        .map_err(|e| describe(&e))?;
    if rendered.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "renders {} bytes, more than the {MAX_MESSAGE_BYTES} a message may have",
            rendered.len()
        ));
    }
    let message: Value = serde_json::from_str(&rendered)
        .map_err(|e| format!("does not render JSON ({e}): {}", excerpt(&rendered, &e)))?;
    let field = type_field(kind);
    match message.get(field) {
        Some(Value::String(t)) if !t.is_empty() => Ok(message),
        _ if !message.is_object() => Err("must render a JSON object".into()),
        _ => Err(format!(
            "must render the {} message's \"{field}\" (a string)",
            vendor(kind)
        )),
    }
}

/// Checks a template for a robot of `kind`, by rendering the sample article with it: the
/// reason it cannot serve, if it cannot.
pub fn check_template(kind: EndpointKind, template: &str) -> Result<(), String> {
    if !kind.is_robot() {
        return Err("is only for chat robot endpoints (kind wecom, dingtalk or feishu)".into());
    }
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(format!("must be at most {MAX_TEMPLATE_CHARS} characters"));
    }
    if template.contains('\0') {
        return Err("must not contain NUL".into());
    }
    for event in ["article.published", "article.updated"] {
        render(kind, template, &MessageContext::sample(event))?;
    }
    Ok(())
}

fn vendor(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::WeCom => "WeCom",
        EndpointKind::DingTalk => "DingTalk",
        EndpointKind::Feishu => "Feishu",
        EndpointKind::Standard => "webhook",
    }
}

/// A template error in one line: its kind, its detail and where.
fn describe(err: &Error) -> String {
    let mut text = format!("cannot be rendered: {}", err.kind());
    if let Some(detail) = err.detail() {
        text.push_str(&format!(": {detail}"));
    }
    if let Some(line) = err.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

/// The rendered text around a JSON error, to show where it went wrong.
fn excerpt(rendered: &str, err: &serde_json::Error) -> String {
    let line = rendered
        .lines()
        .nth(err.line().saturating_sub(1))
        .unwrap_or("");
    let start = err.column().saturating_sub(40);
    line.chars().skip(start).take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MessageContext {
        let mut context = MessageContext::sample("article.published");
        context.title = "引号\"与\\反斜杠\n换行</script>".into();
        context
    }

    #[test]
    fn placeholders_are_escaped_inside_json_strings() {
        let template = r#"{"msgtype":"text","text":{"content":"{{ title }} {{ url }}"}}"#;
        let message = render(EndpointKind::WeCom, template, &sample()).unwrap();
        assert_eq!(
            message["text"]["content"],
            format!("引号\"与\\反斜杠\n换行</script> {}", sample().url)
        );
    }

    #[test]
    fn tojson_prints_whole_values() {
        let template = r#"{"msgtype":"text","text":{"content":"x"},"tags":{{ article.tags | tojson }},"n":{{ article.version | tojson }}}"#;
        let message = render(EndpointKind::DingTalk, template, &sample()).unwrap();
        assert_eq!(message["tags"], serde_json::json!(["双拥"]));
        assert_eq!(message["n"], 1);
    }

    #[test]
    fn templates_that_cannot_serve_are_refused_with_the_reason() {
        let wecom = EndpointKind::WeCom;
        let not_json = check_template(wecom, "{{ title }}").unwrap_err();
        assert!(not_json.contains("does not render JSON"), "{not_json}");
        let untyped = check_template(wecom, r#"{"text":{"content":"{{ title }}"}}"#).unwrap_err();
        assert!(untyped.contains("\"msgtype\""), "{untyped}");
        let feishu = check_template(EndpointKind::Feishu, r#"{"msgtype":"text"}"#).unwrap_err();
        assert!(feishu.contains("\"msg_type\""), "{feishu}");
        let broken = check_template(wecom, r#"{"msgtype":"{{ title "}"#).unwrap_err();
        assert!(broken.contains("cannot be rendered"), "{broken}");
        let endless = check_template(
            wecom,
            r#"{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"#,
        )
        .unwrap_err();
        assert!(endless.contains("fuel"), "{endless}");
        assert!(check_template(EndpointKind::Standard, r#"{"msgtype":"text"}"#).is_err());
        assert!(
            check_template(
                EndpointKind::Feishu,
                r#"{"msg_type":"text","content":{"text":"{{ heading }}\n{{ meta }}"}}"#
            )
            .is_ok()
        );
    }

    #[test]
    fn a_missing_field_prints_nothing() {
        let template =
            r#"{"msgtype":"text","text":{"content":"{{ article.nothing.deeper }}{{ image }}"}}"#;
        let mut context = sample();
        context.image = None;
        let message = render(EndpointKind::WeCom, template, &context).unwrap();
        assert_eq!(message["text"]["content"], "");
    }
}
