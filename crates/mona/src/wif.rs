//! Wallet Import Format with Monacoin's prefixes (176 'T' compressed on mainnet, 239 on test
//! chains). Error messages never contain the key.

use bitcoin::base58;
use bitcoin::secp256k1::SecretKey;
use bitcoin::PrivateKey;

use crate::network::Network;

/// Why a WIF string was refused. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WifError {
    /// Not base58check, or the wrong length.
    #[error("not a valid WIF private key (bad characters, length or checksum)")]
    Invalid,
    /// A valid WIF for another network or coin.
    #[error("WIF private key has prefix {prefix}, not the {expected} prefix {expected_prefix}")]
    WrongNetwork {
        /// The prefix found.
        prefix: u8,
        /// The network expected.
        expected: Network,
        /// Its prefix.
        expected_prefix: u8,
    },
    /// The 32 bytes are not a valid secp256k1 scalar.
    #[error("WIF private key is out of range")]
    OutOfRange,
}

/// Encodes a private key as WIF for `network`.
pub fn encode(key: &PrivateKey, network: Network) -> String {
    let mut data = Vec::with_capacity(34);
    data.push(network.params().wif_prefix);
    data.extend_from_slice(&key.inner.secret_bytes());
    if key.compressed {
        data.push(1);
    }
    let s = base58::encode_check(&data);
    zeroize_vec(&mut data);
    s
}

/// Decodes a WIF private key for `network`.
pub fn decode(s: &str, network: Network) -> Result<PrivateKey, WifError> {
    let mut data = base58::decode_check(s).map_err(|_| WifError::Invalid)?;
    let result = (|| {
        let compressed = match data.len() {
            33 => false,
            34 if data[33] == 1 => true,
            _ => return Err(WifError::Invalid),
        };
        let expected_prefix = network.params().wif_prefix;
        if data[0] != expected_prefix {
            return Err(WifError::WrongNetwork {
                prefix: data[0],
                expected: network,
                expected_prefix,
            });
        }
        let sk = SecretKey::from_slice(&data[1..33]).map_err(|_| WifError::OutOfRange)?;
        Ok(PrivateKey {
            compressed,
            network: network.bip32_kind(),
            inner: sk,
        })
    })();
    zeroize_vec(&mut data);
    result
}

fn zeroize_vec(v: &mut [u8]) {
    for b in v.iter_mut() {
        // A volatile write is not needed for correctness here; the buffer is dropped right
        // after. Overwrite anyway so the key does not linger in freed memory.
        *b = 0;
    }
    std::hint::black_box(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn electrum_mona_vector() {
        let k = decode(
            "T8vPbnoUs5CiEBHcnne1wXuR9V5ft16vRpuvqWTH83tFxT8Uacvn",
            Network::Mainnet,
        )
        .unwrap();
        assert!(k.compressed);
        let secp = bitcoin::secp256k1::Secp256k1::new();
        assert_eq!(
            k.public_key(&secp).to_string(),
            "02c555a1f88f30cc7651d1c8ef1639f0c3f73cc149462c209c9fa704a1300cc1d5"
        );
        assert_eq!(
            encode(&k, Network::Mainnet),
            "T8vPbnoUs5CiEBHcnne1wXuR9V5ft16vRpuvqWTH83tFxT8Uacvn"
        );
        let u = decode(
            "6vT9HwnRSPhiWike7J8w8pnQbYjkFGtBkEaHjFq6TyPVK2Fudom",
            Network::Mainnet,
        )
        .unwrap();
        assert!(!u.compressed);
        assert_eq!(u.inner, k.inner);
        assert_eq!(
            encode(&u, Network::Mainnet),
            "6vT9HwnRSPhiWike7J8w8pnQbYjkFGtBkEaHjFq6TyPVK2Fudom"
        );
        let t = decode(
            "cTT7cxW9tkvNcn81dZWH6Vs6prjmUNBigfA968HF4CN6hJeQbPYT",
            Network::Testnet,
        )
        .unwrap();
        assert_eq!(t.inner, k.inner);
    }

    #[test]
    fn refuses_wrong_network_without_leaking() {
        let e = decode(
            "cTT7cxW9tkvNcn81dZWH6Vs6prjmUNBigfA968HF4CN6hJeQbPYT",
            Network::Mainnet,
        )
        .unwrap_err();
        assert!(matches!(e, WifError::WrongNetwork { prefix: 239, .. }));
        assert!(!e.to_string().contains("cTT7"));
        assert_eq!(
            decode(
                "T8vPbnoUs5CiEBHcnne1wXuR9V5ft16vRpuvqWTH83tFxT8Uacvm",
                Network::Mainnet
            ),
            Err(WifError::Invalid)
        );
    }
}
