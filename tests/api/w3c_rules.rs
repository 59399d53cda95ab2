//! The rules of the W3C feed validator (w3c/feedvalidator) that apply to what the service
//! writes, pinned one by one: each names the validator's message, and each is shown to catch
//! the fault it pins. The validator itself runs in the acceptance checks.

use regex::Regex;
use roxmltree::{Document, Node};

pub const ATOM: &str = "http://www.w3.org/2005/Atom";
const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const DC: &str = "http://purl.org/dc/elements/1.1/";
const MEDIA: &str = "http://search.yahoo.com/mrss/";
const HISTORY: &str = "http://purl.org/syndication/history/1.0";
/// RFC 6721: the one namespace we write that the validator does not know (`UnknownNamespace`,
/// a warning whatever the document holds); declared only on documents with tombstones.
pub const TOMBSTONES: &str = "http://purl.org/atompub/tombstones/1.0";

/// Namespaces the validator knows, among those a feed of ours may declare.
const KNOWN: [&str; 6] = [
    ATOM,
    CONTENT,
    DC,
    MEDIA,
    HISTORY,
    "http://www.w3.org/XML/1998/namespace",
];

/// The link relations the validator knows (`UnregisteredAtomLinkRel` otherwise).
const RELS: [&str; 22] = [
    "alternate",
    "current",
    "describedby",
    "edit",
    "edit-media",
    "enclosure",
    "first",
    "hub",
    "last",
    "license",
    "next",
    "next-archive",
    "payment",
    "prev-archive",
    "previous",
    "related",
    "replies",
    "search",
    "self",
    "service",
    "up",
    "via",
];

type Faults = Vec<String>;

fn fault(faults: &mut Faults, rule: &str, detail: impl std::fmt::Display) {
    faults.push(format!("{rule}: {detail}"));
}

/// Every rule for one document, by its kind.
pub fn check(kind: &str, text: &str) -> Faults {
    let doc = Document::parse(text).expect("well-formed XML");
    let mut faults = Vec::new();
    namespaces(&doc, &mut faults);
    match kind {
        "rss" => rss(&doc, &mut faults),
        "atom" => atom(&doc, &mut faults),
        "opml" => opml(&doc, &mut faults),
        _ => panic!("no rules for {kind}"),
    }
    faults
}

/// `UnknownNamespace` (W): every declared namespace is one the validator knows, but the
/// tombstones of a document that has some; `MediaRssNamespace` (E) is the same rule for a
/// Media RSS URI without its trailing slash.
fn namespaces(doc: &Document<'_>, faults: &mut Faults) {
    let has_tombstones = doc
        .descendants()
        .any(|n| n.has_tag_name((TOMBSTONES, "deleted-entry")));
    for ns in doc.root_element().namespaces() {
        let known = KNOWN.contains(&ns.uri()) || (ns.uri() == TOMBSTONES && has_tombstones);
        if !known {
            fault(faults, "UnknownNamespace", ns.uri());
        }
    }
}

/// RFC 822 as the validator reads it strictly (`rfc822`; looser forms are
/// `ProblematicalRFC822Date`), not before 1990 and not in the future (`ImplausibleDate`).
fn rfc822(faults: &mut Faults, element: &str, value: &str) {
    let strict = Regex::new(
        r"^((Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d\d\d \d\d:\d\d(:\d\d)? ([+-]?\d\d[03]0|UT|GMT|Z)$",
    )
    .unwrap();
    if !strict.is_match(value) {
        fault(
            faults,
            "ProblematicalRFC822Date",
            format!("{element} {value:?}"),
        );
        return;
    }
    match chrono::DateTime::parse_from_rfc2822(value) {
        Ok(t) => plausible(faults, element, t.to_utc()),
        Err(_) => fault(faults, "InvalidRFC2822Date", format!("{element} {value:?}")),
    }
}

/// RFC 3339 as the validator reads it (`InvalidRFC3339Date`), plausible too.
fn rfc3339(faults: &mut Faults, element: &str, value: &str) {
    let form = Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*)?(Z|[+-]\d\d:\d\d)$").unwrap();
    if !form.is_match(value) {
        fault(faults, "InvalidRFC3339Date", format!("{element} {value:?}"));
        return;
    }
    match chrono::DateTime::parse_from_rfc3339(value) {
        Ok(t) => plausible(faults, element, t.to_utc()),
        Err(_) => fault(faults, "InvalidRFC3339Date", format!("{element} {value:?}")),
    }
}

/// `ImplausibleDate` (W): before 1990, or more than a day ahead.
fn plausible(faults: &mut Faults, element: &str, t: chrono::DateTime<chrono::Utc>) {
    let earliest = "1990-01-01T00:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    if t < earliest || t > chrono::Utc::now() + chrono::Duration::days(1) {
        fault(faults, "ImplausibleDate", format!("{element} {t}"));
    }
}

/// `(namespace, local name)`, the empty namespace meaning none.
fn is(node: &Node<'_, '_>, (ns, name): (&str, &str)) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace().unwrap_or("") == ns
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: (&str, &str)) -> Option<Node<'a, 'i>> {
    node.children().find(|n| is(n, name))
}

fn text_of<'a>(node: Node<'a, '_>, name: (&str, &str)) -> Option<&'a str> {
    child(node, name).and_then(|n| n.text())
}

fn rss(doc: &Document<'_>, faults: &mut Faults) {
    let channel = child(doc.root_element(), ("", "channel")).expect("a channel");
    let title = text_of(channel, ("", "title"));
    let link = text_of(channel, ("", "link"));
    for required in ["title", "link", "description"] {
        if text_of(channel, ("", required)).is_none_or(|t| t.trim().is_empty()) {
            fault(faults, "MissingElement", format!("channel {required}"));
        }
    }
    // ImageUrlFormat (W), ImageTitleDoesntMatch and ImageLinkDoesntMatch (W).
    if let Some(image) = child(channel, ("", "image")) {
        let url = text_of(image, ("", "url")).unwrap_or_default();
        let ext = url
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !["png", "gif", "jpg", "jpeg"].contains(&ext.as_str()) {
            fault(faults, "ImageUrlFormat", url);
        }
        if text_of(image, ("", "title")) != title {
            fault(faults, "ImageTitleDoesntMatch", "image title");
        }
        if text_of(image, ("", "link")) != link {
            fault(faults, "ImageLinkDoesntMatch", "image link");
        }
    }
    // MissingAtomSelfLink (W).
    if !channel
        .children()
        .any(|n| n.has_tag_name((ATOM, "link")) && n.attribute("rel") == Some("self"))
    {
        fault(faults, "MissingAtomSelfLink", "channel");
    }
    atom_links(channel, faults);
    // MisplacedItem (W): nothing of the channel's own after its first item.
    let mut items_started = false;
    for node in channel.children().filter(Node::is_element) {
        if node.has_tag_name("item") {
            items_started = true;
        } else if items_started {
            fault(faults, "MisplacedItem", node.tag_name().name());
        }
    }
    for date in ["pubDate", "lastBuildDate"] {
        if let Some(value) = text_of(channel, ("", date)) {
            rfc822(faults, date, value);
        }
    }
    for item in channel.children().filter(|n| n.has_tag_name("item")) {
        rss_item(item, faults);
    }
    history(channel, faults);
}

fn rss_item(item: Node<'_, '_>, faults: &mut Faults) {
    let id = text_of(item, ("", "guid")).unwrap_or("?");
    // ItemMustContainTitleOrDescription (E), MissingGuid (W).
    if child(item, ("", "title")).is_none() && child(item, ("", "description")).is_none() {
        fault(faults, "ItemMustContainTitleOrDescription", id);
    }
    match child(item, ("", "guid")) {
        None => fault(faults, "MissingGuid", "item"),
        // InvalidPermalink (E): a tag: URI is no permalink.
        Some(guid) => {
            if guid.attribute("isPermaLink") != Some("false") {
                fault(faults, "InvalidPermalink", id);
            }
        }
    }
    if let Some(value) = text_of(item, ("", "pubDate")) {
        rfc822(faults, "pubDate", value);
    }
    // DuplicateItemSemantics (W): a name goes in dc:creator, never also in author.
    if child(item, ("", "author")).is_some() && child(item, (DC, "creator")).is_some() {
        fault(faults, "DuplicateItemSemantics", id);
    }
    // NeedDescriptionBeforeContent (W).
    let position = |name: (&str, &str)| item.children().position(|n| is(&n, name));
    if let Some(content) = position((CONTENT, "encoded"))
        && position(("", "description")).is_none_or(|d| d > content)
    {
        fault(faults, "NeedDescriptionBeforeContent", id);
    }
    // Enclosures: url absolute, length a whole number, a type (E); one only (W).
    let enclosures: Vec<_> = item
        .children()
        .filter(|n| n.has_tag_name("enclosure"))
        .collect();
    if enclosures.len() > 1 {
        fault(faults, "DuplicateEnclosure", id);
    }
    for enclosure in enclosures {
        let url = enclosure.attribute("url").unwrap_or_default();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            fault(faults, "InvalidURLAttribute", url);
        }
        if enclosure
            .attribute("length")
            .and_then(|l| l.parse::<u64>().ok())
            .is_none()
        {
            fault(faults, "InvalidIntegerAttribute", id);
        }
        if !enclosure.attribute("type").is_some_and(|t| t.contains('/')) {
            fault(faults, "InvalidMIMEAttribute", id);
        }
    }
    // ContainsRelRef (W): links and images in the HTML are absolute.
    for html in [
        text_of(item, ("", "description")),
        text_of(item, (CONTENT, "encoded")),
    ]
    .into_iter()
    .flatten()
    {
        relative_references(faults, id, html);
    }
    media(item, faults);
}

/// `ContainsRelRef` (W): every `href` and `src` of the HTML is an absolute http(s) URL.
fn relative_references(faults: &mut Faults, id: &str, html: &str) {
    let reference = Regex::new(r#"(?i)\s(?:href|src)\s*=\s*["']?([^"'\s>]*)"#).unwrap();
    for found in reference.captures_iter(html) {
        let url = &found[1];
        if !url.starts_with("http://") && !url.starts_with("https://") {
            fault(faults, "ContainsRelRef", format!("{id}: {url:?}"));
        }
    }
}

/// Media RSS (`media.py`): `media:content` only in items and entries, its numbers positive
/// and its medium a known one; a thumbnail has a url.
fn media(node: Node<'_, '_>, faults: &mut Faults) {
    for content in node
        .children()
        .filter(|n| n.has_tag_name((MEDIA, "content")))
    {
        for number in ["fileSize", "width", "height"] {
            if let Some(value) = content.attribute(number)
                && !value.parse::<u64>().is_ok_and(|n| n > 0)
            {
                fault(
                    faults,
                    "InvalidPositiveInteger",
                    format!("{number}={value}"),
                );
            }
        }
        if let Some(medium) = content.attribute("medium")
            && !["image", "audio", "video", "document", "executable"].contains(&medium)
        {
            fault(faults, "InvalidMediaMedium", medium);
        }
    }
    for thumbnail in node
        .children()
        .filter(|n| n.has_tag_name((MEDIA, "thumbnail")))
    {
        if thumbnail.attribute("url").is_none() {
            fault(faults, "MissingAttribute", "media:thumbnail url");
        }
    }
}

/// Atom links anywhere: a known relation (`UnregisteredAtomLinkRel`), a self link of a feed
/// type (`SelfNotAtom`), one alternate per type and language (`DuplicateAtomLink`).
fn atom_links(parent: Node<'_, '_>, faults: &mut Faults) {
    let mut alternates = Vec::new();
    for link in parent.children().filter(|n| n.has_tag_name((ATOM, "link"))) {
        let rel = link.attribute("rel").unwrap_or("alternate");
        if !RELS.contains(&rel) && !rel.contains(':') {
            fault(faults, "UnregisteredAtomLinkRel", rel);
        }
        if rel == "self"
            && !link.attribute("type").is_none_or(|t| {
                [
                    "application/atom+xml",
                    "application/rss+xml",
                    "application/rdf+xml",
                ]
                .contains(&t.split(';').next().unwrap_or_default())
            })
        {
            fault(
                faults,
                "SelfNotAtom",
                link.attribute("type").unwrap_or_default(),
            );
        }
        if rel == "alternate" {
            let key = (link.attribute("type"), link.attribute("hreflang"));
            if alternates.contains(&key) {
                fault(faults, "DuplicateAtomLink", format!("{key:?}"));
            }
            alternates.push(key);
        }
    }
}

/// RFC 5005 (`feed.validate_metadata`): an archive document names its feed (`current`,
/// `MissingCurrentInArchive`) and `fh:archive` is empty (`UnexpectedText`).
fn history(parent: Node<'_, '_>, faults: &mut Faults) {
    if let Some(archive) = child(parent, (HISTORY, "archive")) {
        if archive.has_children() {
            fault(faults, "UnexpectedText", "fh:archive");
        }
        if !parent
            .children()
            .any(|n| n.has_tag_name((ATOM, "link")) && n.attribute("rel") == Some("current"))
        {
            fault(faults, "MissingCurrentInArchive", "no current link");
        }
    }
}

fn atom(doc: &Document<'_>, faults: &mut Faults) {
    let feed = doc.root_element();
    for required in ["title", "id", "updated"] {
        if child(feed, (ATOM, required)).is_none() {
            fault(faults, "MissingElement", format!("feed {required}"));
        }
    }
    // MissingSelf (W).
    if !feed
        .children()
        .any(|n| n.has_tag_name((ATOM, "link")) && n.attribute("rel") == Some("self"))
    {
        fault(faults, "MissingSelf", "feed");
    }
    atom_links(feed, faults);
    history(feed, faults);
    // MisplacedMetadata (E): the feed's own elements come before its first entry.
    let mut entries_started = false;
    for node in feed.children().filter(Node::is_element) {
        if node.has_tag_name((ATOM, "entry")) {
            entries_started = true;
        } else if entries_started && node.tag_name().namespace() == Some(ATOM) {
            fault(faults, "MisplacedMetadata", node.tag_name().name());
        }
    }
    if let Some(updated) = text_of(feed, (ATOM, "updated")) {
        rfc3339(faults, "feed updated", updated);
    }
    let mut seen_updated = Vec::new();
    let mut seen_ids = Vec::new();
    for entry in feed.children().filter(|n| n.has_tag_name((ATOM, "entry"))) {
        let id = text_of(entry, (ATOM, "id")).unwrap_or("?");
        for required in ["title", "id", "updated"] {
            if child(entry, (ATOM, required)).is_none() {
                fault(faults, "MissingElement", format!("entry {required}"));
            }
        }
        // DuplicateEntries (W).
        if seen_ids.contains(&id) {
            fault(faults, "DuplicateEntries", id);
        }
        seen_ids.push(id);
        for date in ["updated", "published"] {
            if let Some(value) = text_of(entry, (ATOM, date)) {
                rfc3339(faults, date, value);
            }
        }
        // DuplicateUpdated (W): the same updated text as an earlier entry.
        let updated = text_of(entry, (ATOM, "updated")).unwrap_or_default().trim();
        if seen_updated.contains(&updated) {
            fault(faults, "DuplicateUpdated", format!("{id}: {updated}"));
        }
        seen_updated.push(updated);
        // MissingContentOrAlternate (E), MissingTextualContent (W).
        if child(entry, (ATOM, "content")).is_none() && child(entry, (ATOM, "summary")).is_none() {
            fault(faults, "MissingTextualContent", id);
        }
        atom_links(entry, faults);
        // FeedHistoryRelInEntry (W).
        for link in entry.children().filter(|n| n.has_tag_name((ATOM, "link"))) {
            let rel = link.attribute("rel").unwrap_or_default();
            if [
                "first",
                "last",
                "next",
                "previous",
                "next-archive",
                "prev-archive",
                "current",
            ]
            .contains(&rel)
            {
                fault(faults, "FeedHistoryRelInEntry", id);
            }
        }
        media(entry, faults);
    }
}

/// OPML (`opml.py`): only the head elements and outline attributes it knows
/// (`UndefinedElement`, `UnexpectedAttribute`, E); a feed outline has its URL and title.
fn opml(doc: &Document<'_>, faults: &mut Faults) {
    const HEAD: [&str; 12] = [
        "title",
        "dateCreated",
        "dateModified",
        "ownerName",
        "ownerEmail",
        "ownerId",
        "expansionState",
        "vertScrollState",
        "windowTop",
        "windowLeft",
        "windowBottom",
        "windowRight",
    ];
    const OUTLINE: [&str; 13] = [
        "category",
        "created",
        "description",
        "htmlUrl",
        "isBreakpoint",
        "isComment",
        "language",
        "text",
        "title",
        "type",
        "url",
        "version",
        "xmlUrl",
    ];
    let root = doc.root_element();
    if !["1.0", "1.1", "2.0"].contains(&root.attribute("version").unwrap_or_default()) {
        fault(faults, "InvalidOPMLVersion", "version");
    }
    let head = child(root, ("", "head")).expect("a head");
    for node in head.children().filter(Node::is_element) {
        if !HEAD.contains(&node.tag_name().name()) {
            fault(faults, "UndefinedElement", node.tag_name().name());
        }
    }
    for outline in root.descendants().filter(|n| n.has_tag_name("outline")) {
        for attribute in outline.attributes() {
            if attribute.namespace().is_none() && !OUTLINE.contains(&attribute.name()) {
                fault(faults, "UnexpectedAttribute", attribute.name());
            }
        }
        if outline.attribute("text").is_none() {
            fault(faults, "MissingAttribute", "outline text");
        }
        if outline.attribute("type") == Some("rss") {
            if outline.attribute("xmlUrl").is_none() {
                fault(faults, "MissingXmlURL", "outline");
            }
            if outline.attribute("title").is_none() {
                fault(faults, "MissingTitleAttr", "outline");
            }
        }
    }
}

#[test]
fn each_rule_catches_the_fault_it_pins() {
    let rss_doc = |channel_extra: &str, item: &str| {
        format!(
            r#"<rss version="2.0" xmlns:atom="{ATOM}" xmlns:dc="{DC}" xmlns:content="{CONTENT}"><channel><title>T</title><link>https://a.example/</link><description>D</description><atom:link rel="self" href="https://a.example/f.rss" type="application/rss+xml"/>{channel_extra}<item><title>x</title><guid isPermaLink="false">tag:a,2021:1</guid>{item}</item></channel></rss>"#
        )
    };
    let cases = [
        ("rss", rss_doc("<image><url>https://a.example/favicon.ico</url><title>T</title><link>https://a.example/</link></image>", ""), "ImageUrlFormat"),
        ("rss", rss_doc("<image><url>https://a.example/l.png</url><title>Other</title><link>https://a.example/</link></image>", ""), "ImageTitleDoesntMatch"),
        ("rss", rss_doc("", "<pubDate>2021-06-01T00:00:00+08:00</pubDate>"), "ProblematicalRFC822Date"),
        ("rss", rss_doc("", "<pubDate>Thu, 01 Jan 1970 00:00:00 +0000</pubDate>"), "ImplausibleDate"),
        ("rss", rss_doc("", "<author>a@b.example (A)</author><dc:creator>A</dc:creator>"), "DuplicateItemSemantics"),
        ("rss", rss_doc("", "<content:encoded>x</content:encoded><description>y</description>"), "NeedDescriptionBeforeContent"),
        ("rss", rss_doc("", r#"<description>&lt;img src="/a.png"&gt;</description>"#), "ContainsRelRef"),
        ("rss", rss_doc("", r#"<enclosure url="https://a.example/a.png" type="image/png"/>"#), "InvalidIntegerAttribute"),
        ("rss", rss_doc(r#"<atom:link rel="prev" href="https://a.example/p"/>"#, ""), "UnregisteredAtomLinkRel"),
        ("rss", rss_doc("", "").replacen(
                "<rss version=\"2.0\"",
                &format!("<rss version=\"2.0\" xmlns:at=\"{TOMBSTONES}\""),
                1,
            ),
            "UnknownNamespace"),
        ("atom", format!(r#"<feed xmlns="{ATOM}"><title>T</title><id>x</id><updated>1970-01-01T00:00:00Z</updated><link rel="self" href="https://a.example/f.atom"/></feed>"#), "ImplausibleDate"),
        ("atom", format!(r#"<feed xmlns="{ATOM}"><title>T</title><id>x</id><updated>2021-06-01T00:00:00Z</updated></feed>"#), "MissingSelf"),
        ("atom", format!(r#"<feed xmlns="{ATOM}"><title>T</title><id>x</id><updated>2021-06-01T00:00:00Z</updated><link rel="self" href="s"/><link href="a" type="text/html"/><link rel="alternate" href="b" type="text/html"/></feed>"#), "DuplicateAtomLink"),
        ("atom", format!(r#"<feed xmlns="{ATOM}"><title>T</title><id>x</id><updated>2021-06-01T00:00:00Z</updated><link rel="self" href="s"/><entry><title>a</title><id>1</id><updated>2021-06-01T00:00:00Z</updated><summary>s</summary></entry><entry><title>b</title><id>2</id><updated>2021-06-01T00:00:00Z</updated><summary>s</summary></entry></feed>"#), "DuplicateUpdated"),
        ("atom", format!(r#"<feed xmlns="{ATOM}"><title>T</title><id>x</id><updated>2021-06-01T00:00:00Z</updated><link rel="self" href="s"/><entry><title>a</title><id>1</id><updated>2021-06-01T00:00:00Z</updated><summary>s</summary></entry><subtitle>late</subtitle></feed>"#), "MisplacedMetadata"),
        ("atom", format!(r#"<feed xmlns="{ATOM}" xmlns:fh="{HISTORY}"><title>T</title><id>x</id><updated>2021-06-01T00:00:00Z</updated><link rel="self" href="s"/><fh:archive/></feed>"#), "MissingCurrentInArchive"),
        ("atom", format!(r#"<feed xmlns="{ATOM}" xmlns:at="{TOMBSTONES}"><title>T</title><id>x</id><updated>2021-06-01T00:00:00Z</updated><link rel="self" href="s"/></feed>"#), "UnknownNamespace"),
        ("opml", r#"<opml version="2.0"><head><title>T</title><docs>http://opml.org/spec2.opml</docs></head><body><outline text="a" type="rss" xmlUrl="x" title="a"/></body></opml>"#.to_owned(), "UndefinedElement"),
        ("opml", r#"<opml version="2.0"><head><title>T</title></head><body><outline text="a" type="rss" title="a"/></body></opml>"#.to_owned(), "MissingXmlURL"),
    ];
    for (kind, text, rule) in cases {
        let faults = check(kind, &text);
        assert!(
            faults.iter().any(|f| f.starts_with(&format!("{rule}:"))),
            "{rule} not caught in {text}: {faults:?}"
        );
    }
}
