//! `tidings`: parse the command line, set up logging and configuration, run the command.

use std::process::ExitCode;

use clap::Parser;
use tidings::cli::{Cli, Command};
use tidings::commands;

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
        Command::Ingest { paths } => {
            let (config, catalog) = commands::load(cli.config.as_deref())?;
            let summary = commands::ingest(config, catalog, &paths).await?;
            for rejection in &summary.rejections {
                eprintln!("rejected {rejection}");
            }
            println!("{}", summary.line());
            Ok(if summary.rejections.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
