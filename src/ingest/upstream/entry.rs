//! One upstream entry as an article document.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use feed_rs::model::{Entry, FeedType, Link, Person, Text};
use serde_json::{Map, Value, json};
use url::Url;

use super::raw::{self, RawImage};
use super::{SourceMapping, absolute, upstream_id};
use crate::domain::MAX_TAG_CHARS;
use crate::ingest::sanitize::{clean_text, html_to_text};
use crate::ingest::{MAX_CAPTION_CHARS, MAX_IMAGES, MAX_NAME_CHARS};

/// Most authors and tags an article keeps: what the normaliser accepts.
const MAX_AUTHORS: usize = 50;
const MAX_TAGS: usize = 100;

/// What every entry of one feed shares.
pub(super) struct EntryContext<'a> {
    pub feed_url: &'a Url,
    pub mapping: &'a SourceMapping<'a>,
    pub feed_type: FeedType,
    pub is_tidings: bool,
    /// The source of entries that name none: the mapping's title, else the feed's.
    pub source: Option<String>,
    pub language: Option<String>,
}

impl EntryContext<'_> {
    /// The entry as an article document, with its publication time; `None` when it has no
    /// link or no date.
    pub(super) fn document(
        &self,
        entry: &Entry,
        extra: Option<&raw::EntryExtras>,
        with_offset: &dyn Fn(DateTime<Utc>) -> DateTime<FixedOffset>,
    ) -> Option<(DateTime<FixedOffset>, Value)> {
        let url = self.link(entry)?;
        let published = with_offset(entry.published.or(entry.updated)?);
        let updated = entry.updated.map(with_offset).filter(|u| *u != published);
        let key = match entry.id.trim() {
            "" => url.as_str(),
            id => id,
        };

        let mut doc = Map::new();
        doc.insert(
            "id".into(),
            json!(upstream_id(self.mapping.source, key).as_str()),
        );
        doc.insert("section".into(), json!(self.mapping.section.as_str()));
        doc.insert("url".into(), json!(url.as_str()));
        if let Some(title) = entry.title.as_ref().map(plain_text) {
            doc.insert("title".into(), json!(title));
        }
        doc.insert("published".into(), json!(rfc3339(&published)));
        if let Some(updated) = updated {
            doc.insert("updated".into(), json!(rfc3339(&updated)));
        }

        let (source, editor, authors) = self.people(entry, extra);
        if let Some(source) = source.or_else(|| self.source.clone()) {
            doc.insert("source".into(), json!(source));
        }
        if let Some(editor) = editor {
            doc.insert("editor".into(), json!(editor));
        }
        if !authors.is_empty() {
            doc.insert("authors".into(), json!(authors));
        }
        let tags = tags(entry);
        if !tags.is_empty() {
            doc.insert("tags".into(), json!(tags));
        }
        if let Some(summary) = entry
            .summary
            .as_ref()
            .map(plain_text)
            .filter(|s| !s.is_empty())
        {
            doc.insert("summary".into(), json!(summary));
        }
        if let Some(html) = content_html(entry) {
            doc.insert("content_html".into(), json!(html));
        }
        let language = extra
            .and_then(|e| e.language.as_deref())
            .or(entry.language.as_deref())
            .and_then(language_tag)
            .or_else(|| self.language.clone());
        if let Some(language) = language {
            doc.insert("language".into(), json!(language));
        }
        let images = match extra {
            Some(extra) => self.images(&extra.images),
            None => self.images(&media_of(entry)),
        };
        if !images.is_empty() {
            doc.insert("images".into(), Value::Array(images));
        }
        Some((published, Value::Object(doc)))
    }

    /// The entry's page: its first alternate link (HTML or untyped), else its id when that is
    /// an `http(s)` URL (an RSS guid that is a permalink).
    fn link(&self, entry: &Entry) -> Option<Url> {
        let alternate = entry
            .links
            .iter()
            .filter(|l| {
                l.rel
                    .as_deref()
                    .is_none_or(|r| r.eq_ignore_ascii_case("alternate"))
            })
            .filter(|l| {
                l.media_type
                    .as_deref()
                    .is_none_or(|t| t.to_ascii_lowercase().contains("html"))
            })
            .find_map(|l| absolute(self.feed_url, &l.href));
        alternate.or_else(|| {
            let id = entry.id.trim();
            (id.starts_with("http://") || id.starts_with("https://"))
                .then(|| absolute(self.feed_url, id))
                .flatten()
        })
    }

    /// Source, editor and authors. A tidings feed writes the editor as the contributor and,
    /// for an article without authors, the source as the author (see the module's doc).
    fn people(
        &self,
        entry: &Entry,
        extra: Option<&raw::EntryExtras>,
    ) -> (Option<String>, Option<String>, Vec<String>) {
        let mut authors = names(&entry.authors);
        let named_source = extra.and_then(|e| e.source.clone());
        if !self.is_tidings {
            return (named_source, None, authors);
        }
        let editor = extra
            .and_then(|e| e.editor.clone())
            .or_else(|| names(&entry.contributors).into_iter().next());
        if self.feed_type == FeedType::JSON {
            // `_tidings.source` names the source; authors equal to it are the renderer's
            // stand-in for none.
            if named_source.is_some()
                && authors.len() == 1
                && authors.first() == named_source.as_ref()
            {
                authors.clear();
            }
            return (named_source, editor, authors);
        }
        if authors.len() == 1 {
            return (authors.pop(), editor, authors);
        }
        (named_source, editor, authors)
    }

    /// Images as the normaliser takes them: `http(s)` URLs resolved against the feed, each
    /// once (later mentions fill in what earlier ones lacked), at most [`MAX_IMAGES`].
    fn images(&self, found: &[RawImage]) -> Vec<Value> {
        let mut images: Vec<(Url, RawImage)> = Vec::new();
        for image in found {
            let Some(url) = absolute(self.feed_url, &image.url) else {
                continue;
            };
            if let Some((_, known)) = images.iter_mut().find(|(u, _)| *u == url) {
                known.caption = known.caption.take().or_else(|| image.caption.clone());
                known.media_type = known.media_type.take().or_else(|| image.media_type.clone());
                known.length = known.length.or(image.length);
            } else if images.len() < MAX_IMAGES {
                images.push((url, image.clone()));
            }
        }
        images
            .into_iter()
            .map(|(url, image)| {
                let mut object = Map::new();
                object.insert("url".into(), json!(url.as_str()));
                let caption = image
                    .caption
                    .map(|c| clean_text(&c))
                    .filter(|c| !c.is_empty() && c.chars().count() <= MAX_CAPTION_CHARS);
                if let Some(caption) = caption {
                    object.insert("caption".into(), json!(caption));
                }
                if let Some(media_type) = image.media_type {
                    object.insert("media_type".into(), json!(media_type));
                }
                if let Some(length) = image.length {
                    object.insert("length".into(), json!(length));
                }
                Value::Object(object)
            })
            .collect()
    }
}

/// Text of a title or summary: HTML reduced to its text, plain text cleaned.
pub(super) fn plain_text(text: &Text) -> String {
    if text.content_type.subty() == "html" {
        html_to_text(&text.content)
    } else {
        clean_text(&text.content)
    }
}

/// The entry's body as HTML: its content, else its summary; plain text is escaped.
fn content_html(entry: &Entry) -> Option<String> {
    let from_content = entry.content.as_ref().and_then(|c| {
        let body = c.body.as_deref().filter(|b| !b.trim().is_empty())?;
        Some(if c.content_type.subty() == "plain" {
            html_escape::encode_text(body).into_owned()
        } else {
            body.to_owned()
        })
    });
    from_content.or_else(|| {
        let summary = entry
            .summary
            .as_ref()
            .filter(|s| !s.content.trim().is_empty())?;
        Some(if summary.content_type.subty() == "html" {
            summary.content.clone()
        } else {
            html_escape::encode_text(&summary.content).into_owned()
        })
    })
}

/// People's names, cleaned, without feed-rs's stand-ins, duplicates or over-long names.
///
/// feed-rs names a person without a name `unknown`, and an RSS `<author>` (an e-mail address,
/// `jane@example.com (Jane Doe)`) `author`: the name in parentheses is used, else the address.
fn names(people: &[Person]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for person in people {
        let name = match (person.name.as_str(), person.email.as_deref()) {
            ("author", Some(email)) => match email.split_once('(') {
                Some((_, rest)) => rest.trim_end().trim_end_matches(')').to_owned(),
                None => email.to_owned(),
            },
            ("unknown", _) => continue,
            (name, _) => name.to_owned(),
        };
        let name = clean_text(&name);
        if !name.is_empty()
            && name.chars().count() <= MAX_NAME_CHARS
            && !out.contains(&name)
            && out.len() < MAX_AUTHORS
        {
            out.push(name);
        }
    }
    out
}

/// Categories as tags: the label when there is one, else the term.
fn tags(entry: &Entry) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for category in &entry.categories {
        let tag = clean_text(category.label.as_deref().unwrap_or(&category.term));
        if !tag.is_empty()
            && tag.chars().count() <= MAX_TAG_CHARS
            && !out.contains(&tag)
            && out.len() < MAX_TAGS
        {
            out.push(tag);
        }
    }
    out
}

/// Images as feed-rs found them, for documents the raw scan could not read: Media RSS
/// contents, thumbnails and enclosures, Atom enclosure links and JSON Feed attachments.
fn media_of(entry: &Entry) -> Vec<RawImage> {
    let mut found = Vec::new();
    for object in &entry.media {
        let caption = object.title.as_ref().map(|t| t.content.clone());
        for content in &object.content {
            let media_type = content.content_type.as_ref().map(ToString::to_string);
            if let Some(url) = &content.url
                && raw::is_image(media_type.as_deref(), None, url.as_str())
            {
                found.push(RawImage {
                    url: url.to_string(),
                    caption: if object.content.len() == 1 {
                        caption.clone()
                    } else {
                        None
                    },
                    media_type,
                    length: content.size,
                });
            }
        }
        found.extend(object.thumbnails.iter().map(|t| RawImage {
            url: t.image.uri.clone(),
            ..RawImage::default()
        }));
    }
    found.extend(entry.links.iter().filter_map(enclosure_link));
    found
}

/// An image among an entry's links: an Atom enclosure or a JSON Feed attachment.
fn enclosure_link(link: &Link) -> Option<RawImage> {
    let media_type = link.media_type.as_deref()?;
    let is_enclosure = link
        .rel
        .as_deref()
        .is_none_or(|r| r.eq_ignore_ascii_case("enclosure"));
    (is_enclosure && media_type.to_ascii_lowercase().starts_with("image/")).then(|| RawImage {
        url: link.href.clone(),
        caption: link.title.clone(),
        media_type: Some(media_type.to_owned()),
        length: link.length,
    })
}

/// A BCP 47 tag, when `raw` is one (`zh-cn`, `en`); feeds also write `zh_CN`, which the
/// normaliser would refuse with the whole article.
pub(super) fn language_tag(raw: &str) -> Option<String> {
    oxilangtag::LanguageTag::parse(raw.trim())
        .ok()
        .map(|t| t.as_str().to_owned())
}

fn rfc3339(time: &DateTime<FixedOffset>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}
