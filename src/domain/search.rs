use std::fmt;

use super::InvalidValue;

/// What a reader searches the articles for: 1 to 200 characters of text, white space folded
/// (runs of it become one space, none at either end), as titles are folded at ingest.
///
/// Matching is by substring, ASCII letters in either case (Chinese has no case; other scripts
/// match as written): [`SearchQuery::is_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    text: String,
    /// `text` with ASCII letters in lower case: what is looked for in lower-cased text.
    folded: String,
}

impl SearchQuery {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return Err(InvalidValue("must not be empty".into()));
        }
        let chars = text.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "must be at most {} characters, not {chars}",
                Self::MAX_CHARS
            )));
        }
        if let Some(bad) = text.chars().find(|c| c.is_control()) {
            return Err(InvalidValue(format!(
                "must not contain control characters; found {bad:?}"
            )));
        }
        let folded = text.to_ascii_lowercase();
        Ok(Self { text, folded })
    }

    /// The text as the reader typed it, white space folded.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text with ASCII letters in lower case.
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// Whether `text` contains the query, ASCII letters in either case.
    pub fn is_in(&self, text: &str) -> bool {
        text.to_ascii_lowercase().contains(&self.folded)
    }
}

impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_folded_and_ascii_case_ignored() {
        let query = SearchQuery::parse("  Huangnan \t 双拥\n").unwrap();
        assert_eq!(query.as_str(), "Huangnan 双拥");
        assert_eq!(query.folded(), "huangnan 双拥");
        assert!(query.is_in("在 HUANGNAN 双拥工作"));
        assert!(!query.is_in("Huangnan  双拥"), "stored text is folded too");
        // Only ASCII letters fold: É and é stay different, as in both engines' SQL.
        assert!(!SearchQuery::parse("É").unwrap().is_in("é"));
    }

    #[test]
    fn empty_long_and_control_queries_are_refused() {
        assert!(SearchQuery::parse("").is_err());
        assert!(
            SearchQuery::parse(" \u{3000}\t").is_err(),
            "white space only"
        );
        assert!(SearchQuery::parse(&"黄".repeat(200)).is_ok());
        let err = SearchQuery::parse(&"黄".repeat(201)).unwrap_err();
        assert_eq!(err.0, "must be at most 200 characters, not 201");
        assert!(SearchQuery::parse("a\u{0}b").is_err());
        assert!(SearchQuery::parse("a\u{7f}").is_err());
    }
}
