//! Voucher (gift) codes: `MONA-V1-<voucher id>-<secret>`, where the secret is 20 random bytes
//! (160 bits) in RFC 4648 base32 (32 characters, no padding).
//!
//! Invariant: a code exists in memory only inside [`VoucherCode`] / [`ParsedCode`] (zeroized on
//! drop, redacted in `Debug`, never in an error message); the ledger stores only
//! [`secret_hash`], the SHA-256 of the secret part; a presented code is looked up by its id part
//! and its hash compared in constant time ([`ParsedCode::matches`]).

use std::fmt;

use mona_ledger::CodeHash;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::secret::ct_eq;

/// Prefix of every code (matched case-insensitively when parsing).
pub const CODE_PREFIX: &str = "MONA-V1-";
/// Random bytes in a code's secret.
pub const SECRET_BYTES: usize = 20;
/// Characters of the base32 secret.
pub const SECRET_CHARS: usize = SECRET_BYTES * 8 / 5;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Why a presented code was refused (the code is never quoted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoucherCodeError {
    /// Not of the form `MONA-V1-<id>-<32 base32 characters>`.
    #[error("malformed voucher code: expected MONA-V1-<id>-<32 base32 characters>")]
    Malformed,
}

/// A freshly drawn code, shown once to the operator.
pub struct VoucherCode(Zeroizing<String>);

impl VoucherCode {
    /// Draws a new code for voucher `id` (from the OS random generator).
    pub fn generate(id: &str) -> VoucherCode {
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        let encoded = base32(secret.as_ref());
        VoucherCode(Zeroizing::new(format!(
            "{CODE_PREFIX}{id}-{}",
            encoded.as_str()
        )))
    }

    /// The code text (to hand to the operator exactly once).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored by the ledger.
    pub fn hash(&self) -> CodeHash {
        // A generated code always parses (its id was validated before it was drawn).
        match ParsedCode::parse(&self.0) {
            Ok(p) => p.hash(),
            Err(_) => CodeHash::of_code(&self.0),
        }
    }
}

impl fmt::Debug for VoucherCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VoucherCode(<redacted>)")
    }
}

/// A presented code split into its id and secret.
pub struct ParsedCode {
    id: String,
    secret: Zeroizing<String>,
}

impl ParsedCode {
    /// Splits `text` (surrounding whitespace ignored; prefix and secret case-insensitive).
    pub fn parse(text: &str) -> Result<ParsedCode, VoucherCodeError> {
        let text = text.trim();
        if text.len() > CODE_PREFIX.len() + mona_ledger::MAX_ID_LEN + 1 + SECRET_CHARS
            || !text.is_ascii()
        {
            return Err(VoucherCodeError::Malformed);
        }
        let (prefix, rest) = text.split_at(CODE_PREFIX.len().min(text.len()));
        if !prefix.eq_ignore_ascii_case(CODE_PREFIX) {
            return Err(VoucherCodeError::Malformed);
        }
        let (id, secret) = rest.rsplit_once('-').ok_or(VoucherCodeError::Malformed)?;
        mona_ledger::validate_id("voucher id", id).map_err(|_| VoucherCodeError::Malformed)?;
        let secret = Zeroizing::new(secret.to_ascii_uppercase());
        if secret.len() != SECRET_CHARS || !secret.bytes().all(|b| BASE32.contains(&b)) {
            return Err(VoucherCodeError::Malformed);
        }
        Ok(ParsedCode {
            id: id.to_owned(),
            secret,
        })
    }

    /// The voucher id part.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// SHA-256 of the secret part: what the ledger stores.
    pub fn hash(&self) -> CodeHash {
        secret_hash(&self.secret)
    }

    /// Whether this code's secret hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &CodeHash) -> bool {
        ct_eq(&self.hash().0, &stored.0)
    }
}

impl fmt::Debug for ParsedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedCode")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// SHA-256 of a code's (upper-case base32) secret part.
pub fn secret_hash(secret: &str) -> CodeHash {
    CodeHash::of_code(secret)
}

fn base32(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len() * 8 / 5 + 1));
    let mut acc: u16 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[usize::from((acc >> bits) & 31)]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[usize::from((acc << (5 - bits)) & 31)]));
    }
    out
}

/// A fresh random voucher id (`v` + 20 hex digits, 80 bits).
pub fn random_id() -> String {
    let mut b = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("v{}", hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base32_vectors() {
        // RFC 4648 test vectors (without padding).
        for (input, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()).as_str(), want);
        }
    }

    #[test]
    fn generated_codes_parse_and_match() {
        let code = VoucherCode::generate("gift-1");
        let text = code.expose().to_owned();
        assert!(text.starts_with("MONA-V1-gift-1-"));
        assert_eq!(text.len(), "MONA-V1-gift-1-".len() + SECRET_CHARS);
        let parsed = ParsedCode::parse(&text).unwrap();
        assert_eq!(parsed.id(), "gift-1");
        assert!(parsed.matches(&code.hash()));
        // lower case and whitespace are accepted
        let lower = ParsedCode::parse(&format!("  {}\n", text.to_ascii_lowercase())).unwrap();
        assert!(lower.matches(&code.hash()));
        // another code does not match
        assert!(!ParsedCode::parse(VoucherCode::generate("gift-1").expose())
            .unwrap()
            .matches(&code.hash()));
        assert!(!format!("{code:?}{parsed:?}").contains(&text[15..]));
    }

    #[test]
    fn malformed_codes() {
        let good = VoucherCode::generate("a").expose().to_owned();
        let cases = [
            ("empty", String::new()),
            ("no prefix", good[8..].to_owned()),
            ("short secret", good[..good.len() - 1].to_owned()),
            ("long secret", format!("{good}A")),
            ("bad char", format!("{}1", &good[..good.len() - 1])),
            ("bad id", good.replace("-a-", "-a b-")),
            ("v2", good.replace("V1", "V2")),
            ("non ascii", format!("{good}é")),
        ];
        for (name, text) in cases {
            let e = ParsedCode::parse(&text).expect_err(name);
            assert!(!e.to_string().contains(&good[10..]), "{name}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,120}") {
            let _ = ParsedCode::parse(&s);
        }

        #[test]
        fn any_id_round_trips(id in "[A-Za-z0-9._-]{1,64}") {
            let code = VoucherCode::generate(&id);
            let p = ParsedCode::parse(code.expose()).unwrap();
            prop_assert_eq!(p.id(), id.as_str());
            prop_assert!(p.matches(&code.hash()));
        }
    }
}
