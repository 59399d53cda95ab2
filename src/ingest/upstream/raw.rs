//! What feed-rs leaves out, read from the document itself: RFC 6721 tombstones, each image with
//! its caption, an entry's source, contributor and language, and JSON Feed's hubs and the
//! tidings extension object.
//!
//! Best effort by design: a document this scan cannot read (XML that feed-rs accepts but that
//! is not well-formed) yields no extras, and the entries keep what feed-rs found.

use roxmltree::{Document, Node, ParsingOptions};
use serde_json::Value;

const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";
const DC_NS: &str = "http://purl.org/dc/elements/1.1/";
const RSS1_NS: &str = "http://purl.org/rss/1.0/";
const TOMBSTONES_NS: &str = "http://purl.org/atompub/tombstones/1.0";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The extras of a feed; `entries` in document order, one per entry feed-rs reads.
#[derive(Debug, Default)]
pub(super) struct Extras {
    pub entries: Vec<EntryExtras>,
    /// `ref` of every `at:deleted-entry`.
    pub deleted: Vec<String>,
    /// JSON Feed only (feed-rs reads the links of Atom and RSS).
    pub hub: Option<String>,
    pub self_url: Option<String>,
    /// `_tidings.generator` of a JSON Feed.
    pub generator: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct EntryExtras {
    /// RSS `<source>`, Atom `<source><title>`, JSON Feed `_tidings.source`.
    pub source: Option<String>,
    /// The first contributor (`dc:contributor`, `atom:contributor`), `_tidings.editor`.
    pub editor: Option<String>,
    /// `dc:language`, the entry's `xml:lang`, JSON Feed `language`.
    pub language: Option<String>,
    pub images: Vec<RawImage>,
}

/// An image as the document gives it; the URL not yet resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RawImage {
    pub url: String,
    pub caption: Option<String>,
    pub media_type: Option<String>,
    pub length: Option<u64>,
}

/// Whether a medium is an image: by `medium`, else by media type, else (neither given) by the
/// URL's extension.
pub(super) fn is_image(media_type: Option<&str>, medium: Option<&str>, url: &str) -> bool {
    if let Some(medium) = medium {
        return medium.eq_ignore_ascii_case("image");
    }
    if let Some(media_type) = media_type {
        return media_type.trim().to_ascii_lowercase().starts_with("image/");
    }
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".svg"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// Scans an Atom, RSS 2.0/0.9x or RSS 1.0 document.
pub(super) fn scan_xml(bytes: &[u8]) -> Extras {
    let text = decode(bytes);
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let Ok(doc) = Document::parse_with_options(&text, options) else {
        return Extras::default();
    };
    let root = doc.root_element();
    let entries: Vec<Node<'_, '_>> = match (root.tag_name().namespace(), root.tag_name().name()) {
        (Some(ATOM_NS), "feed") => root
            .children()
            .filter(|n| is(n, ATOM_NS, "entry"))
            .collect(),
        (Some(ATOM_NS), "entry") => vec![root],
        (None, "rss") => root
            .children()
            .filter(|n| n.has_tag_name("channel"))
            .flat_map(|channel| channel.children().filter(|n| n.has_tag_name("item")))
            .collect(),
        (_, "RDF") => root.children().filter(|n| is(n, RSS1_NS, "item")).collect(),
        _ => Vec::new(),
    };
    Extras {
        entries: entries.iter().map(entry_extras).collect(),
        deleted: root
            .descendants()
            .filter(|n| is(n, TOMBSTONES_NS, "deleted-entry"))
            .filter_map(|n| n.attribute("ref"))
            .filter(|r| !r.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        ..Extras::default()
    }
}

/// The document as text: UTF-8, or the encoding its byte order mark or XML declaration names
/// (GB 2312 and GBK are common on Chinese portals).
fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let head = &bytes[..bytes.len().min(256)];
    let declared = String::from_utf8_lossy(head)
        .split_once("encoding=")
        .and_then(|(_, rest)| {
            let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
            rest[1..].split(quote).next().map(str::to_owned)
        });
    let encoding = declared
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    // `decode` lets a byte order mark override the declaration, as XML 1.0 Appendix F says.
    let (text, _, _) = encoding.decode(bytes);
    text
}

fn is(node: &Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element() && node.has_tag_name((namespace, name))
}

/// An RSS element: no namespace (RSS 2.0, 0.9x) or RSS 1.0's.
fn is_rss(node: &Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && matches!(node.tag_name().namespace(), None | Some(RSS1_NS))
}

fn text_of(node: &Node<'_, '_>) -> Option<String> {
    let text: String = node
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn entry_extras(entry: &Node<'_, '_>) -> EntryExtras {
    let mut extras = EntryExtras {
        language: entry.attribute((XML_NS, "lang")).map(str::to_owned),
        ..EntryExtras::default()
    };
    // Media RSS contents first, in their order (inside groups too), then enclosures, then
    // thumbnails: a tidings feed lists every image as media:content, in the article's order.
    let mut contents = Vec::new();
    let mut enclosures = Vec::new();
    let mut thumbnails = Vec::new();
    for child in entry.children().filter(Node::is_element) {
        if is_rss(&child, "source") && extras.source.is_none() {
            extras.source = text_of(&child);
        } else if is(&child, ATOM_NS, "source") && extras.source.is_none() {
            extras.source = child
                .children()
                .find(|n| is(n, ATOM_NS, "title"))
                .and_then(|t| text_of(&t));
        } else if is(&child, DC_NS, "contributor") && extras.editor.is_none() {
            extras.editor = text_of(&child);
        } else if is(&child, ATOM_NS, "contributor") && extras.editor.is_none() {
            extras.editor = child
                .children()
                .find(|n| is(n, ATOM_NS, "name"))
                .and_then(|n| text_of(&n));
        } else if is(&child, DC_NS, "language") && extras.language.is_none() {
            extras.language = text_of(&child);
        } else if is_rss(&child, "enclosure") {
            enclosures.extend(enclosure(&child, "url", "length"));
        } else if is(&child, ATOM_NS, "link")
            && child
                .attribute("rel")
                .is_some_and(|r| r.eq_ignore_ascii_case("enclosure"))
        {
            enclosures.extend(enclosure(&child, "href", "length"));
        } else if is(&child, MEDIA_NS, "group") {
            for grouped in child.children().filter(|n| is(n, MEDIA_NS, "content")) {
                contents.extend(media_content(&grouped, Some(&child)));
            }
            thumbnails.extend(media_thumbnails(&child));
        } else if is(&child, MEDIA_NS, "content") {
            contents.extend(media_content(&child, None));
        } else if is(&child, MEDIA_NS, "thumbnail") {
            thumbnails.extend(child.attribute("url").map(|url| RawImage {
                url: url.to_owned(),
                ..RawImage::default()
            }));
        }
    }
    extras.images = contents;
    extras.images.append(&mut enclosures);
    extras.images.append(&mut thumbnails);
    extras
}

/// An RSS `<enclosure url length type>` or Atom `<link rel="enclosure" href length type>`,
/// when it is an image.
fn enclosure(node: &Node<'_, '_>, url: &str, length: &str) -> Option<RawImage> {
    let href = node.attribute(url)?.trim();
    let media_type = node
        .attribute("type")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    is_image(media_type, None, href).then(|| RawImage {
        url: href.to_owned(),
        caption: node.attribute("title").map(str::to_owned),
        media_type: media_type.map(str::to_owned),
        length: node.attribute(length).and_then(|l| l.trim().parse().ok()),
    })
}

/// A `media:content` that is an image, its caption its own `media:title` (what tidings writes)
/// or `media:description`, else its group's.
fn media_content(node: &Node<'_, '_>, group: Option<&Node<'_, '_>>) -> Option<RawImage> {
    let url = node.attribute("url")?.trim();
    let media_type = node
        .attribute("type")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if !is_image(media_type, node.attribute("medium"), url) {
        return None;
    }
    let caption_in = |parent: &Node<'_, '_>| {
        ["title", "description"].iter().find_map(|name| {
            parent
                .children()
                .find(|n| is(n, MEDIA_NS, name))
                .and_then(|n| text_of(&n))
        })
    };
    Some(RawImage {
        url: url.to_owned(),
        caption: caption_in(node).or_else(|| group.and_then(caption_in)),
        media_type: media_type.map(str::to_owned),
        length: node
            .attribute("fileSize")
            .and_then(|l| l.trim().parse().ok()),
    })
}

fn media_thumbnails(group: &Node<'_, '_>) -> Vec<RawImage> {
    group
        .children()
        .filter(|n| is(n, MEDIA_NS, "thumbnail"))
        .filter_map(|n| n.attribute("url"))
        .map(|url| RawImage {
            url: url.to_owned(),
            ..RawImage::default()
        })
        .collect()
}

/// Scans a JSON Feed: `hubs`, `feed_url`, and per item `language`, `image`, image
/// `attachments` and the `_tidings` object (source, editor) a tidings feed carries.
pub(super) fn scan_json(bytes: &[u8]) -> Extras {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Ok(feed) = serde_json::from_slice::<Value>(bytes) else {
        return Extras::default();
    };
    let string = |value: &Value, key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let hubs = feed.get("hubs").and_then(Value::as_array);
    // JSON Feed §4.1: a hub's `type` names the protocol; WebSub's is what tidings can use.
    let hub = hubs
        .into_iter()
        .flatten()
        .filter(|h| {
            h.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("websub"))
        })
        .find_map(|h| string(h, "url"));
    let entries = feed
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|item| {
            let tidings = item.get("_tidings").unwrap_or(&Value::Null);
            let mut images: Vec<RawImage> = Vec::new();
            for attachment in item
                .get("attachments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(url), media_type) =
                    (string(attachment, "url"), string(attachment, "mime_type"))
                else {
                    continue;
                };
                if is_image(media_type.as_deref(), None, &url) {
                    images.push(RawImage {
                        url,
                        caption: string(attachment, "title"),
                        media_type,
                        length: attachment.get("size_in_bytes").and_then(Value::as_u64),
                    });
                }
            }
            images.extend(string(item, "image").map(|url| RawImage {
                url,
                ..RawImage::default()
            }));
            EntryExtras {
                source: string(tidings, "source"),
                editor: string(tidings, "editor"),
                language: string(item, "language"),
                images,
            }
        })
        .collect();
    Extras {
        entries,
        deleted: Vec::new(),
        hub,
        self_url: string(&feed, "feed_url"),
        generator: feed.get("_tidings").and_then(|t| string(t, "generator")),
    }
}
