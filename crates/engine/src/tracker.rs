//! Which output scripts are ours: script -> (keychain, derivation index) lookahead maps for the
//! hot account (receive chain 0 = deposits, change chain 1) and the cold watch-only account.
//!
//! Module invariant: for every keychain, every index up to `max(highest used, highest issued) +
//! lookahead` is derived and in the map, so a payment to any address we could have handed out
//! or used as change is recognised; indices are only ever added, never removed.

use std::collections::HashMap;

use bitcoin::bip32::{ChildNumber, Xpub};
use bitcoin::secp256k1::{Secp256k1, VerifyOnly};
use bitcoin::{CompressedPublicKey, Script, ScriptBuf};
use mona::ScriptType;
use mona_ledger::Keychain;
use mona_wallet::WatchOnlyAccount;

/// One derivation chain of one account.
#[derive(Debug, Clone)]
struct Chain {
    xpub: Xpub,
    script_type: ScriptType,
    /// Indices `0..derived` are in the map.
    derived: u32,
    /// Highest index seen used on chain (or issued), if any.
    high: Option<u32>,
    lookahead: u32,
}

/// The lookahead maps of the four keychains.
#[derive(Debug, Clone)]
pub struct Tracker {
    secp: Secp256k1<VerifyOnly>,
    chains: HashMap<Keychain, Chain>,
    scripts: HashMap<ScriptBuf, (Keychain, u32)>,
}

/// A chain xpub could not be derived (invalid child, probability ~2^-127).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot derive the {0} chain of the account")]
pub struct TrackerError(pub &'static str);

impl Tracker {
    /// Maps for the hot account and the cold watch-only account: `gap` unused receive indices
    /// and `change_lookahead` unused change indices past the highest used one.
    pub fn new(
        hot: &WatchOnlyAccount,
        cold: &WatchOnlyAccount,
        gap: u32,
        change_lookahead: u32,
    ) -> Result<Tracker, TrackerError> {
        let secp = Secp256k1::verification_only();
        let mut chains = HashMap::new();
        for (kc, acct, chain, look) in [
            (Keychain::HotExternal, hot, 0, gap),
            (Keychain::HotInternal, hot, 1, change_lookahead),
            (Keychain::ColdExternal, cold, 0, gap),
            (Keychain::ColdInternal, cold, 1, change_lookahead),
        ] {
            let xpub = acct
                .xpub
                .ckd_pub(&secp, ChildNumber::Normal { index: chain })
                .map_err(|_| TrackerError(kc.as_str()))?;
            chains.insert(
                kc,
                Chain {
                    xpub,
                    script_type: acct.script_type,
                    derived: 0,
                    high: None,
                    lookahead: look.max(1),
                },
            );
        }
        let mut t = Tracker {
            secp,
            chains,
            scripts: HashMap::new(),
        };
        for kc in Keychain::ALL {
            t.extend(kc);
        }
        Ok(t)
    }

    fn derive(&self, c: &Chain, index: u32) -> Option<ScriptBuf> {
        let child = c
            .xpub
            .ckd_pub(&self.secp, ChildNumber::from_normal_idx(index).ok()?)
            .ok()?;
        Some(
            c.script_type
                .script_pubkey(&CompressedPublicKey(child.public_key)),
        )
    }

    fn extend(&mut self, kc: Keychain) {
        let Some(c) = self.chains.get(&kc).cloned() else {
            return;
        };
        let want = c
            .high
            .map_or(0, |h| h.saturating_add(1))
            .saturating_add(c.lookahead)
            .min(0x7fff_ffff);
        let mut derived = c.derived;
        while derived < want {
            if let Some(s) = self.derive(&c, derived) {
                self.scripts.insert(s, (kc, derived));
            }
            derived += 1;
        }
        if let Some(c) = self.chains.get_mut(&kc) {
            c.derived = derived;
        }
    }

    /// Which keychain and index `script` belongs to, if it is ours.
    pub fn lookup(&self, script: &Script) -> Option<(Keychain, u32)> {
        self.scripts.get(script).copied()
    }

    /// Records that `index` of `kc` is used (or issued) and extends the lookahead past it.
    /// Returns whether the map grew.
    pub fn mark_used(&mut self, kc: Keychain, index: u32) -> bool {
        let Some(c) = self.chains.get_mut(&kc) else {
            return false;
        };
        if c.high.is_some_and(|h| h >= index) {
            return false;
        }
        c.high = Some(index);
        let before = self.scripts.len();
        self.extend(kc);
        self.scripts.len() != before
    }

    /// The first index after the highest used/issued one on `kc`.
    pub fn next_unused(&self, kc: Keychain) -> u32 {
        self.chains
            .get(&kc)
            .and_then(|c| c.high)
            .map_or(0, |h| h.saturating_add(1))
    }

    /// The script at `index` of `kc`.
    pub fn script(&self, kc: Keychain, index: u32) -> Option<ScriptBuf> {
        let c = self.chains.get(&kc)?;
        self.derive(c, index)
    }

    /// How many scripts are watched.
    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    /// Whether no script is watched (never true after [`Tracker::new`]).
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkeys;

    #[test]
    fn lookahead_grows_with_use_and_matches_account_scripts() {
        let (hot, cold) = (testkeys::hot_watch(), testkeys::cold_watch());
        let mut t = Tracker::new(&hot, &cold, 20, 50).unwrap();
        assert_eq!(t.len(), 20 + 50 + 20 + 50);
        let s19 = hot.script_pubkey(0, 19).unwrap();
        assert_eq!(t.lookup(&s19), Some((Keychain::HotExternal, 19)));
        let s25 = hot.script_pubkey(0, 25).unwrap();
        assert_eq!(t.lookup(&s25), None, "beyond the gap");
        assert!(t.mark_used(Keychain::HotExternal, 19));
        assert_eq!(t.lookup(&s25), Some((Keychain::HotExternal, 25)));
        assert_eq!(t.next_unused(Keychain::HotExternal), 20);
        assert!(
            !t.mark_used(Keychain::HotExternal, 3),
            "lower index: no growth"
        );
        let c7 = cold.script_pubkey(1, 7).unwrap();
        assert_eq!(t.lookup(&c7), Some((Keychain::ColdInternal, 7)));
        assert_eq!(t.script(Keychain::ColdInternal, 7), Some(c7));
        let foreign = testkeys::foreign_script();
        assert_eq!(t.lookup(&foreign), None);
    }
}
