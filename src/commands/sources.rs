//! The commands of sources: `tidings ingest` of article pages, `tidings crawl`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::app::cancel_on_signal;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::domain::SectionPath;
use crate::service::Service;
use crate::sources::{ImportError, PageSource, Progress, RunReport, Sources};
use crate::store::UpsertOutcome;

/// Whether a file given to `tidings ingest` is an article page (HTML, or the text form).
pub fn is_page(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "html" | "htm" | "shtml" | "xhtml" | "txt"
        )
    })
}

/// Where imported pages go and how they are read (`tidings ingest --url … --section …`).
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// The page's URL (one page only): what a text form needs, and what a page without a
    /// canonical link is known by.
    pub url: Option<Url>,
    pub section: Option<String>,
    pub image_base: Option<Url>,
}

/// What importing pages did: a line per page, and whether any was refused.
#[derive(Debug, Default)]
pub struct PagesSummary {
    pub lines: Vec<String>,
    pub refused: usize,
}

/// Imports article pages, one at a time, through the same validation as the API.
pub async fn ingest_pages(
    config: Config,
    catalog: Catalog,
    pages: &[PathBuf],
    options: PageOptions,
) -> anyhow::Result<PagesSummary> {
    if options.url.is_some() && pages.len() > 1 {
        anyhow::bail!("--url names one page's URL: give one page with it");
    }
    let section = options
        .section
        .as_deref()
        .map(|raw| {
            SectionPath::parse(raw.trim())
                .ok()
                .filter(|p| catalog.section(p).is_some())
                .with_context(|| format!("--section: unknown section {raw:?}"))
        })
        .transpose()?;
    let service = Service::open(config, catalog)
        .await
        .context("cannot open the database")?;
    let sources = Sources::new(service.clone());
    let mut summary = PagesSummary::default();
    for path in pages {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let page = PageSource::Bytes {
            bytes: Bytes::from(bytes),
            content_type: None,
            url: options.url.clone(),
        };
        let imported = sources
            .import_page(page, section.as_ref(), options.image_base.clone())
            .await;
        let line = match imported {
            Ok(upserted) => {
                let outcome = match upserted.outcome {
                    UpsertOutcome::Created => "created",
                    UpsertOutcome::Updated => "updated",
                    UpsertOutcome::Unchanged => "unchanged",
                };
                let article = &upserted.article.article;
                format!(
                    "{}: {outcome} {} in {}",
                    path.display(),
                    article.id,
                    article.section
                )
            }
            Err(ImportError::Store(err)) => {
                service.close().await;
                return Err(err).context("cannot store an imported page");
            }
            Err(err) => {
                summary.refused += 1;
                format!("{}: rejected: {err}", path.display())
            }
        };
        summary.lines.push(line);
    }
    service.close().await;
    Ok(summary)
}

/// `tidings crawl`: every source (or one) once now, with a progress bar; or, without
/// `once`, each when it is due until Ctrl-C (no hub pushes then: they need `serve`).
pub async fn crawl(
    config: Config,
    catalog: Catalog,
    once: bool,
    only: Option<&str>,
) -> anyhow::Result<Vec<RunReport>> {
    if catalog.sources.is_empty() {
        anyhow::bail!(
            "the catalogue has no sources: add [[source]] tables to sources.toml beside site.toml"
        );
    }
    if let Some(name) = only
        && !catalog.sources.iter().any(|s| s.name == name)
    {
        let names: Vec<&str> = catalog.sources.iter().map(|s| s.name.as_str()).collect();
        anyhow::bail!(
            "no source is named {name:?} (the sources: {})",
            names.join(", ")
        );
    }
    let service = Service::open(config, catalog)
        .await
        .context("cannot open the database")?;
    let sources = Sources::new(service.clone());
    if !once {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        sources.run(shutdown).await;
        service.close().await;
        return Ok(Vec::new());
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} pages ({per_sec}, {eta} left) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let progress = Arc::new(move |event: Progress| match event {
        Progress::Pages { source, pages } => {
            shown.inc_length(pages);
            shown.set_message(source);
        }
        Progress::Fetched { url, .. } => {
            shown.inc(1);
            shown.set_message(url);
        }
    });
    // Ctrl-C stops the run where it is and frees its source (rather than holding it until
    // the hold runs out).
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let reports = sources.run_once(only, Some(progress), &shutdown).await;
    bar.finish_and_clear();
    service.close().await;
    Ok(reports?)
}

/// One line for a run: its counts, or why it failed.
pub fn report_line(report: &RunReport) -> String {
    let c = &report.counts;
    match (&report.error, report.skipped) {
        (_, true) => format!("{}: running elsewhere now; left alone", report.source),
        (Some(error), _) => format!("{}: failed: {error}", report.source),
        (None, _) => format!(
            "{}: {} created, {} updated, {} unchanged, {} deleted, {} rejected ({} fetched)",
            report.source, c.created, c.updated, c.unchanged, c.deleted, c.rejected, c.fetched
        ),
    }
}
