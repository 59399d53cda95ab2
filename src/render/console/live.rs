//! The console, live. A page that changes on its own marks the parts that change with
//! `data-live`; its script (`/admin/live.js`, [`LIVE_SCRIPT`]) fetches the page again and
//! swaps those parts in when the event log moves (the console's stream) and every so many
//! seconds, so that the operator keeps what they were reading or typing. The overview also
//! lists the latest events of the log, the newest first, which the script adds to as they
//! come. Without scripts the overview reloads itself whole.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Serialize;

use super::ConsoleContext;
use crate::domain::Event;

/// How a page keeps itself current.
#[derive(Debug, Clone, Copy)]
pub struct Live<'a> {
    /// How often its live parts are fetched again (besides when an event comes).
    pub every_secs: u32,
    /// Without scripts, the whole page reloads this often at this console path (`""`: the
    /// overview); `None`: it does not.
    pub reload: Option<&'a str>,
}

/// An event as the console lists it: on the overview, and as each message of the console's
/// stream (`/admin/events/stream`), which the script turns into the same list item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveItem {
    pub cursor: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The article's title (a deletion, or an event whose article a later version replaced:
    /// its id).
    pub title: String,
    pub section: String,
    /// The section's history in the console.
    pub href: String,
    /// When it happened, as the site's clock shows it, and as RFC 3339.
    pub time: String,
    pub datetime: String,
}

impl LiveItem {
    pub fn new(ctx: &ConsoleContext<'_>, event: &Event) -> Self {
        let title = event
            .payload
            .as_ref()
            .and_then(|article| article.get("title"))
            .and_then(|title| title.as_str())
            .filter(|title| !title.is_empty())
            .map_or_else(|| event.article_id.to_string(), str::to_owned);
        Self {
            cursor: event.seq.to_string(),
            kind: event.kind.as_str(),
            title,
            section: event.section.to_string(),
            href: ctx.path(&format!("/sections/{}", event.section)),
            time: local_time(ctx, event.occurred_at),
            datetime: event
                .occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

fn local_time(ctx: &ConsoleContext<'_>, t: DateTime<Utc>) -> String {
    t.with_timezone(&ctx.catalog.site.time_zone)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// The latest events, the newest first; `after` is where the stream picks up.
pub(super) fn latest_events(ctx: &ConsoleContext<'_>, items: &[LiveItem], after: i64) -> Markup {
    let labels = ctx.labels();
    html! {
        section #latest-events {
            h2 { (labels.latest_events) }
            p.hint { (labels.latest_events_hint) }
            ul #live-events .events data-after=(after) data-stream=(ctx.path("/events/stream")) {
                @for item in items { (live_item(item)) }
            }
            @if items.is_empty() { p.muted #no-events { (labels.no_events) } }
        }
    }
}

/// One event of the list; `live.js` builds the same from a stream's message.
fn live_item(item: &LiveItem) -> Markup {
    html! {
        li data-cursor=(item.cursor) {
            time datetime=(item.datetime) { (item.time) } " "
            code { (item.kind) } " "
            a href=(item.href) { (item.title) } " "
            small.muted { (item.section) }
        }
    }
}

/// The script of live pages. It adds nothing a page needs: without it, every page works and
/// the overview reloads itself.
pub const LIVE_SCRIPT: &str = r#""use strict";
// tidings console: keeps a page current (see render/console/live.rs).
(() => {
  const body = document.body;
  const list = document.getElementById("live-events");
  const streamPath = (list && list.dataset.stream) || body.dataset.stream;
  let every = Number(body.dataset.every || 0);
  let last = list ? list.dataset.after : undefined;
  let timer = null;
  let due = Infinity;
  let busy = false;
  let again = false;
  let stopped = false;
  let source = null;

  // The session ended (or the page is gone): no more updates.
  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (source) source.close();
  }

  // A refresh in `secs`, unless one is due sooner: events never put a refresh off.
  function soon(secs) {
    if (stopped) return;
    const at = Date.now() + secs * 1000;
    if (at >= due) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(refresh, secs * 1000);
  }

  // Whether the operator is on a part (focus, a selection): it is left for the next turn.
  function inUse(part) {
    const active = document.activeElement;
    if (active && active !== body && part.contains(active)) return true;
    const selection = window.getSelection();
    return !!selection && !selection.isCollapsed && part.contains(selection.anchorNode);
  }

  // Fetches this page again and swaps in its live parts that changed.
  async function refresh() {
    due = Infinity;
    if (busy) { again = true; return; }
    busy = true;
    try {
      const answer = await fetch(location.href, { credentials: "same-origin", headers: { accept: "text/html" } });
      if (!answer.ok) return;
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      // Without its live parts the answer is the login form: the session is over.
      if (answer.redirected || !fresh.querySelector("[data-live]")) { stop(); return; }
      for (const part of document.querySelectorAll("[data-live][id]")) {
        const next = fresh.getElementById(part.id);
        if (!next || !next.hasAttribute("data-live") || part.isEqualNode(next) || inUse(part)) continue;
        part.replaceWith(document.importNode(next, true));
      }
      if (fresh.body && fresh.body.dataset.every) every = Number(fresh.body.dataset.every);
    } catch (_) {
      // The server is away for a moment: the next turn tries again.
    } finally {
      busy = false;
      if (again) { again = false; soon(0.2); }
      soon(every);
    }
  }

  // An event of the log: listed (on the overview), and the page refreshed a moment later.
  function onEvent(message) {
    last = message.lastEventId || last;
    if (list) {
      const item = JSON.parse(message.data);
      if (!list.querySelector(`li[data-cursor="${CSS.escape(item.cursor)}"]`)) {
        const li = document.createElement("li");
        li.dataset.cursor = item.cursor;
        li.className = "new";
        const time = document.createElement("time");
        time.dateTime = item.datetime;
        time.textContent = item.time;
        const code = document.createElement("code");
        code.textContent = item.type;
        const link = document.createElement("a");
        link.href = item.href;
        link.textContent = item.title;
        const section = document.createElement("small");
        section.className = "muted";
        section.textContent = item.section;
        li.append(time, " ", code, " ", link, " ", section);
        list.prepend(li);
        while (list.children.length > 50) list.lastElementChild.remove();
        document.getElementById("no-events")?.remove();
      }
    }
    soon(1);
  }

  // The stream; opened again a while after the server closed it for good (a restart, or
  // all its streams taken), from the last event seen.
  function open() {
    if (stopped) return;
    source = new EventSource(last ? `${streamPath}?after=${encodeURIComponent(last)}` : streamPath);
    for (const type of ["article.published", "article.updated", "article.deleted"]) {
      source.addEventListener(type, onEvent);
    }
    source.onopen = () => { body.dataset.streaming = "on"; };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        body.dataset.streaming = "off";
        setTimeout(open, 30000);
      }
    };
  }

  if (streamPath && "EventSource" in window) open();
  soon(every);
})();
"#;

#[cfg(test)]
mod tests {
    use super::super::super::entry::fixtures::{catalog, utc};
    use super::super::tests::context;
    use super::*;
    use crate::domain::{ArticleId, EventType, SectionPath};

    fn event(seq: i64, payload: Option<serde_json::Value>) -> Event {
        Event {
            seq,
            id: format!("evt_{seq}"),
            kind: EventType::Published,
            article_id: ArticleId::parse("a-1").unwrap(),
            section: SectionPath::parse("hnyw/ldhd").unwrap(),
            moved_from: None,
            tags: Vec::new(),
            version: 1,
            occurred_at: utc("2026-04-30T00:00:00Z"),
            payload,
        }
    }

    #[test]
    fn an_event_is_listed_by_its_title_or_else_its_id() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let item = LiveItem::new(
            &ctx,
            &event(7, Some(serde_json::json!({ "title": "双拥<会议>" }))),
        );
        assert_eq!(item.title, "双拥<会议>");
        assert_eq!(item.href, "/news/admin/sections/hnyw/ldhd");
        assert_eq!(item.time, "2026-04-30 08:00:00 +08:00");
        assert_eq!(item.datetime, "2026-04-30T00:00:00Z");
        let html = latest_events(&ctx, &[item], 7).into_string();
        assert!(html.contains("data-after=\"7\""));
        assert!(html.contains("<li data-cursor=\"7\"><time datetime=\"2026-04-30T00:00:00Z\">"));
        assert!(html.contains(">双拥&lt;会议&gt;</a>"));
        assert_eq!(LiveItem::new(&ctx, &event(8, None)).title, "a-1");
    }
}
