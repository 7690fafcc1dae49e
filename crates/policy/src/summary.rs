//! The facts a PSBT analysis establishes, in the form the policy judges.
//!
//! Invariant: a [`TxSummary`] states only what the analysis proved with its own keys and the
//! data it verified (a txid recomputed from a full previous transaction, a script re-derived from
//! the signer's account). Anything merely claimed by the PSBT is recorded as such (a claim that
//! failed, an amount from a bare `witness_utxo`), so the policy can refuse it.

use bitcoin::bip32::DerivationPath;
use bitcoin::{OutPoint, ScriptBuf, Txid};
use mona::{Network, ScriptType};

/// `nSequence` value that makes an input final (and disables locktime if all are final).
pub const SEQUENCE_FINAL: u32 = 0xffff_ffff;

/// What the pre-scan of the raw bytes found, before anything was allocated for the contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Size of the PSBT in bytes (binary form).
    pub psbt_bytes: u64,
    /// `PSBT_GLOBAL_VERSION` (0 when absent).
    pub psbt_version: u32,
    /// Number of inputs of the unsigned transaction.
    pub input_count: u64,
    /// Number of outputs of the unsigned transaction.
    pub output_count: u64,
}

/// The transaction a PSBT would sign, as the analysis understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSummary {
    /// The network the analysis ran for (addresses are shown for it).
    pub network: Network,
    /// The size/version/count pre-scan.
    pub envelope: Envelope,
    /// Txid of the unsigned transaction (it does not change when signed).
    pub txid: Txid,
    /// Transaction version.
    pub tx_version: i32,
    /// Raw `nLockTime`.
    pub lock_time: u32,
    /// One entry per input, in order.
    pub inputs: Vec<InputSummary>,
    /// One entry per output, in order.
    pub outputs: Vec<OutputSummary>,
    /// Estimated virtual size of the final transaction (signatures counted at 72 bytes).
    pub estimated_vsize: u64,
}

impl TxSummary {
    /// Whether the locktime is enforced by consensus (non-zero and some input non-final).
    pub fn locktime_is_effective(&self) -> bool {
        self.lock_time != 0 && self.inputs.iter().any(|i| i.sequence != SEQUENCE_FINAL)
    }

    /// The highest child index of the signer's own inputs (0 when none is ours).
    pub fn max_own_input_index(&self) -> u32 {
        self.inputs
            .iter()
            .filter_map(|i| match &i.ownership {
                InputOwnership::Ours { index, .. } => Some(*index),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// One input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSummary {
    /// Position in the transaction.
    pub index: usize,
    /// The coin spent.
    pub prevout: OutPoint,
    /// `nSequence`.
    pub sequence: u32,
    /// What is known about the spent output, and how it was checked.
    pub utxo: UtxoEvidence,
    /// Whether the signer owns the input.
    pub ownership: InputOwnership,
    /// `PSBT_IN_SIGHASH_TYPE` when present (absent means SIGHASH_ALL).
    pub sighash: Option<u32>,
    /// Whether the input already carries a final scriptSig or witness.
    pub finalized: bool,
}

impl InputSummary {
    /// The amount of the spent output if the evidence gives one (full tx or bare witness UTXO).
    pub fn amount_wat(&self) -> Option<u64> {
        match &self.utxo {
            UtxoEvidence::FullPrevTx { amount_wat, .. }
            | UtxoEvidence::WitnessUtxoOnly { amount_wat, .. } => Some(*amount_wat),
            _ => None,
        }
    }
}

/// The spent output's data and how far it can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UtxoEvidence {
    /// The full previous transaction is present, its txid equals the prevout's, and any
    /// `witness_utxo` equals its output: the amount is trusted.
    FullPrevTx {
        /// Value of the spent output.
        amount_wat: u64,
        /// Script of the spent output.
        script_pubkey: ScriptBuf,
    },
    /// Only a `witness_utxo` (amount and script as claimed by the PSBT's author).
    WitnessUtxoOnly {
        /// Claimed value.
        amount_wat: u64,
        /// Claimed script.
        script_pubkey: ScriptBuf,
    },
    /// The full previous transaction hashes to another txid than the prevout names.
    PrevTxidMismatch {
        /// The txid the carried transaction really has.
        found: Txid,
    },
    /// The full previous transaction has no output at the prevout's index.
    PrevTxMissingOutput {
        /// Number of outputs it has.
        outputs: usize,
    },
    /// The `witness_utxo` differs from the full previous transaction's output (the 2020 segwit
    /// fee attack: a lie about the amount that BIP143 alone would sign).
    WitnessUtxoMismatch {
        /// Value in the full previous transaction.
        trusted_wat: u64,
        /// Value claimed by `witness_utxo`.
        claimed_wat: u64,
        /// Whether the scripts differ too.
        script_differs: bool,
    },
    /// Neither a full previous transaction nor a `witness_utxo`.
    Missing,
}

/// Whether an input is the signer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputOwnership {
    /// Our fingerprint, a path in one of our accounts, and the key re-derived there pays exactly
    /// the spent script.
    Ours {
        /// Full derivation path.
        path: DerivationPath,
        /// Script family of the account.
        script_type: ScriptType,
        /// Account number (hardened level 3).
        account: u32,
        /// Chain (0 receive, 1 change).
        chain: u32,
        /// Child index.
        index: u32,
    },
    /// A derivation with our fingerprint that did not prove out (why is said); never signed.
    ClaimMismatch {
        /// The claimed path.
        path: DerivationPath,
        /// What did not match.
        reason: String,
    },
    /// No derivation with our fingerprint: someone else's input.
    NotOurs,
}

/// One output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSummary {
    /// Position in the transaction.
    pub index: usize,
    /// Value.
    pub amount_wat: u64,
    /// Script paid.
    pub script_pubkey: ScriptBuf,
    /// The Monacoin address of the script on the summary's network, if it has one.
    pub address: Option<String>,
    /// Whether it is proven change.
    pub ownership: OutputOwnership,
}

/// Whether an output returns to the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputOwnership {
    /// The script re-derived from our account at the PSBT's path equals the output's script.
    Change {
        /// Full derivation path.
        path: DerivationPath,
        /// Script family of the account.
        script_type: ScriptType,
        /// Account number.
        account: u32,
        /// Chain (0 or 1).
        chain: u32,
        /// Child index.
        index: u32,
    },
    /// Claims our derivation path but the script (or key) differs: fraudulent change.
    FraudulentChange {
        /// The claimed path.
        path: DerivationPath,
        /// What differs.
        reason: String,
    },
    /// Claims our fingerprint at a path that is not a sane change path of ours.
    OddChangePath {
        /// The claimed path.
        path: DerivationPath,
        /// Why it is odd.
        reason: String,
    },
    /// No claim of ours: a destination the policy must allow.
    External,
}
