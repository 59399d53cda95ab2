//! The command line: `tidings serve | ingest | check | migrate | copy`.
//!
//! `tidings copy --from URL --to URL` moves a whole store to another database, of the same
//! engine or the other one (`sqlite://…` to `postgres://…` is the usual move). It brings the
//! target's schema up to date, then copies every article and tombstone, event, webhook endpoint
//! (secrets included), subscription, message, delivery (pending, delivered or failed, with its
//! attempts) and the dispatch cursors, keeping their ids and times, with a progress bar per
//! table on a terminal. Rows the target has already are left as they are, so running it again
//! copies nothing twice; the summary line says what was copied and what was there already.
//! Afterwards feeds are the same bytes with the same ETags, and what was delivered is not sent
//! again. Stop the instances using the source first; the source must exist (a SQLite file is
//! not created), and `--from` and `--to` must be different databases. The URLs are shown with
//! their passwords hidden.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tidings",
    version,
    about = "Feeds and pushes for a news portal"
)]
pub struct Cli {
    /// Configuration file, which must exist [default: config/tidings.toml when it exists,
    /// else the built-in defaults]. `TIDINGS_…` environment variables override its keys.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve feeds and the API.
    Serve,
    /// Ingest articles from JSON or NDJSON files, folders of them, or `-` (standard input);
    /// and article pages (`.html`, `.htm`, `.txt`: a page's HTML or its text form).
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The URL of the one page given (a text form names none; HTML without a canonical
        /// link is known by it).
        #[arg(long, value_name = "URL")]
        url: Option<url::Url>,
        /// The section the pages go to [default: each page's breadcrumb decides].
        #[arg(long, value_name = "PATH")]
        section: Option<String>,
        /// Where bare image file names of a text form live.
        #[arg(long, value_name = "URL")]
        image_base: Option<url::Url>,
    },
    /// Run the sources of sources.toml: once now (`--once`), or each when due until Ctrl-C.
    Crawl {
        /// One pass over every source (or `--source`), due or not, with a progress bar.
        #[arg(long)]
        once: bool,
        /// Only this source.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
    },
    /// Validate the configuration and the section catalogue.
    Check,
    /// Create or upgrade the database schema.
    Migrate,
    /// Copy a whole store into another database (SQLite or PostgreSQL, either way).
    Copy {
        /// The database to copy from: `sqlite://path` (which must exist) or `postgres://…`.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The database to copy into (a PostgreSQL database must exist): its schema is made or
        /// brought up to date first; rows it has already are kept.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}
