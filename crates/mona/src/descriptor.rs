//! Output descriptor strings for single-key accounts, as Monacoin Core v0.20.3 accepts them:
//! `wpkh([5c9e228d/84'/22'/0']xpub.../0/*)#checksum`, `sh(wpkh(...))`, `pkh(...)`.
//!
//! Invariant: a [`KeyDescriptor`] only ever holds a public key and unhardened derivation steps
//! after it, so deriving from it needs no secret; its string form always carries a valid BIP380
//! checksum and the xpub/tpub key form (never ypub/zpub, which Core refuses).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpub};
use bitcoin::secp256k1::{Secp256k1, VerifyOnly};
use bitcoin::{CompressedPublicKey, ScriptBuf};

use crate::address::Address;
use crate::network::Network;
use crate::xkey::{self, KeyFormat};

const INPUT_CHARSET: &str =
    "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
const CHECKSUM_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Why a descriptor string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// A character outside the descriptor character set.
    #[error("descriptor contains an invalid character {0:?}")]
    InvalidCharacter(char),
    /// The `#checksum` does not match.
    #[error("descriptor checksum mismatch: expected {expected}, found {found}")]
    ChecksumMismatch {
        /// The checksum computed over the descriptor.
        expected: String,
        /// The checksum written after '#'.
        found: String,
    },
    /// A checksum is required here but missing.
    #[error("descriptor has no #checksum")]
    MissingChecksum,
    /// Not one of the supported single-key forms.
    #[error("unsupported descriptor: {0}")]
    Unsupported(String),
    /// A malformed key origin, key or path.
    #[error("malformed descriptor: {0}")]
    Malformed(String),
    /// The key belongs to another network.
    #[error("descriptor key is for another network: {0}")]
    WrongNetwork(String),
}

fn polymod(c: u64, val: u64) -> u64 {
    let c0 = c >> 35;
    let mut c = ((c & 0x7_ffff_ffff) << 5) ^ val;
    if c0 & 1 != 0 {
        c ^= 0xf5_dee5_1989;
    }
    if c0 & 2 != 0 {
        c ^= 0xa9_fdca_3312;
    }
    if c0 & 4 != 0 {
        c ^= 0x1b_ab10_e32d;
    }
    if c0 & 8 != 0 {
        c ^= 0x37_06b1_677a;
    }
    if c0 & 16 != 0 {
        c ^= 0x64_4d62_6ffd;
    }
    c
}

/// The BIP380 checksum (8 characters) of a descriptor without its `#checksum`.
pub fn checksum(desc: &str) -> Result<String, DescriptorError> {
    let mut c: u64 = 1;
    let mut cls: u64 = 0;
    let mut clscount = 0;
    for ch in desc.chars() {
        let pos = INPUT_CHARSET
            .find(ch)
            .ok_or(DescriptorError::InvalidCharacter(ch))? as u64;
        c = polymod(c, pos & 31);
        cls = cls * 3 + (pos >> 5);
        clscount += 1;
        if clscount == 3 {
            c = polymod(c, cls);
            cls = 0;
            clscount = 0;
        }
    }
    if clscount > 0 {
        c = polymod(c, cls);
    }
    for _ in 0..8 {
        c = polymod(c, 0);
    }
    c ^= 1;
    Ok((0..8)
        .map(|j| CHECKSUM_CHARSET[((c >> (5 * (7 - j))) & 31) as usize] as char)
        .collect())
}

/// `desc#checksum`.
pub fn with_checksum(desc: &str) -> Result<String, DescriptorError> {
    Ok(format!("{desc}#{}", checksum(desc)?))
}

/// Checks the `#checksum` of a descriptor and returns the part before it.
pub fn verify(desc_with_checksum: &str) -> Result<&str, DescriptorError> {
    let (desc, found) = desc_with_checksum
        .rsplit_once('#')
        .ok_or(DescriptorError::MissingChecksum)?;
    let expected = checksum(desc)?;
    if expected != found {
        return Err(DescriptorError::ChecksumMismatch {
            expected,
            found: found.to_owned(),
        });
    }
    Ok(desc)
}

/// The output script family of a single-key descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScriptType {
    /// `pkh(KEY)`: legacy P2PKH (BIP44).
    Pkh,
    /// `sh(wpkh(KEY))`: P2SH-wrapped segwit (BIP49).
    ShWpkh,
    /// `wpkh(KEY)`: native segwit (BIP84).
    Wpkh,
}

impl ScriptType {
    /// The BIP purpose for this script type (44, 49, 84).
    pub fn purpose(self) -> u32 {
        match self {
            ScriptType::Pkh => 44,
            ScriptType::ShWpkh => 49,
            ScriptType::Wpkh => 84,
        }
    }

    /// The script type of a BIP purpose.
    pub fn from_purpose(purpose: u32) -> Option<ScriptType> {
        match purpose {
            44 => Some(ScriptType::Pkh),
            49 => Some(ScriptType::ShWpkh),
            84 => Some(ScriptType::Wpkh),
            _ => None,
        }
    }

    /// The `script_pubkey` paying to `pk` in this family.
    pub fn script_pubkey(self, pk: &CompressedPublicKey) -> ScriptBuf {
        match self {
            ScriptType::Pkh => ScriptBuf::new_p2pkh(&pk.pubkey_hash()),
            ScriptType::Wpkh => ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()),
            ScriptType::ShWpkh => {
                let redeem = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
                ScriptBuf::new_p2sh(&redeem.script_hash())
            }
        }
    }

    /// The P2SH redeem script for `pk` (only for [`ScriptType::ShWpkh`]).
    pub fn redeem_script(self, pk: &CompressedPublicKey) -> Option<ScriptBuf> {
        match self {
            ScriptType::ShWpkh => Some(ScriptBuf::new_p2wpkh(&pk.wpubkey_hash())),
            _ => None,
        }
    }

    /// The script type of a `script_pubkey` shape, if it is one of ours.
    pub fn of_script(spk: &bitcoin::Script) -> Option<ScriptType> {
        if spk.is_p2wpkh() {
            Some(ScriptType::Wpkh)
        } else if spk.is_p2pkh() {
            Some(ScriptType::Pkh)
        } else if spk.is_p2sh() {
            Some(ScriptType::ShWpkh)
        } else {
            None
        }
    }
}

/// A ranged single-key descriptor: `wpkh([fp/path]xpub/suffix/*)` and the like.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyDescriptor {
    /// The script family.
    pub script_type: ScriptType,
    /// The key origin: master fingerprint and path from the master to `xpub`.
    pub origin: Option<(Fingerprint, DerivationPath)>,
    /// The extended public key.
    pub xpub: Xpub,
    /// Unhardened steps after the key, before the wildcard (e.g. `[0]` for `/0/*`).
    pub suffix: Vec<ChildNumber>,
    /// Whether the descriptor ends in `/*` (ranged).
    pub wildcard: bool,
    /// The network the key belongs to (decides xpub vs tpub when written).
    pub network: Network,
}

fn secp() -> &'static Secp256k1<VerifyOnly> {
    static CTX: OnceLock<Secp256k1<VerifyOnly>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::verification_only)
}

impl KeyDescriptor {
    /// A ranged account descriptor `TYPE([fp/account_path]xpub/chain/*)`.
    pub fn account(
        script_type: ScriptType,
        fingerprint: Fingerprint,
        account_path: DerivationPath,
        xpub: Xpub,
        chain: u32,
        network: Network,
    ) -> KeyDescriptor {
        KeyDescriptor {
            script_type,
            origin: Some((fingerprint, account_path)),
            xpub,
            suffix: vec![ChildNumber::Normal { index: chain }],
            wildcard: true,
            network,
        }
    }

    /// Parses a descriptor for `network`; a `#checksum`, when present, must match.
    pub fn parse(s: &str, network: Network) -> Result<KeyDescriptor, DescriptorError> {
        let body = if s.contains('#') { verify(s)? } else { s };
        let (script_type, inner) = if let Some(r) = strip(body, "wpkh(", ")") {
            (ScriptType::Wpkh, r)
        } else if let Some(r) = strip(body, "sh(wpkh(", "))") {
            (ScriptType::ShWpkh, r)
        } else if let Some(r) = strip(body, "pkh(", ")") {
            (ScriptType::Pkh, r)
        } else {
            return Err(DescriptorError::Unsupported(body.to_owned()));
        };
        let (origin, key_part) = if let Some(rest) = inner.strip_prefix('[') {
            let (o, k) = rest
                .split_once(']')
                .ok_or_else(|| DescriptorError::Malformed("unclosed key origin".into()))?;
            let (fp, path) = match o.split_once('/') {
                Some((fp, path)) => (fp, format!("m/{path}")),
                None => (o, "m".to_owned()),
            };
            let fp = Fingerprint::from_str(fp)
                .map_err(|_| DescriptorError::Malformed(format!("bad fingerprint '{fp}'")))?;
            let path = DerivationPath::from_str(&path.replace('h', "'"))
                .map_err(|_| DescriptorError::Malformed(format!("bad origin path '{o}'")))?;
            (Some((fp, path)), k)
        } else {
            (None, inner)
        };
        let mut parts = key_part.split('/');
        let key = parts.next().unwrap_or_default();
        let (xpub, _) = xkey::parse_xpub_for(key, network).map_err(|e| match e {
            xkey::XkeyError::WrongNetwork { .. } => DescriptorError::WrongNetwork(e.to_string()),
            other => DescriptorError::Malformed(other.to_string()),
        })?;
        let mut suffix = Vec::new();
        let mut wildcard = false;
        for p in parts {
            if wildcard {
                return Err(DescriptorError::Malformed("wildcard must be last".into()));
            }
            if p == "*" {
                wildcard = true;
                continue;
            }
            if p.ends_with('\'') || p.ends_with('h') || p == "*'" {
                return Err(DescriptorError::Unsupported(
                    "hardened derivation after an xpub".into(),
                ));
            }
            let i: u32 = p
                .parse()
                .map_err(|_| DescriptorError::Malformed(format!("bad path step '{p}'")))?;
            let c = ChildNumber::from_normal_idx(i)
                .map_err(|_| DescriptorError::Malformed(format!("path step {i} out of range")))?;
            suffix.push(c);
        }
        Ok(KeyDescriptor {
            script_type,
            origin,
            xpub,
            suffix,
            wildcard,
            network,
        })
    }

    /// The descriptor without checksum.
    pub fn to_string_without_checksum(&self) -> String {
        let key = xkey::encode_xpub(&self.xpub, KeyFormat::plain(self.network));
        let mut inner = String::new();
        if let Some((fp, path)) = &self.origin {
            inner.push('[');
            inner.push_str(&fp.to_string());
            for c in path.into_iter() {
                inner.push('/');
                inner.push_str(&c.to_string());
            }
            inner.push(']');
        }
        inner.push_str(&key);
        for c in &self.suffix {
            inner.push('/');
            inner.push_str(&c.to_string());
        }
        if self.wildcard {
            inner.push_str("/*");
        }
        match self.script_type {
            ScriptType::Wpkh => format!("wpkh({inner})"),
            ScriptType::ShWpkh => format!("sh(wpkh({inner}))"),
            ScriptType::Pkh => format!("pkh({inner})"),
        }
    }

    fn child_path(&self, index: u32) -> Result<Vec<ChildNumber>, DescriptorError> {
        let mut steps = self.suffix.clone();
        if self.wildcard {
            steps.push(
                ChildNumber::from_normal_idx(index).map_err(|_| {
                    DescriptorError::Malformed(format!("index {index} out of range"))
                })?,
            );
        }
        Ok(steps)
    }

    /// The public key at `index` (ignored for a non-ranged descriptor).
    pub fn derive_pubkey(&self, index: u32) -> Result<CompressedPublicKey, DescriptorError> {
        let steps = self.child_path(index)?;
        let child = self
            .xpub
            .derive_pub(secp(), &steps)
            .map_err(|e| DescriptorError::Malformed(e.to_string()))?;
        Ok(CompressedPublicKey(child.public_key))
    }

    /// The `script_pubkey` at `index`.
    pub fn derive_script(&self, index: u32) -> Result<ScriptBuf, DescriptorError> {
        Ok(self.script_type.script_pubkey(&self.derive_pubkey(index)?))
    }

    /// The address at `index`.
    pub fn derive_address(&self, index: u32) -> Result<Address, DescriptorError> {
        let spk = self.derive_script(index)?;
        Address::from_script(&spk, self.network)
            .map_err(|e| DescriptorError::Malformed(e.to_string()))
    }

    /// The full path from the master key to the key at `index` (for PSBT BIP32 derivations),
    /// and the master fingerprint, when the descriptor has an origin.
    pub fn full_derivation(&self, index: u32) -> Option<(Fingerprint, DerivationPath)> {
        let (fp, path) = self.origin.as_ref()?;
        let steps = self.child_path(index).ok()?;
        Some((*fp, path.extend(steps)))
    }
}

impl fmt::Display for KeyDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.to_string_without_checksum();
        // Our own output only contains charset characters, so the checksum always exists.
        let c = checksum(&d).map_err(|_| fmt::Error)?;
        write!(f, "{d}#{c}")
    }
}

fn strip<'a>(s: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    s.strip_prefix(prefix)?.strip_suffix(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TPUB84: &str = "tpubDCZB6sR48s4T5Cr8qHUYSZEFCQMMHRg8AoVKVmvcAP5bRw7ArDKeoNwKAJujV3xCPkBvXH5ejSgbgyN6kREmF7sMd41NdbuHa8n1DZNxSMg";
    const TPUB49: &str = "tpubDCHRnuvE95JrpEVTUmr36sK3K9ADf3s3aztpXzL8coBeCTE8cHV8PjxS6SjWJM3GfPn798gyEa3dRPgjoUDSuNfuC9xz4PHznwKEk2XL7X1";
    const TPUB44: &str = "tpubDDKn3FtHc74CaRrRbi1WFdJNaaenZkDWqq9NsEhcafnDZ4VuKeuLG2aKHm5SuwuLgAhRkkfHqcCxpnVNSrs5kJYZXwa6Ud431VnevzzzK3U";

    #[test]
    fn checksums_match_monacoind() {
        let cases = [
            (
                format!("wpkh([5c9e228d/84'/1'/0']{TPUB84}/0/*)"),
                "rn0zejch",
            ),
            (
                format!("wpkh([5c9e228d/84'/1'/0']{TPUB84}/1/*)"),
                "j82ry8g0",
            ),
            (
                format!("sh(wpkh([5c9e228d/49'/1'/0']{TPUB49}/0/*))"),
                "qfh8hjq8",
            ),
            (
                format!("sh(wpkh([5c9e228d/49'/1'/0']{TPUB49}/1/*))"),
                "4ge30d4c",
            ),
            (format!("pkh([5c9e228d/44'/1'/0']{TPUB44}/0/*)"), "k65gljcw"),
            (format!("pkh([5c9e228d/44'/1'/0']{TPUB44}/1/*)"), "8w3fz8gk"),
        ];
        for (d, c) in &cases {
            assert_eq!(checksum(d).unwrap(), *c, "{d}");
            let full = format!("{d}#{c}");
            let parsed = KeyDescriptor::parse(&full, Network::Regtest).unwrap();
            assert_eq!(parsed.to_string(), full, "round trip");
        }
    }

    #[test]
    fn derives_fixture_addresses() {
        let d = KeyDescriptor::parse(
            &format!("wpkh([5c9e228d/84'/1'/0']{TPUB84}/0/*)#rn0zejch"),
            Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            d.derive_address(0).unwrap().to_string(),
            "rmona1qkvwu9g3k2pdxewfqr7syz89r3gj557l3506gn9"
        );
        let s = KeyDescriptor::parse(
            &format!("sh(wpkh([5c9e228d/49'/1'/0']{TPUB49}/0/*))"),
            Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            s.derive_address(0).unwrap().to_string(),
            "pGhRU7vFxtVyFjEpYYHfSFo5QGDoAhQ8dv"
        );
        let p = KeyDescriptor::parse(
            &format!("pkh([5c9e228d/44'/1'/0']{TPUB44}/0/*)"),
            Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            p.derive_address(0).unwrap().to_string(),
            "mvbu1Gdy8SUjTenqerxUaZyYjmveZvt33q"
        );
        let (fp, path) = d.full_derivation(5).unwrap();
        assert_eq!(fp.to_string(), "5c9e228d");
        assert_eq!(path.to_string(), "84'/1'/0'/0/5");
    }

    #[test]
    fn refuses_bad_descriptors() {
        let good = format!("wpkh([5c9e228d/84'/1'/0']{TPUB84}/0/*)");
        assert!(matches!(
            KeyDescriptor::parse(&format!("{good}#rn0zejcj"), Network::Regtest),
            Err(DescriptorError::ChecksumMismatch { .. })
        ));
        assert!(matches!(
            KeyDescriptor::parse(&good, Network::Mainnet),
            Err(DescriptorError::WrongNetwork(_))
        ));
        assert!(KeyDescriptor::parse(&format!("tr({TPUB84}/0/*)"), Network::Regtest).is_err());
        assert!(KeyDescriptor::parse(&format!("wpkh({TPUB84}/0'/*)"), Network::Regtest).is_err());
        assert!(KeyDescriptor::parse(&format!("wpkh({TPUB84}/*/0)"), Network::Regtest).is_err());
        assert!(checksum("wpkh(é)").is_err());
    }
}
