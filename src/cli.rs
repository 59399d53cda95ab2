//! The command line: `tidings serve | ingest | check | migrate`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tidings",
    version,
    about = "Feeds and pushes for a news portal"
)]
pub struct Cli {
    /// Configuration file; `TIDINGS_…` environment variables override its keys.
    #[arg(long, global = true, default_value = "config/tidings.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve feeds and the API.
    Serve,
    /// Ingest articles from JSON or NDJSON files, folders of them, or `-` (standard input).
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Validate the configuration and the section catalogue.
    Check,
    /// Create or upgrade the database schema.
    Migrate,
}
