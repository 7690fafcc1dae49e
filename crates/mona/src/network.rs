//! The three Monacoin networks and their parameters (`src/chainparams.cpp` of Monacoin Core
//! v0.20.3). Testnet and regtest share every base58 prefix; only the bech32 HRP tells them apart.

use std::fmt;
use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;

/// A Monacoin network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    /// Monacoin mainnet.
    Mainnet,
    /// Monacoin testnet ("testnet4").
    Testnet,
    /// Monacoin regtest.
    Regtest,
}

/// Every chain parameter a wallet needs, per network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Params {
    /// Base58 version byte of P2PKH addresses.
    pub p2pkh_prefix: u8,
    /// Base58 version byte emitted for P2SH addresses (SCRIPT_ADDRESS2).
    pub p2sh_prefix: u8,
    /// Legacy P2SH version byte, accepted on decode only (SCRIPT_ADDRESS).
    pub p2sh_legacy_prefix: u8,
    /// WIF secret key prefix.
    pub wif_prefix: u8,
    /// Extended public key version bytes (xpub or tpub).
    pub xpub_version: [u8; 4],
    /// Extended private key version bytes (xprv or tprv).
    pub xprv_version: [u8; 4],
    /// Bech32 human-readable part.
    pub bech32_hrp: &'static str,
    /// P2P message start bytes.
    pub p2p_magic: [u8; 4],
    /// Default P2P port.
    pub default_p2p_port: u16,
    /// Default JSON-RPC port.
    pub default_rpc_port: u16,
    /// Genesis block hash, in the usual (reversed) hex display order.
    pub genesis_hash_hex: &'static str,
    /// Height from which SegWit is active.
    pub segwit_height: u32,
    /// Blocks before a coinbase output may be spent.
    pub coinbase_maturity: u32,
    /// Blocks between subsidy halvings.
    pub halving_interval: u32,
    /// Target block spacing in seconds.
    pub target_spacing_secs: u32,
    /// Sub-directory of the node's data directory ("" on mainnet).
    pub datadir_subdir: &'static str,
    /// BIP44 coin type (SLIP-0044 22 on mainnet, 1 on test chains).
    pub coin_type: u32,
}

const MAINNET: Params = Params {
    p2pkh_prefix: 50,
    p2sh_prefix: 55,
    p2sh_legacy_prefix: 5,
    wif_prefix: 176,
    xpub_version: [0x04, 0x88, 0xB2, 0x1E],
    xprv_version: [0x04, 0x88, 0xAD, 0xE4],
    bech32_hrp: "mona",
    p2p_magic: [0xfb, 0xc0, 0xb6, 0xdb],
    default_p2p_port: 9401,
    default_rpc_port: 9402,
    genesis_hash_hex: "ff9f1c0116d19de7c9963845e129f9ed1bfc0b376eb54fd7afa42e0d418c8bb6",
    segwit_height: 977_760,
    coinbase_maturity: 100,
    halving_interval: 1_051_200,
    target_spacing_secs: 90,
    datadir_subdir: "",
    coin_type: 22,
};

const TESTNET: Params = Params {
    p2pkh_prefix: 111,
    p2sh_prefix: 117,
    p2sh_legacy_prefix: 196,
    wif_prefix: 239,
    xpub_version: [0x04, 0x35, 0x87, 0xCF],
    xprv_version: [0x04, 0x35, 0x83, 0x94],
    bech32_hrp: "tmona",
    p2p_magic: [0xfd, 0xd2, 0xc8, 0xf1],
    default_p2p_port: 19403,
    default_rpc_port: 19402,
    genesis_hash_hex: "a2b106ceba3be0c6d097b2a6a6aacf9d638ba8258ae478158f449c321061e0b2",
    segwit_height: 300,
    coinbase_maturity: 100,
    halving_interval: 1_051_200,
    target_spacing_secs: 90,
    datadir_subdir: "testnet4",
    coin_type: 1,
};

const REGTEST: Params = Params {
    p2pkh_prefix: 111,
    p2sh_prefix: 117,
    p2sh_legacy_prefix: 196,
    wif_prefix: 239,
    xpub_version: [0x04, 0x35, 0x87, 0xCF],
    xprv_version: [0x04, 0x35, 0x83, 0x94],
    bech32_hrp: "rmona",
    p2p_magic: [0xfa, 0xbf, 0xb5, 0xda],
    default_p2p_port: 20444,
    default_rpc_port: 19443,
    genesis_hash_hex: "7543a69d7c2fcdb29a5ebec2fc064c074a35253b6f3072c8a749473aa590a29c",
    segwit_height: 0,
    coinbase_maturity: 100,
    halving_interval: 150,
    target_spacing_secs: 90,
    datadir_subdir: "regtest",
    coin_type: 1,
};

impl Network {
    /// All networks, mainnet first.
    pub const ALL: [Network; 3] = [Network::Mainnet, Network::Testnet, Network::Regtest];

    /// The lower-case name used in CLI flags, config files and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Regtest => "regtest",
        }
    }

    /// The chain parameters of this network.
    pub fn params(self) -> &'static Params {
        match self {
            Network::Mainnet => &MAINNET,
            Network::Testnet => &TESTNET,
            Network::Regtest => &REGTEST,
        }
    }

    /// The genesis block hash.
    pub fn genesis_hash(self) -> BlockHash {
        // The constants above are valid 64-hex-digit strings (checked by a unit test).
        self.params()
            .genesis_hash_hex
            .parse()
            .unwrap_or_else(|_| BlockHash::all_zeros())
    }

    /// BIP44 coin type: 22 on mainnet, 1 on test chains.
    pub fn coin_type(self) -> u32 {
        self.params().coin_type
    }

    /// Bech32 human-readable part ("mona", "tmona", "rmona").
    pub fn bech32_hrp(self) -> &'static str {
        self.params().bech32_hrp
    }

    /// The BIP32 key kind: Monacoin's xpub/tpub version bytes equal Bitcoin's.
    pub fn bip32_kind(self) -> bitcoin::NetworkKind {
        match self {
            Network::Mainnet => bitcoin::NetworkKind::Main,
            Network::Testnet | Network::Regtest => bitcoin::NetworkKind::Test,
        }
    }

    /// A `bitcoin::Network` with the same BIP32/WIF *kind*, for APIs of the `bitcoin` crate
    /// that want one. Never use it to encode addresses or for amount limits.
    pub fn bitcoin_kind_network(self) -> bitcoin::Network {
        match self {
            Network::Mainnet => bitcoin::Network::Bitcoin,
            Network::Testnet => bitcoin::Network::Testnet,
            Network::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// Whether this is a test chain (testnet or regtest).
    pub fn is_test(self) -> bool {
        !matches!(self, Network::Mainnet)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A network name that is not one of `mainnet`, `testnet`, `regtest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network '{0}' (expected mainnet, testnet or regtest)")]
pub struct UnknownNetworkError(pub String);

impl FromStr for Network {
    type Err = UnknownNetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" | "main" => Ok(Network::Mainnet),
            "testnet" | "test" | "testnet4" => Ok(Network::Testnet),
            "regtest" => Ok(Network::Regtest),
            other => Err(UnknownNetworkError(other.to_owned())),
        }
    }
}

impl serde::Serialize for Network {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hashes_parse_exactly() {
        for n in Network::ALL {
            assert_eq!(n.genesis_hash().to_string(), n.params().genesis_hash_hex);
        }
    }

    #[test]
    fn names_round_trip() {
        for n in Network::ALL {
            assert_eq!(n.name().parse::<Network>().unwrap(), n);
        }
        assert!("bitcoin".parse::<Network>().is_err());
    }

    #[test]
    fn parameters_match_monacoin_md() {
        let m = Network::Mainnet.params();
        assert_eq!(
            (
                m.p2pkh_prefix,
                m.p2sh_prefix,
                m.p2sh_legacy_prefix,
                m.wif_prefix
            ),
            (50, 55, 5, 176)
        );
        assert_eq!((m.default_p2p_port, m.default_rpc_port), (9401, 9402));
        let r = Network::Regtest.params();
        assert_eq!(
            (
                r.p2pkh_prefix,
                r.p2sh_prefix,
                r.p2sh_legacy_prefix,
                r.wif_prefix
            ),
            (111, 117, 196, 239)
        );
        assert_eq!(
            (r.default_p2p_port, r.default_rpc_port, r.halving_interval),
            (20444, 19443, 150)
        );
        assert_eq!(Network::Testnet.params().default_rpc_port, 19402);
        assert_eq!(Network::Mainnet.coin_type(), 22);
        assert_eq!(Network::Regtest.coin_type(), 1);
    }
}
