use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a value could not become a domain type; the message is shown to clients as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The publisher's stable id of an article: the idempotency key of ingest.
///
/// 1 to 200 characters from `A-Z a-z 0-9 . _ ~ : @ -`, so that it can stand in a URL path
/// segment and a `tag:` URI without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArticleId(String);

impl ArticleId {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() {
            return Err(InvalidValue("must not be empty".into()));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidValue(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        if let Some(bad) = raw.chars().find(|c| !is_id_char(*c)) {
            return Err(InvalidValue(format!(
                "must use only letters, digits and . _ ~ : @ -; found {bad:?}"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | ':' | '@' | '-')
}

impl TryFrom<String> for ArticleId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ArticleId> for String {
    fn from(value: ArticleId) -> Self {
        value.0
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A section's slug path, such as `hnyw/ldhd`: lowercase slugs joined by `/`.
///
/// Each slug is 1 to 64 characters of `a-z 0-9 -  _`, starting with a letter or digit. The
/// reserved name `all` (the whole site) is not a section path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SectionPath(String);

impl SectionPath {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() {
            return Err(InvalidValue("must not be empty".into()));
        }
        for slug in raw.split('/') {
            Self::check_slug(slug)?;
        }
        if raw == "all" {
            return Err(InvalidValue(
                "`all` is reserved for the whole site's feed".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Checks one path segment.
    pub fn check_slug(slug: &str) -> Result<(), InvalidValue> {
        let valid_chars = slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let starts_well = slug
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if slug.is_empty() || slug.len() > 64 || !valid_chars || !starts_well {
            return Err(InvalidValue(format!(
                "slug {slug:?} must be 1 to 64 characters of a-z, 0-9, - and _, starting with a letter or digit"
            )));
        }
        Ok(())
    }

    pub fn child(&self, slug: &str) -> Result<Self, InvalidValue> {
        Self::check_slug(slug)?;
        Ok(Self(format!("{}/{}", self.0, slug)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent path, `None` for a top-level section.
    pub fn parent(&self) -> Option<SectionPath> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| SectionPath(parent.to_owned()))
    }

    /// This path and every ancestor, nearest first: `a/b/c`, `a/b`, `a`.
    pub fn self_and_ancestors(&self) -> Vec<SectionPath> {
        let mut out = vec![self.clone()];
        let mut cur = self.parent();
        while let Some(p) = cur {
            cur = p.parent();
            out.push(p);
        }
        out
    }

    /// Whether `self` is `other` or one of its descendants.
    pub fn is_within(&self, other: &SectionPath) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.starts_with(&other.0)
                && self.0.as_bytes()[other.0.len()] == b'/')
    }

    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }
}

impl TryFrom<String> for SectionPath {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SectionPath> for String {
    fn from(value: SectionPath) -> Self {
        value.0
    }
}

impl fmt::Display for SectionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_ids_are_url_safe() {
        assert!(ArticleId::parse("hn-20210601-shuangyong").is_ok());
        assert!(ArticleId::parse("a b").is_err());
        assert!(ArticleId::parse("").is_err());
        assert!(ArticleId::parse("é").is_err());
        assert!(ArticleId::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn section_paths_know_their_ancestors() {
        let p = SectionPath::parse("zwgk/tzgg/2021").unwrap();
        let names: Vec<_> = p
            .self_and_ancestors()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(names, ["zwgk/tzgg/2021", "zwgk/tzgg", "zwgk"]);
        assert!(p.is_within(&SectionPath::parse("zwgk").unwrap()));
        assert!(
            !SectionPath::parse("zwgkx")
                .unwrap()
                .is_within(&SectionPath::parse("zwgk").unwrap())
        );
        assert!(SectionPath::parse("Hnyw").is_err());
        assert!(SectionPath::parse("hnyw//ldhd").is_err());
        assert!(SectionPath::parse("all").is_err());
    }
}
