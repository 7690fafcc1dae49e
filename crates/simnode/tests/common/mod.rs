//! Shared test helpers: a raw HTTP client and a key that signs like Core (low-R).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

/// A raw HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header_names(&self) -> Vec<String> {
        self.headers.iter().map(|(k, _)| k.clone()).collect()
    }
    pub fn json(&self) -> mona_simnode::Json {
        mona_simnode::Json::parse(&self.text()).expect("json body")
    }
}

/// Sends one request on a fresh connection (like the fixtures' recorder).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    content_type: Option<&str>,
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if let Some((u, p)) = auth {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req.push_str(&format!("Authorization: Basic {b}\r\n"));
    }
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> std::io::Result<HttpResponse> {
    let bad = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no http response");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(": ")
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .filter(|(k, _)| k != "Connection")
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

/// POST a JSON-RPC body to `/`.
pub fn rpc_raw(h: &mona_simnode::SimNodeHandle, path: &str, body: &str) -> HttpResponse {
    let (u, p) = h.auth();
    http(
        h.addr(),
        "POST",
        path,
        Some((&u, &p)),
        Some("application/json"),
        body.as_bytes(),
    )
    .expect("http exchange")
}

/// A test key that signs like Core (RFC6979 + low-R).
pub struct TestKey {
    pub sk: SecretKey,
    pub pk: bitcoin::CompressedPublicKey,
}

impl TestKey {
    pub fn new(n: u8) -> TestKey {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[n.max(1); 32]).unwrap();
        TestKey {
            sk,
            pk: bitcoin::CompressedPublicKey(sk.public_key(&secp)),
        }
    }
    pub fn p2wpkh(&self) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&self.pk.wpubkey_hash())
    }
    pub fn p2pkh(&self) -> ScriptBuf {
        ScriptBuf::new_p2pkh(&self.pk.pubkey_hash())
    }
    pub fn p2sh_p2wpkh(&self) -> ScriptBuf {
        ScriptBuf::new_p2sh(&self.p2wpkh().script_hash())
    }
    pub fn address_wpkh(&self) -> String {
        mona_simnode::params::script_to_address(&self.p2wpkh()).unwrap()
    }

    fn sign(&self, digest: [u8; 32]) -> bitcoin::ecdsa::Signature {
        let secp = Secp256k1::signing_only();
        let sig = secp.sign_ecdsa_low_r(&Message::from_digest(digest), &self.sk);
        bitcoin::ecdsa::Signature::sighash_all(sig)
    }

    /// Signs input `i` of `tx` spending `prev` (P2WPKH, P2SH-P2WPKH or P2PKH of this key).
    pub fn sign_input(&self, tx: &mut Transaction, i: usize, prev: &TxOut) {
        let spk = &prev.script_pubkey;
        if spk.is_p2pkh() {
            let cache = SighashCache::new(&*tx);
            let h = cache
                .legacy_signature_hash(i, spk, EcdsaSighashType::All.to_u32())
                .unwrap();
            let sig = self.sign(h.to_byte_array());
            tx.input[i].script_sig = bitcoin::script::Builder::new()
                .push_slice(
                    <&bitcoin::script::PushBytes>::try_from(sig.to_vec().as_slice()).unwrap(),
                )
                .push_key(&bitcoin::PublicKey::new(self.pk.0))
                .into_script();
        } else {
            let mut cache = SighashCache::new(&*tx);
            let h = cache
                .p2wpkh_signature_hash(i, &self.p2wpkh(), prev.value, EcdsaSighashType::All)
                .unwrap();
            let sig = self.sign(h.to_byte_array());
            tx.input[i].witness = Witness::p2wpkh(&sig, &self.pk.0);
            if spk.is_p2sh() {
                let redeem = self.p2wpkh();
                tx.input[i].script_sig = bitcoin::script::Builder::new()
                    .push_slice(<&bitcoin::script::PushBytes>::try_from(redeem.as_bytes()).unwrap())
                    .into_script();
            }
        }
    }
}

/// An unsigned version-2 transaction.
pub fn unsigned_tx(
    inputs: &[(OutPoint, u32)],
    outputs: &[(ScriptBuf, u64)],
    lock_time: u32,
) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::from_consensus(lock_time),
        input: inputs
            .iter()
            .map(|(op, seq)| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(*seq),
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: s.clone(),
            })
            .collect(),
    }
}

pub fn tx_hex(tx: &Transaction) -> String {
    bitcoin::consensus::encode::serialize_hex(tx)
}
