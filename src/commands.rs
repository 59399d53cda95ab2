//! What each CLI command does. `main` parses arguments and reports; the work is here.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::app::{Application, cancel_on_signal};
use crate::catalog::{Catalog, load_catalog};
use crate::config::{Config, redacted_database_url};
use crate::http::ndjson_items;
use crate::service::Service;
use crate::store::{CopyReport, Store, UpsertOutcome, is_database_url, same_database, sqlite_file};

/// Loads configuration and catalogue, or explains every problem.
pub fn load(config_path: &Path) -> anyhow::Result<(Config, Catalog)> {
    let config = Config::load(config_path)?;
    let catalog = load_catalog(&config.catalog_dir)?;
    Ok((config, catalog))
}

pub async fn serve(config: Config, catalog: Catalog) -> anyhow::Result<()> {
    let app = Application::build(config, catalog).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, &config.database)
        .await
        .context("cannot open the database")?;
    store.close().await;
    println!(
        "database {} is up to date",
        crate::config::redacted_database_url(&config.database_url)
    );
    Ok(())
}

/// What `tidings copy` did, and between which databases (their URLs without passwords).
#[derive(Debug, Clone)]
pub struct CopySummary {
    pub report: CopyReport,
    pub from: String,
    pub to: String,
}

impl CopySummary {
    /// `copied 3 articles, 3 events, … from X to Y; nothing was there already`, or `…; already
    /// there: 3 articles, …`.
    pub fn line(&self) -> String {
        let existing = match self.report.existing_list() {
            Some(list) => format!("already there: {list}"),
            None => "nothing was there already".to_owned(),
        };
        format!(
            "copied {} from {} to {}; {existing}",
            self.report.copied_list(),
            self.from,
            self.to
        )
    }
}

/// `tidings copy --from URL --to URL`: brings the target's schema up to date (connecting
/// does), then copies the whole store into it, with a progress bar per table on a terminal.
pub async fn copy(config: &Config, from: &str, to: &str) -> anyhow::Result<CopySummary> {
    let (from_shown, to_shown) = (redacted_database_url(from), redacted_database_url(to));
    for (flag, url, shown) in [("--from", from, &from_shown), ("--to", to, &to_shown)] {
        if !is_database_url(url) {
            anyhow::bail!(
                "{flag} {shown}: not a database tidings knows (use sqlite://… or postgres://…)"
            );
        }
    }
    if same_database(from, to) {
        anyhow::bail!("--from and --to are the same database ({from_shown}): nothing to copy");
    }
    // Opening a SQLite file creates it: the source must be there already.
    if let Some(path) = sqlite_file(from)
        && !path.exists()
    {
        anyhow::bail!("the source database {from_shown} does not exist");
    }
    // A store error's message holds its cause already: one line, without repeating it.
    let source = Store::connect(from, &config.database)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the source database {from_shown}: {e}"))?;
    let target = match Store::connect(to, &config.database).await {
        Ok(target) => target,
        Err(e) => {
            source.close().await;
            anyhow::bail!("cannot open the target database {to_shown}: {e}");
        }
    };
    let style = indicatif::ProgressStyle::with_template("{prefix:>13} {bar:40} {pos}/{len}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let mut bar: Option<indicatif::ProgressBar> = None;
    let copied = source
        .copy_to(&target, |step| {
            if step.done == 0 {
                if let Some(done) = bar.take() {
                    done.finish();
                }
                let next = indicatif::ProgressBar::new(step.total).with_style(style.clone());
                next.set_prefix(step.table);
                bar = Some(next);
            } else if let Some(bar) = &bar {
                bar.set_position(step.done);
            }
        })
        .await;
    if let Some(bar) = bar.take() {
        bar.finish();
    }
    source.close().await;
    target.close().await;
    let report =
        copied.map_err(|e| anyhow::anyhow!("cannot copy {from_shown} to {to_shown}: {e}"))?;
    Ok(CopySummary {
        report,
        from: from_shown,
        to: to_shown,
    })
}

/// `tidings check`: every problem of configuration and catalogue, one per line.
pub fn check(config_path: &Path) -> Result<String, Vec<String>> {
    let config = Config::load(config_path).map_err(|e| vec![e.to_string()])?;
    match load_catalog(&config.catalog_dir) {
        Ok(catalog) => Ok(format!(
            "ok: {} and {} sections in {}",
            config_path.display(),
            catalog.sections().count(),
            config.catalog_dir.display()
        )),
        Err(err) => Err(err.0.iter().map(ToString::to_string).collect()),
    }
}

/// Articles stored per transaction by `tidings ingest`.
const INGEST_CHUNK: usize = 500;

/// Counts of what an ingest run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// `file:line: id: reason`, one per rejected document.
    pub rejections: Vec<String>,
}

impl IngestSummary {
    pub fn line(&self) -> String {
        format!(
            "{} created, {} updated, {} unchanged, {} rejected",
            self.created,
            self.updated,
            self.unchanged,
            self.rejections.len()
        )
    }
}

/// One document to ingest and where it came from.
struct Document {
    origin: String,
    line: usize,
    parsed: Result<Value, String>,
}

/// `tidings ingest PATH…`: JSON (one article or an array) and NDJSON files, folders of them
/// (recursively, `.json`, `.ndjson`, `.jsonl`), or `-` for standard input.
pub async fn ingest(
    config: Config,
    catalog: Catalog,
    paths: &[PathBuf],
) -> anyhow::Result<IngestSummary> {
    let mut documents = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            documents.extend(split_documents("-", &text, None));
            continue;
        }
        for file in files_under(path)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let ext = file
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            documents.extend(split_documents(
                &file.display().to_string(),
                &text,
                ext.as_deref(),
            ));
        }
    }

    let service = Service::open(config, catalog)
        .await
        .context("cannot open the database")?;
    let progress = indicatif::ProgressBar::new(documents.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut summary = IngestSummary::default();
    let mut documents = documents.into_iter().peekable();
    while documents.peek().is_some() {
        let chunk: Vec<Document> = documents.by_ref().take(INGEST_CHUNK).collect();
        let ids: Vec<String> = chunk
            .iter()
            .map(|doc| {
                let id = doc.parsed.as_ref().ok().and_then(|v| v.get("id"));
                id.and_then(Value::as_str).unwrap_or("-").to_owned()
            })
            .collect();
        let places: Vec<(String, usize)> =
            chunk.iter().map(|d| (d.origin.clone(), d.line)).collect();
        let outcomes = service
            .publish_batch(
                chunk.into_iter().map(|d| d.parsed).collect(),
                CancellationToken::new(),
            )
            .await
            .context("cannot store articles")?;
        for ((outcome, id), (origin, line)) in outcomes.into_iter().zip(ids).zip(places) {
            progress.inc(1);
            match outcome.map(|u| u.outcome) {
                Ok(UpsertOutcome::Created) => summary.created += 1,
                Ok(UpsertOutcome::Updated) => summary.updated += 1,
                Ok(UpsertOutcome::Unchanged) => summary.unchanged += 1,
                Err(rejection) => summary
                    .rejections
                    .push(format!("{origin}:{line}: {id}: {rejection}")),
            }
        }
    }
    progress.finish_and_clear();
    service.close().await;
    Ok(summary)
}

fn files_under(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry_path = entry?.path();
            if entry_path.is_dir() {
                pending.push(entry_path);
            } else if entry_path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "json" | "ndjson" | "jsonl")
                })
            {
                files.push(entry_path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Splits a file into documents with their line numbers. NDJSON by extension; otherwise one
/// JSON document (an article or an array of them), falling back to NDJSON when the text is
/// several documents on their own lines.
fn split_documents(origin: &str, text: &str, ext: Option<&str>) -> Vec<Document> {
    let as_lines = |text: &str| {
        ndjson_items(text)
            .into_iter()
            .map(|(line, parsed)| Document {
                origin: origin.to_owned(),
                line: line.unwrap_or(1),
                parsed,
            })
            .collect()
    };
    if matches!(ext, Some("ndjson" | "jsonl")) {
        return as_lines(text);
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => items
                .into_iter()
                .map(|raw| Document {
                    origin: origin.to_owned(),
                    // The raw value borrows from `text`, so its address gives its offset.
                    line: line_at(text, raw.get().as_ptr() as usize - text.as_ptr() as usize),
                    parsed: serde_json::from_str(raw.get()).map_err(|e| e.to_string()),
                })
                .collect(),
            Err(e) => vec![Document {
                origin: origin.to_owned(),
                line: e.line(),
                parsed: Err(format!("not valid JSON: {e}")),
            }],
        };
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => vec![Document {
            origin: origin.to_owned(),
            line: line_at(text, text.len() - trimmed.len()),
            parsed: Ok(value),
        }],
        Err(e) if e.is_syntax() && e.to_string().contains("trailing characters") => as_lines(text),
        Err(e) => vec![Document {
            origin: origin.to_owned(),
            line: e.line(),
            parsed: Err(format!("not valid JSON: {e}")),
        }],
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_items_know_their_lines() {
        let text = "[\n  {\"id\": \"a\"},\n\n  {\"id\": \"b\"}\n]";
        let docs = split_documents("f.json", text, Some("json"));
        let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn concatenated_lines_are_ndjson() {
        let docs = split_documents("-", "{\"id\":\"a\"}\n{\"id\":\"b\"}\nnot json\n", None);
        assert_eq!(docs.len(), 3);
        assert!(docs[2].parsed.is_err());
        assert_eq!(docs[2].line, 3);
    }
}
