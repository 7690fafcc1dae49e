//! The watch-only export format of `cold-signer export` (`"format": "mona-watch-only"`,
//! version 1): read and checked for the cold wallet, written for the hot wallet.
//!
//! Invariant: a [`WatchOnlyWallet`] comes only out of [`WatchOnlyWallet::from_json`] /
//! [`WatchOnlyWallet::from_account`]: its network is the expected one, both descriptors parse
//! (checksums included), describe the same account key with chains `/0/*` and `/1/*`, the
//! master fingerprint matches their origin, and the first receive address re-derives.

use bitcoin::bip32::ChildNumber;
use mona::{KeyDescriptor, Network};
use mona_wallet::WatchOnlyAccount;
use serde::{Deserialize, Serialize};

/// The export's `format` field.
pub const FORMAT: &str = "mona-watch-only";
/// The export version understood.
pub const VERSION: u32 = 1;
/// Largest export file read.
pub const MAX_EXPORT_BYTES: usize = 256 * 1024;

/// Why an export was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Not JSON of the expected shape.
    #[error("not a watch-only export: {0}")]
    Malformed(String),
    /// Another format or version.
    #[error("unsupported export format {format:?} version {version} (expected {FORMAT:?} version {VERSION})")]
    Unsupported {
        /// The `format` field.
        format: String,
        /// The `version` field.
        version: u32,
    },
    /// The export is for another network.
    #[error("the export is for {found}, not {expected}")]
    WrongNetwork {
        /// Expected.
        expected: Network,
        /// In the file.
        found: Network,
    },
    /// A descriptor does not parse or does not fit the rest.
    #[error("{field}: {detail}")]
    Descriptor {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// One account of an export (the fields `cold-signer export` writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEntry {
    /// "bip84", "bip49" or "bip44".
    pub account_type: String,
    /// `m/84'/22'/0'`.
    pub account_path: String,
    /// Account xpub (tpub on test chains).
    pub account_xpub: String,
    /// SLIP-0132 form.
    pub account_xpub_slip132: String,
    /// Receive descriptor with checksum.
    pub receive_descriptor: String,
    /// Change descriptor with checksum.
    pub change_descriptor: String,
    /// Receive address 0.
    pub first_receive_address: String,
}

/// The export document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDocument {
    /// `"mona-watch-only"`.
    pub format: String,
    /// 1.
    pub version: u32,
    /// The network.
    pub network: Network,
    /// Master key fingerprint (8 hex digits).
    pub master_fingerprint: String,
    /// The selected account.
    #[serde(flatten)]
    pub account: AccountEntry,
    /// Every account type (informational).
    #[serde(default)]
    pub accounts: Vec<AccountEntry>,
}

/// A checked watch-only wallet: the account the descriptors describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOnlyWallet {
    /// The account (receive chain 0, change chain 1).
    pub account: WatchOnlyAccount,
    /// The document it came from (or would be written as).
    pub document: ExportDocument,
}

impl WatchOnlyWallet {
    /// Parses and checks an export for `network`.
    pub fn from_json(bytes: &[u8], network: Network) -> Result<WatchOnlyWallet, ExportError> {
        if bytes.len() > MAX_EXPORT_BYTES {
            return Err(ExportError::Malformed(format!(
                "larger than {MAX_EXPORT_BYTES} bytes"
            )));
        }
        let doc: ExportDocument =
            serde_json::from_slice(bytes).map_err(|e| ExportError::Malformed(e.to_string()))?;
        if doc.format != FORMAT || doc.version != VERSION {
            return Err(ExportError::Unsupported {
                format: doc.format.chars().take(40).collect(),
                version: doc.version,
            });
        }
        if doc.network != network {
            return Err(ExportError::WrongNetwork {
                expected: network,
                found: doc.network,
            });
        }
        let parse = |field: &'static str, s: &str| {
            KeyDescriptor::parse(s, network).map_err(|e| ExportError::Descriptor {
                field,
                detail: e.to_string(),
            })
        };
        let receive = parse("receive_descriptor", &doc.account.receive_descriptor)?;
        let change = parse("change_descriptor", &doc.account.change_descriptor)?;
        let bad = |field: &'static str, detail: &str| ExportError::Descriptor {
            field,
            detail: detail.to_owned(),
        };
        let chain = |d: &KeyDescriptor, n: u32| {
            d.wildcard && d.suffix == [ChildNumber::Normal { index: n }]
        };
        if !chain(&receive, 0) {
            return Err(bad("receive_descriptor", "must be ranged on chain /0/*"));
        }
        if !chain(&change, 1) {
            return Err(bad("change_descriptor", "must be ranged on chain /1/*"));
        }
        if receive.xpub != change.xpub
            || receive.origin != change.origin
            || receive.script_type != change.script_type
        {
            return Err(bad(
                "change_descriptor",
                "describes another account than receive_descriptor",
            ));
        }
        let account = WatchOnlyAccount::from_descriptor(&receive)
            .ok_or_else(|| bad("receive_descriptor", "has no key origin [fingerprint/path]"))?;
        if account.fingerprint.to_string() != doc.master_fingerprint.to_ascii_lowercase() {
            return Err(bad(
                "master_fingerprint",
                "does not match the descriptors' key origin",
            ));
        }
        let first = account
            .address(0, 0)
            .ok_or_else(|| bad("receive_descriptor", "cannot derive receive address 0"))?;
        if first.to_string() != doc.account.first_receive_address {
            return Err(bad(
                "first_receive_address",
                "does not match the receive descriptor",
            ));
        }
        Ok(WatchOnlyWallet {
            account,
            document: doc,
        })
    }

    /// The export document of `account` alone (as `cold-signer export` would write it for a
    /// wallet with only that account).
    pub fn from_account(account: &WatchOnlyAccount) -> WatchOnlyWallet {
        WatchOnlyWallet::from_accounts(account, std::slice::from_ref(account))
    }

    /// The export document of `selected`, listing every account of `all` (in order), exactly
    /// as `cold-signer export` writes it.
    pub fn from_accounts(selected: &WatchOnlyAccount, all: &[WatchOnlyAccount]) -> WatchOnlyWallet {
        WatchOnlyWallet {
            account: selected.clone(),
            document: ExportDocument {
                format: FORMAT.into(),
                version: VERSION,
                network: selected.network,
                master_fingerprint: selected.fingerprint.to_string(),
                account: entry_of(selected),
                accounts: all.iter().map(entry_of).collect(),
            },
        }
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.document).unwrap_or_default()
    }

    /// The file bytes `cold-signer export --out F` writes: compact JSON and a newline.
    pub fn to_export_file(&self) -> String {
        let mut s = serde_json::to_string(&self.document).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn entry_of(account: &WatchOnlyAccount) -> AccountEntry {
    AccountEntry {
        account_type: format!("bip{}", account.script_type.purpose()),
        account_path: account.account_path_string(),
        account_xpub: account.xpub_string(),
        account_xpub_slip132: account.slip132_string(),
        receive_descriptor: account.receive_descriptor().to_string(),
        change_descriptor: account.change_descriptor().to_string(),
        first_receive_address: account
            .address(0, 0)
            .map(|a| a.to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::Secp256k1;
    use mona_wallet::{Account, Mnemonic, Purpose};

    fn account(network: Network) -> WatchOnlyAccount {
        let m = Mnemonic::parse("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about").unwrap();
        Account::from_seed(
            &Secp256k1::new(),
            &m.to_seed(""),
            network,
            Purpose::Bip84,
            0,
        )
        .watch_only()
        .clone()
    }

    #[test]
    fn round_trip_and_refusals() {
        let w = WatchOnlyWallet::from_account(&account(Network::Regtest));
        let json = w.to_json();
        assert_eq!(
            WatchOnlyWallet::from_json(json.as_bytes(), Network::Regtest).unwrap(),
            w
        );
        let e = WatchOnlyWallet::from_json(json.as_bytes(), Network::Mainnet).unwrap_err();
        assert!(matches!(e, ExportError::WrongNetwork { .. }), "{e}");

        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
            f(&mut v);
            WatchOnlyWallet::from_json(v.to_string().as_bytes(), Network::Regtest)
        };
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("format", Box::new(|v| v["format"] = "other".into())),
            ("version", Box::new(|v| v["version"] = 2.into())),
            (
                "checksum",
                Box::new(|v| {
                    let s = v["receive_descriptor"].as_str().unwrap().to_owned();
                    let (body, sum) = s.split_once('#').unwrap();
                    let mut sum = sum.to_owned();
                    sum.replace_range(0..1, if sum.starts_with('q') { "p" } else { "q" });
                    v["receive_descriptor"] = format!("{body}#{sum}").into();
                }),
            ),
            (
                "swapped chains",
                Box::new(|v| {
                    let r = v["receive_descriptor"].clone();
                    v["receive_descriptor"] = v["change_descriptor"].clone();
                    v["change_descriptor"] = r;
                }),
            ),
            (
                "fingerprint",
                Box::new(|v| v["master_fingerprint"] = "00000000".into()),
            ),
            (
                "first address",
                Box::new(|v| v["first_receive_address"] = "x".into()),
            ),
            (
                "missing field",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("change_descriptor");
                }),
            ),
        ];
        for (name, f) in cases {
            assert!(edit(&*f).is_err(), "{name}");
        }
        assert!(WatchOnlyWallet::from_json(b"{", Network::Regtest).is_err());
    }
}
