//! Errors of the payout, sweep and top-up builders.

use bitcoin::OutPoint;
use mona::{Amount, FeeRate};

use super::select::SelectionError;

/// Why a payout, sweep or top-up transaction was not built. Nothing is reserved or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildPayoutError {
    /// The request has no payment.
    #[error("no payment to make")]
    NoPayments,
    /// A payment is below the relay dust threshold of its script.
    #[error("payment {index} of {amount} MONA is below the dust threshold of {dust} MONA")]
    PaymentBelowDust {
        /// Position of the payment in the request.
        index: usize,
        /// Its amount.
        amount: Amount,
        /// The threshold for its script.
        dust: Amount,
    },
    /// A payment goes to a segwit v1+ program, which anyone can spend on Monacoin v0.20.3.
    #[error("payment {index} pays a segwit v1+ script {script_hex}, which is not spendable safely on Monacoin v0.20.3")]
    UnspendableDestination {
        /// Position of the payment in the request.
        index: usize,
        /// The script, hex.
        script_hex: String,
    },
    /// A payment goes to a script that is not a standard address.
    #[error("payment {index} pays a non-standard script {script_hex}")]
    NonStandardDestination {
        /// Position of the payment in the request.
        index: usize,
        /// The script, hex.
        script_hex: String,
    },
    /// The requested fee rate is above the policy ceiling.
    #[error("fee rate {fee_rate} is above the ceiling of {ceiling}")]
    FeeRateAboveCeiling {
        /// The requested rate.
        fee_rate: FeeRate,
        /// The ceiling.
        ceiling: FeeRate,
    },
    /// The fee came out above the policy's caps.
    #[error("fee of {fee} MONA is above the cap of {cap} MONA")]
    FeeAboveCap {
        /// The fee.
        fee: Amount,
        /// The cap that was exceeded.
        cap: Amount,
    },
    /// The lock time must be a block height (below 500,000,000).
    #[error("tip height {0} is not a valid lock-time height")]
    LockTimeNotAHeight(u32),
    /// No coin could be selected.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// A coin's script is not derived by any of the given accounts at its keychain and index.
    #[error("coin {0} does not belong to the given accounts at its recorded derivation")]
    CoinNotInWallet(OutPoint),
    /// A coin needs its full previous transaction (P2PKH, or any top-up input) and has none.
    #[error("coin {0} needs its full previous transaction")]
    MissingPrevTx(OutPoint),
    /// A coin's previous transaction does not match its outpoint, value or script.
    #[error("previous transaction given for coin {0} does not match its txid, value or script")]
    PrevTxMismatch(OutPoint),
    /// A change or destination address could not be derived.
    #[error("cannot derive our address at chain {chain} index {index}")]
    DestinationNotDerivable {
        /// The chain.
        chain: u32,
        /// The index.
        index: u32,
    },
    /// The transaction would exceed the standard weight limit.
    #[error("transaction weight {weight} is above the standard limit of 400000")]
    TooLarge {
        /// Estimated weight.
        weight: u64,
    },
    /// Amounts add up beyond the supply cap.
    #[error("amounts add up beyond the 105120000 MONA supply cap")]
    AmountOverflow,
}
