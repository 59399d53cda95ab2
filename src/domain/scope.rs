use super::SectionPath;

/// A feed's scope: one section with its descendants, or the whole site.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    All,
    Section(SectionPath),
}

impl Scope {
    /// The name used in feed URLs: `all` or the slug path.
    pub fn as_str(&self) -> &str {
        match self {
            Scope::All => "all",
            Scope::Section(path) => path.as_str(),
        }
    }

    /// Whether an article of `section` belongs to this scope's feed.
    pub fn includes(&self, section: &SectionPath) -> bool {
        match self {
            Scope::All => true,
            Scope::Section(path) => section.is_within(path),
        }
    }
}
