//! `cold-signer`: the air-gapped half of the custody toolkit, as a library so the hot node's
//! `demo` (and tests) can run it in-process. The binary is a thin wrapper around [`run`].
//!
//! Invariant: [`run`] has no process-global side effect that breaks a second call in the same
//! process: it never calls `std::process::exit`, logging is installed with `try_init` (the
//! first subscriber wins), and shared state is limited to the read-only secp256k1 context.
//! Each call parses its own arguments, runs one command, prints its result to stdout and at
//! most one `error: ...` line to stderr, and returns the documented exit code.

mod cli;
mod cmd;
mod exit;
mod input;
mod output;
mod wallet_dir;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

pub use exit::EXIT_CODES_HELP;

fn init_logging() {
    // Logs go to stderr, off unless RUST_LOG asks; nothing logged ever carries a secret.
    // `try_init`: a subscriber installed earlier (a second run, the hot node's demo) is kept.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs one `cold-signer` command line (`args[0]` is the program name, as in
/// `std::env::args_os()`) and returns its exit code as a number (0 success, 2 bad command
/// line, the rest as in [`EXIT_CODES_HELP`]). `--help` and `--version` print and return 0.
pub fn run_to_code<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints usage errors to stderr and --help/--version to stdout.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(exit::Exit::Usage as u8);
        }
    };
    init_logging();
    tracing::debug!(network = %cli.network, json = cli.json, "start");
    match cli::dispatch(&cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.code()
        }
    }
}

/// Runs one `cold-signer` command line (see [`run_to_code`]) and returns its process exit
/// code. `main` is `cold_signer::run(std::env::args_os())`.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    ExitCode::from(run_to_code(args))
}
