//! One article page imported on request (`POST /api/v1/articles/import`, `tidings ingest` of
//! a page): fetched or given, read, and published like any article.

use bytes::Bytes;
use url::Url;

use super::Sources;
use super::fetch::{Fetched, Validators};
use crate::catalog::PageRulesSpec;
use crate::domain::SectionPath;
use crate::ingest::Rejection;
use crate::ingest::page::{PageError, PageInput, PageRules, read_page};
use crate::service::PublishError;
use crate::store::{StoreError, Upserted};

/// Where the page comes from.
#[derive(Debug, Clone)]
pub enum PageSource {
    /// Fetched by tidings (politely, as the sources are).
    Url(Url),
    /// Sent as is; `url` is where it lives (required for the text form, which names none).
    Bytes {
        bytes: Bytes,
        content_type: Option<String>,
        url: Option<Url>,
    },
}

/// Why a page was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Fetching it failed or was refused (a private address without the switch that allows
    /// it): the reason names the URL.
    #[error("{0}")]
    Fetch(String),
    /// It is not an article page tidings can read.
    #[error("{0}")]
    Page(#[from] PageError),
    /// Read, but the article it gave was refused.
    #[error("{0}")]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rules of a source's `[source.page]`, the defaults where it names none.
pub(super) fn page_rules(spec: &PageRulesSpec) -> PageRules {
    let defaults = PageRules::default();
    let or = |given: &Vec<String>, default: Vec<String>| {
        if given.is_empty() {
            default
        } else {
            given.clone()
        }
    };
    PageRules {
        title: or(&spec.title, defaults.title),
        body: or(&spec.body, defaults.body),
        breadcrumb: or(&spec.breadcrumb, defaults.breadcrumb),
        image_base: spec.image_base.clone().or(defaults.image_base),
    }
}

impl Sources {
    /// Reads one page and publishes its article: into `section` when given (else its
    /// breadcrumb decides), with bare image names resolved against `image_base`.
    pub async fn import_page(
        &self,
        page: PageSource,
        section: Option<&SectionPath>,
        image_base: Option<Url>,
    ) -> Result<Upserted, ImportError> {
        let (bytes, content_type, url) = match page {
            // The fetcher refuses a private address unless the service may reach one.
            PageSource::Url(url) => {
                match self.inner.fetcher.get(&url, &Validators::default()).await {
                    Ok(Fetched::Page(page)) => (page.bytes, page.content_type, Some(page.url)),
                    Ok(Fetched::NotModified) => {
                        return Err(ImportError::Fetch(format!("{url} answered 304 unasked")));
                    }
                    Err(err) => return Err(ImportError::Fetch(err.to_string())),
                }
            }
            PageSource::Bytes {
                bytes,
                content_type,
                url,
            } => (bytes, content_type, url),
        };
        let rules = PageRules {
            image_base: image_base.or_else(|| PageRules::default().image_base),
            ..PageRules::default()
        };
        let mut document = read_page(
            &PageInput {
                bytes: &bytes,
                content_type: content_type.as_deref(),
                url: url.as_ref(),
            },
            &rules,
        )?;
        if let (Some(section), Some(obj)) = (section, document.as_object_mut()) {
            obj.remove("section_titles");
            obj.insert("section".into(), section.to_string().into());
        }
        self.inner
            .service
            .publish(document)
            .await
            .map_err(|e| match e {
                PublishError::Rejected(rejection) => ImportError::Rejected(rejection),
                PublishError::Store(err) => ImportError::Store(err),
            })
    }
}
