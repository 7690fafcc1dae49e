//! An address the engine hands out is recorded as `address.issued` in the one format the API
//! writes and parses back (`hot_external/<index>`, detail `address=<address>`), so the API's
//! next-index scan sees engine-issued addresses too.

mod common;

use common::*;
use mona_ledger::{parse_address_issued_subject, AUDIT_ADDRESS_ISSUED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_records_issued_addresses_in_the_api_format() {
    let rig = Rig::new().await;
    let engine = rig.engine(test_config(rig.dir.path())).await;
    let issued: Vec<_> = (0..2)
        .map(|_| engine.new_deposit_address().unwrap())
        .collect();
    let rows = || {
        rig.ledger
            .audit_entries(1, 10_000)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AUDIT_ADDRESS_ISSUED)
            .collect::<Vec<_>>()
    };
    wait_for("address.issued rows", || rows().len() == issued.len()).await;
    for a in &issued {
        let row = rows()
            .into_iter()
            .find(|e| parse_address_issued_subject(&e.subject) == Some(a.index))
            .unwrap_or_else(|| panic!("no row for index {}: {:?}", a.index, rows()));
        assert_eq!(row.subject, format!("hot_external/{}", a.index));
        assert_eq!(row.detail, format!("address={}", a.address));
    }
    engine.shutdown().await;
}
