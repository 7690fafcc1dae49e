//! Property: random mutations of valid PSBTs never make the review or the signer panic, and a
//! mutated PSBT is only ever signed if its review came out clean.

use std::path::PathBuf;

use mona::Network;
use mona_policy::{Now, Policy};
use mona_wallet::psbt::{Confirmation, Parsed, SigningKeys};
use mona_wallet::Mnemonic;
use proptest::prelude::*;

const CASES: [&str; 3] = [
    "1-p2wpkh-single-input",
    "2-mixed-three-inputs",
    "3-batch-two-outputs",
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/psbt")
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Set { at: usize, value: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(0xfd), Just(0xfe), Just(0xff), any::<u8>()]
        )
            .prop_map(|(at, value)| Mutation::Set { at, value }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match m {
        Mutation::Flip { at, xor } => bytes[at % n] ^= xor,
        Mutation::Set { at, value } => bytes[at % n] = *value,
        Mutation::Truncate { at } => bytes.truncate(at % n),
        Mutation::Insert { at, bytes: b } => {
            let at = at % n;
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let at = at % n;
            let end = (at + len).min(n);
            bytes.drain(at..end);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutations_never_panic(case in 0usize..3, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let policy = Policy::from_toml_bytes(
            &std::fs::read(fixtures().join("policy-regtest.toml")).unwrap(),
        )
        .unwrap();
        let seed = Mnemonic::parse("all all all all all all all all all all all all").unwrap().to_seed("");
        let keys = SigningKeys::standard(&seed, Network::Regtest);
        let mut bytes =
            std::fs::read(fixtures().join("good").join(CASES[case]).join("unsigned.psbt")).unwrap();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let now = Now { unix_time: 1_795_000_000, tip_height: Some(121) };
        if let Ok(parsed) = Parsed::parse(bytes.clone(), &policy) {
            let reviewed = parsed.review(keys.public(), &policy, now);
            for v in &reviewed.verdict().violations { let _ = v.to_string(); }
            let clean = reviewed.verdict().is_clean();
            match reviewed.approve(Confirmation::Unattended) {
                Ok(approved) => {
                    prop_assert!(clean);
                    let _ = approved.sign(&keys, &bytes);
                }
                Err(_) => prop_assert!(!clean),
            }
        }
    }
}
