//! The data directory and `hot-node init`.
//!
//! ```text
//! D/config.toml        configuration (see `config`)
//! D/hot-seed.enc       encrypted hot seed (MONASEED v1, the cold signer's format), 0600
//! D/api.token          operator API token, 64 hex digits, 0600
//! D/cold-export.json   copy of the cold wallet's watch-only export (checked)
//! D/ledger.sqlite      the ledger (crates/ledger)
//! D/outbox/            the open cold proposal, written by `run` (see `outbox`; `[outbox] dir`)
//! ```
//!
//! Invariant: `init` never overwrites or modifies anything that exists. It refuses a data
//! directory that exists and is not empty, builds everything in a private staging directory
//! next to it and renames that into place only when every file is written and synced, so a
//! failed `init` leaves nothing behind.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mona::Network;
use mona_keystore::{KdfParams, Passphrase};
use mona_ledger::Ledger;
use serde::Serialize;

use crate::config::{Config, NodeSection};
use crate::hot_wallet::{self, HotSeedError};
use crate::secret::ApiToken;
use crate::watch_only::{ExportError, WatchOnlyWallet, MAX_EXPORT_BYTES};

/// Configuration file name.
pub const CONFIG_FILE: &str = "config.toml";
/// Encrypted hot seed file name.
pub const SEED_FILE: &str = "hot-seed.enc";
/// API token file name.
pub const TOKEN_FILE: &str = "api.token";
/// Copy of the cold watch-only export.
pub const COLD_EXPORT_FILE: &str = "cold-export.json";
/// Ledger database file name.
pub const LEDGER_FILE: &str = "ledger.sqlite";

/// Paths inside a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }
    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    /// `hot-seed.enc`.
    pub fn seed(&self) -> PathBuf {
        self.root.join(SEED_FILE)
    }
    /// `api.token`.
    pub fn token(&self) -> PathBuf {
        self.root.join(TOKEN_FILE)
    }
    /// `ledger.sqlite`.
    pub fn ledger(&self) -> PathBuf {
        self.root.join(LEDGER_FILE)
    }
    /// The cold export named by the configuration.
    pub fn cold_export(&self, config: &Config) -> PathBuf {
        Config::resolve(&self.root, &config.wallet.cold_export)
    }
}

/// Why `init` refused or failed. Nothing was left behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The data directory exists and is not empty (or is not a directory).
    #[error("{0} already exists and is not an empty directory; nothing was changed")]
    AlreadyExists(String),
    /// The cold export is unreadable or invalid.
    #[error("cold export {path}: {source}")]
    ColdExport {
        /// The file given.
        path: String,
        /// Why.
        source: ExportError,
    },
    /// The flags make an invalid configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The hot seed could not be created.
    #[error(transparent)]
    Seed(#[from] HotSeedError),
    /// The ledger could not be initialised.
    #[error("cannot initialise the ledger: {0}")]
    Ledger(String),
    /// A file system operation failed.
    #[error("{what} {path}: {reason}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: String,
        /// The I/O error.
        reason: String,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InitError + 'a {
    move |e| InitError::Io {
        what,
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Everything `init` needs.
pub struct InitOptions {
    /// The network.
    pub network: Network,
    /// The data directory to create.
    pub datadir: PathBuf,
    /// The cold signer's watch-only export to copy.
    pub cold_export: PathBuf,
    /// The hot seed passphrase.
    pub passphrase: Passphrase,
    /// The node connection.
    pub node: NodeSection,
    /// API listen address (default: loopback, network default port).
    pub listen: Option<SocketAddr>,
    /// Key-derivation cost of the seed file.
    pub kdf: KdfParams,
}

/// What `init` made.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The data directory.
    pub datadir: String,
    /// The network.
    pub network: Network,
    /// Files created, by role.
    pub files: Vec<CreatedFile>,
    /// Hot seed master fingerprint.
    pub hot_fingerprint: String,
    /// Hot wallet receive descriptor (public).
    pub hot_receive_descriptor: String,
    /// Cold wallet master fingerprint (from the export).
    pub cold_fingerprint: String,
    /// Cold wallet receive descriptor.
    pub cold_receive_descriptor: String,
    /// Where the API will listen.
    pub api_listen: String,
}

/// One created file.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedFile {
    /// What it is.
    pub role: &'static str,
    /// Where it is (inside the final data directory).
    pub path: String,
}

/// Writes `bytes` to a new file `path` (mode 0600, never overwriting) and syncs it.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn dir_is_free(path: &Path) -> Result<bool, InitError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_err("cannot inspect", path)(e)),
        Ok(m) if !m.is_dir() => Ok(false),
        Ok(_) => {
            let mut entries = fs::read_dir(path).map_err(io_err("cannot list", path))?;
            Ok(entries.next().is_none())
        }
    }
}

/// Creates the data directory. Refuses if it exists and is not empty.
pub fn init(opts: InitOptions) -> Result<InitReport, InitError> {
    let target =
        std::path::absolute(&opts.datadir).map_err(io_err("cannot resolve", &opts.datadir))?;
    if !dir_is_free(&target)? {
        return Err(InitError::AlreadyExists(target.display().to_string()));
    }
    // Cold export first: refusing bad input before anything is written.
    let export_bytes = read_limited(&opts.cold_export)?;
    let cold = WatchOnlyWallet::from_json(&export_bytes, opts.network).map_err(|source| {
        InitError::ColdExport {
            path: opts.cold_export.display().to_string(),
            source,
        }
    })?;
    let mut config = Config::new_default(opts.network, opts.node.clone());
    config.api.listen = opts.listen;
    config.validate("config.toml")?;

    let parent = target
        .parent()
        .ok_or_else(|| InitError::AlreadyExists(target.display().to_string()))?;
    fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(
        ".{name}.init-{}",
        hex::encode(rand::random::<[u8; 6]>())
    ));
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(&staging)
        .map_err(io_err("cannot create", &staging))?;
    match populate(&staging, &opts, &config, &export_bytes) {
        Ok(hot) => {
            // rename(2) replaces an empty directory atomically; re-check it is still free.
            let moved = if dir_is_free(&target)? {
                fs::rename(&staging, &target)
                    .map_err(io_err("cannot move the new data directory to", &target))
            } else {
                Err(InitError::AlreadyExists(target.display().to_string()))
            };
            if let Err(e) = moved {
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
            let dd = DataDir::new(&target);
            let files = vec![
                CreatedFile {
                    role: "config",
                    path: dd.config().display().to_string(),
                },
                CreatedFile {
                    role: "hot_seed",
                    path: dd.seed().display().to_string(),
                },
                CreatedFile {
                    role: "api_token",
                    path: dd.token().display().to_string(),
                },
                CreatedFile {
                    role: "cold_export",
                    path: dd.cold_export(&config).display().to_string(),
                },
                CreatedFile {
                    role: "ledger",
                    path: dd.ledger().display().to_string(),
                },
            ];
            Ok(InitReport {
                datadir: target.display().to_string(),
                network: opts.network,
                files,
                hot_fingerprint: hot.fingerprint().to_owned(),
                hot_receive_descriptor: hot.watch_only().receive_descriptor().to_string(),
                cold_fingerprint: cold.document.master_fingerprint.clone(),
                cold_receive_descriptor: cold.document.account.receive_descriptor.clone(),
                api_listen: config.listen_addr().to_string(),
            })
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>, InitError> {
    let meta = fs::metadata(path).map_err(io_err("cannot read", path))?;
    if meta.len() > MAX_EXPORT_BYTES as u64 {
        return Err(InitError::ColdExport {
            path: path.display().to_string(),
            source: ExportError::Malformed(format!("larger than {MAX_EXPORT_BYTES} bytes")),
        });
    }
    fs::read(path).map_err(io_err("cannot read", path))
}

fn populate(
    dir: &Path,
    opts: &InitOptions,
    config: &Config,
    export: &[u8],
) -> Result<hot_wallet::HotWallet, InitError> {
    let dd = DataDir::new(dir);
    let hot = hot_wallet::create(&dd.seed(), opts.network, &opts.passphrase, &opts.kdf)?;
    let token = ApiToken::generate();
    let mut token_text = token.to_hex();
    token_text.push('\n');
    write_new_private(&dd.token(), token_text.as_bytes())
        .map_err(io_err("cannot write", &dd.token()))?;
    let cold_path = dd.cold_export(config);
    write_new_private(&cold_path, export).map_err(io_err("cannot write", &cold_path))?;
    write_new_private(&dd.config(), config.to_toml_string().as_bytes())
        .map_err(io_err("cannot write", &dd.config()))?;
    {
        let ledger = mona_ledger::SqliteLedger::open(dd.ledger())
            .map_err(|e| InitError::Ledger(e.to_string()))?;
        let detail = format!(
            "network={} hot_fingerprint={} cold_fingerprint={}",
            opts.network,
            hot.fingerprint(),
            export_fingerprint(export)
        );
        ledger
            .append_audit("node.init", hot.fingerprint(), &detail)
            .map_err(|e| InitError::Ledger(e.to_string()))?;
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("cannot sync", dir))?;
    Ok(hot)
}

fn export_fingerprint(export: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(export)
        .ok()
        .and_then(|v| {
            v["master_fingerprint"]
                .as_str()
                .map(|s| s.chars().take(8).collect())
        })
        .unwrap_or_default()
}
