//! Ingest: parse → validate → sanitise → normalise time and section.
//!
//! Every way in (the HTTP API, the CLI, article pages read by [`page`], upstream feeds read
//! by [`upstream`]) hands a JSON value to [`Normalizer::article`], which reports every field
//! error at once or returns an [`Article`] that the rest of tidings can trust, with the hash
//! that decides whether it changed.

pub mod hub_signature;
pub mod links;
pub mod page;
pub mod sanitize;
pub mod shape;
mod time;
pub mod upstream;

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::catalog::Catalog;
use crate::config::IngestConfig;
use crate::domain::{Article, ArticleId, Image, MAX_TAG_CHARS, SectionPath};
use sanitize::{clean_text, sanitize_html};
pub use time::parse_time;

/// Limits that keep every article, and so every webhook body, well under 256 KiB once its
/// `content_html` is left out.
const MAX_SUMMARY_CHARS: usize = 5000;
const MAX_NAME_CHARS: usize = 200;
const MAX_CAPTION_CHARS: usize = 1000;
const MAX_IMAGES: usize = 200;
const MAX_URL_BYTES: usize = 2048;

/// One field that could not be accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON path of the field: `title`, `images[1].url`; empty for the document itself.
    pub field: String,
    pub reason: String,
    /// Close existing values, for unknown sections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            suggestions: Vec::new(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)?;
        } else {
            write!(f, "{}: {}", self.field, self.reason)?;
        }
        if !self.suggestions.is_empty() {
            write!(f, " (did you mean {}?)", self.suggestions.join(", "))?;
        }
        Ok(())
    }
}

/// Every reason an article was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Rejection(pub Vec<FieldError>);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

/// An accepted article and the hash of its content (equal hash: unchanged).
#[derive(Debug, Clone)]
pub struct Normalized {
    pub article: Article,
    pub content_hash: String,
}

/// Turns publishers' JSON into articles, against the catalogue and the ingest limits.
#[derive(Debug, Clone)]
pub struct Normalizer<'a> {
    pub catalog: &'a Catalog,
    pub limits: &'a IngestConfig,
    /// The present, for refusing publication times too far ahead.
    pub now: DateTime<FixedOffset>,
}

impl Normalizer<'_> {
    /// Validates and normalises one article document.
    pub fn article(&self, value: &Value) -> Result<Normalized, Rejection> {
        let Some(obj) = value.as_object() else {
            return Err(Rejection(vec![FieldError::new(
                "",
                format!("an article must be a JSON object, not {}", kind_of(value)),
            )]));
        };
        let mut fields = Fields {
            obj,
            errors: Vec::new(),
        };

        let id = fields
            .required_str("id")
            .and_then(|raw| fields.check("id", ArticleId::parse(raw)));
        let section = self.section(&mut fields);
        let url = fields
            .required_str("url")
            .and_then(|raw| match Url::parse(raw.trim()) {
                // As stored: parsing may lengthen it (percent-encoding).
                Ok(url) if raw.len().max(url.as_str().len()) > MAX_URL_BYTES => {
                    fields.fail("url", format!("must be at most {MAX_URL_BYTES} bytes"))
                }
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
                Ok(_) => fields.fail("url", "must be an absolute http or https URL"),
                Err(e) => fields.fail("url", format!("is not a URL: {e}")),
            });
        let title = fields.required_str("title").and_then(|raw| {
            let title = clean_text(raw);
            let chars = title.chars().count();
            if title.is_empty() {
                fields.fail("title", "must not be empty")
            } else if chars > self.limits.max_title_chars {
                fields.fail(
                    "title",
                    format!(
                        "is {chars} characters long; at most {} are accepted",
                        self.limits.max_title_chars
                    ),
                )
            } else {
                Some(title)
            }
        });
        let source = fields.optional_text("source", MAX_NAME_CHARS);
        let editor = fields.optional_text("editor", MAX_NAME_CHARS);
        let authors = fields.string_list("authors", 50, MAX_NAME_CHARS);
        let tags = fields.string_list("tags", 100, MAX_TAG_CHARS);
        let summary = fields.summary();
        let published = fields
            .required_str("published")
            .and_then(|raw| self.time(&mut fields, "published", raw));
        let updated = fields
            .optional_str("updated")
            .and_then(|raw| self.time(&mut fields, "updated", raw));
        let language = fields.optional_str("language").and_then(|raw| {
            match oxilangtag::LanguageTag::parse(raw.trim()) {
                Ok(tag) => Some(tag.as_str().to_owned()),
                Err(_) => fields.fail("language", "is not a BCP 47 language tag such as zh-CN"),
            }
        });
        let content_html = fields
            .optional_str("content_html")
            .and_then(|raw| match self.html_bounds(raw) {
                Ok(()) => Some(raw),
                Err(reason) => fields.fail("content_html", reason),
            })
            .map(|raw| {
                url.as_ref()
                    .map(|base| sanitize_html(raw, base))
                    .unwrap_or_default()
            });
        if let Some(html) = &content_html
            && html.len() > self.limits.max_content_bytes
        {
            fields.errors.push(FieldError::new(
                "content_html",
                format!(
                    "is {} bytes after sanitising; at most {} are accepted",
                    html.len(),
                    self.limits.max_content_bytes
                ),
            ));
        }
        let images = self.images(&mut fields, url.as_ref());

        if !fields.errors.is_empty() {
            return Err(Rejection(fields.errors));
        }
        let (Some(id), Some(section), Some(title), Some(url), Some(published)) =
            (id, section, title, url, published)
        else {
            // Each missing value recorded an error above.
            return Err(Rejection(vec![FieldError::new("", "invalid article")]));
        };
        let article = Article {
            id,
            section,
            title,
            url,
            source,
            editor,
            authors,
            published,
            updated,
            summary,
            content_html: content_html.unwrap_or_default(),
            images,
            tags,
            language,
        };
        let content_hash = content_hash(&article);
        Ok(Normalized {
            article,
            content_hash,
        })
    }

    /// Refuses a body whose shape would make the sanitiser's work grow faster than its size
    /// (see [`shape`]): checked in one linear pass before it is parsed.
    fn html_bounds(&self, raw: &str) -> Result<(), String> {
        let found = shape::shape(raw);
        let limits = self.limits;
        if found.depth > limits.max_html_depth {
            Err(format!(
                "nests elements {} deep (counting formatting elements left open); at most {} \
                 are accepted",
                found.depth, limits.max_html_depth
            ))
        } else if found.attributes > limits.max_html_attributes {
            Err(format!(
                "has an element with {} attributes; at most {} are accepted",
                found.attributes, limits.max_html_attributes
            ))
        } else if found.elements > limits.max_html_elements {
            Err(format!(
                "has {} elements; at most {} are accepted",
                found.elements, limits.max_html_elements
            ))
        } else {
            Ok(())
        }
    }
    fn section(&self, fields: &mut Fields<'_>) -> Option<SectionPath> {
        let by_path = fields.optional_str("section").map(str::trim);
        let titles = fields.string_list("section_titles", 20, MAX_NAME_CHARS);
        match (by_path, titles.is_empty()) {
            (Some(raw), _) => {
                let known = SectionPath::parse(raw)
                    .ok()
                    .filter(|p| self.catalog.section(p).is_some());
                let Some(path) = known else {
                    let mut err = FieldError::new("section", format!("unknown section {raw:?}"));
                    err.suggestions = self.catalog.suggest(raw, 3);
                    fields.errors.push(err);
                    return None;
                };
                if !titles.is_empty()
                    && self.catalog.section_by_titles(&titles).map(|s| &s.path) != Some(&path)
                {
                    return fields.fail(
                        "section_titles",
                        format!(
                            "do not name section {path}; send one of section and section_titles"
                        ),
                    );
                }
                Some(path)
            }
            (None, false) => match self.catalog.section_by_titles(&titles) {
                Some(section) => Some(section.path.clone()),
                None => {
                    let wanted = titles.last().cloned().unwrap_or_default();
                    let mut err = FieldError::new(
                        "section_titles",
                        format!("no section has the breadcrumb {}", titles.join(" / ")),
                    );
                    err.suggestions = self.catalog.suggest(&wanted, 3);
                    fields.errors.push(err);
                    None
                }
            },
            (None, true) => fields.fail("section", "is required (or section_titles)"),
        }
    }

    fn time(
        &self,
        fields: &mut Fields<'_>,
        name: &str,
        raw: &str,
    ) -> Option<DateTime<FixedOffset>> {
        match parse_time(raw, self.catalog.site.time_zone) {
            // Feeds need four-digit years (RFC 3339, RFC 822) and offsets in whole minutes; a
            // local time before a zone's standard time (LMT: +08:05:43) has none.
            Ok(t) if !(1000..=9999).contains(&t.year()) => fields.fail(
                name,
                format!("{raw:?} must lie between the years 1000 and 9999"),
            ),
            Ok(t) if t.offset().local_minus_utc() % 60 != 0 => fields.fail(
                name,
                format!(
                    "{raw:?} has no whole-minute UTC offset in the site's zone; send one explicitly"
                ),
            ),
            Ok(t) if (t - self.now).num_seconds() > self.limits.max_future_secs => fields.fail(
                name,
                format!(
                    "{raw:?} lies more than {} hours in the future",
                    self.limits.max_future_secs / 3600
                ),
            ),
            Ok(t) => Some(t),
            Err(reason) => fields.fail(name, reason),
        }
    }

    fn images(&self, fields: &mut Fields<'_>, base: Option<&Url>) -> Vec<Image> {
        let Some(value) = fields.obj.get("images").filter(|v| !v.is_null()) else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            fields.fail::<()>(
                "images",
                format!("must be an array, not {}", kind_of(value)),
            );
            return Vec::new();
        };
        if items.len() > MAX_IMAGES {
            fields.fail::<()>(
                "images",
                format!(
                    "has {} items; at most {MAX_IMAGES} are accepted",
                    items.len()
                ),
            );
            return Vec::new();
        }
        let mut images = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = |name: &str| format!("images[{i}].{name}");
            let (raw_url, caption, media_type, length) = match item {
                Value::String(url) => (Some(url.as_str()), None, None, None),
                Value::Object(o) => {
                    let url = o.get("url").and_then(Value::as_str);
                    if url.is_none() {
                        fields.fail::<()>(field("url"), "is required and must be a string");
                    }
                    let caption = o.get("caption").and_then(Value::as_str).map(clean_text);
                    if caption
                        .as_ref()
                        .is_some_and(|c| c.chars().count() > MAX_CAPTION_CHARS)
                    {
                        fields.fail::<()>(
                            field("caption"),
                            format!("must be at most {MAX_CAPTION_CHARS} characters"),
                        );
                    }
                    let media_type = o.get("media_type").and_then(Value::as_str).map(clean_text);
                    let length = match o.get("length") {
                        None | Some(Value::Null) => None,
                        Some(v) => match v.as_u64() {
                            Some(n) => Some(n),
                            None => fields.fail(field("length"), "must be a whole number of bytes"),
                        },
                    };
                    (url, caption, media_type, length)
                }
                other => {
                    fields.fail::<()>(
                        format!("images[{i}]"),
                        format!("must be an object with a url, not {}", kind_of(other)),
                    );
                    (None, None, None, None)
                }
            };
            let Some(raw_url) = raw_url else { continue };
            if raw_url.len() > MAX_URL_BYTES {
                fields.fail::<()>(
                    field("url"),
                    format!("must be at most {MAX_URL_BYTES} bytes"),
                );
                continue;
            }
            let parsed = match base {
                Some(base) => base.join(raw_url.trim()),
                None => Url::parse(raw_url.trim()),
            };
            match parsed {
                // Resolved against the article's URL, or percent-encoded, it may be longer.
                Ok(url) if url.as_str().len() > MAX_URL_BYTES => {
                    fields.fail::<()>(
                        field("url"),
                        format!(
                            "must be at most {MAX_URL_BYTES} bytes once resolved against the \
                             article's url"
                        ),
                    );
                }
                Ok(url) if matches!(url.scheme(), "http" | "https") => images.push(Image {
                    url,
                    caption: caption.filter(|c| !c.is_empty()),
                    media_type: media_type.filter(|m| !m.is_empty()),
                    length,
                }),
                _ => {
                    fields.fail::<()>(field("url"), "must be an http or https URL");
                }
            }
        }
        images
    }
}

/// One line of NDJSON, numbered from 1: `None` when blank. A line that is not JSON is
/// rejected with its number, in the same words wherever NDJSON is read (the API, the CLI).
pub fn ndjson_line(number: usize, text: &str) -> Option<Result<Value, String>> {
    if text.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).map_err(|e| format!("line {number} is not valid JSON: {e}")))
}

/// The hash that decides "unchanged": over the normalised article, so that cosmetic
/// differences the normaliser removes (white space in titles, dropped `<script>`) count as equal.
pub fn content_hash(article: &Article) -> String {
    let bytes = serde_json::to_vec(article).expect("an article always serialises");
    hex::encode(Sha256::digest(&bytes))
}

/// Field access that records a precise error for every missing or mistyped field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn fail<T>(&mut self, field: impl Into<String>, reason: impl Into<String>) -> Option<T> {
        self.errors.push(FieldError::new(field, reason));
        None
    }

    fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| self.errors.push(FieldError::new(field, e.to_string())))
            .ok()
    }

    fn required_str(&mut self, name: &str) -> Option<&'a str> {
        match self.obj.get(name) {
            None | Some(Value::Null) => self.fail(name, "is required"),
            Some(Value::String(s)) => Some(s),
            Some(other) => self.fail(name, format!("must be a string, not {}", kind_of(other))),
        }
    }

    fn optional_str(&mut self, name: &str) -> Option<&'a str> {
        match self.obj.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => self.fail(
                name,
                format!("must be a string or null, not {}", kind_of(other)),
            ),
        }
    }

    fn optional_text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        let text = self
            .optional_str(name)
            .map(clean_text)
            .filter(|t| !t.is_empty())?;
        if text.chars().count() > max_chars {
            return self.fail(name, format!("must be at most {max_chars} characters"));
        }
        Some(text)
    }

    /// The summary: a long one is cut (with an ellipsis) rather than refused, since it only
    /// introduces the body, and the cut is logged.
    fn summary(&mut self) -> Option<String> {
        let text = self
            .optional_str("summary")
            .map(clean_text)
            .filter(|t| !t.is_empty())?;
        match text.char_indices().nth(MAX_SUMMARY_CHARS - 1) {
            None => Some(text),
            Some((cut, _)) => {
                tracing::warn!(
                    article = self
                        .obj
                        .get("id")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or(""),
                    chars = text.chars().count(),
                    "summary cut to {MAX_SUMMARY_CHARS} characters"
                );
                Some(format!("{}…", text[..cut].trim_end()))
            }
        }
    }

    /// An array of strings, cleaned, empty ones and duplicates dropped, order kept.
    fn string_list(&mut self, name: &str, max: usize, max_chars: usize) -> Vec<String> {
        let items = match self.obj.get(name) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.fail::<()>(
                    name,
                    format!("must be an array of strings, not {}", kind_of(other)),
                );
                return Vec::new();
            }
        };
        if items.len() > max {
            self.fail::<()>(
                name,
                format!("has {} items; at most {max} are accepted", items.len()),
            );
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => {
                    let text = clean_text(s);
                    if text.chars().count() > max_chars {
                        self.fail::<()>(
                            format!("{name}[{i}]"),
                            format!("must be at most {max_chars} characters"),
                        );
                    } else if !text.is_empty() && !out.contains(&text) {
                        out.push(text);
                    }
                }
                other => {
                    self.fail::<()>(
                        format!("{name}[{i}]"),
                        format!("must be a string, not {}", kind_of(other)),
                    );
                }
            }
        }
        out
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
