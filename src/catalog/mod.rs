//! The section catalogue: the site and its tree of sections, loaded from `feeds/`.
//!
//! `feeds/site.toml` describes the site; every other `feeds/*.toml` holds `[[section]]` tables.
//! A section names its `parent` by slug path, so the tree can be spread over several files.

mod load;
mod sources;

use std::collections::HashMap;

use chrono_tz::Tz;
use url::Url;

pub use crate::domain::Scope;
use crate::domain::{SectionPath, TAG_SCOPE_PREFIX, Tag};

pub use load::{
    BUILTIN_SECTION_FILES, CatalogError, Problem, builtin_catalog, catalog_from_texts, load_catalog,
};
pub use sources::{FetchSettings, PageRulesSpec, SOURCES_FILE, SourceKind, SourceSpec};

/// The portal whose articles tidings syndicates.
#[derive(Debug, Clone)]
pub struct Site {
    pub title: String,
    pub description: String,
    /// The portal's home page.
    pub home: Url,
    /// BCP 47 tag, such as `zh-CN`.
    pub language: String,
    /// Dates given without a time are midnight in this zone.
    pub time_zone: Tz,
    pub icon: Option<Url>,
    pub logo: Option<Url>,
    /// Prefix of every entry id (an RFC 4151 `tag:` URI); never change it once feeds are out.
    pub id_prefix: String,
}

/// A node of the section tree.
#[derive(Debug, Clone)]
pub struct Section {
    pub path: SectionPath,
    /// The title in the site's language, as in the portal's breadcrumb (领导动态).
    pub title: String,
    pub description: String,
    /// The section's page on the portal; the site's home when not given.
    pub link: Url,
    pub language: String,
}

/// The loaded, validated catalogue.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub site: Site,
    /// Sections in the order they are declared (files by name, then tables in each file): the
    /// order of the portal's navigation, kept in listings.
    sections: Vec<Section>,
    by_path: HashMap<SectionPath, usize>,
    /// Where articles are taken from besides the API (`sources.toml`; none by default).
    pub sources: Vec<SourceSpec>,
    /// How the sources are fetched.
    pub fetch: FetchSettings,
}

impl Catalog {
    /// A catalogue of `sections` in declaration order; a repeated path keeps its first entry.
    pub fn new(site: Site, sections: impl IntoIterator<Item = Section>) -> Self {
        let mut catalog = Self {
            site,
            sections: Vec::new(),
            by_path: HashMap::new(),
            sources: Vec::new(),
            fetch: FetchSettings::default(),
        };
        for section in sections {
            if !catalog.by_path.contains_key(&section.path) {
                catalog
                    .by_path
                    .insert(section.path.clone(), catalog.sections.len());
                catalog.sections.push(section);
            }
        }
        catalog
    }

    pub fn section(&self, path: &SectionPath) -> Option<&Section> {
        self.by_path.get(path).map(|i| &self.sections[*i])
    }

    /// Every section, in declaration order.
    pub fn sections(&self) -> impl Iterator<Item = &Section> {
        self.sections.iter()
    }

    /// The direct children of `parent`, or the top-level sections for `None`.
    pub fn children(
        &self,
        parent: Option<&SectionPath>,
    ) -> impl Iterator<Item = &Section> + use<'_> {
        let parent = parent.cloned();
        self.sections
            .iter()
            .filter(move |s| s.path.parent() == parent)
    }

    /// The scopes of the site's tree: `all` first, then each section. (Tag feeds are not
    /// listed: any tag has one, whether or not an article carries it yet.)
    pub fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        std::iter::once(Scope::All)
            .chain(self.sections.iter().map(|s| Scope::Section(s.path.clone())))
    }

    /// Parses `all`, a known section path, or `tags/` and a valid tag (see [`Tag`]).
    pub fn scope(&self, name: &str) -> Option<Scope> {
        if name == "all" {
            return Some(Scope::All);
        }
        if let Some(tag) = name.strip_prefix(TAG_SCOPE_PREFIX) {
            return Tag::parse(tag).ok().map(Scope::Tag);
        }
        let path = SectionPath::parse(name).ok()?;
        self.by_path
            .contains_key(&path)
            .then_some(Scope::Section(path))
    }

    /// The scopes whose feeds show an article of `section` carrying `tags`: the section, its
    /// ancestors, `all`, and each tag's (a tag that cannot name a feed has none).
    pub fn scopes_including(&self, section: &SectionPath, tags: &[String]) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = section
            .self_and_ancestors()
            .into_iter()
            .map(Scope::Section)
            .collect();
        scopes.push(Scope::All);
        scopes.extend(
            tags.iter()
                .filter_map(|t| Tag::parse(t).ok())
                .map(Scope::Tag),
        );
        scopes
    }

    /// The titles from the top-level section down to `path`: 黄南要闻, 领导动态.
    pub fn titles_of(&self, path: &SectionPath) -> Vec<String> {
        let mut titles: Vec<String> = path
            .self_and_ancestors()
            .iter()
            .filter_map(|p| self.section(p).map(|s| s.title.clone()))
            .collect();
        titles.reverse();
        titles
    }

    /// Maps a breadcrumb (首页 / 黄南要闻 / 领导动态) to a section by titles, top-down.
    ///
    /// A leading 首页 (or the site's own title) is dropped; surrounding white space is ignored.
    pub fn section_by_titles<S: AsRef<str>>(&self, titles: &[S]) -> Option<&Section> {
        let mut titles: Vec<&str> = titles.iter().map(|t| t.as_ref().trim()).collect();
        if titles
            .first()
            .is_some_and(|t| *t == "首页" || *t == "Home" || *t == self.site.title)
        {
            titles.remove(0);
        }
        let mut parent: Option<SectionPath> = None;
        let mut found = None;
        for title in titles {
            let section = self
                .children(parent.as_ref())
                .find(|s| s.title.trim() == title)?;
            parent = Some(section.path.clone());
            found = Some(section);
        }
        found
    }

    /// The existing sections closest to an unknown name, for error messages.
    pub fn suggest(&self, wanted: &str, how_many: usize) -> Vec<String> {
        let mut scored: Vec<(f64, &Section)> = self
            .sections
            .iter()
            .map(|s| {
                let by_path = strsim::jaro_winkler(wanted, s.path.as_str());
                let by_title = strsim::jaro_winkler(wanted, &s.title);
                let last = wanted.rsplit('/').next().unwrap_or(wanted);
                let by_slug =
                    strsim::jaro_winkler(last, s.path.as_str().rsplit('/').next().unwrap_or(""));
                (by_path.max(by_title).max(by_slug * 0.95), s)
            })
            .filter(|(score, _)| *score > 0.6)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .take(how_many)
            .map(|(_, s)| s.path.to_string())
            .collect()
    }

    /// The title shown for a scope's feed: the site's title, then the section's trail, or the
    /// tag (`黄南藏族自治州人民政府 - 双拥`).
    pub fn feed_title(&self, scope: &Scope) -> String {
        match scope {
            Scope::All => self.site.title.clone(),
            Scope::Section(path) => {
                let mut parts = vec![self.site.title.clone()];
                parts.extend(self.titles_of(path));
                parts.join(" - ")
            }
            Scope::Tag(tag) => format!("{} - {tag}", self.site.title),
        }
    }

    /// A section's description; the site's for `all` and for a tag, whose articles come from
    /// every section.
    pub fn feed_description(&self, scope: &Scope) -> String {
        match scope {
            Scope::All | Scope::Tag(_) => self.site.description.clone(),
            Scope::Section(path) => self
                .section(path)
                .map(|s| s.description.clone())
                .unwrap_or_default(),
        }
    }

    pub fn feed_language(&self, scope: &Scope) -> &str {
        match scope {
            Scope::All | Scope::Tag(_) => &self.site.language,
            Scope::Section(path) => self
                .section(path)
                .map(|s| s.language.as_str())
                .unwrap_or(&self.site.language),
        }
    }

    /// A section's page on the portal; the site's home for `all` and for a tag (the portal
    /// has no page per tag that tidings would know of).
    pub fn feed_home(&self, scope: &Scope) -> &Url {
        match scope {
            Scope::All | Scope::Tag(_) => &self.site.home,
            Scope::Section(path) => self
                .section(path)
                .map(|s| &s.link)
                .unwrap_or(&self.site.home),
        }
    }

    /// The entry id of an article: stable across updates, deletion and re-publication.
    pub fn entry_id(&self, article_id: &crate::domain::ArticleId) -> String {
        format!("{}{}", self.site.id_prefix, article_id)
    }
}
