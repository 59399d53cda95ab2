use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::sources::{SOURCES_FILE, parse_sources};
use super::{Catalog, Section, Site};
use crate::domain::SectionPath;

/// The top-level slug the tag feeds' URLs start with (`TAG_SCOPE_PREFIX` without its `/`).
const RESERVED_FOR_TAGS: &str = "tags";

/// One thing wrong with the catalogue, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// Every problem found in the catalogue; loading reports them all at once.
#[derive(Debug, thiserror::Error)]
pub struct CatalogError(pub Vec<Problem>);

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the section catalogue has {} problem(s)", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    title: String,
    #[serde(default)]
    description: String,
    home: Spanned<String>,
    language: Spanned<String>,
    time_zone: Spanned<String>,
    icon: Option<Spanned<String>>,
    logo: Option<Spanned<String>>,
    id_prefix: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionsFile {
    #[serde(default)]
    section: Vec<Spanned<SectionEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionEntry {
    slug: Spanned<String>,
    parent: Option<Spanned<String>>,
    title: String,
    #[serde(default)]
    description: String,
    link: Option<Spanned<String>>,
    language: Option<Spanned<String>>,
}

pub(super) struct Source {
    pub(super) file: PathBuf,
    pub(super) text: String,
}

impl Source {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1
    }

    pub(super) fn problem<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.clone(),
            line: self.line_of(spanned.span().start),
            message: message.into(),
        }
    }

    pub(super) fn parse_error(&self, err: toml::de::Error) -> Problem {
        Problem {
            file: self.file.clone(),
            line: err.span().map(|s| self.line_of(s.start)).unwrap_or(0),
            message: err.message().trim().to_owned(),
        }
    }
}

/// The section files of the catalogue built into the binary: the shipped `feeds/`, by name.
pub const BUILTIN_SECTION_FILES: [(&str, &str); 3] = [
    ("hnyw.toml", include_str!("../../feeds/hnyw.toml")),
    ("zjhn.toml", include_str!("../../feeds/zjhn.toml")),
    ("zwgk.toml", include_str!("../../feeds/zwgk.toml")),
];

/// The catalogue built into the binary (the shipped `feeds/`): what serves when no
/// `catalog_dir` is configured.
pub fn builtin_catalog() -> Result<Catalog, CatalogError> {
    catalog_from_texts(
        include_str!("../../feeds/site.toml"),
        &BUILTIN_SECTION_FILES,
    )
}

/// Loads and validates `dir/site.toml` and every other `dir/*.toml`.
pub fn load_catalog(dir: &Path) -> Result<Catalog, CatalogError> {
    let mut problems = Vec::new();
    let site_path = dir.join("site.toml");
    let site = match std::fs::read_to_string(&site_path) {
        Ok(text) => Source {
            file: site_path,
            text,
        },
        Err(err) => {
            return Err(CatalogError(vec![Problem {
                file: site_path,
                line: 0,
                message: format!("cannot read the site file: {err}"),
            }]));
        }
    };

    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n != "site.toml" && n != SOURCES_FILE)
            })
            .collect(),
        Err(err) => {
            problems.push(Problem {
                file: dir.to_owned(),
                line: 0,
                message: format!("cannot list the catalogue folder: {err}"),
            });
            Vec::new()
        }
    };
    files.sort();

    let mut sources = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => sources.push(Source { file, text }),
            Err(err) => problems.push(Problem {
                file,
                line: 0,
                message: format!("cannot read: {err}"),
            }),
        }
    }
    let sources_path = dir.join(SOURCES_FILE);
    let sources_file = match std::fs::read_to_string(&sources_path) {
        Ok(text) => Some(Source {
            file: sources_path,
            text,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            problems.push(Problem {
                file: sources_path,
                line: 0,
                message: format!("cannot read: {err}"),
            });
            None
        }
    };
    let mut catalog = build_catalog(dir, &site, &sources, problems)?;
    if let Some(file) = sources_file {
        let mut problems = Vec::new();
        let (specs, fetch) = parse_sources(&file, |p| catalog.section(p).is_some(), &mut problems);
        if !problems.is_empty() {
            return Err(CatalogError(problems));
        }
        catalog.sources = specs;
        catalog.fetch = fetch;
    }
    Ok(catalog)
}

/// Validates a catalogue given as texts: the site file's, and each section file's with its
/// name (in the order given). What [`load_catalog`] does once it has read the folder.
pub fn catalog_from_texts(site: &str, files: &[(&str, &str)]) -> Result<Catalog, CatalogError> {
    let site = Source {
        file: PathBuf::from("site.toml"),
        text: site.to_owned(),
    };
    let sources: Vec<Source> = files
        .iter()
        .map(|(name, text)| Source {
            file: PathBuf::from(name),
            text: (*text).to_owned(),
        })
        .collect();
    build_catalog(Path::new("."), &site, &sources, Vec::new())
}

fn build_catalog(
    dir: &Path,
    site_source: &Source,
    sources: &[Source],
    unread: Vec<Problem>,
) -> Result<Catalog, CatalogError> {
    let mut problems = Vec::new();
    let site = parse_site(site_source, &mut problems);
    problems.extend(unread);
    let mut entries = Vec::new();
    for (n, source) in sources.iter().enumerate() {
        match toml::from_str::<SectionsFile>(&source.text) {
            Ok(parsed) => entries.extend(parsed.section.into_iter().map(|e| (n, e))),
            Err(err) => problems.push(source.parse_error(err)),
        }
    }

    let sections = match &site {
        Some(site) => build_tree(site, sources, entries, &mut problems),
        None => Vec::new(),
    };
    if sections.is_empty() && problems.is_empty() {
        problems.push(Problem {
            file: dir.to_owned(),
            line: 0,
            message: "no sections: add a `[[section]]` table to a .toml file beside site.toml"
                .into(),
        });
    }
    match (site, problems.is_empty()) {
        (Some(site), true) => Ok(Catalog::new(site, sections)),
        _ => Err(CatalogError(problems)),
    }
}

fn parse_site(source: &Source, problems: &mut Vec<Problem>) -> Option<Site> {
    let raw: SiteFile = match toml::from_str(&source.text) {
        Ok(raw) => raw,
        Err(err) => {
            problems.push(source.parse_error(err));
            return None;
        }
    };
    let before = problems.len();
    let home = parse_url(source, &raw.home, "home", problems);
    let icon = raw
        .icon
        .as_ref()
        .and_then(|u| parse_url(source, u, "icon", problems));
    let logo = raw.logo.as_ref().and_then(|raw| {
        parse_url(source, raw, "logo", problems)
            .filter(|url| is_feed_image(source, raw, url, problems))
    });
    check_language(source, &raw.language, problems);
    let time_zone = match raw.time_zone.get_ref().parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            problems.push(source.problem(
                &raw.time_zone,
                format!(
                    "time_zone {:?} is not an IANA time zone name such as Asia/Shanghai",
                    raw.time_zone.get_ref()
                ),
            ));
            None
        }
    };
    if !raw.id_prefix.get_ref().starts_with("tag:")
        || raw.id_prefix.get_ref().contains(char::is_whitespace)
    {
        problems.push(source.problem(
            &raw.id_prefix,
            "id_prefix must be an RFC 4151 tag: URI prefix such as \"tag:example.gov.cn,2021:\"",
        ));
    }
    if raw.title.trim().is_empty() {
        problems.push(Problem {
            file: source.file.clone(),
            line: 1,
            message: "title must not be empty".into(),
        });
    }
    if problems.len() > before {
        return None;
    }
    Some(Site {
        title: raw.title.trim().to_owned(),
        description: raw.description.trim().to_owned(),
        home: home?,
        language: raw.language.into_inner(),
        time_zone: time_zone?,
        icon,
        logo,
        id_prefix: raw.id_prefix.into_inner(),
    })
}

fn parse_url(
    source: &Source,
    raw: &Spanned<String>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<Url> {
    match Url::parse(raw.get_ref()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        _ => {
            problems.push(source.problem(
                raw,
                format!("{key} {:?} is not an absolute http(s) URL", raw.get_ref()),
            ));
            None
        }
    }
}

/// RSS 2.0 `<image>` must be a GIF, JPEG or PNG; readers and validators go by the name.
fn is_feed_image(
    source: &Source,
    raw: &Spanned<String>,
    url: &Url,
    problems: &mut Vec<Problem>,
) -> bool {
    let name = url.path().to_ascii_lowercase();
    let known = [".png", ".gif", ".jpg", ".jpeg"]
        .iter()
        .any(|ext| name.ends_with(ext));
    if !known {
        problems.push(source.problem(
            raw,
            format!(
                "logo {:?} must name a .png, .gif or .jpg image: feed readers show no other",
                raw.get_ref()
            ),
        ));
    }
    known
}

fn check_language(source: &Source, raw: &Spanned<String>, problems: &mut Vec<Problem>) -> bool {
    if oxilangtag::LanguageTag::parse(raw.get_ref().as_str()).is_ok() {
        true
    } else {
        problems.push(source.problem(
            raw,
            format!(
                "language {:?} is not a BCP 47 language tag such as zh-CN",
                raw.get_ref()
            ),
        ));
        false
    }
}

/// `entries` hold spans into `sources[index]`, so that every problem gets its line.
fn build_tree(
    site: &Site,
    sources: &[Source],
    entries: Vec<(usize, Spanned<SectionEntry>)>,
    problems: &mut Vec<Problem>,
) -> Vec<Section> {
    // First pass: every entry's own checks and its full path.
    let mut candidates: Vec<(&Source, Spanned<SectionEntry>, SectionPath)> = Vec::new();
    for (index, entry) in entries {
        let source = &sources[index];
        let e = entry.get_ref();
        let parent = match &e.parent {
            Some(p) => match SectionPath::parse(p.get_ref()) {
                Ok(path) => Some(path),
                Err(err) => {
                    problems.push(source.problem(p, format!("parent: {err}")));
                    continue;
                }
            },
            None => None,
        };
        let path = match &parent {
            Some(parent) => parent.child(e.slug.get_ref()),
            None => SectionPath::parse(e.slug.get_ref()),
        };
        let path = match path {
            // `/feeds/tags/…` are the tag feeds: a top-level section of that name would share
            // their URLs.
            Ok(path) if path.as_str() == RESERVED_FOR_TAGS => {
                problems.push(source.problem(
                    &e.slug,
                    format!(
                        "slug {RESERVED_FOR_TAGS:?} is reserved at the top level for the tag \
                         feeds (/feeds/tags/{{tag}}.atom); choose another slug, or put the \
                         section under a parent"
                    ),
                ));
                continue;
            }
            Ok(path) if !e.slug.get_ref().contains('/') => path,
            Ok(_) => {
                problems.push(source.problem(
                    &e.slug,
                    "slug must be one path segment; name the parent with `parent`",
                ));
                continue;
            }
            Err(err) => {
                problems.push(source.problem(&e.slug, format!("slug: {err}")));
                continue;
            }
        };
        if e.title.trim().is_empty() {
            problems
                .push(source.problem(&entry, format!("section {path}: title must not be empty")));
        }
        if let Some(lang) = &e.language {
            check_language(source, lang, problems);
        }
        if let Some(link) = &e.link {
            parse_url(source, link, "link", problems);
        }
        candidates.push((source, entry, path));
    }

    // Second pass: duplicates and parents, now that every path is known.
    let mut seen: BTreeMap<SectionPath, (PathBuf, usize)> = BTreeMap::new();
    let mut sections = Vec::new();
    for (source, entry, path) in &candidates {
        let line = source.line_of(entry.get_ref().slug.span().start);
        if let Some((file, first)) = seen.get(path) {
            problems.push(Problem {
                file: source.file.clone(),
                line,
                message: format!(
                    "duplicate section {path}: already defined at {}:{first}",
                    file.display()
                ),
            });
            continue;
        }
        seen.insert(path.clone(), (source.file.clone(), line));
        sections.push((source, entry, path));
    }
    let mut out = Vec::new();
    for (source, entry, path) in sections {
        let e = entry.get_ref();
        if let (Some(parent), Some(raw)) = (path.parent(), &e.parent)
            && !seen.contains_key(&parent)
        {
            problems.push(source.problem(raw, format!("unknown parent section {parent}")));
            continue;
        }
        let link = e
            .link
            .as_ref()
            .and_then(|l| Url::parse(l.get_ref()).ok())
            .unwrap_or_else(|| site.home.clone());
        out.push(Section {
            path: path.clone(),
            title: e.title.trim().to_owned(),
            description: e.description.trim().to_owned(),
            link,
            language: e
                .language
                .as_ref()
                .map(|l| l.get_ref().clone())
                .unwrap_or_else(|| site.language.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_top_level_section_cannot_take_the_tag_feeds_urls() {
        assert_eq!(
            format!("{RESERVED_FOR_TAGS}/"),
            crate::domain::TAG_SCOPE_PREFIX
        );
        let site = include_str!("../../feeds/site.toml");
        let sections = "[[section]]\nslug = \"hnyw\"\ntitle = \"黄南要闻\"\n\n\
                        [[section]]\nslug = \"tags\"\ntitle = \"标签\"\n\n\
                        [[section]]\nparent = \"hnyw\"\nslug = \"tags\"\ntitle = \"标签\"\n";
        let err = catalog_from_texts(site, &[("s.toml", sections)]).expect_err("refused");
        assert_eq!(err.0.len(), 1, "{err:?}");
        assert_eq!(err.0[0].line, 6);
        assert!(err.0[0].message.contains("reserved"), "{err:?}");
        // Below a parent the slug is free: hnyw/tags is no tag feed's URL.
        let nested = "[[section]]\nslug = \"hnyw\"\ntitle = \"黄南要闻\"\n\n\
                      [[section]]\nparent = \"hnyw\"\nslug = \"tags\"\ntitle = \"标签\"\n";
        assert!(catalog_from_texts(site, &[("s.toml", nested)]).is_ok());
    }

    #[test]
    fn the_builtin_catalogue_is_the_shipped_folder() {
        let shipped = load_catalog(Path::new("feeds")).expect("the shipped catalogue");
        let builtin = builtin_catalog().expect("the built-in catalogue");
        let describe =
            |c: &Catalog| -> Vec<String> { c.sections().map(|s| format!("{s:?}")).collect() };
        assert_eq!(describe(&builtin), describe(&shipped));
        assert_eq!(format!("{:?}", builtin.site), format!("{:?}", shipped.site));
        // Every section file of the folder is built in.
        let mut files: Vec<String> = std::fs::read_dir("feeds")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml") && n != "site.toml")
            .collect();
        files.sort();
        let builtin: Vec<&str> = BUILTIN_SECTION_FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, builtin);
    }

    #[test]
    fn a_logo_must_be_an_image_feed_readers_show() {
        let site = |logo: &str| {
            include_str!("../../feeds/site.toml")
                .replace("icon = ", &format!("logo = \"{logo}\"\nicon = "))
        };
        let png = catalog_from_texts(
            &site("https://example.org/img/Logo.PNG"),
            &BUILTIN_SECTION_FILES,
        )
        .expect("a PNG logo");
        assert_eq!(
            png.site.logo.map(|u| u.to_string()),
            Some("https://example.org/img/Logo.PNG".to_owned())
        );
        let err = catalog_from_texts(
            &site("https://example.org/favicon.ico"),
            &BUILTIN_SECTION_FILES,
        )
        .expect_err("an .ico logo");
        let text = err.to_string();
        assert!(
            text.contains("site.toml:") && text.contains("must name a .png, .gif or .jpg image"),
            "{text}"
        );
    }
}
