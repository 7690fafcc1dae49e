//! Logging through `tracing`: human-readable by default, JSON lines with `--log-format json`,
//! to stderr, filtered by `HOT_NODE_LOG` (or `RUST_LOG`), default `info`.
//!
//! Invariant: nothing in this crate logs a secret (token, seed, passphrase, voucher code):
//! request logs carry the route template, never bodies, headers or raw paths; secret types
//! print `<redacted>` in `Debug`. `tests/secrets_in_logs.rs` captures the output to check it.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env("HOT_NODE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default))
}

/// A subscriber writing to `writer` (used by [`init`] with stderr, and by tests with a buffer);
/// colours only when `ansi`.
pub fn subscriber<W>(
    format: LogFormat,
    default_filter: &str,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(default_filter))
        .with_writer(writer)
        .with_target(true)
        .with_ansi(ansi && format == LogFormat::Human);
    match format {
        LogFormat::Human => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

/// Installs the global subscriber (stderr). Later calls are ignored.
pub fn init(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing::subscriber::set_global_default(subscriber(
        format,
        default_filter,
        std::io::stderr,
        ansi,
    ));
}
