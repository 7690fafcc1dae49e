//! `cold-signer` binary: everything is in the library ([`cold_signer::run`]); see `--help`
//! for the commands and the exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    cold_signer::run(std::env::args_os())
}
