//! Amounts in watanabe (1 MONA = 100,000,000 watanabe) and fee rates.
//!
//! Invariant: an [`Amount`] never exceeds [`Amount::MAX_MONEY`] (105,120,000 MONA, Monacoin's
//! `MAX_MONEY`); every constructor and arithmetic operation checks it. Amounts are parsed from and
//! written to exact decimal MONA strings; a float never touches money.

use std::fmt;
use std::str::FromStr;

/// Watanabe per MONA.
pub const WAT_PER_MONA: u64 = 100_000_000;

/// An amount of Monacoin in watanabe, at most [`Amount::MAX_MONEY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u64);

/// Why an amount or fee-rate string or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The string is empty.
    #[error("empty amount")]
    Empty,
    /// A sign was given; amounts are unsigned.
    #[error("amount '{0}' has a sign; amounts are written without one")]
    Signed(String),
    /// More than 8 decimal places.
    #[error("amount '{0}' has more than 8 decimals")]
    TooPrecise(String),
    /// Not a plain decimal number (exponent, letters, spaces, several points, ...).
    #[error("amount '{0}' is not a plain decimal number of MONA")]
    Malformed(String),
    /// Above 105,120,000 MONA.
    #[error("amount '{0}' is above the 105120000 MONA supply cap")]
    TooLarge(String),
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// One watanabe.
    pub const ONE_WAT: Amount = Amount(1);
    /// One MONA.
    pub const ONE_MONA: Amount = Amount(WAT_PER_MONA);
    /// Monacoin's `MAX_MONEY`: 105,120,000 MONA.
    pub const MAX_MONEY: Amount = Amount(105_120_000 * WAT_PER_MONA);

    /// An amount of `wat` watanabe, refused above the cap.
    pub fn from_wat(wat: u64) -> Result<Amount, AmountError> {
        if wat > Self::MAX_MONEY.0 {
            return Err(AmountError::TooLarge(format!("{wat} watanabe")));
        }
        Ok(Amount(wat))
    }

    /// An amount from a constant known to be within the cap.
    ///
    /// # Panics
    /// In const context (compile error) or at run time if `wat` exceeds the cap.
    pub const fn from_wat_const(wat: u64) -> Amount {
        assert!(wat <= Self::MAX_MONEY.0, "amount above MAX_MONEY");
        Amount(wat)
    }

    /// The amount in watanabe.
    pub const fn to_wat(self) -> u64 {
        self.0
    }

    /// Parses an exact decimal MONA string: `"1.5"`, `"0.00000001"`, `"105120000"`.
    ///
    /// Refuses empty strings, signs, exponents, whitespace, leading or trailing points, more than 8
    /// decimals and anything above the cap.
    pub fn from_mona_str(s: &str) -> Result<Amount, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        let quoted = || truncate_for_message(s);
        if s.starts_with('+') || s.starts_with('-') {
            return Err(AmountError::Signed(quoted()));
        }
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) {
            return Err(AmountError::Malformed(quoted()));
        }
        if int_part.len() > 1 && int_part.starts_with('0') {
            return Err(AmountError::Malformed(quoted()));
        }
        let frac_wat = match frac_part {
            None => 0,
            Some(f) => {
                if !all_digits(f) {
                    return Err(AmountError::Malformed(quoted()));
                }
                if f.len() > 8 {
                    return Err(AmountError::TooPrecise(quoted()));
                }
                let mut v: u64 = 0;
                for b in f.bytes() {
                    v = v * 10 + u64::from(b - b'0');
                }
                v * 10u64.pow(8 - f.len() as u32)
            }
        };
        // 105,120,000 has 9 digits; anything longer is over the cap (leading zeros refused above).
        if int_part.len() > 9 {
            return Err(AmountError::TooLarge(quoted()));
        }
        let int_mona: u64 = int_part
            .parse()
            .map_err(|_| AmountError::Malformed(quoted()))?;
        let wat = int_mona
            .checked_mul(WAT_PER_MONA)
            .and_then(|w| w.checked_add(frac_wat))
            .ok_or_else(|| AmountError::TooLarge(quoted()))?;
        Amount::from_wat(wat).map_err(|_| AmountError::TooLarge(quoted()))
    }

    /// The shortest exact decimal MONA string: `"1.5"`, `"1"`, `"0.00000001"`.
    pub fn to_mona_string(self) -> String {
        let int = self.0 / WAT_PER_MONA;
        let frac = self.0 % WAT_PER_MONA;
        if frac == 0 {
            return int.to_string();
        }
        let frac = format!("{frac:08}");
        format!("{int}.{}", frac.trim_end_matches('0'))
    }

    /// The node's style, always 8 decimals: `"1.50000000"`.
    pub fn to_mona_string_fixed(self) -> String {
        format!("{}.{:08}", self.0 / WAT_PER_MONA, self.0 % WAT_PER_MONA)
    }

    /// `self + rhs`, or `None` above the cap.
    pub fn checked_add(self, rhs: Amount) -> Option<Amount> {
        self.0
            .checked_add(rhs.0)
            .and_then(|v| Amount::from_wat(v).ok())
    }

    /// `self - rhs`, or `None` below zero.
    pub fn checked_sub(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_sub(rhs.0).map(Amount)
    }

    /// `self * n`, or `None` above the cap.
    pub fn checked_mul(self, n: u64) -> Option<Amount> {
        self.0.checked_mul(n).and_then(|v| Amount::from_wat(v).ok())
    }

    /// `self - rhs`, clamped at zero.
    pub fn saturating_sub(self, rhs: Amount) -> Amount {
        Amount(self.0.saturating_sub(rhs.0))
    }

    /// The sum of amounts, or `None` above the cap.
    pub fn checked_sum<I: IntoIterator<Item = Amount>>(iter: I) -> Option<Amount> {
        iter.into_iter()
            .try_fold(Amount::ZERO, |acc, a| acc.checked_add(a))
    }

    /// As a `bitcoin::Amount` for the `bitcoin` crate's transaction types.
    pub fn to_btc_amount(self) -> bitcoin::Amount {
        bitcoin::Amount::from_sat(self.0)
    }

    /// From a `bitcoin::Amount` (e.g. a transaction output value), refused above the cap.
    pub fn from_btc_amount(a: bitcoin::Amount) -> Result<Amount, AmountError> {
        Amount::from_wat(a.to_sat())
    }
}

fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_mona_string())
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::from_mona_str(s)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_mona_string())
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal MONA string such as \"1.5\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                Amount::from_mona_str(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A fee rate in watanabe per 1,000 virtual bytes (kvB), exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeeRate(u64);

impl FeeRate {
    /// Zero.
    pub const ZERO: FeeRate = FeeRate(0);
    /// The node's minimum relay fee and incremental relay fee: 1,000 wat/kvB (1 wat/vB).
    pub const MIN_RELAY: FeeRate = FeeRate(1_000);
    /// The dust relay fee used for dust thresholds: 3,000 wat/kvB.
    pub const DUST_RELAY: FeeRate = FeeRate(3_000);
    /// Monacoin wallets' floor (`-mintxfee` 0.001 MONA/kvB): 100 wat/vB.
    pub const WALLET_FLOOR: FeeRate = FeeRate(100_000);
    /// Monacoin Core's wallet `-fallbackfee`: 0.02 MONA/kvB.
    pub const WALLET_FALLBACK: FeeRate = FeeRate(2_000_000);
    /// `sendrawtransaction`'s default `maxfeerate`: 0.1 MONA/kvB.
    pub const DEFAULT_MAX: FeeRate = FeeRate(10_000_000);

    /// From watanabe per vbyte.
    pub const fn from_wat_per_vb(wat_per_vb: u64) -> FeeRate {
        FeeRate(wat_per_vb.saturating_mul(1000))
    }

    /// From watanabe per kvB.
    pub const fn from_wat_per_kvb(wat_per_kvb: u64) -> FeeRate {
        FeeRate(wat_per_kvb)
    }

    /// From the node's MONA/kvB decimal (e.g. `"0.00001000"` = 1,000 wat/kvB).
    pub fn from_mona_per_kvb_str(s: &str) -> Result<FeeRate, AmountError> {
        Amount::from_mona_str(s).map(|a| FeeRate(a.to_wat()))
    }

    /// Watanabe per kvB.
    pub const fn wat_per_kvb(self) -> u64 {
        self.0
    }

    /// Watanabe per vbyte, rounded down.
    pub const fn wat_per_vb_floor(self) -> u64 {
        self.0 / 1000
    }

    /// The node's MONA/kvB decimal with 8 decimals (`"0.00001000"`).
    pub fn to_mona_per_kvb_string(self) -> String {
        format!("{}.{:08}", self.0 / WAT_PER_MONA, self.0 % WAT_PER_MONA)
    }

    /// Fee for `vsize` vbytes, rounded UP (what a wallet should pay to meet this rate).
    pub fn fee_for_vsize(self, vsize: u64) -> Amount {
        let fee = (u128::from(self.0) * u128::from(vsize)).div_ceil(1000);
        Amount::from_wat(u64::try_from(fee).unwrap_or(u64::MAX)).unwrap_or(Amount::MAX_MONEY)
    }

    /// Fee for `vsize` vbytes exactly as Core's `CFeeRate::GetFee` computes it (rounded down,
    /// but at least 1 watanabe for a non-zero rate and size): what relay checks compare against.
    pub fn core_fee_for_vsize(self, vsize: u64) -> Amount {
        let fee = u128::from(self.0) * u128::from(vsize) / 1000;
        let fee = if fee == 0 && vsize != 0 && self.0 > 0 {
            1
        } else {
            fee
        };
        Amount::from_wat(u64::try_from(fee).unwrap_or(u64::MAX)).unwrap_or(Amount::MAX_MONEY)
    }

    /// The rate `fee / vsize` in wat/kvB, rounded down; `None` for a zero size.
    pub fn from_fee_and_vsize(fee: Amount, vsize: u64) -> Option<FeeRate> {
        if vsize == 0 {
            return None;
        }
        let r = u128::from(fee.to_wat()) * 1000 / u128::from(vsize);
        Some(FeeRate(u64::try_from(r).unwrap_or(u64::MAX)))
    }
}

impl fmt::Display for FeeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / 1000;
        let frac = self.0 % 1000;
        if frac == 0 {
            write!(f, "{int} wat/vB")
        } else {
            let s = format!("{frac:03}");
            write!(f, "{int}.{} wat/vB", s.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok: &[(&str, u64)] = &[
            ("0", 0),
            ("0.00000001", 1),
            ("1.5", 150_000_000),
            ("1", 100_000_000),
            ("1.0", 100_000_000),
            ("21000000", 21_000_000 * WAT_PER_MONA),
            ("105120000", 105_120_000 * WAT_PER_MONA),
            ("105120000.00000000", 105_120_000 * WAT_PER_MONA),
            ("0.12345678", 12_345_678),
        ];
        for (s, wat) in ok {
            assert_eq!(Amount::from_mona_str(s).unwrap().to_wat(), *wat, "{s}");
        }
    }

    #[test]
    fn refuse_table() {
        use AmountError::*;
        type Check = fn(&AmountError) -> bool;
        let bad: &[(&str, Check)] = &[
            ("", |e| matches!(e, Empty)),
            ("-1", |e| matches!(e, Signed(_))),
            ("+1", |e| matches!(e, Signed(_))),
            ("1e5", |e| matches!(e, Malformed(_))),
            ("1E5", |e| matches!(e, Malformed(_))),
            (".5", |e| matches!(e, Malformed(_))),
            ("1.", |e| matches!(e, Malformed(_))),
            ("1.2.3", |e| matches!(e, Malformed(_))),
            (" 1", |e| matches!(e, Malformed(_))),
            ("1 ", |e| matches!(e, Malformed(_))),
            ("01", |e| matches!(e, Malformed(_))),
            ("0x10", |e| matches!(e, Malformed(_))),
            ("NaN", |e| matches!(e, Malformed(_))),
            ("1,5", |e| matches!(e, Malformed(_))),
            ("١", |e| matches!(e, Malformed(_))),
            ("0.000000001", |e| matches!(e, TooPrecise(_))),
            ("1.123456789", |e| matches!(e, TooPrecise(_))),
            ("105120000.00000001", |e| matches!(e, TooLarge(_))),
            ("105120001", |e| matches!(e, TooLarge(_))),
            ("99999999999999999999999", |e| matches!(e, TooLarge(_))),
        ];
        for (s, pred) in bad {
            let e = Amount::from_mona_str(s).unwrap_err();
            assert!(pred(&e), "{s:?} gave {e:?}");
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "one-line message");
        }
    }

    #[test]
    fn format() {
        assert_eq!(Amount::from_wat(1).unwrap().to_mona_string(), "0.00000001");
        assert_eq!(Amount::from_wat(150_000_000).unwrap().to_string(), "1.5");
        assert_eq!(Amount::ONE_MONA.to_string(), "1");
        assert_eq!(Amount::ZERO.to_string(), "0");
        assert_eq!(
            Amount::from_wat(150_000_000)
                .unwrap()
                .to_mona_string_fixed(),
            "1.50000000"
        );
        assert_eq!(Amount::MAX_MONEY.to_string(), "105120000");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert!(Amount::MAX_MONEY.checked_add(Amount::ONE_WAT).is_none());
        assert!(Amount::ZERO.checked_sub(Amount::ONE_WAT).is_none());
        assert!(Amount::ONE_MONA.checked_mul(105_120_001).is_none());
        assert_eq!(
            Amount::ONE_MONA.checked_mul(2),
            Some(Amount::from_wat(200_000_000).unwrap())
        );
        assert!(Amount::from_wat(Amount::MAX_MONEY.to_wat() + 1).is_err());
    }

    #[test]
    fn serde_is_a_string() {
        let a = Amount::from_mona_str("1.5").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"1.5\"");
        assert_eq!(serde_json::from_str::<Amount>("\"1.5\"").unwrap(), a);
        assert!(
            serde_json::from_str::<Amount>("1.5").is_err(),
            "floats refused"
        );
        assert!(serde_json::from_str::<Amount>("\"1.123456789\"").is_err());
    }

    #[test]
    fn fee_rates() {
        let r = FeeRate::from_wat_per_vb(100);
        assert_eq!(r.wat_per_kvb(), 100_000);
        assert_eq!(r.fee_for_vsize(141).to_wat(), 14_100);
        assert_eq!(FeeRate::MIN_RELAY.core_fee_for_vsize(110).to_wat(), 110);
        assert_eq!(FeeRate::from_wat_per_kvb(1500).fee_for_vsize(3).to_wat(), 5);
        assert_eq!(
            FeeRate::from_wat_per_kvb(1500)
                .core_fee_for_vsize(3)
                .to_wat(),
            4
        );
        assert_eq!(
            FeeRate::from_mona_per_kvb_str("0.00001000").unwrap(),
            FeeRate::MIN_RELAY
        );
        assert_eq!(FeeRate::DEFAULT_MAX.to_mona_per_kvb_string(), "0.10000000");
        assert_eq!(
            FeeRate::DEFAULT_MAX.core_fee_for_vsize(110).to_wat(),
            1_100_000
        );
        assert_eq!(FeeRate::from_wat_per_vb(100).to_string(), "100 wat/vB");
        assert_eq!(FeeRate::from_wat_per_kvb(1500).to_string(), "1.5 wat/vB");
    }

    proptest::proptest! {
        #[test]
        fn round_trip(wat in 0u64..=Amount::MAX_MONEY.to_wat()) {
            let a = Amount::from_wat(wat).unwrap();
            proptest::prop_assert_eq!(Amount::from_mona_str(&a.to_mona_string()).unwrap(), a);
            proptest::prop_assert_eq!(Amount::from_mona_str(&a.to_mona_string_fixed()).unwrap(), a);
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = Amount::from_mona_str(&s);
        }

        #[test]
        fn digit_strings_parse_or_refuse_cleanly(s in "[0-9]{0,12}(\\.[0-9]{0,10})?") {
            match Amount::from_mona_str(&s) {
                Ok(a) => proptest::prop_assert!(a <= Amount::MAX_MONEY),
                Err(e) => proptest::prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
