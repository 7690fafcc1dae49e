//! Durable withdrawal intake throughput (file DB in a tempdir, WAL, `synchronous=FULL`),
//! with 1, 16 and 64 concurrent clients. Each element is one `request_withdrawal` that has
//! returned, i.e. whose commit was fsynced.
//!
//! Run: `cargo bench -p mona-ledger --bench intake` (criterion reports elements/s).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mona_ledger::{Destination, Ledger, SqliteLedger, WithdrawalRequest};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PER_CLIENT: u64 = 40;

fn intake(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(dir.path().join("bench.db")).expect("open");
    let next = AtomicU64::new(0);
    let mut g = c.benchmark_group("durable_intake");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for clients in [1u64, 16, 64] {
        g.throughput(Throughput::Elements(clients * PER_CLIENT));
        g.bench_with_input(
            BenchmarkId::from_parameter(clients),
            &clients,
            |b, &clients| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for _ in 0..clients {
                                let (ledger, next) = (&ledger, &next);
                                s.spawn(move || {
                                    for _ in 0..PER_CLIENT {
                                        let n = next.fetch_add(1, Ordering::Relaxed);
                                        let req = WithdrawalRequest {
                                            id: format!("bench-{n}"),
                                            destination: Destination {
                                                address: "rmona1qbenchaddress".into(),
                                                script_pubkey: bitcoin::ScriptBuf::from_bytes(
                                                    vec![
                                                        0x00, 0x14, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                                        7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                                    ],
                                                ),
                                            },
                                            amount_wat: 100_000 + n,
                                        };
                                        ledger.request_withdrawal(&req).expect("intake");
                                    }
                                });
                            }
                        });
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
    }
    g.finish();
}

criterion_group!(benches, intake);
criterion_main!(benches);
