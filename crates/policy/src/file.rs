//! The policy file: TOML, versioned, written by hand or by scripts, pinned on the signer.
//!
//! Invariant: a [`Policy`] only exists for a file that parsed completely with no unknown field
//! and every value in range; it remembers the SHA-256 of the exact bytes it came from, and its
//! destination sets (hot-wallet scripts, allowed addresses) are precomputed at load so that
//! evaluation stays a pure lookup.

use std::collections::HashMap;

use bitcoin::bip32::ChildNumber;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{CompressedPublicKey, ScriptBuf};
use mona::{Address, Amount, FeeRate, KeyDescriptor, Network};
use serde::Deserialize;

/// The only policy file version this build understands.
pub const POLICY_VERSION: u32 = 1;
/// Default cap on a PSBT's size.
pub const DEFAULT_MAX_PSBT_BYTES: u64 = 10_000_000;
/// Largest `max_psbt_bytes` a policy may set.
pub const HARD_MAX_PSBT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest `max_inputs` a policy may set.
pub const HARD_MAX_INPUTS: u64 = 10_000;
/// Largest `max_outputs` a policy may set.
pub const HARD_MAX_OUTPUTS: u64 = 10_000;
/// Largest number of indices scanned per hot descriptor.
const HARD_MAX_HOT_SCAN: u32 = 100_000;

/// Why a policy file was refused. One line each, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not valid TOML, an unknown field, a missing field or a value of the wrong type.
    #[error("policy file line {line}: {message}")]
    Syntax {
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// The parser's message, on one line.
        message: String,
    },
    /// The file is not UTF-8.
    #[error("policy file is not valid UTF-8")]
    NotUtf8,
    /// A `version` other than 1.
    #[error("unsupported policy version {0} (this signer understands version {POLICY_VERSION})")]
    UnsupportedVersion(u32),
    /// A bad value for a known field.
    #[error("policy field {field}: {reason}")]
    BadValue {
        /// Dotted field name (`limits.max_fee`).
        field: String,
        /// What is wrong, quoting the value.
        reason: String,
    },
}

fn bad(field: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::BadValue {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    network: String,
    #[serde(default)]
    destinations: RawDestinations,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    locktime: RawLocktime,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDestinations {
    #[serde(default)]
    hot_descriptors: Vec<String>,
    #[serde(default)]
    allow_addresses: Vec<String>,
    hot_scan_range: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_send: Option<String>,
    max_fee: Option<String>,
    max_fee_fraction: Option<f64>,
    max_fee_rate: Option<u64>,
    max_inputs: Option<u64>,
    max_outputs: Option<u64>,
    require_full_prev_tx: Option<bool>,
    sighash: Option<Vec<String>>,
    max_psbt_bytes: Option<u64>,
    max_change_index_gap: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLocktime {
    allow_non_final: Option<bool>,
    max_blocks_ahead: Option<u32>,
    max_seconds_ahead: Option<u64>,
}

/// The `[limits]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most that may leave the wallet (every output that is not proven change) per PSBT.
    pub max_send: Amount,
    /// Highest absolute fee.
    pub max_fee: Amount,
    /// Refuse a fee at or above this fraction of the amount sent, in parts per million
    /// (default 100,000 = 10%); warn at half of it.
    pub max_fee_fraction_ppm: u64,
    /// Highest fee rate.
    pub max_fee_rate: FeeRate,
    /// Most inputs.
    pub max_inputs: u64,
    /// Most outputs.
    pub max_outputs: u64,
    /// Whether every input must carry its full previous transaction (default true).
    pub require_full_prev_tx: bool,
    /// Allowed sighash types (raw values; default `[SIGHASH_ALL]`).
    pub sighash: Vec<u32>,
    /// Largest PSBT accepted, in bytes.
    pub max_psbt_bytes: u64,
    /// How far beyond the highest own input index a change index may be.
    pub max_change_index_gap: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_send: Amount::MAX_MONEY,
            max_fee: Amount::ONE_MONA,
            max_fee_fraction_ppm: 100_000,
            max_fee_rate: FeeRate::DEFAULT_MAX,
            max_inputs: 1000,
            max_outputs: 100,
            require_full_prev_tx: true,
            sighash: vec![1],
            max_psbt_bytes: DEFAULT_MAX_PSBT_BYTES,
            max_change_index_gap: 100,
        }
    }
}

/// The `[locktime]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocktimeRules {
    /// Whether a transaction that cannot be mined yet may be signed (default false).
    pub allow_non_final: bool,
    /// A height locktime more than this many blocks past the tip is "far future" (default 144).
    pub max_blocks_ahead: u32,
    /// A time locktime more than this many seconds past now is "far future" (default 1 day).
    pub max_seconds_ahead: u64,
}

impl Default for LocktimeRules {
    fn default() -> Self {
        LocktimeRules {
            allow_non_final: false,
            max_blocks_ahead: 144,
            max_seconds_ahead: 86_400,
        }
    }
}

/// Where a hot-wallet script was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotMatch {
    /// Position of the descriptor in `hot_descriptors`.
    pub descriptor: usize,
    /// Child index (0 for a non-ranged descriptor).
    pub index: u32,
}

/// A validated policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    /// File format version (1).
    pub version: u32,
    /// The network the policy is for.
    pub network: Network,
    /// Registered hot-wallet descriptors.
    pub hot_descriptors: Vec<KeyDescriptor>,
    /// Allowed external addresses.
    pub allow_addresses: Vec<Address>,
    /// Indices scanned per ranged hot descriptor (`destinations.hot_scan_range`, default 1000).
    pub hot_scan_range: u32,
    /// Amount, fee and size limits.
    pub limits: Limits,
    /// Locktime rules.
    pub locktime: LocktimeRules,
    sha256: sha256::Hash,
    hot_scripts: HashMap<ScriptBuf, HotMatch>,
    allowed_scripts: HashMap<ScriptBuf, usize>,
}

/// Parses a policy `sighash` name (`ALL`, `NONE`, `SINGLE`, each optionally `|ANYONECANPAY`).
fn parse_sighash(s: &str) -> Option<u32> {
    let upper = s.trim().to_ascii_uppercase();
    let upper = upper.strip_prefix("SIGHASH_").unwrap_or(&upper);
    let (base, acp) = match upper.split_once('|') {
        Some((b, "ANYONECANPAY")) => (b, 0x80),
        Some(_) => return None,
        None => (upper, 0),
    };
    let base = match base {
        "ALL" => 1,
        "NONE" => 2,
        "SINGLE" => 3,
        _ => return None,
    };
    Some(base | acp)
}

/// The display name of a raw sighash value (`ALL`, `NONE|ANYONECANPAY`, or `0x..`).
pub fn sighash_name(value: u32) -> String {
    let base = match value & 0x7f {
        1 => "ALL",
        2 => "NONE",
        3 => "SINGLE",
        _ => return format!("0x{value:x}"),
    };
    match value & !0x7f {
        0 => base.to_owned(),
        0x80 => format!("{base}|ANYONECANPAY"),
        _ => format!("0x{value:x}"),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(0)
}

impl Policy {
    /// Parses and validates a policy file's bytes.
    pub fn from_toml_bytes(bytes: &[u8]) -> Result<Policy, PolicyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| PolicyError::NotUtf8)?;
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
            message: e.message().trim().replace(['\n', '\r'], " "),
        })?;
        Policy::from_raw(raw, sha256::Hash::hash(bytes))
    }

    /// The SHA-256 of the file bytes, hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.to_string()
    }

    /// Whether `script` pays the registered hot wallet (within the scanned index range).
    pub fn hot_match(&self, script: &ScriptBuf) -> Option<HotMatch> {
        self.hot_scripts.get(script).copied()
    }

    /// Whether `script` is on the external allow-list.
    pub fn is_allowed_address(&self, script: &ScriptBuf) -> bool {
        self.allowed_scripts.contains_key(script)
    }

    fn from_raw(raw: RawPolicy, sha: sha256::Hash) -> Result<Policy, PolicyError> {
        if raw.version != POLICY_VERSION {
            return Err(PolicyError::UnsupportedVersion(raw.version));
        }
        let network: Network = raw
            .network
            .parse()
            .map_err(|e: mona::UnknownNetworkError| bad("network", e.to_string()))?;
        let limits = limits(raw.limits)?;
        let locktime = LocktimeRules {
            allow_non_final: raw.locktime.allow_non_final.unwrap_or(false),
            max_blocks_ahead: raw.locktime.max_blocks_ahead.unwrap_or(144),
            max_seconds_ahead: raw.locktime.max_seconds_ahead.unwrap_or(86_400),
        };
        let hot_scan_range = raw.destinations.hot_scan_range.unwrap_or(1000);
        if hot_scan_range == 0 || hot_scan_range > HARD_MAX_HOT_SCAN {
            return Err(bad(
                "destinations.hot_scan_range",
                format!("{hot_scan_range} is out of range (1 to {HARD_MAX_HOT_SCAN})"),
            ));
        }
        let mut hot_descriptors = Vec::new();
        for (i, s) in raw.destinations.hot_descriptors.iter().enumerate() {
            let field = format!("destinations.hot_descriptors[{i}]");
            let d =
                KeyDescriptor::parse(s.trim(), network).map_err(|e| bad(&field, e.to_string()))?;
            hot_descriptors.push(d);
        }
        let mut allow_addresses = Vec::new();
        let mut allowed_scripts = HashMap::new();
        for (i, s) in raw.destinations.allow_addresses.iter().enumerate() {
            let field = format!("destinations.allow_addresses[{i}]");
            let a = Address::parse(s.trim(), network).map_err(|e| bad(&field, e.to_string()))?;
            allowed_scripts.insert(a.script_pubkey().clone(), i);
            allow_addresses.push(a);
        }
        let hot_scripts = scan_hot(&hot_descriptors, hot_scan_range)?;
        Ok(Policy {
            version: raw.version,
            network,
            hot_descriptors,
            allow_addresses,
            hot_scan_range,
            limits,
            locktime,
            sha256: sha,
            hot_scripts,
            allowed_scripts,
        })
    }
}

fn amount(field: &str, s: Option<String>, default: Amount) -> Result<Amount, PolicyError> {
    match s {
        None => Ok(default),
        Some(s) => Amount::from_mona_str(s.trim()).map_err(|e| bad(field, e.to_string())),
    }
}

fn limits(raw: RawLimits) -> Result<Limits, PolicyError> {
    let d = Limits::default();
    let max_fee_fraction_ppm = match raw.max_fee_fraction {
        None => d.max_fee_fraction_ppm,
        Some(f) if f.is_finite() && f > 0.0 && f <= 1.0 => {
            // A ratio, not money: converted once to exact parts per million.
            (f * 1_000_000.0).round() as u64
        }
        Some(f) => {
            return Err(bad(
                "limits.max_fee_fraction",
                format!("{f} is not a fraction in (0, 1]"),
            ))
        }
    };
    let max_fee_rate = match raw.max_fee_rate {
        None => d.max_fee_rate,
        Some(0) => {
            return Err(bad(
                "limits.max_fee_rate",
                "must be at least 1 watanabe/vbyte",
            ))
        }
        Some(r) if r > 100_000_000 => {
            return Err(bad(
                "limits.max_fee_rate",
                format!("{r} watanabe/vbyte is absurdly high"),
            ))
        }
        Some(r) => FeeRate::from_wat_per_vb(r),
    };
    let count = |field: &str, v: Option<u64>, default: u64, hard: u64| match v {
        None => Ok(default),
        Some(n) if (1..=hard).contains(&n) => Ok(n),
        Some(n) => Err(bad(field, format!("{n} is out of range (1 to {hard})"))),
    };
    let sighash = match raw.sighash {
        None => d.sighash.clone(),
        Some(list) if list.is_empty() => {
            return Err(bad("limits.sighash", "must name at least one sighash type"))
        }
        Some(list) => list
            .iter()
            .map(|s| {
                parse_sighash(s).ok_or_else(|| {
                    bad(
                        "limits.sighash",
                        format!("unknown sighash '{s}' (expected ALL, NONE, SINGLE, optionally |ANYONECANPAY)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Limits {
        max_send: amount("limits.max_send", raw.max_send, d.max_send)?,
        max_fee: amount("limits.max_fee", raw.max_fee, d.max_fee)?,
        max_fee_fraction_ppm,
        max_fee_rate,
        max_inputs: count(
            "limits.max_inputs",
            raw.max_inputs,
            d.max_inputs,
            HARD_MAX_INPUTS,
        )?,
        max_outputs: count(
            "limits.max_outputs",
            raw.max_outputs,
            d.max_outputs,
            HARD_MAX_OUTPUTS,
        )?,
        require_full_prev_tx: raw.require_full_prev_tx.unwrap_or(true),
        sighash,
        max_psbt_bytes: count(
            "limits.max_psbt_bytes",
            raw.max_psbt_bytes,
            d.max_psbt_bytes,
            HARD_MAX_PSBT_BYTES,
        )?,
        max_change_index_gap: raw.max_change_index_gap.unwrap_or(d.max_change_index_gap),
    })
}

/// Every script of the hot descriptors over `0..range`, derived once (one CKD per index).
fn scan_hot(
    descriptors: &[KeyDescriptor],
    range: u32,
) -> Result<HashMap<ScriptBuf, HotMatch>, PolicyError> {
    let secp = Secp256k1::verification_only();
    let mut out = HashMap::new();
    for (i, d) in descriptors.iter().enumerate() {
        let field = format!("destinations.hot_descriptors[{i}]");
        let parent = d
            .xpub
            .derive_pub(&secp, &d.suffix)
            .map_err(|e| bad(&field, e.to_string()))?;
        if !d.wildcard {
            let script = d
                .script_type
                .script_pubkey(&CompressedPublicKey(parent.public_key));
            out.entry(script).or_insert(HotMatch {
                descriptor: i,
                index: 0,
            });
            continue;
        }
        for index in 0..range {
            // Unhardened indices below 2^31: `from_normal_idx` cannot fail for them.
            let Ok(step) = ChildNumber::from_normal_idx(index) else {
                break;
            };
            // A CKD failure (probability ~2^-127) skips that index, as BIP32 says.
            let Ok(child) = parent.ckd_pub(&secp, step) else {
                continue;
            };
            let script = d
                .script_type
                .script_pubkey(&CompressedPublicKey(child.public_key));
            out.entry(script).or_insert(HotMatch {
                descriptor: i,
                index,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOT: &str = "wpkh([5c9e228d/84'/1'/0']tpubDCZB6sR48s4T5Cr8qHUYSZEFCQMMHRg8AoVKVmvcAP5bRw7ArDKeoNwKAJujV3xCPkBvXH5ejSgbgyN6kREmF7sMd41NdbuHa8n1DZNxSMg/0/*)#rn0zejch";

    fn full() -> String {
        format!(
            r#"version = 1
network = "regtest"
[destinations]
hot_descriptors = ["{HOT}"]
allow_addresses = ["rmona1q7cgva59egg6l4eg64c285rfutmdjfw6nlahe75"]
hot_scan_range = 20
[limits]
max_send = "100"
max_fee = "0.1"
max_fee_fraction = 0.10
max_fee_rate = 1000
max_inputs = 1000
max_outputs = 100
require_full_prev_tx = true
sighash = ["ALL"]
"#
        )
    }

    #[test]
    fn the_issue_example_parses_with_its_values() {
        let p = Policy::from_toml_bytes(full().as_bytes()).unwrap();
        assert_eq!(p.network, Network::Regtest);
        assert_eq!(p.limits.max_send, Amount::from_mona_str("100").unwrap());
        assert_eq!(p.limits.max_fee, Amount::from_wat(10_000_000).unwrap());
        assert_eq!(p.limits.max_fee_fraction_ppm, 100_000);
        assert_eq!(p.limits.max_fee_rate, FeeRate::from_wat_per_vb(1000));
        assert_eq!(p.limits.sighash, vec![1]);
        assert_eq!(p.hot_scripts.len(), 20);
        // m/84'/1'/0'/0/0 of the `all` key set is index 0 of the hot descriptor.
        let a = Address::parse(
            "rmona1qkvwu9g3k2pdxewfqr7syz89r3gj557l3506gn9",
            Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            p.hot_match(a.script_pubkey()),
            Some(HotMatch {
                descriptor: 0,
                index: 0
            })
        );
        assert_eq!(p.sha256_hex().len(), 64);
    }

    #[test]
    fn defaults_follow_the_issue() {
        let p = Policy::from_toml_bytes(b"version = 1\nnetwork = \"mainnet\"\n").unwrap();
        assert_eq!(p.limits.max_fee_fraction_ppm, 100_000);
        assert!(p.limits.require_full_prev_tx);
        assert_eq!(p.limits.sighash, vec![1]);
        assert!(p.hot_descriptors.is_empty() && p.allow_addresses.is_empty());
        assert!(!p.locktime.allow_non_final);
    }

    #[test]
    fn sha256_is_of_the_exact_bytes() {
        let a = Policy::from_toml_bytes(b"version = 1\nnetwork = \"regtest\"\n").unwrap();
        let b = Policy::from_toml_bytes(b"version = 1\nnetwork = \"regtest\"\n\n").unwrap();
        assert_ne!(a.sha256_hex(), b.sha256_hex());
        assert_eq!(
            a.sha256_hex(),
            sha256::Hash::hash(b"version = 1\nnetwork = \"regtest\"\n").to_string()
        );
    }

    #[test]
    fn bad_files_are_refused_with_one_line_naming_the_problem() {
        let cases: &[(&str, String, &str)] = &[
            (
                "unknown top-level field",
                "version = 1\nnetwork = \"regtest\"\nmax_fees = 3\n".into(),
                "max_fees",
            ),
            (
                "unknown limits field",
                "version = 1\nnetwork = \"regtest\"\n[limits]\nmax_fe = \"1\"\n".into(),
                "max_fe",
            ),
            ("missing network", "version = 1\n".into(), "network"),
            (
                "version 2",
                "version = 2\nnetwork = \"regtest\"\n".into(),
                "version 2",
            ),
            (
                "bad network",
                "version = 1\nnetwork = \"bitcoin\"\n".into(),
                "bitcoin",
            ),
            (
                "amount as a number",
                "version = 1\nnetwork = \"regtest\"\n[limits]\nmax_send = 100\n".into(),
                "line 4",
            ),
            (
                "float amount string",
                "version = 1\nnetwork = \"regtest\"\n[limits]\nmax_fee = \"0.123456789\"\n"
                    .into(),
                "limits.max_fee",
            ),
            (
                "fraction above one",
                "version = 1\nnetwork = \"regtest\"\n[limits]\nmax_fee_fraction = 1.5\n".into(),
                "limits.max_fee_fraction",
            ),
            (
                "unknown sighash",
                "version = 1\nnetwork = \"regtest\"\n[limits]\nsighash = [\"ALLL\"]\n".into(),
                "ALLL",
            ),
            (
                "zero inputs",
                "version = 1\nnetwork = \"regtest\"\n[limits]\nmax_inputs = 0\n".into(),
                "limits.max_inputs",
            ),
            (
                "mainnet address on regtest",
                "version = 1\nnetwork = \"regtest\"\n[destinations]\nallow_addresses = [\"MLBikaWAjdsDyfE4sVjaJfeM3BZbrbQWXi\"]\n".into(),
                "allow_addresses[0]",
            ),
            (
                "bad descriptor checksum",
                full().replace("#rn0zejch", "#aaaaaaaa"),
                "hot_descriptors[0]",
            ),
        ];
        for (name, text, needle) in cases {
            let e = Policy::from_toml_bytes(text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{name}: {e}");
            assert!(!e.contains('\n'), "{name}: multi-line error {e:?}");
        }
    }

    #[test]
    fn sighash_names_round_trip() {
        for name in [
            "ALL",
            "NONE",
            "SINGLE",
            "ALL|ANYONECANPAY",
            "NONE|ANYONECANPAY",
            "SINGLE|ANYONECANPAY",
        ] {
            assert_eq!(sighash_name(parse_sighash(name).unwrap()), name);
        }
        assert_eq!(parse_sighash("sighash_all"), Some(1));
        assert_eq!(parse_sighash("ALL|NONE"), None);
    }
}
