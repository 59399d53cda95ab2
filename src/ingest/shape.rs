//! The shape of body HTML, measured in one linear pass before anything parses it.
//!
//! An HTML tree builder does work that grows with the depth of the open elements for every
//! token: scope checks walk the stack, and formatting elements left open (`<b id=1>`,
//! `<p><font size=2></p>`) are reopened before every run of text. A body made of thousands of
//! unclosed elements costs the square of their number: seconds to minutes for a megabyte. The
//! tokenizer also compares each attribute with the element's earlier ones. So the sanitiser
//! only sees bodies whose element count, depth and attributes per element are bounded, and
//! this pass, which never backtracks, is what measures them.
//!
//! It follows the tokenizer's rules closely enough to find tags, comments, raw text and
//! attributes, and the tree builder's where they decide depth: void elements, end tags that
//! close what they enclose, elements whose end tag may be left out (`<p>`, `<li>`, `<td>`),
//! and formatting elements that stay open until their own end tag or a table cell ends.

/// What one pass over an HTML fragment found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Start tags, and the formatting elements a tree builder would create again before text.
    pub elements: usize,
    /// The most elements open at once, counting formatting elements a tree builder would
    /// reopen.
    pub depth: usize,
    /// The most attributes on one start tag.
    pub attributes: usize,
}

/// Elements with no content and no end tag.
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements whose content is text up to their own end tag.
const RAW_TEXT: &[&str] = &[
    "iframe", "noembed", "noframes", "script", "style", "textarea", "title", "xmp",
];

/// Elements whose end tag may be left out, with where the search for an open one of the same
/// name (which the new one closes) stops.
fn optional_end(name: &str) -> Option<&'static [&'static str]> {
    const TABLE: &[&str] = &["table", "template"];
    Some(match name {
        "caption" | "colgroup" | "tbody" | "td" | "tfoot" | "th" | "thead" | "tr" => TABLE,
        "li" => &["menu", "ol", "ul"],
        "dd" | "dt" => &["dl"],
        "optgroup" | "option" => &["select"],
        "rb" | "rp" | "rt" | "rtc" => &["ruby"],
        "p" => &[
            "applet", "button", "caption", "marquee", "object", "table", "td", "template", "th",
        ],
        _ => return None,
    })
}

/// Formatting elements: closed by something else, a tree builder reopens them.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// Elements that end the reach of formatting elements opened inside them.
const MARKERS: &[&str] = &[
    "applet", "caption", "marquee", "object", "td", "template", "th",
];

/// An open element: its name, and for markers, the formatting count to restore at its end.
struct Open {
    name: String,
    reopened_before: usize,
}

/// Measures `html` in time linear in its length.
pub fn shape(html: &str) -> Shape {
    let mut scan = Scan {
        bytes: html.as_bytes(),
        at: 0,
    };
    let mut shape = Shape::default();
    let mut open: Vec<Open> = Vec::new();
    // Formatting elements closed by another element's end: a tree builder reopens them.
    let mut reopened = 0usize;
    loop {
        let text = scan.at;
        let more = scan.skip_to(b'<');
        // Text reopens every formatting element closed by another's end: they are created
        // again, as often as text follows.
        if reopened > 0 && !scan.bytes[text..scan.at].trim_ascii().is_empty() {
            shape.elements += reopened;
            shape.depth = shape.depth.max(open.len() + reopened);
        }
        if !more {
            break;
        }
        scan.at += 1;
        match scan.peek() {
            Some(b'!') => {
                if scan.rest().starts_with(b"!--") {
                    scan.at += 3;
                    scan.skip_past(b"-->");
                } else {
                    scan.skip_past(b">");
                }
            }
            Some(b'?') => scan.skip_past(b">"),
            Some(b'/') => {
                scan.at += 1;
                let Some(name) = scan.name() else {
                    scan.skip_past(b">");
                    continue;
                };
                scan.attributes();
                close(&mut open, &mut reopened, &name);
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let name = scan.name().unwrap_or_default();
                let (attributes, self_closing) = scan.attributes();
                shape.elements += 1;
                shape.attributes = shape.attributes.max(attributes);
                if RAW_TEXT.contains(&name.as_str()) {
                    scan.skip_raw_text(&name);
                } else if name == "plaintext" {
                    scan.at = scan.bytes.len();
                } else if !VOID.contains(&name.as_str()) && !self_closing {
                    start(&mut open, &mut reopened, name);
                    shape.depth = shape.depth.max(open.len() + reopened);
                }
            }
            // `<` that starts no tag is text.
            _ => {}
        }
    }
    shape
}

fn start(open: &mut Vec<Open>, reopened: &mut usize, name: String) {
    if let Some(boundary) = optional_end(&name) {
        let same = open
            .iter()
            .rposition(|e| e.name == name || boundary.contains(&e.name.as_str()))
            .filter(|&k| open[k].name == name);
        if let Some(k) = same {
            pop_to(open, reopened, k);
        }
    }
    let reopened_before = if MARKERS.contains(&name.as_str()) {
        *reopened
    } else {
        0
    };
    open.push(Open {
        name,
        reopened_before,
    });
}

fn close(open: &mut Vec<Open>, reopened: &mut usize, name: &str) {
    match open.iter().rposition(|e| e.name == name) {
        Some(k) => pop_to(open, reopened, k),
        // A formatting element's end tag removes it from those to reopen.
        None if FORMATTING.contains(&name) => *reopened = reopened.saturating_sub(1),
        None => {}
    }
}

/// Closes the element at `k` and everything opened inside it.
fn pop_to(open: &mut Vec<Open>, reopened: &mut usize, k: usize) {
    for (i, element) in open.drain(k..).enumerate().rev() {
        let name = element.name.as_str();
        if MARKERS.contains(&name) {
            *reopened = element.reopened_before;
        } else if i > 0 && FORMATTING.contains(&name) {
            *reopened += 1;
        }
    }
}

/// A cursor over the bytes of the fragment. It only moves forward.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn rest(&self) -> &[u8] {
        &self.bytes[self.at.min(self.bytes.len())..]
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Moves to the next `byte`; false at the end.
    fn skip_to(&mut self, byte: u8) -> bool {
        match memchr::memchr(byte, self.rest()) {
            Some(p) => {
                self.at += p;
                true
            }
            None => {
                self.at = self.bytes.len();
                false
            }
        }
    }

    /// Moves past the next `needle`, or to the end.
    fn skip_past(&mut self, needle: &[u8]) {
        match memchr::memmem::find(self.rest(), needle) {
            Some(p) => self.at += p + needle.len(),
            None => self.at = self.bytes.len(),
        }
    }

    /// Skips the text of a raw-text element up to its end tag.
    fn skip_raw_text(&mut self, name: &str) {
        let finder = memchr::memmem::Finder::new(b"</");
        while let Some(p) = finder.find(self.rest()) {
            self.at += p + 2;
            let rest = self.rest();
            if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            {
                self.at += name.len();
                self.attributes();
                return;
            }
        }
        self.at = self.bytes.len();
    }

    /// A tag name, lowercased, up to white space, `/` or `>`.
    fn name(&mut self) -> Option<String> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || c == b'/' || c == b'>' {
                break;
            }
            self.at += 1;
        }
        let name = &self.bytes[start..self.at];
        (!name.is_empty()).then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
    }

    /// Reads attributes up to the tag's `>`: how many, and whether the tag ended with `/>`.
    fn attributes(&mut self) -> (usize, bool) {
        let mut count = 0;
        let mut self_closing = false;
        loop {
            while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                self.at += 1;
            }
            match self.peek() {
                None => return (count, false),
                Some(b'>') => {
                    self.at += 1;
                    return (count, self_closing);
                }
                Some(b'/') => {
                    self.at += 1;
                    self_closing = true;
                    continue;
                }
                Some(_) => {}
            }
            self_closing = false;
            count += 1;
            // The name: its first character may be `=`.
            self.at += 1;
            while let Some(c) = self.peek() {
                if c.is_ascii_whitespace() || matches!(c, b'/' | b'>' | b'=') {
                    break;
                }
                self.at += 1;
            }
            while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                self.at += 1;
            }
            if self.peek() != Some(b'=') {
                continue;
            }
            self.at += 1;
            while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                self.at += 1;
            }
            match self.peek() {
                Some(quote @ (b'"' | b'\'')) => {
                    self.at += 1;
                    if self.skip_to(quote) {
                        self.at += 1;
                    }
                }
                _ => {
                    while let Some(c) = self.peek() {
                        if c.is_ascii_whitespace() || c == b'>' {
                            break;
                        }
                        self.at += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(html: &str) -> usize {
        shape(html).depth
    }

    #[test]
    fn counts_elements_depth_and_attributes() {
        let s = shape(r#"<div class="a" id=b><p>x<img src="1.png" alt='a>b'><br/></p></div>"#);
        assert_eq!(
            s,
            Shape {
                elements: 4,
                depth: 2,
                attributes: 2
            }
        );
    }

    #[test]
    fn comments_raw_text_and_stray_brackets_are_not_tags() {
        let s = shape(
            "<!-- <div><div> --><script>if (a<b) { '<div>' }</script>1 < 2 <3 <!DOCTYPE x><?x?>",
        );
        assert_eq!(s.elements, 1);
        assert_eq!(s.depth, 0);
        assert_eq!(shape("<style>p{}</STYLE ><p>a").depth, 1);
    }

    #[test]
    fn optional_end_tags_do_not_deepen() {
        let mut html = String::from("<table>");
        for _ in 0..1000 {
            html.push_str("<tr><td>a<td>b");
        }
        html.push_str("</table><ul>");
        for _ in 0..1000 {
            html.push_str("<li>x<p>y<p>z");
        }
        html.push_str("</ul>");
        assert!(depth(&html) <= 4, "{}", depth(&html));
    }

    #[test]
    fn nesting_and_unclosed_formatting_deepen() {
        assert_eq!(depth(&"<div>".repeat(500)), 500);
        assert_eq!(depth(&"<b id=i>".repeat(300)), 300);
        // Closed by the paragraph's end, each <b> is reopened by the next text.
        assert!(depth(&"<p><b id=1>x</p>".repeat(300)) >= 300);
        // Nested tables deepen even though their rows close implicitly.
        assert!(depth(&"<table><tr><td>".repeat(100)) >= 300);
    }

    #[test]
    fn formatting_closed_properly_or_inside_cells_does_not_accumulate() {
        assert_eq!(depth(&"<p><b>x</b></p>".repeat(1000)), 2);
        let mut html = String::from("<table><tr>");
        for _ in 0..1000 {
            html.push_str("<td><b>unclosed</td>");
        }
        assert!(depth(&html) <= 4, "{}", depth(&html));
        assert_eq!(depth(&"<p><b>x</p></b>".repeat(1000)), 2);
    }

    #[test]
    fn reopened_formatting_counts_as_elements_each_time_text_follows() {
        let mut html = format!("<div>{}</div>", "<b id=i>".repeat(200));
        html.push_str(&"<p>x</p>".repeat(1000));
        let s = shape(&html);
        assert!(s.elements >= 200 * 1000, "{s:?}");
        assert!(s.depth <= 202, "{s:?}");
    }

    #[test]
    fn attributes_are_counted_whatever_their_spelling() {
        assert_eq!(shape("<a b c=d e = 'f g' h=\"i>j\" =k/>").attributes, 5);
        let many: String = (0..1000).map(|i| format!(" a{i}=1")).collect();
        assert_eq!(shape(&format!("<b{many}>")).attributes, 1000);
    }

    #[test]
    fn truncated_input_ends_cleanly() {
        for html in ["<", "<a", "<a b=\"", "<!--", "</", "<script>x", "<a b='c"] {
            let _ = shape(html);
        }
    }
}
