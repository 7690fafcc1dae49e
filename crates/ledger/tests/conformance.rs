//! The conformance suite against both backends, and model checking SQLite against memory.

use mona_ledger::conformance::{self, ModelOp};
use mona_ledger::{Ledger, MemoryLedger, SqliteLedger};
use proptest::prelude::*;

#[test]
fn memory_backend_passes_the_suite() {
    conformance::run_all(&mut || Box::new(MemoryLedger::new()));
}

#[test]
fn sqlite_backend_passes_the_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    conformance::run_all(&mut || {
        n += 1;
        Box::new(SqliteLedger::open(dir.path().join(format!("ledger{n}.db"))).expect("open"))
            as Box<dyn Ledger>
    });
}

fn arb_op() -> impl Strategy<Value = ModelOp> {
    prop_oneof![
        4 => (0u8..6, 0u8..3, prop_oneof![Just(0u64), 1u64..50_000]).prop_map(|(k, n, a)| ModelOp::Request(k, n, a)),
        1 => (0u8..3, 0u8..3, 1u64..20_000).prop_map(|(k, c, a)| ModelOp::CreateVoucher(k, c, a)),
        2 => (0u8..4, 0u8..3).prop_map(|(c, n)| ModelOp::Redeem(c, n)),
        2 => (1u8..3, prop_oneof![Just(500u64), 10_000u64..200_000]).prop_map(|(c, v)| ModelOp::Fund(c, v)),
        3 => (1u8..4).prop_map(ModelOp::Commit),
        3 => (0u8..4, 0u8..6).prop_map(|(i, o)| ModelOp::Send(i, o)),
        2 => (0u8..4).prop_map(ModelOp::Confirm),
        1 => Just(ModelOp::Block),
        1 => Just(ModelOp::Reorg),
        1 => (0u8..6).prop_map(ModelOp::Reject),
        1 => any::<bool>().prop_map(ModelOp::Freeze),
        1 => (0u8..4).prop_map(ModelOp::Bump),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn sqlite_matches_the_memory_model(ops in prop::collection::vec(arb_op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = SqliteLedger::open(dir.path().join("model.db")).expect("open");
        let mem = MemoryLedger::new();
        let results = conformance::compare_backends(&mem, &sql, &ops);
        for (op, r) in ops.iter().zip(&results) {
            let kind = format!("{op:?}");
            let kind = kind.split('(').next().unwrap_or("");
            let ok = if r.starts_with("Ok") { "ok" } else if r == "skip" { "skip" } else { "err" };
            if std::env::var_os("MODEL_STATS").is_some() {
                eprintln!("STAT {kind} {ok}");
            }
        }
    }
}
