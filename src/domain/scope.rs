use std::borrow::Cow;

use super::{Article, FeedFormat, InvalidValue, SectionPath, TAG_SCOPE_PREFIX, Tag};

/// A feed's scope: one section with its descendants, the whole site, or the articles of every
/// section that carry a tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    All,
    Section(SectionPath),
    Tag(Tag),
}

impl Scope {
    /// The scope's name: `all`, the slug path, or `tags/` and the tag (`tags/双拥`). It keys
    /// stored subscriptions and reads back with [`Scope::parse_name`].
    pub fn as_str(&self) -> &str {
        match self {
            Scope::All => "all",
            Scope::Section(path) => path.as_str(),
            Scope::Tag(tag) => tag.scope_name(),
        }
    }

    /// A scope from its name ([`Scope::as_str`]), whether or not the catalogue knows the
    /// section.
    pub fn parse_name(name: &str) -> Result<Self, InvalidValue> {
        if name == "all" {
            return Ok(Scope::All);
        }
        match name.strip_prefix(TAG_SCOPE_PREFIX) {
            Some(tag) => Tag::parse(tag).map(Scope::Tag),
            None => SectionPath::parse(name).map(Scope::Section),
        }
    }

    /// The feed's path under `/feeds/`, without the extension: the name, with a tag
    /// percent-encoded (`tags/%E5%8F%8C%E6%8B%A5`).
    pub fn url_path(&self) -> Cow<'_, str> {
        match self {
            Scope::Tag(tag) => Cow::Owned(tag.url_path()),
            other => Cow::Borrowed(other.as_str()),
        }
    }

    /// The absolute URL of this scope's feed in `format`: its self link and WebSub topic.
    pub fn feed_url(&self, public_base: &str, format: FeedFormat) -> String {
        format!(
            "{public_base}/feeds/{}.{}",
            self.url_path(),
            format.extension()
        )
    }

    /// The absolute URL of this scope's page for people, beside its feeds.
    pub fn page_url(&self, public_base: &str) -> String {
        format!("{public_base}/feeds/{}.html", self.url_path())
    }

    /// The absolute URL of this scope's live stream of events, beside its feeds.
    pub fn events_url(&self, public_base: &str) -> String {
        format!("{public_base}/feeds/{}.events", self.url_path())
    }

    /// Whether an article of `section` carrying `tags` belongs to this scope's feed.
    pub fn includes(&self, section: &SectionPath, tags: &[String]) -> bool {
        match self {
            Scope::All => true,
            Scope::Section(path) => section.is_within(path),
            Scope::Tag(tag) => tag.is_among(tags),
        }
    }

    /// The live articles of this scope's sections, from the live articles of each section
    /// (not counting descendants, as the store keeps them). A tag's scope counts none: tags
    /// are not counted per section.
    pub fn live_articles(&self, per_section: &[(String, u64)]) -> u64 {
        per_section
            .iter()
            .filter(|(section, _)| {
                SectionPath::parse(section).is_ok_and(|s| self.includes(&s, &[]))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Whether `article` belongs to this scope's feed.
    pub fn includes_article(&self, article: &Article) -> bool {
        self.includes(&article.section, &article.tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_counts_the_live_articles_of_its_sections_and_their_descendants() {
        let counts = [
            ("hnyw".to_owned(), 2),
            ("hnyw/ldhd".to_owned(), 3),
            ("hnywx".to_owned(), 7),
            ("zwgk/tzgg".to_owned(), 1),
        ];
        let scope = |name: &str| Scope::parse_name(name).unwrap();
        assert_eq!(scope("all").live_articles(&counts), 13);
        assert_eq!(scope("hnyw").live_articles(&counts), 5, "not hnywx");
        assert_eq!(scope("hnyw/ldhd").live_articles(&counts), 3);
        assert_eq!(scope("zjhn").live_articles(&counts), 0);
        assert_eq!(scope("tags/双拥").live_articles(&counts), 0);
    }

    #[test]
    fn names_read_back_and_tags_are_encoded_in_urls() {
        for name in ["all", "hnyw/ldhd", "tags/双拥", "tags/a b"] {
            assert_eq!(Scope::parse_name(name).unwrap().as_str(), name);
        }
        assert!(Scope::parse_name("tags/").is_err());
        let tag = Scope::parse_name("tags/乡村 振兴").unwrap();
        assert_eq!(
            tag.feed_url("http://h", FeedFormat::Atom),
            "http://h/feeds/tags/%E4%B9%A1%E6%9D%91%20%E6%8C%AF%E5%85%B4.atom"
        );
        assert_eq!(
            Scope::parse_name("hnyw/ldhd")
                .unwrap()
                .feed_url("http://h", FeedFormat::Rss),
            "http://h/feeds/hnyw/ldhd.rss"
        );
    }

    #[test]
    fn a_tag_scope_looks_at_tags_and_a_section_scope_at_sections() {
        let ldhd = SectionPath::parse("hnyw/ldhd").unwrap();
        let tagged = vec!["双拥".to_owned()];
        let tag = Scope::parse_name("tags/双拥").unwrap();
        assert!(tag.includes(&ldhd, &tagged));
        assert!(!tag.includes(&ldhd, &[]));
        let hnyw = Scope::parse_name("hnyw").unwrap();
        assert!(hnyw.includes(&ldhd, &[]));
        assert!(!Scope::parse_name("zwgk").unwrap().includes(&ldhd, &tagged));
    }
}
