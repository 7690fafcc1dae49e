//! Benchmarks: getblockhash-class calls over HTTP, and P2WPKH input validation.
//!
//! `cargo bench -p mona-simnode` prints elements/s for both (targets: >= 2,000 calls/s and
//! >= 1,000 inputs/s).

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine as _;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mona_simnode::{SimConfig, SimNode};

const INPUTS: usize = 200;

fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "server closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return;
            }
        }
    }
}

fn http_calls(c: &mut Criterion) {
    let h = SimNode::start_background(SimConfig::default()).expect("start");
    h.mine(200);
    let (u, p) = h.auth();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
    let body = r#"{"jsonrpc":"1.0","id":1,"method":"getblockhash","params":[150]}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(h.addr()).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = Vec::new();
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function("getblockhash keep-alive", |b| {
        b.iter(|| {
            s.write_all(req.as_bytes()).expect("write");
            read_response(&mut s, &mut buf);
        })
    });
    g.bench_function("getblockhash new connection", |b| {
        b.iter(|| {
            let mut s = TcpStream::connect(h.addr()).expect("connect");
            s.write_all(req.as_bytes()).expect("write");
            read_response(&mut s, &mut buf);
        })
    });
    g.finish();
}

fn sign_all(tx: &mut Transaction, prevs: &[TxOut], sk: &SecretKey, spk: &ScriptBuf) {
    let secp = Secp256k1::new();
    let pk = sk.public_key(&secp);
    let mut wits = Vec::new();
    {
        let mut cache = SighashCache::new(&*tx);
        for (i, prev) in prevs.iter().enumerate() {
            let hsh = cache
                .p2wpkh_signature_hash(i, spk, prev.value, EcdsaSighashType::All)
                .expect("sighash");
            let sig = secp.sign_ecdsa_low_r(&Message::from_digest(hsh.to_byte_array()), sk);
            wits.push(Witness::p2wpkh(
                &bitcoin::ecdsa::Signature::sighash_all(sig),
                &pk,
            ));
        }
    }
    for (i, w) in wits.into_iter().enumerate() {
        tx.input[i].witness = w;
    }
}

fn p2wpkh_validation(c: &mut Criterion) {
    let node = SimNode::new(&SimConfig::default());
    let sk = SecretKey::from_slice(&[5u8; 32]).expect("key");
    let pk = bitcoin::CompressedPublicKey(sk.public_key(&Secp256k1::new()));
    let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
    let big = node.fund_script(&spk, 40 * 100_000_000).expect("fund");
    node.mine(1);
    let prev = node.utxo(&big).expect("funded");
    let outs: Vec<TxOut> = (0..INPUTS)
        .map(|_| TxOut {
            value: Amount::from_sat(19_990_000),
            script_pubkey: spk.clone(),
        })
        .collect();
    let mut fan = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: big,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outs,
    };
    sign_all(&mut fan, &[prev], &sk, &spk);
    node.submit_transaction(&fan).expect("fan-out accepted");
    node.mine(1);
    let fid = fan.compute_txid();
    let prevs: Vec<TxOut> = fan.output.clone();
    let mut spend = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: (0..INPUTS as u32)
            .map(|n| TxIn {
                previous_output: OutPoint::new(fid, n),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::from_sat(INPUTS as u64 * 19_990_000 - 2_000_000),
            script_pubkey: spk.clone(),
        }],
    };
    sign_all(&mut spend, &prevs, &sk, &spk);
    let mut g = c.benchmark_group("validation");
    g.throughput(Throughput::Elements(INPUTS as u64));
    g.sample_size(20);
    g.bench_function("p2wpkh inputs (testmempoolaccept, 200-input tx)", |b| {
        b.iter(|| {
            node.with_state(|st| st.test_accept(&spend, 0))
                .expect("valid");
        })
    });
    g.finish();
}

criterion_group!(benches, http_calls, p2wpkh_validation);
criterion_main!(benches);
