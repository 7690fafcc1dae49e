//! Extended public keys in the xpub/tpub form and the SLIP-0132-style ypub/zpub (upub/vpub on
//! test chains) forms Monacoin wallets show. Monacoin Core descriptors accept only xpub/tpub, so
//! descriptors are always written with the converted key.

use bitcoin::base58;
use bitcoin::bip32::{Xpriv, Xpub};

use crate::network::Network;

/// The version-byte form an extended public key is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFormat {
    /// Mainnet, BIP44/generic (0x0488B21E).
    Xpub,
    /// Mainnet BIP49 (0x049D7CB2).
    Ypub,
    /// Mainnet BIP84 (0x04B24746).
    Zpub,
    /// Test chains, BIP44/generic (0x043587CF).
    Tpub,
    /// Test chains, BIP49 (0x044A5262).
    Upub,
    /// Test chains, BIP84 (0x045F1CF6).
    Vpub,
}

impl KeyFormat {
    /// The four version bytes.
    pub fn version(self) -> [u8; 4] {
        match self {
            KeyFormat::Xpub => [0x04, 0x88, 0xB2, 0x1E],
            KeyFormat::Ypub => [0x04, 0x9D, 0x7C, 0xB2],
            KeyFormat::Zpub => [0x04, 0xB2, 0x47, 0x46],
            KeyFormat::Tpub => [0x04, 0x35, 0x87, 0xCF],
            KeyFormat::Upub => [0x04, 0x4A, 0x52, 0x62],
            KeyFormat::Vpub => [0x04, 0x5F, 0x1C, 0xF6],
        }
    }

    /// Which network kind the form belongs to.
    pub fn is_mainnet(self) -> bool {
        matches!(self, KeyFormat::Xpub | KeyFormat::Ypub | KeyFormat::Zpub)
    }

    /// The plain (descriptor) form for a network: xpub or tpub.
    pub fn plain(network: Network) -> KeyFormat {
        if network.is_test() {
            KeyFormat::Tpub
        } else {
            KeyFormat::Xpub
        }
    }

    /// The SLIP-0132 form for a BIP purpose (44, 49, 84) on a network.
    pub fn for_purpose(purpose: u32, network: Network) -> KeyFormat {
        match (purpose, network.is_test()) {
            (49, false) => KeyFormat::Ypub,
            (84, false) => KeyFormat::Zpub,
            (49, true) => KeyFormat::Upub,
            (84, true) => KeyFormat::Vpub,
            (_, false) => KeyFormat::Xpub,
            (_, true) => KeyFormat::Tpub,
        }
    }

    fn from_version(v: [u8; 4]) -> Option<KeyFormat> {
        [
            KeyFormat::Xpub,
            KeyFormat::Ypub,
            KeyFormat::Zpub,
            KeyFormat::Tpub,
            KeyFormat::Upub,
            KeyFormat::Vpub,
        ]
        .into_iter()
        .find(|f| f.version() == v)
    }
}

/// Why an extended key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XkeyError {
    /// Not base58check of 78 bytes.
    #[error("not a valid extended public key (bad characters, length or checksum)")]
    Invalid,
    /// Unknown version bytes (or a private key where a public one is expected).
    #[error("extended key has unknown version bytes {0}")]
    UnknownVersion(String),
    /// The key is for another network.
    #[error("extended key is a {found} key, but the network is {expected}")]
    WrongNetwork {
        /// "mainnet" or "test-chain".
        found: &'static str,
        /// Expected network.
        expected: Network,
    },
    /// The key data is not a valid point.
    #[error("extended public key is malformed")]
    Malformed,
}

/// Parses an xpub/ypub/zpub/tpub/upub/vpub, returning the key and the form it was written in.
pub fn parse_xpub(s: &str) -> Result<(Xpub, KeyFormat), XkeyError> {
    let mut data = base58::decode_check(s).map_err(|_| XkeyError::Invalid)?;
    if data.len() != 78 {
        return Err(XkeyError::Invalid);
    }
    let v: [u8; 4] = [data[0], data[1], data[2], data[3]];
    let format = KeyFormat::from_version(v).ok_or_else(|| XkeyError::UnknownVersion(hex4(v)))?;
    let plain = if format.is_mainnet() {
        KeyFormat::Xpub
    } else {
        KeyFormat::Tpub
    };
    data[..4].copy_from_slice(&plain.version());
    let xpub = Xpub::decode(&data).map_err(|_| XkeyError::Malformed)?;
    Ok((xpub, format))
}

/// Parses an extended public key and checks it belongs to `network`.
pub fn parse_xpub_for(s: &str, network: Network) -> Result<(Xpub, KeyFormat), XkeyError> {
    let (x, f) = parse_xpub(s)?;
    if f.is_mainnet() == network.is_test() {
        return Err(XkeyError::WrongNetwork {
            found: if f.is_mainnet() {
                "mainnet"
            } else {
                "test-chain"
            },
            expected: network,
        });
    }
    Ok((x, f))
}

/// Writes an extended public key in the given form.
pub fn encode_xpub(xpub: &Xpub, format: KeyFormat) -> String {
    let mut data = xpub.encode();
    data[..4].copy_from_slice(&format.version());
    base58::encode_check(&data)
}

/// Writes an extended private key as xprv (mainnet) or tprv (test chains).
pub fn encode_xprv(xprv: &Xpriv, network: Network) -> String {
    let mut data = xprv.encode();
    data[..4].copy_from_slice(&network.params().xprv_version);
    let s = base58::encode_check(&data);
    data.iter_mut().for_each(|b| *b = 0);
    s
}

fn hex4(v: [u8; 4]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const XPUB84: &str = "xpub6CgSixH5d3CpvrZYhNumdexAQjEP7H8tkZgMyeZVJvSTqpW9kmCFpzPFBtte1LuRQK3iy4cyoJxnZkW7YqxvNcewKH8xAHKDbYyb6C5aYrG";
    const ZPUB84: &str = "zpub6rLyLHcuvQHndSwnN6V23q9AkfXGzX7tanioYSMG4wCDx28cG5XP57hXEJop1ADGDbHLU1p6idftLKjEzEnwy6293xXoL6xC916ssLc7yna";

    #[test]
    fn zpub_converts_to_xpub() {
        let (x, f) = parse_xpub(ZPUB84).unwrap();
        assert_eq!(f, KeyFormat::Zpub);
        assert_eq!(encode_xpub(&x, KeyFormat::Xpub), XPUB84);
        assert_eq!(encode_xpub(&x, KeyFormat::Zpub), ZPUB84);
        let (x2, f2) = parse_xpub(XPUB84).unwrap();
        assert_eq!((x2, f2), (x, KeyFormat::Xpub));
    }

    #[test]
    fn network_is_checked() {
        assert!(parse_xpub_for(ZPUB84, Network::Mainnet).is_ok());
        assert!(matches!(
            parse_xpub_for(ZPUB84, Network::Regtest),
            Err(XkeyError::WrongNetwork { .. })
        ));
        assert!(parse_xpub("xpub123").is_err());
    }
}
