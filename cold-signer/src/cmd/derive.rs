//! `derive`: the key, address and account xpub at a BIP32 path of a mnemonic (no wallet file).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::bip32::DerivationPath;
use clap::Args;
use mona::xkey::{self, KeyFormat};
use mona::Network;
use mona_wallet::{derive_path, Mnemonic};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cmd::secp;
use crate::exit::CliError;
use crate::input;
use crate::output::{emit, text_buffer, SecretStr};

/// Arguments of `derive`.
#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// File holding the BIP39 mnemonic (12 to 24 English words).
    #[arg(long, value_name = "F")]
    pub mnemonic_file: PathBuf,
    /// File holding the optional BIP39 passphrase (the "25th word").
    #[arg(long, value_name = "F")]
    pub bip39_passphrase_file: Option<PathBuf>,
    /// BIP32 path, e.g. "m/84'/22'/0'/0/0" ("h" works for hardened too).
    #[arg(long, value_name = "P")]
    pub path: String,
    /// Also print the private key (WIF). It is the money: keep the output off any network.
    #[arg(long)]
    pub show_private: bool,
}

#[derive(Serialize)]
struct Derived {
    network: Network,
    path: String,
    master_fingerprint: String,
    address: String,
    address_type: String,
    pubkey: String,
    xpub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_xpub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_xpub_slip132: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wif: Option<SecretStr>,
}

/// Reads and parses a mnemonic file (the error names the file, never a word).
pub fn read_mnemonic(path: &Path) -> Result<Mnemonic, CliError> {
    let phrase = input::read_secret_file(path, "mnemonic")?;
    Mnemonic::parse(&phrase)
        .map_err(|e| CliError::bad_input(format!("mnemonic file {}: {e}", path.display())))
}

/// Parses a BIP32 path like `m/84'/22'/0'/0/0`.
pub fn parse_path(s: &str) -> Result<DerivationPath, CliError> {
    DerivationPath::from_str(s.trim())
        .map_err(|e| CliError::bad_input(format!("invalid derivation path '{s}': {e}")))
}

fn path_string(path: &DerivationPath) -> String {
    if path.is_empty() {
        "m".to_owned()
    } else {
        format!("m/{path}")
    }
}

/// Runs `derive`.
pub fn run(network: Network, json: bool, args: &DeriveArgs) -> Result<(), CliError> {
    let path = parse_path(&args.path)?;
    let mnemonic = read_mnemonic(&args.mnemonic_file)?;
    let bip39_passphrase = input::bip39_passphrase(args.bip39_passphrase_file.as_deref())?;
    let seed = mnemonic.to_seed(&bip39_passphrase);
    let key = derive_path(secp(), &seed, network, &path)
        .map_err(|e| CliError::bad_input(format!("cannot derive {}: {e}", path_string(&path))))?;
    tracing::debug!(path = %path_string(&path), %network, "derived key");
    let account = key.account.as_ref();
    let derived = Derived {
        network,
        path: path_string(&path),
        master_fingerprint: seed.master_fingerprint(secp()).to_string(),
        address: key.address.to_string(),
        address_type: key.address.kind().name(),
        pubkey: key.pubkey.to_string(),
        xpub: xkey::encode_xpub(&key.xpub, KeyFormat::plain(network)),
        account_path: account.map(|a| a.account_path_string()),
        account_xpub: account.map(|a| a.xpub_string()),
        account_xpub_slip132: account.map(|a| a.slip132_string()),
        wif: args.show_private.then(|| {
            SecretStr(Zeroizing::new(mona::wif::encode(
                key.private_key(),
                network,
            )))
        }),
    };
    emit(json, &derived, |d| {
        let mut s = text_buffer();
        s.push_str(&format!(
            "path:               {}\nmaster fingerprint: {}\naddress:            {} ({})\npubkey:             {}\nxpub:               {}",
            d.path, d.master_fingerprint, d.address, d.address_type, d.pubkey, d.xpub
        ));
        if let (Some(p), Some(x), Some(z)) =
            (&d.account_path, &d.account_xpub, &d.account_xpub_slip132)
        {
            s.push_str(&format!(
                "\naccount path:       {p}\naccount xpub:       {x}\naccount slip132:    {z}"
            ));
        }
        if let Some(wif) = &d.wif {
            s.push_str("\nprivate key (WIF):  ");
            s.push_str(&wif.0);
        }
        s
    })
}
