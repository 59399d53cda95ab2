//! A tag that names a feed: `/feeds/tags/{tag}.{rss,atom,json}`.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::InvalidValue;

/// What the scope name of a tag feed starts with: `tags/双拥`. A top-level section may not be
/// called `tags` (the catalogue refuses it), so the two never meet.
pub const TAG_SCOPE_PREFIX: &str = "tags/";

/// The longest tag, in characters: the longest ingest accepts.
pub const MAX_TAG_CHARS: usize = 100;

/// What a tag keeps unescaped in a URL path: RFC 3986's unreserved characters. Everything
/// else, every non-ASCII character included, is percent-encoded as UTF-8, so that a tag's URL
/// is one exact ASCII string in `Link` headers, self links and WebSub topics alike.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A tag as articles carry it and tag feeds name it: white space folded the way ingest folds
/// it (runs of white space other than U+00A0 become one space, none at either end), 1 to 100
/// characters, no `/` (an encoded slash in a path is refused or decoded by many proxies), no
/// control character.
///
/// Tags match exactly, case included: `Rust` and `rust` are two feeds. Most tags of the portal
/// are Chinese, which has no case; folding the case of the others would merge tags a
/// publisher keeps apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    /// `tags/` and the tag: the scope's name, kept whole so that it can be lent out.
    scoped: String,
}

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let tag = fold_white_space(raw);
        if tag.is_empty() {
            return Err(InvalidValue("a tag must not be empty".into()));
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(InvalidValue(format!(
                "a tag has at most {MAX_TAG_CHARS} characters"
            )));
        }
        if tag.contains('/') {
            return Err(InvalidValue("a tag feed's tag cannot contain '/'".into()));
        }
        if let Some(c) = tag
            .chars()
            .find(|c| c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}'))
        {
            return Err(InvalidValue(format!(
                "a tag cannot contain the control character U+{:04X}",
                u32::from(c)
            )));
        }
        Ok(Self {
            scoped: format!("{TAG_SCOPE_PREFIX}{tag}"),
        })
    }

    /// The tag itself: `双拥`.
    pub fn as_str(&self) -> &str {
        &self.scoped[TAG_SCOPE_PREFIX.len()..]
    }

    /// The name of the tag's feed scope: `tags/双拥`.
    pub fn scope_name(&self) -> &str {
        &self.scoped
    }

    /// The feed's path under `/feeds/`, without the extension: `tags/%E5%8F%8C%E6%8B%A5`.
    pub fn url_path(&self) -> String {
        format!(
            "{TAG_SCOPE_PREFIX}{}",
            utf8_percent_encode(self.as_str(), PATH_SEGMENT)
        )
    }

    /// Whether an article with `tags` carries this one.
    pub fn is_among(&self, tags: &[String]) -> bool {
        tags.iter().any(|t| t == self.as_str())
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Folds white space as every plain-text field is folded: runs of white space other than a
/// no-break space (which publishers put where a break must not fall) become one space, and
/// none is left at either end.
pub fn fold_white_space(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split(|c: char| c.is_whitespace() && c != '\u{a0}') {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_folded_like_ingest_and_keep_their_case() {
        let tag = Tag::parse("  乡村\t 振兴 ").unwrap();
        assert_eq!(tag.as_str(), "乡村 振兴");
        assert_eq!(tag.scope_name(), "tags/乡村 振兴");
        assert_ne!(Tag::parse("Rust").unwrap(), Tag::parse("rust").unwrap());
        assert_eq!(Tag::parse("a\u{a0}b").unwrap().as_str(), "a\u{a0}b");
        assert!(Tag::parse(&"字".repeat(100)).is_ok());
    }

    #[test]
    fn empty_long_slashed_and_control_tags_are_refused() {
        for bad in ["", "   ", "a/b", "a\u{1}b", "a\u{7f}", "\u{ffff}"] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Tag::parse(&"字".repeat(101)).is_err());
    }

    #[test]
    fn url_paths_encode_everything_but_unreserved_characters() {
        assert_eq!(
            Tag::parse("双拥").unwrap().url_path(),
            "tags/%E5%8F%8C%E6%8B%A5"
        );
        assert_eq!(
            Tag::parse("a b?c#d%e&f+g.h~i_j-k").unwrap().url_path(),
            "tags/a%20b%3Fc%23d%25e%26f%2Bg.h~i_j-k"
        );
    }
}
