//! `hot-node` binary: parse flags, run the command, map its error to one stderr line (and a
//! JSON error with `--json`) and an exit code (see `--help` and README).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hot_node::cli::Cli::parse();
    let json = cli.json;
    match hot_node::cli::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let v = serde_json::json!({ "error": {
                    "exit": e.exit.name(),
                    "code": e.api_code,
                    "http_status": e.http_status,
                    "message": e.message,
                }});
                println!("{v}");
            }
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit.code()).unwrap_or(1))
        }
    }
}
