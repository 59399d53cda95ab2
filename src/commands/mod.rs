//! What each CLI command does. `main` parses arguments and reports; the work is here.

pub mod sources;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::Context;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde_json::Value;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use crate::app::{Application, cancel_on_signal};
use crate::catalog::{Catalog, CatalogError, builtin_catalog, load_catalog};
use crate::config::{Config, redacted_database_url};
use crate::service::Service;
use crate::store::{CopyReport, Store, UpsertOutcome, is_database_url, same_database, sqlite_file};

/// Loads configuration (from `config_path`, or the default file if there is one) and
/// catalogue, or explains every problem.
pub fn load(config_path: Option<&Path>) -> anyhow::Result<(Config, Catalog)> {
    let (config, _) = Config::load(config_path)?;
    let catalog = catalog_of(&config)?;
    Ok((config, catalog))
}

/// The configured catalogue folder's, or the one built into the binary.
fn catalog_of(config: &Config) -> Result<Catalog, CatalogError> {
    match &config.catalog_dir {
        Some(dir) => load_catalog(dir),
        None => builtin_catalog(),
    }
}

pub async fn serve(mut config: Config, catalog: Catalog) -> anyhow::Result<()> {
    survive_file_size_limit();
    if config.api_token.is_empty()
        && config.tokens.is_empty()
        && !config.api_token_file.as_os_str().is_empty()
    {
        config.api_token = token_from_file(&config.api_token_file)?;
    }
    let app = Application::build(config, catalog).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await
}

/// The token kept in `file`, made first (48 random hexadecimal digits, readable by this user
/// only) when there is none: a newcomer's service takes writes at once, and the token is
/// there for every shell to read.
fn token_from_file(file: &Path) -> anyhow::Result<String> {
    use std::io::Write;
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let token = text.trim().to_owned();
            anyhow::ensure!(
                token.len() >= 16,
                "{}: the API token there must be at least 16 characters",
                file.display()
            );
            tracing::info!(file = %file.display(), "the API token is the one in this file");
            return Ok(token);
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).context(format!("cannot read {}", file.display())),
    }
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    let token = hex::encode(bytes);
    if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    writeln!(out, "{token}").with_context(|| format!("cannot write {}", file.display()))?;
    tracing::warn!(
        file = %file.display(),
        "no API token was configured: a new one is in this file (readable by you only); \
         send it as Authorization: Bearer $(cat {})",
        file.display()
    );
    Ok(token)
}

/// A file-size limit (`ulimit -f`) reached by the database would kill the process with
/// SIGXFSZ. With the signal handled, the write fails instead (EFBIG), and is answered like a
/// full disk: 503, nothing stored, and writes work again once the limit is lifted.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Tokio keeps a handler, once installed, for the life of the process.
        if let Err(err) = signal(SignalKind::from_raw(libc::SIGXFSZ)) {
            tracing::warn!(error = %err, "cannot handle SIGXFSZ; a file-size limit would end the process");
        }
    }
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
pub fn check(config_path: Option<&Path>) -> Result<String, Vec<String>> {
    let (config, file) = Config::load(config_path).map_err(|e| vec![e.to_string()])?;
    let file = match &file {
        Some(file) => file.display().to_string(),
        None => "no configuration file (the built-in defaults)".into(),
    };
    let catalogue = match &config.catalog_dir {
        Some(dir) => dir.display().to_string(),
        None => "the built-in catalogue".into(),
    };
    match catalog_of(&config) {
        Ok(catalog) if !selector_problems(&catalog).is_empty() => Err(selector_problems(&catalog)),
        Ok(catalog) => Ok(format!(
            "ok: {file}; {} sections and {} sources in {catalogue}",
            catalog.sections().count(),
            catalog.sources.len(),
        )),
        Err(err) => Err(err.0.iter().map(ToString::to_string).collect()),
    }
}

/// The CSS selectors of the sources that do not parse, each named with its source.
fn selector_problems(catalog: &Catalog) -> Vec<String> {
    let mut problems = Vec::new();
    for spec in &catalog.sources {
        if let crate::catalog::SourceKind::Pages { links, rules, .. } = &spec.kind {
            let selectors = std::iter::once(("links", links))
                .chain(rules.title.iter().map(|s| ("page.title", s)))
                .chain(rules.body.iter().map(|s| ("page.body", s)))
                .chain(rules.breadcrumb.iter().map(|s| ("page.breadcrumb", s)));
            for (key, selector) in selectors {
                if let Err(reason) = crate::ingest::links::check_selector(selector) {
                    problems.push(format!(
                        "sources.toml: source {}: {key}: {reason}",
                        spec.name
                    ));
                }
            }
        }
    }
    problems
}

/// Articles stored per transaction by `tidings ingest`.
const INGEST_CHUNK: usize = 500;

/// Chunks of `INGEST_CHUNK` documents the reading side may have ready before the writing side
/// takes them: what bounds `tidings ingest`'s memory, whatever the size of its inputs.
const INGEST_CHUNKS_AHEAD: usize = 2;

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
        let documents = self.created + self.updated + self.unchanged + self.rejections.len();
        if documents == 0 {
            return "0 documents".into();
        }
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
#[derive(Debug)]
struct Document {
    origin: String,
    line: usize,
    parsed: Result<Value, String>,
}

/// What the reading side hands the writing side: up to `INGEST_CHUNK` documents, and how many
/// bytes of the inputs have been read so far.
struct Chunk {
    documents: Vec<Document>,
    bytes_read: u64,
}

/// `tidings ingest PATH…`: JSON (one article or an array) and NDJSON files, folders of them
/// (recursively, `.json`, `.ndjson`, `.jsonl`), or `-` for standard input.
///
/// The inputs are streamed: a blocking task reads them in order and sends chunks of
/// `INGEST_CHUNK` documents over a bounded channel, and each chunk is stored as it comes, so
/// memory stays flat however large the files are. Every path is looked at before anything is
/// stored (a missing one stops the run before it starts); a file that cannot be opened or read
/// later stops the run there, keeping what was stored before it. The progress bar counts bytes
/// of the inputs, since the number of documents is not known in advance.
pub async fn ingest(
    config: Config,
    catalog: Catalog,
    paths: &[PathBuf],
) -> anyhow::Result<IngestSummary> {
    // `None` is standard input.
    let mut sources: Vec<Option<PathBuf>> = Vec::new();
    let mut total_bytes = 0;
    for path in paths {
        if path.as_os_str() == "-" {
            sources.push(None);
            continue;
        }
        for file in files_under(path)? {
            total_bytes += std::fs::metadata(&file).map_or(0, |meta| meta.len());
            sources.push(Some(file));
        }
    }

    let service = Service::open(config, catalog)
        .await
        .context("cannot open the database")?;
    // Files: a bar of bytes with the rate and the time left. Standard input, whose size is
    // unknown: a spinner with what was read so far.
    let from_stdin = sources.iter().any(Option::is_none);
    let (progress, template) = if from_stdin {
        (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {bytes} read ({binary_bytes_per_sec}), {msg}, {elapsed}",
        )
    } else {
        (
            indicatif::ProgressBar::new(total_bytes),
            "{bar:40} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta} left) {msg}",
        )
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    progress.set_message("0 documents");
    if from_stdin {
        progress.enable_steady_tick(std::time::Duration::from_millis(200));
    }
    let started = std::time::Instant::now();
    let (sender, mut chunks) = tokio::sync::mpsc::channel(INGEST_CHUNKS_AHEAD);
    let reading = tokio::task::spawn_blocking(move || read_sources(sources, &sender));
    let mut summary = IngestSummary::default();
    let stored = async {
        let mut documents = 0;
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk?;
            documents += chunk.documents.len();
            store_chunk(&service, chunk.documents, &mut summary).await?;
            // A file that grew while it was read.
            if !from_stdin && chunk.bytes_read > progress.length().unwrap_or(0) {
                progress.set_length(chunk.bytes_read);
            }
            progress.set_position(chunk.bytes_read);
            let rate = documents as f64 / started.elapsed().as_secs_f64().max(0.001);
            progress.set_message(format!("{documents} documents, {rate:.0}/s"));
        }
        // The channel closes when the reading side is done, or has panicked.
        reading.await.context("cannot read the inputs")
    }
    .await;
    // After a failure, the reading side stops at its next send.
    drop(chunks);
    progress.finish_and_clear();
    service.close().await;
    stored.map(|()| summary)
}

/// Stores one chunk in one `publish_batch` call and counts what became of each document.
async fn store_chunk(
    service: &Service,
    chunk: Vec<Document>,
    summary: &mut IngestSummary,
) -> anyhow::Result<()> {
    let ids: Vec<String> = chunk
        .iter()
        .map(|doc| {
            let id = doc.parsed.as_ref().ok().and_then(|v| v.get("id"));
            id.and_then(Value::as_str).unwrap_or("-").to_owned()
        })
        .collect();
    let places: Vec<(String, usize)> = chunk.iter().map(|d| (d.origin.clone(), d.line)).collect();
    let outcomes = service
        .publish_batch(
            chunk.into_iter().map(|d| d.parsed).collect(),
            CancellationToken::new(),
        )
        .await
        .context("cannot store articles")?;
    for ((outcome, id), (origin, line)) in outcomes.into_iter().zip(ids).zip(places) {
        match outcome.map(|u| u.outcome) {
            Ok(UpsertOutcome::Created) => summary.created += 1,
            Ok(UpsertOutcome::Updated) => summary.updated += 1,
            Ok(UpsertOutcome::Unchanged) => summary.unchanged += 1,
            Err(rejection) => summary
                .rejections
                .push(format!("{origin}:{line}: {id}: {rejection}")),
        }
    }
    Ok(())
}

/// The reading side of `ingest`: reads every source in order (`None` is standard input) and
/// sends its documents in chunks of `INGEST_CHUNK`, or the error that stopped it. Stops early
/// when the writing side has stopped listening.
fn read_sources(sources: Vec<Option<PathBuf>>, sender: &Sender<anyhow::Result<Chunk>>) {
    let mut batcher = Batcher {
        pending: Vec::with_capacity(INGEST_CHUNK),
        sender,
        bytes_read: Rc::new(Cell::new(0)),
    };
    for source in sources {
        let (origin, ext, input): (String, Option<String>, Box<dyn Read>) = match source {
            None => ("-".to_owned(), None, Box::new(std::io::stdin())),
            Some(file) => match std::fs::File::open(&file) {
                Ok(opened) => {
                    let ext = file
                        .extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase);
                    (file.display().to_string(), ext, Box::new(opened))
                }
                Err(e) => {
                    let error =
                        anyhow::Error::new(e).context(format!("cannot read {}", file.display()));
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            },
        };
        let reader = BufReader::new(ByteCounting {
            inner: input,
            count: batcher.bytes_read.clone(),
        });
        match read_documents(&origin, ext.as_deref(), reader, &mut |doc| {
            batcher.push(doc)
        }) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let what = if origin == "-" {
                    "standard input"
                } else {
                    &origin
                };
                let _ = sender.blocking_send(Err(
                    anyhow::Error::new(e).context(format!("cannot read {what}"))
                ));
                return;
            }
        }
    }
    if !batcher.pending.is_empty() {
        batcher.flush();
    }
}

/// Gathers documents from every source into chunks of `INGEST_CHUNK` and sends them on.
struct Batcher<'a> {
    pending: Vec<Document>,
    sender: &'a Sender<anyhow::Result<Chunk>>,
    bytes_read: Rc<Cell<u64>>,
}

impl Batcher<'_> {
    /// Whether to go on: false once the writing side has stopped listening.
    fn push(&mut self, document: Document) -> bool {
        self.pending.push(document);
        self.pending.len() < INGEST_CHUNK || self.flush()
    }

    fn flush(&mut self) -> bool {
        let documents = std::mem::replace(&mut self.pending, Vec::with_capacity(INGEST_CHUNK));
        let chunk = Chunk {
            documents,
            bytes_read: self.bytes_read.get(),
        };
        self.sender.blocking_send(Ok(chunk)).is_ok()
    }
}

/// Counts the bytes read from a source, for the progress bar.
struct ByteCounting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for ByteCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Counts the newlines the JSON parser has consumed, so that an array item knows its line.
struct LineCounting<R> {
    inner: R,
    newlines: Rc<Cell<usize>>,
}

impl<R: BufRead> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.inner.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.newlines
            .set(self.newlines.get() + count_newlines(&available[..n]));
        self.inner.consume(n);
        Ok(n)
    }
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

/// Reads one source's documents with their line numbers, handing each to `sink`, which answers
/// whether to go on; returns false when it said stop. Only a failure to read is an error: a
/// document that is not UTF-8 or not JSON is handed on as its rejection.
///
/// NDJSON by extension, read line by line. Otherwise what the first byte that is not
/// whitespace says: `[` is an array, parsed item by item ([`read_array`]); anything else is one
/// JSON document, or NDJSON when the first line holds a whole document (or is not UTF-8). A
/// document spread over several lines, such as a pretty-printed article, is read whole, as
/// such a file holds one article.
fn read_documents<R: BufRead>(
    origin: &str,
    ext: Option<&str>,
    mut reader: R,
    sink: &mut dyn FnMut(Document) -> bool,
) -> std::io::Result<bool> {
    if matches!(ext, Some("ndjson" | "jsonl")) {
        return read_lines(origin, reader, 0, sink);
    }
    // The whitespace before the first document is kept: line numbers count it.
    let mut prefix = Vec::new();
    let first = loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break None;
        }
        let blank = available
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        let next = available.get(blank).copied();
        prefix.extend_from_slice(&available[..blank]);
        reader.consume(blank);
        if next.is_some() {
            break next;
        }
    };
    match first {
        // Nothing but whitespace: no documents.
        None => Ok(true),
        Some(b'[') => read_array(origin, std::io::Cursor::new(prefix).chain(reader), sink),
        Some(_) => {
            let start = prefix.len();
            reader.read_until(b'\n', &mut prefix)?;
            let lines_before = count_newlines(&prefix[..start]);
            let first_line = || std::io::Cursor::new(prefix[start..].to_vec());
            if std::str::from_utf8(&prefix[start..]).is_err() {
                return read_lines(origin, first_line().chain(reader), lines_before, sink);
            }
            match serde_json::from_slice::<Value>(&prefix) {
                // One whole document on the first line: the only one, or the first of several
                // on their own lines; NDJSON either way.
                Ok(value) => {
                    let document = Document {
                        origin: origin.to_owned(),
                        line: lines_before + 1,
                        parsed: Ok(value),
                    };
                    Ok(sink(document) && read_lines(origin, reader, lines_before + 1, sink)?)
                }
                Err(e) if e.is_eof() => {
                    reader.read_to_end(&mut prefix)?;
                    read_whole(origin, prefix, sink)
                }
                Err(e) if is_trailing(&e) => {
                    read_lines(origin, first_line().chain(reader), lines_before, sink)
                }
                // Broken before the end of its first line: the file is one broken document.
                Err(e) => Ok(sink(Document {
                    origin: origin.to_owned(),
                    line: e.line(),
                    parsed: Err(format!("not valid JSON: {e}")),
                })),
            }
        }
    }
}

/// NDJSON: one document per line, after `lines_before` lines already read. Blank lines are
/// skipped; a line that is not UTF-8 or not JSON is handed on as its rejection. A line ends at
/// `\n` or `\r\n`. The line is read into one reused buffer.
fn read_lines<R: BufRead>(
    origin: &str,
    mut reader: R,
    lines_before: usize,
    sink: &mut dyn FnMut(Document) -> bool,
) -> std::io::Result<bool> {
    let mut line = lines_before;
    // Bytes rather than `read_line`'s `String`: a line that is not UTF-8 is a rejection, and
    // the lines after it are still read.
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            return Ok(true);
        }
        line += 1;
        if let Some(parsed) = parse_line(line, &buffer)
            && !sink(Document {
                origin: origin.to_owned(),
                line,
                parsed,
            })
        {
            return Ok(false);
        }
    }
}

/// One NDJSON line, with its line ending or without; `None` when blank. The messages are those
/// of the API's NDJSON.
fn parse_line(line: usize, bytes: &[u8]) -> Option<Result<Value, String>> {
    let bytes = match bytes.strip_suffix(b"\n") {
        Some(bytes) => bytes.strip_suffix(b"\r").unwrap_or(bytes),
        None => bytes,
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => return Some(Err(format!("line {line} is not valid UTF-8: {e}"))),
    };
    crate::ingest::ndjson_line(line, text)
}

/// A whole source held in memory (one document over several lines, which is small): one JSON
/// document, or NDJSON when it is several documents on their own lines.
fn read_whole(
    origin: &str,
    bytes: Vec<u8>,
    sink: &mut dyn FnMut(Document) -> bool,
) -> std::io::Result<bool> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            return Ok(sink(Document {
                origin: origin.to_owned(),
                line: count_newlines(&e.as_bytes()[..valid]) + 1,
                parsed: Err(format!("not valid UTF-8: {}", e.utf8_error())),
            }));
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => {
            let leading = text.len() - text.trim_start().len();
            Ok(sink(Document {
                origin: origin.to_owned(),
                line: count_newlines(&text.as_bytes()[..leading]) + 1,
                parsed: Ok(value),
            }))
        }
        Err(e) if is_trailing(&e) => read_lines(origin, text.as_bytes(), 0, sink),
        Err(e) => Ok(sink(Document {
            origin: origin.to_owned(),
            line: e.line(),
            parsed: Err(format!("not valid JSON: {e}")),
        })),
    }
}

/// A JSON array, parsed item by item from the stream and handed on one at a time.
///
/// Each item keeps the line its first byte is on: [`LineCounting`] counts the newlines the
/// parser has consumed, and when an item starts the parser has read exactly its first byte.
/// Items before a syntax error are handed on; the error is one rejection at its line, and the
/// rest of the array is not read (there is no telling where the next item starts). Text after
/// the closing `]` is a rejection too.
fn read_array<R: BufRead>(
    origin: &str,
    reader: R,
    sink: &mut dyn FnMut(Document) -> bool,
) -> std::io::Result<bool> {
    let newlines = Rc::new(Cell::new(0));
    let stopped = Cell::new(false);
    let mut parser = serde_json::Deserializer::from_reader(LineCounting {
        inner: reader,
        newlines: newlines.clone(),
    });
    let items = ArrayItems {
        origin,
        newlines: &newlines,
        stopped: &stopped,
        sink: &mut *sink,
    };
    let parsed =
        serde::Deserializer::deserialize_seq(&mut parser, items).and_then(|()| parser.end());
    match parsed {
        Ok(()) => Ok(true),
        Err(_) if stopped.get() => Ok(false),
        Err(e) if e.is_io() => Err(e.into()),
        Err(e) => Ok(sink(Document {
            origin: origin.to_owned(),
            line: e.line(),
            parsed: Err(format!("not valid JSON: {e}")),
        })),
    }
}

/// Visits a JSON array, pulling its items one at a time.
struct ArrayItems<'a> {
    origin: &'a str,
    newlines: &'a Cell<usize>,
    stopped: &'a Cell<bool>,
    sink: &'a mut dyn FnMut(Document) -> bool,
}

impl<'de> Visitor<'de> for ArrayItems<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of articles")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((line, value)) = seq.next_element_seed(ArrayItem(self.newlines))? {
            let document = Document {
                origin: self.origin.to_owned(),
                line,
                parsed: Ok(value),
            };
            if !(self.sink)(document) {
                self.stopped.set(true);
                return Err(A::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// One array item and the line it starts on.
struct ArrayItem<'a>(&'a Cell<usize>);

impl<'de> DeserializeSeed<'de> for ArrayItem<'_> {
    type Value = (usize, Value);

    fn deserialize<D: serde::Deserializer<'de>>(self, item: D) -> Result<Self::Value, D::Error> {
        // The parser has read the item's first byte, which is not a newline.
        let line = self.0.get() + 1;
        Value::deserialize(item).map(|value| (line, value))
    }
}

/// What `serde_json` says when a document is followed by more than whitespace.
fn is_trailing(e: &serde_json::Error) -> bool {
    e.is_syntax() && e.to_string().contains("trailing characters")
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every document of `text`, read as a file named `f` with extension `ext`.
    fn documents_in(text: &[u8], ext: Option<&str>) -> Vec<Document> {
        let mut documents = Vec::new();
        let finished = read_documents("f", ext, text, &mut |doc| {
            documents.push(doc);
            true
        });
        assert!(finished.unwrap(), "nothing stops early here");
        documents
    }

    fn lines(documents: &[Document]) -> Vec<usize> {
        documents.iter().map(|d| d.line).collect()
    }

    fn id(document: &Document) -> &str {
        let value = document.parsed.as_ref().expect("a parsed document");
        value["id"].as_str().expect("an id")
    }

    fn reason(document: &Document) -> &str {
        document.parsed.as_ref().expect_err("a rejection")
    }

    #[test]
    fn array_items_know_their_lines() {
        let text = "[\n  {\"id\": \"a\"},\n\n  {\"id\": \"b\"}\n]";
        let docs = documents_in(text.as_bytes(), Some("json"));
        assert_eq!(lines(&docs), [2, 4]);
        assert_eq!(docs.iter().map(id).collect::<Vec<_>>(), ["a", "b"]);
        let minified = documents_in(b"  [{\"id\":\"a\"},{\"id\":\"b\"}]\n", None);
        assert_eq!(lines(&minified), [1, 1]);
    }

    #[test]
    fn concatenated_lines_are_ndjson() {
        let docs = documents_in(b"{\"id\":\"a\"}\n{\"id\":\"b\"}\nnot json\n", None);
        assert_eq!(docs.len(), 3);
        assert_eq!(id(&docs[1]), "b");
        assert!(docs[2].parsed.is_err());
        assert_eq!(docs[2].line, 3);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_rejected_and_the_next_ones_read() {
        let text = b"{\"id\":\"a\"}\n{\"id\":\"\xff\xfe\"}\n{\"id\":\"c\"}\n";
        for ext in [Some("ndjson"), None] {
            let docs = documents_in(text, ext);
            assert_eq!(lines(&docs), [1, 2, 3], "{ext:?}");
            assert!(reason(&docs[1]).starts_with("line 2 is not valid UTF-8"));
            assert_eq!(id(&docs[2]), "c");
        }
        // Even the first line.
        let docs = documents_in(b"\xff\n{\"id\":\"b\"}\n", None);
        assert!(reason(&docs[0]).starts_with("line 1 is not valid UTF-8"));
        assert_eq!(id(&docs[1]), "b");
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let text = b"\n{\"id\":\"a\"}\n\n   \n\t\n{\"id\":\"b\"}\n\n";
        for ext in [Some("jsonl"), None] {
            let docs = documents_in(text, ext);
            assert_eq!(lines(&docs), [2, 6], "{ext:?}");
            assert_eq!(id(&docs[1]), "b");
        }
        assert!(documents_in(b"\n\n", Some("ndjson")).is_empty());
        // An input with nothing in it holds no documents, whatever its name says.
        assert!(documents_in(b"\n\n", Some("json")).is_empty());
        assert!(documents_in(b"", None).is_empty());
    }

    #[test]
    fn an_array_with_a_bad_item_keeps_the_items_before_it() {
        // An item that is JSON but not an article is the service's to reject.
        let docs = documents_in(b"[\n{\"id\":\"a\"},\n42,\n{\"id\":\"c\"}\n]\n", None);
        assert_eq!(lines(&docs), [2, 3, 4]);
        assert_eq!(docs[1].parsed, Ok(Value::from(42)));

        // A syntax error ends the array: one rejection at its line.
        let docs = documents_in(
            b"[\n{\"id\":\"a\"},\n{\"id\": nope},\n{\"id\":\"c\"}\n]",
            None,
        );
        assert_eq!(lines(&docs), [2, 3]);
        assert_eq!(id(&docs[0]), "a");
        assert!(reason(&docs[1]).starts_with("not valid JSON: expected ident at line 3"));

        // So do a missing end and text after it.
        let docs = documents_in(b"[\n{\"id\":\"a\"}", None);
        assert!(reason(&docs[1]).starts_with("not valid JSON: EOF while parsing a list"));
        let docs = documents_in(b"[{\"id\":\"a\"}]\n]", None);
        assert_eq!(lines(&docs), [1, 2]);
        assert!(reason(&docs[1]).contains("trailing characters at line 2"));
    }

    #[test]
    fn a_pretty_printed_article_is_one_document() {
        let article = serde_json::json!({"id": "p", "title": "多行", "tags": ["a", "b"]});
        let text = format!("\n\n{}\n", serde_json::to_string_pretty(&article).unwrap());
        let docs = documents_in(text.as_bytes(), Some("json"));
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 3);
        assert_eq!(docs[0].parsed, Ok(article));

        // On one line too, and not followed by a newline.
        let docs = documents_in(b"{\"id\":\"one\"}", None);
        assert_eq!((docs.len(), id(&docs[0])), (1, "one"));

        // A broken one is one rejection at the line of the fault.
        let docs = documents_in(b"{\n  \"id\": \"p\",\n  \"title\": x\n}\n", None);
        assert_eq!(lines(&docs), [3]);
        assert!(reason(&docs[0]).starts_with("not valid JSON: expected value at line 3"));
    }

    #[test]
    fn crlf_line_endings_are_line_endings() {
        let text = b"{\"id\":\"a\"}\r\n\r\n{\"id\":\"b\"}\r\nnope\r\n";
        for ext in [Some("ndjson"), None] {
            let docs = documents_in(text, ext);
            assert_eq!(lines(&docs), [1, 3, 4], "{ext:?}");
            assert_eq!(id(&docs[1]), "b");
            assert!(reason(&docs[2]).starts_with("line 4 is not valid JSON"));
        }
        let docs = documents_in(b"[\r\n{\"id\":\"a\"},\r\n{\"id\":\"b\"}\r\n]\r\n", None);
        assert_eq!(lines(&docs), [2, 3]);
        let docs = documents_in(b"{\r\n\"id\": \"p\"\r\n}\r\n", None);
        assert_eq!((lines(&docs), id(&docs[0])), (vec![1], "p"));
    }

    #[test]
    fn reading_stops_when_the_sink_says_so() {
        for (text, ext) in [
            (
                &b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n"[..],
                Some("ndjson"),
            ),
            (b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n", None),
            (b"[{\"id\":\"a\"}, {\"id\":\"b\"}, {\"id\":\"c\"}]", None),
        ] {
            let mut seen = 0;
            let finished = read_documents("f", ext, text, &mut |_| {
                seen += 1;
                seen < 2
            });
            assert!(!finished.unwrap());
            assert_eq!(seen, 2);
        }
    }
}
