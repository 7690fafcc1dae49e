//! Seed commands: `init`, `restore` (create an encrypted wallet) and `export` (its watch-only
//! description).
//!
//! Invariant: a wallet is only created when its directory holds none (checked before any prompt
//! and again, atomically, when the file is linked into place); the mnemonic is printed once, by
//! `init`, on stdout, and nowhere else.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use mona::Network;
use mona_airgap::Payload;
use mona_keystore::KdfParams;
use mona_wallet::{Account, Mnemonic, Purpose, Seed, WordCount};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cmd::derive::read_mnemonic;
use crate::cmd::qr::{ensure_qr_dir_free, write_qr_out, QrArgs};
use crate::cmd::secp;
use crate::exit::{CliError, Exit};
use crate::input;
use crate::output::{emit, text_buffer, to_json, SecretStr};
use crate::wallet_dir;

/// Key-derivation cost overrides (hidden: for tests and very small machines).
#[derive(Debug, Args)]
pub struct KdfArgs {
    /// argon2id memory cost in KiB (default 262144 = 256 MiB).
    #[arg(long, hide = true, value_name = "KIB")]
    pub kdf_m_cost_kib: Option<u32>,
    /// argon2id passes (default 4).
    #[arg(long, hide = true, value_name = "N")]
    pub kdf_t_cost: Option<u32>,
}

impl KdfArgs {
    fn params(&self) -> Result<KdfParams, CliError> {
        let params = KdfParams {
            m_cost_kib: self.kdf_m_cost_kib.unwrap_or(KdfParams::DEFAULT.m_cost_kib),
            t_cost: self.kdf_t_cost.unwrap_or(KdfParams::DEFAULT.t_cost),
            p_cost: KdfParams::DEFAULT.p_cost,
        };
        params.validate().map_err(CliError::bad_input)?;
        if params != KdfParams::DEFAULT {
            tracing::warn!(?params, "non-default kdf parameters");
        }
        Ok(params)
    }
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Wallet directory (created if missing; must not already hold a wallet).
    #[arg(long, value_name = "DIR")]
    pub wallet: PathBuf,
    /// Number of mnemonic words.
    #[arg(long, default_value = "24", value_parser = ["12", "24"])]
    pub words: String,
    /// Read the new wallet passphrase from this file instead of prompting (twice).
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub kdf: KdfArgs,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Wallet directory (created if missing; must not already hold a wallet).
    #[arg(long, value_name = "DIR")]
    pub wallet: PathBuf,
    /// File holding the BIP39 mnemonic to restore.
    #[arg(long, value_name = "F")]
    pub mnemonic_file: PathBuf,
    /// File holding the optional BIP39 passphrase (the "25th word"); stored encrypted too.
    #[arg(long, value_name = "F")]
    pub bip39_passphrase_file: Option<PathBuf>,
    /// Read the new wallet passphrase from this file instead of prompting (twice).
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub kdf: KdfArgs,
}

/// The account type of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccountType {
    /// Native segwit P2WPKH, `wpkh(...)`, m/84'.
    Bip84,
    /// P2SH-wrapped segwit, `sh(wpkh(...))`, m/49'.
    Bip49,
    /// Legacy P2PKH, `pkh(...)`, m/44'.
    Bip44,
}

impl AccountType {
    fn purpose(self) -> Purpose {
        match self {
            AccountType::Bip84 => Purpose::Bip84,
            AccountType::Bip49 => Purpose::Bip49,
            AccountType::Bip44 => Purpose::Bip44,
        }
    }
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Wallet directory.
    #[arg(long, value_name = "DIR")]
    pub wallet: PathBuf,
    /// Also write the watch-only JSON to this file (never overwritten).
    #[arg(long, value_name = "F")]
    pub out: Option<PathBuf>,
    /// The account whose descriptors are the top-level fields (all three are in `accounts`).
    #[arg(long, value_enum, default_value = "bip84")]
    pub account: AccountType,
    /// Read the wallet passphrase from this file instead of prompting.
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    /// Also write the watch-only JSON as QR codes (ur:bytes) into this directory: PNG frames,
    /// qr.gif and manifest.json (existing QR output is never overwritten).
    #[arg(long, value_name = "DIR")]
    pub qr_out: Option<PathBuf>,
    /// QR density, speed and terminal display.
    #[command(flatten)]
    pub qr: QrArgs,
}

#[derive(Serialize)]
struct Created<'a> {
    wallet: String,
    network: Network,
    master_fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    words: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mnemonic: Option<&'a SecretStr>,
}

/// Runs `init`: a new random mnemonic, encrypted into `DIR/seed.enc`, shown once.
pub fn init(network: Network, json: bool, args: &InitArgs) -> Result<(), CliError> {
    wallet_dir::ensure_free(&args.wallet)?;
    let params = args.kdf.params()?;
    let words = if args.words == "12" {
        WordCount::Twelve
    } else {
        WordCount::TwentyFour
    };
    let passphrase = input::new_passphrase(args.passphrase_file.as_deref())?;
    let mnemonic = Mnemonic::generate(words).map_err(CliError::failure)?;
    let fingerprint =
        wallet_dir::create(&args.wallet, network, &mnemonic, "", &passphrase, &params)?;
    let phrase = SecretStr(mnemonic.phrase());
    let created = Created {
        wallet: args.wallet.display().to_string(),
        network,
        master_fingerprint: fingerprint.to_string(),
        words: Some(mnemonic.word_count()),
        mnemonic: Some(&phrase),
    };
    emit(json, &created, |c| {
        let mut s = text_buffer();
        s.push_str(&format!(
            "Wallet created in {} (network {}, master fingerprint {}).\n\n\
             Write these {} words down, in order, and keep them offline.\n\
             They are shown only this once and are the only backup of the wallet:\n\n",
            c.wallet,
            c.network,
            c.master_fingerprint,
            mnemonic.word_count()
        ));
        for (i, word) in phrase.0.split(' ').enumerate() {
            s.push_str(&format!("{:>4}. {word:<10}", i + 1));
            if i % 4 == 3 {
                s.push('\n');
            }
        }
        s
    })
}

/// Runs `restore`: an existing mnemonic, encrypted into `DIR/seed.enc`.
pub fn restore(network: Network, json: bool, args: &RestoreArgs) -> Result<(), CliError> {
    wallet_dir::ensure_free(&args.wallet)?;
    let params = args.kdf.params()?;
    let mnemonic = read_mnemonic(&args.mnemonic_file)?;
    let bip39_passphrase = input::bip39_passphrase(args.bip39_passphrase_file.as_deref())?;
    let passphrase = input::new_passphrase(args.passphrase_file.as_deref())?;
    let fingerprint = wallet_dir::create(
        &args.wallet,
        network,
        &mnemonic,
        &bip39_passphrase,
        &passphrase,
        &params,
    )?;
    let created = Created {
        wallet: args.wallet.display().to_string(),
        network,
        master_fingerprint: fingerprint.to_string(),
        words: Some(mnemonic.word_count()),
        mnemonic: None,
    };
    emit(json, &created, |c| {
        Zeroizing::new(format!(
            "Wallet restored in {} (network {}, master fingerprint {}).",
            c.wallet, c.network, c.master_fingerprint
        ))
    })
}

/// One account of a watch-only export.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountExport {
    /// "bip84", "bip49" or "bip44".
    pub account_type: &'static str,
    /// `m/84'/22'/0'`.
    pub account_path: String,
    /// Account xpub (tpub on test chains), the form descriptors use.
    pub account_xpub: String,
    /// The same key in its SLIP-0132 form (zpub/ypub/xpub; vpub/upub/tpub on test chains).
    pub account_xpub_slip132: String,
    /// `wpkh([fp/84'/22'/0']xpub.../0/*)#checksum`.
    pub receive_descriptor: String,
    /// `wpkh([fp/84'/22'/0']xpub.../1/*)#checksum`.
    pub change_descriptor: String,
    /// The address at receive index 0 (to check against another wallet).
    pub first_receive_address: String,
}

/// The watch-only export written by `export`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WatchOnlyExport {
    /// Always "mona-watch-only".
    pub format: &'static str,
    /// Format version (1).
    pub version: u32,
    /// Network.
    pub network: Network,
    /// Master key fingerprint.
    pub master_fingerprint: String,
    /// The selected account (default BIP84).
    #[serde(flatten)]
    pub account: AccountExport,
    /// Every account type, BIP84 first.
    pub accounts: Vec<AccountExport>,
}

fn account_export(
    seed: &Seed,
    network: Network,
    purpose: Purpose,
) -> Result<AccountExport, CliError> {
    let account = Account::from_seed(secp(), seed, network, purpose, 0);
    let w = account.watch_only();
    let first = w
        .address(0, 0)
        .ok_or_else(|| CliError::failure("cannot derive the first receive address"))?;
    Ok(AccountExport {
        account_type: purpose.name(),
        account_path: w.account_path_string(),
        account_xpub: w.xpub_string(),
        account_xpub_slip132: w.slip132_string(),
        receive_descriptor: w.receive_descriptor().to_string(),
        change_descriptor: w.change_descriptor().to_string(),
        first_receive_address: first.to_string(),
    })
}

/// Builds the watch-only export of a seed.
pub fn watch_only_export(
    seed: &Seed,
    network: Network,
    selected: Purpose,
) -> Result<WatchOnlyExport, CliError> {
    let accounts = Purpose::ALL
        .iter()
        .map(|p| account_export(seed, network, *p))
        .collect::<Result<Vec<_>, _>>()?;
    let account = account_export(seed, network, selected)?;
    Ok(WatchOnlyExport {
        format: "mona-watch-only",
        version: 1,
        network,
        master_fingerprint: seed.master_fingerprint(secp()).to_string(),
        account,
        accounts,
    })
}

fn write_new(path: &Path, text: &str) -> Result<(), CliError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::new(
                    Exit::AlreadyExists,
                    format!("{} already exists; not overwritten", path.display()),
                )
            } else {
                CliError::failure(format!("cannot create {}: {e}", path.display()))
            }
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))
}

/// Runs `export`: unlocks the wallet and prints (and optionally writes) its watch-only JSON.
pub fn export(network: Network, json: bool, args: &ExportArgs) -> Result<(), CliError> {
    if let Some(out) = &args.out {
        if std::fs::symlink_metadata(out).is_ok() {
            return Err(CliError::new(
                Exit::AlreadyExists,
                format!("{} already exists; not overwritten", out.display()),
            ));
        }
    }
    if let Some(dir) = &args.qr_out {
        ensure_qr_dir_free(dir)?;
    }
    let locked = wallet_dir::open(&args.wallet, network)?;
    let passphrase = input::unlock_passphrase(args.passphrase_file.as_deref())?;
    let wallet = locked.unlock(&passphrase)?;
    let export = watch_only_export(&wallet.seed, network, args.account.purpose())?;
    if let Some(out) = &args.out {
        write_new(out, &to_json(&export)?)?;
        tracing::info!(out = %out.display(), "watch-only export written");
    }
    if args.qr_out.is_some() || args.qr.qr_show {
        // The QR payload is byte for byte the `--out` file (JSON and a newline); it holds no
        // secret.
        let payload = Payload::WatchOnlyExport(format!("{}\n", to_json(&export)?.as_str()));
        write_qr_out(args.qr_out.as_deref(), &payload, &args.qr, json)?;
        if let Some(dir) = &args.qr_out {
            tracing::info!(dir = %dir.display(), "watch-only export written as qr codes");
        }
    }
    emit(json, &export, |e| {
        let mut s = format!(
            "network:            {}\nmaster fingerprint: {}\n",
            e.network, e.master_fingerprint
        );
        for a in std::iter::once(&e.account).chain(
            e.accounts
                .iter()
                .filter(|a| a.account_type != e.account.account_type),
        ) {
            s.push_str(&format!(
                "\n{} account {}\n  xpub:    {}\n  slip132: {}\n  receive: {}\n  change:  {}\n  first receive address: {}\n",
                a.account_type,
                a.account_path,
                a.account_xpub,
                a.account_xpub_slip132,
                a.receive_descriptor,
                a.change_descriptor,
                a.first_receive_address
            ));
        }
        if let Some(out) = &args.out {
            s.push_str(&format!("\nwritten to {}", out.display()));
        }
        if let Some(dir) = &args.qr_out {
            s.push_str(&format!(
                "\nqr codes (ur:bytes) written to {}",
                dir.display()
            ));
        }
        Zeroizing::new(s)
    })
}
