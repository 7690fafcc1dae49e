//! Call latency of the client (fresh TCP connection per call, TCP_NODELAY):
//! a trivial call (`getblockcount`) and `getblock <hash> 0` of a ~1 MB answer, against
//! `mona-simnode` and against a minimal loopback server that answers with fixed bytes (which
//! isolates the client's own cost). Run: `cargo bench -p mona-node --bench rpc_latency`.

use std::hint::black_box;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Block, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mona_node::{Auth, NodeClient, NodeConfig};
use mona_simnode::{SimConfig, SimNode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A block whose `getblock 0` answer is about 1 MB of JSON (hex of ~520 kB).
fn big_block() -> Block {
    let outputs = (0..16_700u32)
        .map(|i| TxOut {
            value: bitcoin::Amount::from_sat(1000 + u64::from(i)),
            script_pubkey: ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(
                [(i % 251) as u8; 20],
            )),
        })
        .collect();
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![1, 1]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs,
    };
    Block {
        header: bitcoin::block::Header {
            version: bitcoin::block::Version::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: bitcoin::TxMerkleNode::from_raw_hash(tx.compute_txid().to_raw_hash()),
            time: 1_795_637_168,
            bits: bitcoin::CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: vec![tx],
    }
}

/// Serves `{"result":<result_json>,"error":null,"id":<request id>}` to every connection, like
/// the node (status line and headers as recorded, connection closed after the answer).
async fn fixed_server(result_json: String) -> String {
    let prefix = std::sync::Arc::new(format!("{{\"result\":{result_json},\"error\":null,\"id\":"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let _ = sock.set_nodelay(true);
            let prefix = prefix.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                let body_start = loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break end + 4;
                        }
                    }
                };
                let id = serde_json::from_slice::<serde_json::Value>(&got[body_start..])
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or_default();
                let suffix = format!("{id}}}\n");
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    prefix.len() + suffix.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(prefix.as_bytes()).await;
                let _ = sock.write_all(suffix.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}/")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let node = rt.block_on(SimNode::start(SimConfig::default())).unwrap();
    node.mine(101);
    let (user, password) = node.auth();
    let sim =
        NodeClient::new(NodeConfig::new(&node.url(), Auth::user_pass(user, password)).unwrap());
    let tip = node.best_block_hash();

    let block = big_block();
    let hex = bitcoin::consensus::encode::serialize_hex(&block);
    let hash = block.block_hash();
    let block_url = rt.block_on(fixed_server(format!("\"{hex}\"")));
    let count_url = rt.block_on(fixed_server("111".into()));
    let fixed_block =
        NodeClient::new(NodeConfig::new(&block_url, Auth::user_pass("u", "p")).unwrap());
    let fixed_count =
        NodeClient::new(NodeConfig::new(&count_url, Auth::user_pass("u", "p")).unwrap());
    eprintln!(
        "getblock answer: {} bytes of hex ({} byte block)",
        hex.len(),
        hex.len() / 2
    );

    let mut g = c.benchmark_group("rpc_latency");
    g.bench_function("simnode/getblockcount", |b| {
        b.iter(|| black_box(rt.block_on(sim.get_block_count()).unwrap()))
    });
    g.bench_function("simnode/getblock_raw_small", |b| {
        b.iter(|| black_box(rt.block_on(sim.get_block(tip)).unwrap()))
    });
    g.bench_function("fixed/getblockcount", |b| {
        b.iter(|| black_box(rt.block_on(fixed_count.get_block_count()).unwrap()))
    });
    g.throughput(Throughput::Bytes(hex.len() as u64));
    g.sample_size(30);
    let params = [
        mona_node::RawValue::from_string(format!("\"{hash}\"")).unwrap(),
        mona_node::RawValue::from_string("0".into()).unwrap(),
    ];
    g.bench_function("fixed/getblock_1MB_transport_only", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(fixed_block.call_raw("getblock", &params))
                    .unwrap(),
            )
        })
    });
    g.bench_function("decode_only/getblock_1MB", |b| {
        let body = format!("{{\"result\":\"{hex}\",\"error\":null,\"id\":1}}\n");
        b.iter(|| {
            #[derive(serde::Deserialize)]
            struct E {
                result: String,
            }
            let e: E = serde_json::from_str(&body).unwrap();
            let blk: Block = bitcoin::consensus::encode::deserialize_hex(&e.result).unwrap();
            black_box(blk.txdata.len())
        })
    });
    g.bench_function("fixed/getblock_raw_1MB", |b| {
        b.iter(|| {
            let got = rt.block_on(fixed_block.get_block(hash)).unwrap().unwrap();
            black_box(got.txdata.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
