//! The data directory's `config.toml`: network, node connection, API limits, wallet files,
//! payout batching and the float policy of issue 6.
//!
//! Invariant: a [`Config`] value only exists after [`Config::from_toml_str`] (or
//! [`Config::validate`]) accepted every field: unknown keys are refused, amounts are exact
//! decimal MONA strings ([`mona::Amount`]), fee rates are whole watanabe per vbyte, and the
//! cross-field rules (`hot_low < hot_target <= hot_cap`, fee floor/ceiling, ...) hold. Every
//! refusal is one line naming the field.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use mona::{Amount, FeeRate, Network};
use serde::{Deserialize, Serialize};

/// Smallest fee-rate floor accepted, in wat/vB (Monacoin wallets' `-mintxfee`, issue 5).
pub const MIN_FEE_RATE_FLOOR: u64 = FeeRate::WALLET_FLOOR.wat_per_vb_floor();
/// Largest fee-rate ceiling accepted, in wat/vB (`sendrawtransaction`'s default `maxfeerate`).
pub const MAX_FEE_RATE_CEILING: u64 = FeeRate::DEFAULT_MAX.wat_per_vb_floor();
/// Deepest reorg the ledger handles; the finality depth may not exceed it.
pub const MAX_FINALITY_DEPTH: u32 = 100;

/// Why a configuration was refused (one line, naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// TOML syntax, an unknown key, a missing key or a value of the wrong type.
    #[error("{path}{line}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// `" line N"` when known, else empty.
        line: String,
        /// The parser's message, on one line.
        message: String,
    },
    /// A value is outside its accepted range or breaks a rule between fields.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The offending field, `section.key`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A fraction in (0, 1], exact to one part per million, written as a decimal string
/// (`"0.25"`); never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fraction {
    ppm: u32,
}

impl Fraction {
    /// One million parts.
    pub const ONE: Fraction = Fraction { ppm: 1_000_000 };

    /// The fraction in parts per million.
    pub fn ppm(self) -> u32 {
        self.ppm
    }

    /// From parts per million (at most 1,000,000).
    pub fn from_ppm(ppm: u32) -> Option<Fraction> {
        (ppm <= 1_000_000).then_some(Fraction { ppm })
    }

    /// `amount * self`, rounded down.
    pub fn of(self, amount: Amount) -> Amount {
        let v = u128::from(amount.to_wat()) * u128::from(self.ppm) / 1_000_000;
        // v <= amount, so it is within the supply cap.
        Amount::from_wat(u64::try_from(v).unwrap_or(0)).unwrap_or(Amount::ZERO)
    }
}

impl FromStr for Fraction {
    type Err = String;
    fn from_str(s: &str) -> Result<Fraction, String> {
        let bad =
            || format!("'{s}' is not a decimal fraction such as \"0.25\" (at most 6 decimals)");
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || int.len() > 1 {
            return Err(bad());
        }
        if s.contains('.')
            && (frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let int: u32 = int.parse().map_err(|_| bad())?;
        let mut f: u32 = 0;
        for b in frac.bytes() {
            f = f * 10 + u32::from(b - b'0');
        }
        let f = f * 10u32.pow(6 - frac.len() as u32);
        Fraction::from_ppm(int * 1_000_000 + f).ok_or_else(bad)
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.ppm / 1_000_000;
        let frac = self.ppm % 1_000_000;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let s = format!("{frac:06}");
        write!(f, "{int}.{}", s.trim_end_matches('0'))
    }
}

impl Serialize for Fraction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Fraction;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal fraction string such as \"0.25\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Fraction, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The chain this data directory belongs to.
    pub network: Network,
    /// How to reach `monacoind`.
    pub node: NodeSection,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSection,
    /// Wallet files.
    #[serde(default)]
    pub wallet: WalletSection,
    /// Payout batching.
    #[serde(default)]
    pub payouts: PayoutsSection,
    /// The payout engine's timing and automation (optional; defaults suit production).
    #[serde(default)]
    pub engine: EngineSection,
    /// Where `run` writes the open proposal's PSBT and QR frames (optional).
    #[serde(default)]
    pub outbox: OutboxSection,
    /// The float policy (issue 6); every key is required.
    pub policy: PolicySection,
}

/// `[node]`: the monacoind JSON-RPC connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// `http://host:port/`.
    pub url: String,
    /// The node's `.cookie` file (exclusive with `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_file: Option<PathBuf>,
    /// `-rpcuser` (needs `password_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A file holding `-rpcpassword`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Timeout of every RPC call.
    #[serde(default = "default_node_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_node_timeout_ms() -> u64 {
    mona_node::DEFAULT_TIMEOUT_MS
}

/// `[api]`: listener and admission limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Listen address; `None` = `127.0.0.1:<network default port>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Must be `true` to listen on anything but a loopback address.
    pub allow_non_loopback: bool,
    /// Requests handled at once.
    pub max_in_flight: usize,
    /// Requests waiting for a slot; beyond it: 503 with `Retry-After`.
    pub max_queue: usize,
    /// Longest wait in the queue before a 503, in milliseconds.
    pub queue_timeout_ms: u64,
    /// Largest request body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Longest time to receive a request body, in milliseconds (408 after).
    pub body_timeout_ms: u64,
    /// Voucher redemptions per client IP per minute (sustained).
    pub redeem_per_minute: u32,
    /// Voucher redemptions a client IP may make in a burst.
    pub redeem_burst: u32,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: None,
            allow_non_loopback: false,
            max_in_flight: 64,
            max_queue: 256,
            queue_timeout_ms: 5_000,
            max_body_bytes: 16 * 1024,
            body_timeout_ms: 10_000,
            redeem_per_minute: 30,
            redeem_burst: 10,
        }
    }
}

/// `[wallet]`: the cold wallet's watch-only export and address scanning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletSection {
    /// The cold signer's watch-only export (relative paths are inside the data directory).
    pub cold_export: PathBuf,
    /// Unused addresses scanned past the last used one, per chain.
    pub gap_limit: u32,
}

impl Default for WalletSection {
    fn default() -> Self {
        WalletSection {
            cold_export: PathBuf::from(crate::datadir::COLD_EXPORT_FILE),
            gap_limit: 20,
        }
    }
}

/// `[payouts]`: batching and transaction shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayoutsSection {
    /// Most withdrawals paid by one transaction.
    pub batch_size: u32,
    /// Longest wait before queued withdrawals are paid, in milliseconds.
    pub batch_interval_ms: u64,
    /// Most inputs of one transaction.
    pub max_inputs: u32,
    /// Fee rate when `estimatesmartfee` has no answer, in wat/vB.
    pub fallback_fee_rate: u64,
}

impl Default for PayoutsSection {
    fn default() -> Self {
        PayoutsSection {
            batch_size: 50,
            batch_interval_ms: 10_000,
            max_inputs: 100,
            // Half the default ceiling: a payout built at exactly the ceiling can exceed the
            // node's maxfeerate by a rounding (see the ignored e2e regression test).
            fallback_fee_rate: FeeRate::WALLET_FALLBACK.wat_per_vb_floor() / 2,
        }
    }
}

/// `[engine]`: how often the engine polls, retries and bumps, and what it does on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// How often the node's tip is polled, in milliseconds (10..=60000).
    pub poll_interval_ms: u64,
    /// How often our unconfirmed payouts are looked for in the mempool, in ms (10..=3600000).
    pub mempool_interval_ms: u64,
    /// Unit of the re-send backoff in ms (1000 = 1 s, 2 s, 4 s ... 5 min) (1..=60000).
    pub retry_base_ms: u64,
    /// A payout unconfirmed after this many blocks is fee-bumped (0 = never) (0..=1000).
    pub bump_after_blocks: u32,
    /// First height scanned by a fresh ledger (the wallet's birthday).
    pub start_height: u32,
    /// Sweep to cold automatically when the hot balance is above the effective cap.
    pub auto_sweep: bool,
    /// Propose a top-up automatically when the hot balance is below `hot_low`.
    pub auto_topup: bool,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            poll_interval_ms: 2_000,
            mempool_interval_ms: 30_000,
            retry_base_ms: 1_000,
            bump_after_blocks: 6,
            start_height: 0,
            auto_sweep: true,
            auto_topup: true,
        }
    }
}

/// `[outbox]`: the daemon writes the open cold proposal (a top-up, or a withdrawal above
/// `max_payout`) as `<id>.psbt`, `<id>-qr/` (QR frames) and `<id>.json` into `dir`, and
/// removes the files of proposals that are no longer open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSection {
    /// Write the outbox at all.
    pub enabled: bool,
    /// The outbox directory (relative paths are inside the data directory).
    pub dir: PathBuf,
    /// Data per QR frame: `low`, `medium` or `high` (the CLI's `--qr-density`).
    pub qr_density: String,
    /// How often the open proposal is checked, in milliseconds (100..=60000); a proposal made
    /// through the API is written at once.
    pub interval_ms: u64,
}

/// The default outbox directory, inside the data directory.
pub const DEFAULT_OUTBOX_DIR: &str = "outbox";

impl Default for OutboxSection {
    fn default() -> Self {
        OutboxSection {
            enabled: true,
            dir: PathBuf::from(DEFAULT_OUTBOX_DIR),
            qr_density: mona_airgap::Density::Medium.as_str().to_owned(),
            interval_ms: 2_000,
        }
    }
}

/// `[policy]`: the float policy. Amounts are decimal MONA strings, fee rates wat/vB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Absolute cap of the hot balance.
    pub hot_cap: Amount,
    /// Cap as a fraction of hot + cold; the effective cap is the smaller of the two.
    pub hot_cap_fraction: Fraction,
    /// What a sweep or top-up brings the hot balance to.
    pub hot_target: Amount,
    /// Below this, a top-up is proposed.
    pub hot_low: Amount,
    /// Largest withdrawal paid hot; above it a withdrawal waits for a cold-signed PSBT.
    pub max_payout: Amount,
    /// Most paid out in any rolling 24 hours.
    pub max_daily: Amount,
    /// Lowest fee rate used, wat/vB (>= 100).
    pub fee_rate_floor: u64,
    /// Highest fee rate used, wat/vB (<= 10,000).
    pub fee_rate_ceiling: u64,
    /// Incoming coins below this are recorded but never spent.
    pub dust_threshold: Amount,
    /// Confirmations after which a payout is final (1..=100).
    pub finality_depth: u32,
}

impl PolicySection {
    /// Defaults written by `init`: a small float, 100 wat/vB floor.
    pub fn defaults() -> PolicySection {
        let mona = |n: u64| Amount::from_wat_const(n * mona::amount::WAT_PER_MONA);
        PolicySection {
            hot_cap: mona(1_000),
            hot_cap_fraction: Fraction { ppm: 100_000 },
            hot_target: mona(500),
            hot_low: mona(100),
            max_payout: mona(100),
            max_daily: mona(1_000),
            fee_rate_floor: MIN_FEE_RATE_FLOOR,
            fee_rate_ceiling: 2_000,
            // Twice the cost of spending a P2WPKH input (68 vB) at the 100 wat/vB floor.
            dust_threshold: Amount::from_wat_const(2 * 68 * MIN_FEE_RATE_FLOOR),
            finality_depth: 6,
        }
    }

    /// The fee-rate floor as a [`FeeRate`].
    pub fn fee_floor(&self) -> FeeRate {
        FeeRate::from_wat_per_vb(self.fee_rate_floor)
    }

    /// The fee-rate ceiling as a [`FeeRate`].
    pub fn fee_ceiling(&self) -> FeeRate {
        FeeRate::from_wat_per_vb(self.fee_rate_ceiling)
    }

    /// The effective cap: `min(hot_cap, hot_cap_fraction * (hot + cold))`.
    pub fn effective_cap(&self, hot: Amount, cold: Amount) -> Amount {
        let total = hot.checked_add(cold).unwrap_or(Amount::MAX_MONEY);
        self.hot_cap.min(self.hot_cap_fraction.of(total))
    }
}

/// Default API port per network (loopback only by default).
pub fn default_api_port(network: Network) -> u16 {
    match network {
        Network::Mainnet => 9480,
        Network::Testnet => 19480,
        Network::Regtest => 29480,
    }
}

impl Config {
    /// A configuration with defaults everywhere but the node URL and credentials.
    pub fn new_default(network: Network, node: NodeSection) -> Config {
        Config {
            network,
            node,
            api: ApiSection::default(),
            wallet: WalletSection::default(),
            payouts: PayoutsSection::default(),
            engine: EngineSection::default(),
            outbox: OutboxSection::default(),
            policy: PolicySection::defaults(),
        }
    }

    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text (`origin` names it in errors).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    format!(
                        " line {}",
                        text[..s.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_default();
            ConfigError::Parse {
                path: origin.to_owned(),
                line,
                message: e.message().replace('\n', " ").trim().to_owned(),
            }
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// The TOML text of this configuration (what `init` writes).
    pub fn to_toml_string(&self) -> String {
        let body =
            toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot encode: {e}\n"));
        format!(
            "# hot-node configuration. Amounts are decimal MONA strings, fee rates wat/vB.\n\
             # Relative paths are inside the data directory.\n\n{body}"
        )
    }

    /// The API listen address (configured or the network default on 127.0.0.1).
    pub fn listen_addr(&self) -> SocketAddr {
        self.api
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_api_port(self.network))))
    }

    /// `path` resolved against the data directory if relative.
    pub fn resolve(datadir: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            datadir.join(path)
        }
    }

    /// Checks every range and cross-field rule.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |field: &'static str, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            field,
            message,
        };
        // [node]
        let n = &self.node;
        match (&n.cookie_file, &n.user, &n.password_file) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (Some(_), _, _) => {
                return Err(bad(
                    "node.cookie_file",
                    "use either cookie_file or user + password_file, not both".into(),
                ))
            }
            (None, Some(_), None) => {
                return Err(bad("node.password_file", "user needs password_file".into()))
            }
            (None, None, Some(_)) => {
                return Err(bad("node.user", "password_file needs user".into()))
            }
            (None, None, None) => {
                return Err(bad(
                    "node.cookie_file",
                    "set cookie_file, or user + password_file".into(),
                ))
            }
        }
        if let Err(e) = mona_node::NodeConfig::new(&n.url, mona_node::Auth::None) {
            return Err(bad("node.url", e.to_string()));
        }
        if !(100..=600_000).contains(&n.timeout_ms) {
            return Err(bad(
                "node.timeout_ms",
                format!("{} is outside 100..=600000", n.timeout_ms),
            ));
        }
        // [api]
        let a = &self.api;
        if let Some(listen) = a.listen {
            if !listen.ip().is_loopback() && !a.allow_non_loopback {
                return Err(bad(
                    "api.listen",
                    format!("{listen} is not a loopback address; set allow_non_loopback = true to expose the API"),
                ));
            }
        }
        if !(1..=4096).contains(&a.max_in_flight) {
            return Err(bad(
                "api.max_in_flight",
                format!("{} is outside 1..=4096", a.max_in_flight),
            ));
        }
        if a.max_queue > 65_536 {
            return Err(bad(
                "api.max_queue",
                format!("{} is above 65536", a.max_queue),
            ));
        }
        if !(1..=60_000).contains(&a.queue_timeout_ms) {
            return Err(bad(
                "api.queue_timeout_ms",
                format!("{} is outside 1..=60000", a.queue_timeout_ms),
            ));
        }
        if !(256..=1024 * 1024).contains(&a.max_body_bytes) {
            return Err(bad(
                "api.max_body_bytes",
                format!("{} is outside 256..=1048576", a.max_body_bytes),
            ));
        }
        if !(100..=120_000).contains(&a.body_timeout_ms) {
            return Err(bad(
                "api.body_timeout_ms",
                format!("{} is outside 100..=120000", a.body_timeout_ms),
            ));
        }
        if a.redeem_per_minute == 0 {
            return Err(bad("api.redeem_per_minute", "must be at least 1".into()));
        }
        if a.redeem_burst == 0 {
            return Err(bad("api.redeem_burst", "must be at least 1".into()));
        }
        // [wallet]
        if !(1..=10_000).contains(&self.wallet.gap_limit) {
            return Err(bad(
                "wallet.gap_limit",
                format!("{} is outside 1..=10000", self.wallet.gap_limit),
            ));
        }
        // [outbox]
        if let Err(e) = self.outbox.qr_density.parse::<mona_airgap::Density>() {
            return Err(bad("outbox.qr_density", e.to_string()));
        }
        if !(100..=60_000).contains(&self.outbox.interval_ms) {
            return Err(bad(
                "outbox.interval_ms",
                format!("{} is outside 100..=60000", self.outbox.interval_ms),
            ));
        }
        // [policy]
        let p = &self.policy;
        if p.fee_rate_floor < MIN_FEE_RATE_FLOOR {
            return Err(bad(
                "policy.fee_rate_floor",
                format!(
                    "{} wat/vB is below the minimum {MIN_FEE_RATE_FLOOR} wat/vB",
                    p.fee_rate_floor
                ),
            ));
        }
        if p.fee_rate_ceiling > MAX_FEE_RATE_CEILING {
            return Err(bad(
                "policy.fee_rate_ceiling",
                format!(
                    "{} wat/vB is above {MAX_FEE_RATE_CEILING} wat/vB (the node's default maxfeerate)",
                    p.fee_rate_ceiling
                ),
            ));
        }
        if p.fee_rate_floor > p.fee_rate_ceiling {
            return Err(bad(
                "policy.fee_rate_floor",
                format!(
                    "floor {} wat/vB is above ceiling {} wat/vB",
                    p.fee_rate_floor, p.fee_rate_ceiling
                ),
            ));
        }
        if p.hot_cap_fraction.ppm() == 0 {
            return Err(bad("policy.hot_cap_fraction", "must be in (0, 1]".into()));
        }
        if p.hot_low >= p.hot_target {
            return Err(bad(
                "policy.hot_low",
                format!(
                    "hot_low {} must be below hot_target {}",
                    p.hot_low.to_mona_string(),
                    p.hot_target.to_mona_string()
                ),
            ));
        }
        if p.hot_target > p.hot_cap {
            return Err(bad(
                "policy.hot_target",
                format!(
                    "hot_target {} must not exceed hot_cap {}",
                    p.hot_target.to_mona_string(),
                    p.hot_cap.to_mona_string()
                ),
            ));
        }
        if p.max_payout == Amount::ZERO {
            return Err(bad("policy.max_payout", "must be above 0".into()));
        }
        if p.max_daily < p.max_payout {
            return Err(bad(
                "policy.max_daily",
                format!(
                    "max_daily {} is below max_payout {}",
                    p.max_daily.to_mona_string(),
                    p.max_payout.to_mona_string()
                ),
            ));
        }
        if p.dust_threshold >= p.hot_low {
            return Err(bad(
                "policy.dust_threshold",
                format!(
                    "dust_threshold {} must be below hot_low {}",
                    p.dust_threshold.to_mona_string(),
                    p.hot_low.to_mona_string()
                ),
            ));
        }
        if !(1..=MAX_FINALITY_DEPTH).contains(&p.finality_depth) {
            return Err(bad(
                "policy.finality_depth",
                format!("{} is outside 1..={MAX_FINALITY_DEPTH}", p.finality_depth),
            ));
        }
        // [engine]
        let e = &self.engine;
        if !(10..=60_000).contains(&e.poll_interval_ms) {
            return Err(bad(
                "engine.poll_interval_ms",
                format!("{} is outside 10..=60000", e.poll_interval_ms),
            ));
        }
        if !(10..=3_600_000).contains(&e.mempool_interval_ms) {
            return Err(bad(
                "engine.mempool_interval_ms",
                format!("{} is outside 10..=3600000", e.mempool_interval_ms),
            ));
        }
        if !(1..=60_000).contains(&e.retry_base_ms) {
            return Err(bad(
                "engine.retry_base_ms",
                format!("{} is outside 1..=60000", e.retry_base_ms),
            ));
        }
        if e.bump_after_blocks > 1_000 {
            return Err(bad(
                "engine.bump_after_blocks",
                format!("{} is above 1000", e.bump_after_blocks),
            ));
        }
        // [payouts]
        let b = &self.payouts;
        if !(1..=1_000).contains(&b.batch_size) {
            return Err(bad(
                "payouts.batch_size",
                format!("{} is outside 1..=1000", b.batch_size),
            ));
        }
        if !(100..=86_400_000).contains(&b.batch_interval_ms) {
            return Err(bad(
                "payouts.batch_interval_ms",
                format!("{} is outside 100..=86400000", b.batch_interval_ms),
            ));
        }
        if !(1..=1_000).contains(&b.max_inputs) {
            return Err(bad(
                "payouts.max_inputs",
                format!("{} is outside 1..=1000", b.max_inputs),
            ));
        }
        if b.fallback_fee_rate < p.fee_rate_floor || b.fallback_fee_rate > p.fee_rate_ceiling {
            return Err(bad(
                "payouts.fallback_fee_rate",
                format!(
                    "{} wat/vB is outside the policy's {}..={} wat/vB",
                    b.fallback_fee_rate, p.fee_rate_floor, p.fee_rate_ceiling
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> String {
        Config::new_default(
            Network::Regtest,
            NodeSection {
                url: "http://127.0.0.1:19443/".into(),
                cookie_file: Some("/tmp/.cookie".into()),
                user: None,
                password_file: None,
                timeout_ms: 30_000,
            },
        )
        .to_toml_string()
    }

    #[test]
    fn defaults_round_trip() {
        let text = base();
        let c = Config::from_toml_str(&text, "config.toml").expect("defaults are valid");
        assert_eq!(c.network, Network::Regtest);
        assert_eq!(c.policy, PolicySection::defaults());
        assert_eq!(c.listen_addr().to_string(), "127.0.0.1:29480");
        assert_eq!(Config::from_toml_str(&c.to_toml_string(), "x").unwrap(), c);
    }

    fn with(replace: &str, by: &str) -> Result<Config, ConfigError> {
        let text = base();
        assert!(text.contains(replace), "fixture lacks {replace:?}:\n{text}");
        Config::from_toml_str(&text.replacen(replace, by, 1), "config.toml")
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "unknown key",
                "[policy]\n",
                "[policy]\nhot_kap = \"1\"\n",
                "unknown field",
            ),
            (
                "floor below 100",
                "fee_rate_floor = 100",
                "fee_rate_floor = 99",
                "policy.fee_rate_floor",
            ),
            (
                "floor above ceiling",
                "fee_rate_ceiling = 2000",
                "fee_rate_ceiling = 99",
                "policy.fee_rate_floor",
            ),
            (
                "ceiling above max",
                "fee_rate_ceiling = 2000",
                "fee_rate_ceiling = 10001",
                "policy.fee_rate_ceiling",
            ),
            (
                "fraction zero",
                "hot_cap_fraction = \"0.1\"",
                "hot_cap_fraction = \"0\"",
                "policy.hot_cap_fraction",
            ),
            (
                "fraction above one",
                "hot_cap_fraction = \"0.1\"",
                "hot_cap_fraction = \"1.5\"",
                "decimal fraction",
            ),
            (
                "fraction as float",
                "hot_cap_fraction = \"0.1\"",
                "hot_cap_fraction = 0.1",
                "decimal fraction",
            ),
            (
                "low not below target",
                "hot_low = \"100\"",
                "hot_low = \"500\"",
                "policy.hot_low",
            ),
            (
                "target above cap",
                "hot_target = \"500\"",
                "hot_target = \"1001\"",
                "policy.hot_target",
            ),
            (
                "amount 9 decimals",
                "hot_low = \"100\"",
                "hot_low = \"0.000000001\"",
                "more than 8 decimals",
            ),
            (
                "amount as number",
                "hot_low = \"100\"",
                "hot_low = 100",
                "decimal MONA string",
            ),
            (
                "finality zero",
                "finality_depth = 6",
                "finality_depth = 0",
                "policy.finality_depth",
            ),
            (
                "daily below payout",
                "max_daily = \"1000\"",
                "max_daily = \"99\"",
                "policy.max_daily",
            ),
            (
                "bad network",
                "network = \"regtest\"",
                "network = \"bitcoin\"",
                "unknown network",
            ),
            (
                "bad url",
                "url = \"http://127.0.0.1:19443/\"",
                "url = \"https://x:1/\"",
                "node.url",
            ),
            (
                "cookie and user",
                "[node]\n",
                "[node]\nuser = \"u\"\n",
                "node.cookie_file",
            ),
            (
                "public listen",
                "[api]\n",
                "[api]\nlisten = \"0.0.0.0:1\"\n",
                "api.listen",
            ),
        ];
        for (name, from, to, want) in cases {
            let err = with(from, to).expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
            assert!(!err.contains('\n'), "{name}: not one line: {err}");
        }
    }

    #[test]
    fn fractions_parse_exactly() {
        for (s, ppm) in [
            ("1", 1_000_000),
            ("0.5", 500_000),
            ("0.000001", 1),
            ("0.25", 250_000),
            ("1.0", 1_000_000),
        ] {
            assert_eq!(s.parse::<Fraction>().unwrap().ppm(), ppm, "{s}");
        }
        for s in [
            "",
            ".5",
            "0.",
            "0.0000001",
            "2",
            "-0.5",
            "1.000001",
            "0,5",
            "10",
        ] {
            assert!(s.parse::<Fraction>().is_err(), "{s}");
        }
        let f: Fraction = "0.1".parse().unwrap();
        assert_eq!(
            f.of(Amount::from_mona_str("1000").unwrap()),
            Amount::from_mona_str("100").unwrap()
        );
        assert_eq!(f.to_string(), "0.1");
    }

    proptest::proptest! {
        #[test]
        fn fraction_display_round_trips(ppm in 0u32..=1_000_000) {
            let f = Fraction::from_ppm(ppm).unwrap();
            proptest::prop_assert_eq!(f.to_string().parse::<Fraction>().unwrap(), f);
        }

        #[test]
        fn fraction_parse_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Fraction>();
        }

        #[test]
        fn arbitrary_toml_never_panics(s in "\\PC{0,200}") {
            let _ = Config::from_toml_str(&s, "fuzz");
        }
    }

    #[test]
    fn effective_cap_is_the_smaller() {
        let p = PolicySection::defaults();
        let a = |s| Amount::from_mona_str(s).unwrap();
        assert_eq!(p.effective_cap(a("100"), a("900")), a("100"));
        assert_eq!(p.effective_cap(a("1000"), a("99000")), a("1000"));
    }
}
