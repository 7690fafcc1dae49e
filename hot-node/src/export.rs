//! `hot-node export --datadir D --out F`: the hot wallet's watch-only export, in exactly the
//! cold signer's `export` format (`"format": "mona-watch-only"`, version 1, compact JSON and a
//! newline), so treasury staff can register the hot wallet's receive descriptor in the cold
//! signer's policy file (`[destinations] hot_descriptors`) and the cold signer recognises
//! top-ups to it.
//!
//! Invariant: the export holds public keys only; the output file is created, never
//! overwritten; nothing else in the data directory is touched (the seed is only read).

use std::path::PathBuf;

use clap::Args;
use mona::Network;

use crate::config::Config;
use crate::datadir::{self, DataDir};
use crate::exit::{CliError, Exit};
use crate::hot_wallet;
use crate::secret;
use crate::watch_only::WatchOnlyWallet;

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The data directory (its hot seed is unlocked to derive the public keys).
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
    /// Where to write the watch-only JSON (must not exist).
    #[arg(long, value_name = "F")]
    pub out: PathBuf,
    /// Read the hot seed passphrase from this file instead of prompting.
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
}

/// Unlocks the hot seed of `datadir` and returns its watch-only export.
pub fn hot_export(
    datadir: &std::path::Path,
    network: Option<Network>,
    passphrase_file: Option<&std::path::Path>,
) -> Result<WatchOnlyWallet, CliError> {
    let dd = DataDir::new(datadir);
    let config = Config::load(&dd.config()).map_err(|e| CliError::new(Exit::BadInput, e))?;
    if let Some(net) = network {
        if net != config.network {
            return Err(CliError::new(
                Exit::BadInput,
                format!(
                    "{} is a {} data directory, not {net}",
                    dd.root().display(),
                    config.network
                ),
            ));
        }
    }
    let seed = dd.seed();
    hot_wallet::read_metadata(&seed, config.network).map_err(|e| CliError::new(Exit::Seed, e))?;
    let passphrase =
        secret::passphrase(passphrase_file, false).map_err(|e| CliError::new(Exit::BadInput, e))?;
    let hot = hot_wallet::unlock(&seed, config.network, &passphrase)
        .map_err(|e| CliError::new(Exit::Seed, e))?;
    Ok(hot.export())
}

/// Runs `export`.
pub fn run(network: Option<Network>, json: bool, args: &ExportArgs) -> Result<(), CliError> {
    if std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(CliError::new(
            Exit::BadInput,
            format!("{} already exists; not overwritten", args.out.display()),
        ));
    }
    let export = hot_export(&args.datadir, network, args.passphrase_file.as_deref())?;
    let text = export.to_export_file();
    datadir::write_new_private(&args.out, text.as_bytes()).map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("cannot write {}: {e}", args.out.display()),
        )
    })?;
    let d = &export.document;
    if json {
        println!("{}", text.trim_end());
    } else {
        println!(
            "hot wallet watch-only export written to {}\nnetwork:            {}\nmaster fingerprint: {}\nreceive descriptor: {}\nchange descriptor:  {}\n\
             Register it on the cold signer: add the receive descriptor to [destinations] hot_descriptors of its policy file.",
            args.out.display(),
            d.network,
            d.master_fingerprint,
            d.account.receive_descriptor,
            d.account.change_descriptor,
        );
    }
    Ok(())
}
