//! `cold-signer`: the air-gapped half of the custody toolkit. Thin: parse flags, set up
//! logging, run the command, map its error to one stderr line and an exit code (see `--help`).

mod cli;
mod cmd;
mod exit;
mod input;
mod output;
mod wallet_dir;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn init_logging() {
    // Logs go to stderr, off unless RUST_LOG asks; nothing logged ever carries a secret.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging();
    tracing::debug!(network = %cli.network, json = cli.json, "start");
    match cli::dispatch(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}
