//! BIP39 mnemonics and seeds. Invariant: no secret is ever printed by `Debug` or `Display`, and
//! every buffer holding one is zeroized when dropped.

use std::fmt;

use bitcoin::bip32::{Fingerprint, Xpriv};
use bitcoin::secp256k1::{Secp256k1, Signing};
use zeroize::{Zeroize, Zeroizing};

use mona::Network;

/// Number of words of a new mnemonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordCount {
    /// 12 words, 128 bits of entropy.
    Twelve,
    /// 24 words, 256 bits of entropy.
    TwentyFour,
}

impl WordCount {
    /// From 12 or 24.
    pub fn from_count(n: usize) -> Option<WordCount> {
        match n {
            12 => Some(WordCount::Twelve),
            24 => Some(WordCount::TwentyFour),
            _ => None,
        }
    }
}

/// Why a mnemonic was refused. Never contains the words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MnemonicError {
    /// Not 12, 15, 18, 21 or 24 words.
    #[error("mnemonic has {0} words; expected 12, 15, 18, 21 or 24")]
    BadWordCount(usize),
    /// A word outside the BIP39 English list (the position, 1-based, not the word).
    #[error("mnemonic word #{0} is not in the BIP39 English word list")]
    UnknownWord(usize),
    /// The checksum bits do not match.
    #[error("mnemonic checksum does not match (a word is wrong or out of order)")]
    BadChecksum,
    /// Entropy of an unsupported length.
    #[error("mnemonic entropy has an unsupported length")]
    BadEntropy,
    /// The random generator failed.
    #[error("could not generate a mnemonic: {0}")]
    Generate(String),
}

fn map_err(e: bip39::Error) -> MnemonicError {
    match e {
        bip39::Error::BadWordCount(n) => MnemonicError::BadWordCount(n),
        bip39::Error::UnknownWord(i) => MnemonicError::UnknownWord(i + 1),
        bip39::Error::InvalidChecksum => MnemonicError::BadChecksum,
        bip39::Error::BadEntropyBitCount(_) => MnemonicError::BadEntropy,
        other => MnemonicError::Generate(other.to_string()),
    }
}

/// A BIP39 English mnemonic. Zeroized on drop; `Debug` is redacted.
pub struct Mnemonic(bip39::Mnemonic);

impl Mnemonic {
    /// A new random mnemonic from the operating system's CSPRNG.
    pub fn generate(words: WordCount) -> Result<Mnemonic, MnemonicError> {
        let n = match words {
            WordCount::Twelve => bip39::WordCount::Words12,
            WordCount::TwentyFour => bip39::WordCount::Words24,
        };
        bip39::Mnemonic::generate_in(bip39::Language::English, n)
            .map(Mnemonic)
            .map_err(map_err)
    }

    /// Parses a phrase (whitespace-separated, case-insensitive English words).
    pub fn parse(phrase: &str) -> Result<Mnemonic, MnemonicError> {
        let normalized = Zeroizing::new(
            phrase
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
            .map(Mnemonic)
            .map_err(map_err)
    }

    /// From raw entropy (16 to 32 bytes, multiple of 4).
    pub fn from_entropy(entropy: &[u8]) -> Result<Mnemonic, MnemonicError> {
        bip39::Mnemonic::from_entropy(entropy)
            .map(Mnemonic)
            .map_err(map_err)
    }

    /// The entropy bytes.
    pub fn to_entropy(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_entropy())
    }

    /// The phrase, space-separated. Handle with care: it is the whole wallet.
    pub fn phrase(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.words().collect::<Vec<_>>().join(" "))
    }

    /// The number of words.
    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }

    /// The BIP39 seed for an optional passphrase (the "25th word").
    pub fn to_seed(&self, passphrase: &str) -> Seed {
        Seed(Zeroizing::new(self.0.to_seed(passphrase)))
    }
}

impl Drop for Mnemonic {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mnemonic([redacted])")
    }
}

/// A 64-byte BIP39 seed (the BIP32 master seed). Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct Seed(Zeroizing<[u8; 64]>);

impl Seed {
    /// From the 64 seed bytes (e.g. BIP32 test vectors).
    pub fn from_bytes(bytes: [u8; 64]) -> Seed {
        Seed(Zeroizing::new(bytes))
    }

    /// The seed bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// The BIP32 master private key for `network` (xprv or tprv version).
    pub fn master_xpriv(&self, network: Network) -> Xpriv {
        master_from_bytes(&self.0[..], network)
    }

    /// The master key fingerprint (first 4 bytes of hash160 of the master public key).
    pub fn master_fingerprint<C: Signing>(&self, secp: &Secp256k1<C>) -> Fingerprint {
        self.master_xpriv(Network::Mainnet).fingerprint(secp)
    }
}

/// The BIP32 master key from seed bytes of any length (16 to 64); used for BIP32 test vectors.
pub fn master_from_bytes(seed: &[u8], network: Network) -> Xpriv {
    // `new_master` only fails for a seed whose HMAC is out of the curve order (probability
    // ~2^-127), for which BIP32 says the seed is invalid; no real seed hits it.
    Xpriv::new_master(network.bip32_kind(), seed).expect("BIP32 master key from a 64-byte seed")
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let m = Mnemonic::parse("all all all all all all all all all all all all").unwrap();
        assert_eq!(format!("{m:?}"), "Mnemonic([redacted])");
        let s = m.to_seed("");
        assert_eq!(format!("{s:?}"), "Seed([redacted])");
    }

    #[test]
    fn bad_mnemonics_do_not_echo_words() {
        let e = Mnemonic::parse("all all all all all all all all all all all zzzq").unwrap_err();
        assert_eq!(e, MnemonicError::UnknownWord(12));
        assert!(!e.to_string().contains("zzzq"));
        assert_eq!(
            Mnemonic::parse("all all all").unwrap_err(),
            MnemonicError::BadWordCount(3)
        );
        assert_eq!(
            Mnemonic::parse("all all all all all all all all all all all able").unwrap_err(),
            MnemonicError::BadChecksum
        );
    }

    #[test]
    fn generated_mnemonics_have_the_requested_length() {
        assert_eq!(
            Mnemonic::generate(WordCount::Twelve).unwrap().word_count(),
            12
        );
        assert_eq!(
            Mnemonic::generate(WordCount::TwentyFour)
                .unwrap()
                .word_count(),
            24
        );
        let a = Mnemonic::generate(WordCount::Twelve).unwrap().phrase();
        let b = Mnemonic::generate(WordCount::Twelve).unwrap().phrase();
        assert_ne!(*a, *b);
    }

    #[test]
    fn case_and_whitespace_are_normalized() {
        let a = Mnemonic::parse("  ALL all\tall all all all all all all all all all \n").unwrap();
        assert_eq!(
            *a.phrase(),
            "all all all all all all all all all all all all"
        );
    }
}
