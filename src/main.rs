//! `tidings`: parse the command line, set up logging and configuration, run the command.

use std::process::ExitCode;

use clap::Parser;
use tidings::cli::{Cli, Command};
use tidings::commands;
use tidings::commands::sources;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tidings::telemetry::init();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            // One line for people and scripts; the cause chain joined with ": ".
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check => match commands::check(cli.config.as_deref()) {
            Ok(message) => {
                println!("{message}");
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                eprintln!("{} problem(s) found", problems.len());
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Migrate => {
            let config = tidings::config::Config::load(cli.config.as_deref())?.0;
            commands::migrate(&config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Copy { from, to } => {
            let config = tidings::config::Config::load(cli.config.as_deref())?.0;
            let summary = commands::copy(&config, &from, &to).await?;
            println!("{}", summary.line());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let (config, catalog) = commands::load(cli.config.as_deref())?;
            commands::serve(config, catalog).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest {
            paths,
            url,
            section,
            image_base,
        } => {
            let (config, catalog) = commands::load(cli.config.as_deref())?;
            let (pages, documents): (Vec<_>, Vec<_>) =
                paths.into_iter().partition(|p| sources::is_page(p));
            let mut refused = 0;
            if !pages.is_empty() {
                let options = sources::PageOptions {
                    url,
                    section,
                    image_base,
                };
                let summary =
                    sources::ingest_pages(config.clone(), catalog.clone(), &pages, options).await?;
                for line in &summary.lines {
                    println!("{line}");
                }
                refused += summary.refused;
            }
            if !documents.is_empty() || pages.is_empty() {
                let summary = commands::ingest(config, catalog, &documents).await?;
                for rejection in &summary.rejections {
                    eprintln!("rejected {rejection}");
                }
                println!("{}", summary.line());
                refused += summary.rejections.len();
            }
            Ok(if refused == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Crawl { once, source } => {
            let (config, catalog) = commands::load(cli.config.as_deref())?;
            let reports = sources::crawl(config, catalog, once, source.as_deref()).await?;
            for report in &reports {
                println!("{}", sources::report_line(report));
            }
            Ok(if reports.iter().any(|r| r.error.is_some()) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
