//! Cross-check: simnode's one-place Monacoin constants agree with the `mona` crate.

use mona::Network;
use mona_simnode::params;

#[test]
fn constants_agree_with_mona() {
    let p = Network::Regtest.params();
    assert_eq!(p.p2pkh_prefix, params::P2PKH_PREFIX);
    assert_eq!(p.p2sh_prefix, params::P2SH_PREFIX);
    assert_eq!(p.p2sh_legacy_prefix, params::P2SH_LEGACY_PREFIX);
    assert_eq!(p.bech32_hrp, params::BECH32_HRP);
    assert_eq!(p.genesis_hash_hex, params::GENESIS_HASH_HEX);
    assert_eq!(p.coinbase_maturity, params::COINBASE_MATURITY);
    assert_eq!(p.halving_interval, params::HALVING_INTERVAL);
    assert_eq!(
        Network::Regtest.genesis_hash(),
        mona_simnode::chain::genesis_block().block_hash()
    );
    assert_eq!(mona::Amount::MAX_MONEY.to_wat(), params::MAX_MONEY);
}

#[test]
fn addresses_and_dust_agree_with_mona() {
    let cases = [
        ("p2wpkh", "rmona1qku3myd6c8u0avl8r03clyzu45pgfau25u562rk"),
        ("p2pkh", "mvbu1Gdy8SUjTenqerxUaZyYjmveZvt33q"),
        ("p2sh", "pGhRU7vFxtVyFjEpYYHfSFo5QGDoAhQ8dv"),
    ];
    for (name, addr) in cases {
        let ours = params::address_to_script(addr).unwrap();
        let theirs = mona::Address::parse(addr, Network::Regtest).unwrap();
        assert_eq!(&ours, theirs.script_pubkey(), "{name}");
        assert_eq!(
            params::script_to_address(&ours).unwrap(),
            theirs.to_string(),
            "{name}"
        );
        let out = bitcoin::TxOut {
            value: bitcoin::Amount::ZERO,
            script_pubkey: ours.clone(),
        };
        assert_eq!(
            mona_simnode::validation::dust_threshold(&out),
            mona::dust_threshold(&ours).to_wat(),
            "{name}"
        );
    }
}
