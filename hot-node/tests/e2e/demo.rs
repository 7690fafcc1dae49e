//! `hot-node demo`'s story (issue 6 item 5) end to end on the simulated chain: the cold
//! signer in-process, init, funding, withdrawals, vouchers under a Monappy-style attack, a
//! sweep, a top-up through QR frames signed by the cold signer, a theft frozen within one
//! block. Every step checks its invariant on the chain and fails loudly.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_holds_every_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let report = hot_node::demo::run_story(dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.double_payouts, 0);
    assert!(report.theft_frozen);
    assert!(
        report.conflicts > 0,
        "other-address redemptions were refused"
    );
    assert!(report.cold_wat > 0 && report.hot_wat > 0);
}
