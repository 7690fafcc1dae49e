//! PSBT bytes -> envelope pre-scan -> parse -> analysis (summary) -> policy verdict -> (if clean)
//! approval and signing. Nothing on this path may panic, whatever arrives through the air gap.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mona::Network;
use mona_policy::{Now, Policy};
use mona_wallet::psbt::{Confirmation, Parsed, SigningKeys};
use mona_wallet::Mnemonic;

struct Ctx {
    keys: SigningKeys,
    policy: Policy,
}

fn ctx() -> &'static Ctx {
    static CTX: OnceLock<Ctx> = OnceLock::new();
    CTX.get_or_init(|| {
        let seed = Mnemonic::parse("all all all all all all all all all all all all")
            .expect("mnemonic")
            .to_seed("");
        let policy = Policy::from_toml_bytes(include_bytes!(
            "../../../../fixtures/psbt/policy-regtest.toml"
        ))
        .expect("policy");
        Ctx {
            keys: SigningKeys::standard(&seed, Network::Regtest),
            policy,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = mona_wallet::psbt::scan(data);
    let c = ctx();
    let Ok(parsed) = Parsed::parse(data.to_vec(), &c.policy) else {
        return;
    };
    let now = Now {
        unix_time: 1_795_000_000,
        tip_height: Some(121),
    };
    let reviewed = parsed.review(c.keys.public(), &c.policy, now);
    for v in &reviewed.verdict().violations {
        let _ = v.to_string();
    }
    if let Ok(approved) = reviewed.approve(Confirmation::Unattended) {
        let _ = approved.sign(&c.keys, data);
    }
});
