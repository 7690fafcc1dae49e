//! `inspect` and `sign`: review a PSBT under the signer's own policy file, and sign it.
//!
//! Invariant: both commands run the same review (parse -> bind to the bytes' SHA-256 -> analyse
//! with the wallet's keys -> policy -> warnings first). `sign` writes nothing unless the verdict
//! has no violation and the operator confirmed (typed the total, or `--yes`), and it re-reads the
//! file and signs only if the bytes still hash to what was reviewed. Output files are created,
//! never overwritten.
//!
//! Input decoding (binary, base64 or hex) is done here, not by `mona-airgap`'s `read_psbt_file`:
//! that one refuses a binary PSBT over the cap and a version other than 0 itself, and runs the
//! full parser before the policy's envelope caps (input/output counts) are checked. Here the
//! bytes only get decoded, so those cases reach [`Parsed::parse`] and are refused as policy
//! violations (`psbt_too_large`, `psbt_version`, counts checked before parsing), as the
//! adversarial fixtures require. With `--qr-in` the PSBT is decoded from QR codes once, into
//! memory, and that buffer is both reviewed and signed; `--qr-out` writes the signed PSBT as QR
//! codes.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine as _;
use clap::Args;
use mona::{Amount, Network};
use mona_airgap::{Caps, Payload};
use mona_policy::{
    sighash_name, InputOwnership, Now, OutputOwnership, Policy, TxSummary, UtxoEvidence, Verdict,
    Violation,
};
use mona_wallet::psbt::{
    ApproveError, Confirmation, OurKeys, ParsePsbtError, Parsed, Reviewed, SignError, SigningKeys,
};
use serde_json::{json, Value};

use crate::cmd::qr::{ensure_qr_dir_free, read_psbt_qr, write_qr_out, QrArgs};
use crate::exit::{CliError, Exit};
use crate::{input, wallet_dir};

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The PSBT file (binary, base64 or hex; detected).
    #[arg(
        value_name = "FILE",
        required_unless_present = "qr_in",
        conflicts_with = "qr_in"
    )]
    pub file: Option<PathBuf>,
    /// Read the PSBT from QR codes instead: an image, a directory of frames, or a GIF.
    #[arg(long, value_name = "PATH")]
    pub qr_in: Option<PathBuf>,
    /// The policy file (default: built-in defaults, which allow no destination but change).
    #[arg(long, value_name = "F")]
    pub policy: Option<PathBuf>,
    /// Prove inputs and change with this wallet's keys (asks for its passphrase); without it
    /// nothing can be proven ours.
    #[arg(long, value_name = "DIR")]
    pub wallet: Option<PathBuf>,
    /// Read the wallet passphrase from this file instead of prompting.
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    /// The current chain height, to check height locktimes.
    #[arg(long, value_name = "N")]
    pub height: Option<u32>,
}

/// Arguments of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The PSBT file (binary, base64 or hex; detected).
    #[arg(
        value_name = "FILE",
        required_unless_present = "qr_in",
        conflicts_with = "qr_in"
    )]
    pub file: Option<PathBuf>,
    /// Read the PSBT from QR codes instead: an image, a directory of frames, or a GIF (then
    /// give --out F, --qr-out DIR or --qr-show for the signed PSBT).
    #[arg(long, value_name = "PATH")]
    pub qr_in: Option<PathBuf>,
    /// Also write the signed PSBT as ur:crypto-psbt QR codes into this directory.
    #[arg(long, value_name = "DIR")]
    pub qr_out: Option<PathBuf>,
    /// QR density, speed and terminal display of the signed PSBT.
    #[command(flatten)]
    pub qr: QrArgs,
    /// Wallet directory.
    #[arg(long, value_name = "DIR")]
    pub wallet: PathBuf,
    /// The signer's policy file (authoritative; never one sent with the PSBT).
    #[arg(long, value_name = "F")]
    pub policy: PathBuf,
    /// Where to write the signed PSBT (default: NAME-signed.psbt next to FILE; none with
    /// --qr-in); the final transaction goes next to it as NAME-final.txn.
    #[arg(long, value_name = "F")]
    pub out: Option<PathBuf>,
    /// Do not ask to type the total (scripts). Policy violations still refuse.
    #[arg(long)]
    pub yes: bool,
    /// Read the wallet passphrase from this file instead of prompting.
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    /// The current chain height, to check height locktimes.
    #[arg(long, value_name = "N")]
    pub height: Option<u32>,
}

fn load_policy(path: Option<&Path>, network: Network) -> Result<Policy, CliError> {
    let policy = match path {
        Some(path) => {
            let bytes = read_capped(path, 1024 * 1024, "policy")?;
            Policy::from_toml_bytes(&bytes)
                .map_err(|e| CliError::bad_input(format!("{}: {e}", path.display())))?
        }
        None => {
            let text = format!("version = 1\nnetwork = \"{network}\"\n");
            Policy::from_toml_bytes(text.as_bytes())
                .map_err(|e| CliError::failure(format!("built-in policy: {e}")))?
        }
    };
    if policy.network != network {
        return Err(CliError::bad_input(format!(
            "the policy file is for {}, but --network is {network}",
            policy.network
        )));
    }
    Ok(policy)
}

fn read_capped(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let file = File::open(path).map_err(|e| {
        CliError::bad_input(format!("cannot read {what} file {}: {e}", path.display()))
    })?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| {
        CliError::bad_input(format!("cannot read {what} file {}: {e}", path.display()))
    })?;
    if bytes.len() as u64 > max {
        return Err(CliError::bad_input(format!(
            "{what} file {} is larger than {max} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Reads a PSBT file in binary, base64 or hex form and returns the binary bytes. Text forms
/// may be up to twice the binary cap (hex), so the read cap is 2 * max + slack.
fn read_psbt(path: &Path, max_binary: u64) -> Result<Vec<u8>, CliError> {
    let raw = read_capped(path, max_binary.saturating_mul(2) + 64, "PSBT")?;
    decode_psbt(&raw).map_err(|e| CliError::bad_input(format!("{}: {e}", path.display())))
}

/// The PSBT bytes from `file`, or decoded from the QR codes at `qr_in` (capped at the
/// policy's size limit before anything is allocated).
fn load_psbt(
    file: Option<&Path>,
    qr_in: Option<&Path>,
    max_binary: u64,
) -> Result<Vec<u8>, CliError> {
    match (file, qr_in) {
        (Some(file), _) => read_psbt(file, max_binary),
        (None, Some(qr)) => {
            let caps = Caps {
                max_message_bytes: usize::try_from(max_binary).unwrap_or(usize::MAX),
                ..Caps::default()
            };
            read_psbt_qr(qr, &caps)
        }
        (None, None) => Err(CliError::new(
            Exit::Usage,
            "give a PSBT FILE or --qr-in PATH",
        )),
    }
}

fn decode_psbt(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.starts_with(b"psbt\xff") {
        return Ok(raw.to_vec());
    }
    let text = std::str::from_utf8(raw).map_err(|_| "not a PSBT (binary, base64 or hex)")?;
    let text: String = text.split_whitespace().collect();
    if text.starts_with("cHNidP8") {
        return BASE64
            .decode(text.as_bytes())
            .map_err(|e| format!("invalid base64 PSBT: {e}"));
    }
    if text.len() >= 10 && text[..10].eq_ignore_ascii_case("70736274ff") {
        return hex::decode(&text).map_err(|e| format!("invalid hex PSBT: {e}"));
    }
    Err("not a PSBT (binary, base64 or hex)".into())
}

fn now(height: Option<u32>) -> Now {
    // The binary is the caller that may read the clock; the policy crate never does.
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Now {
        unix_time,
        tip_height: height,
    }
}

fn unlock(
    dir: &Path,
    passphrase_file: Option<&Path>,
    network: Network,
) -> Result<SigningKeys, CliError> {
    let locked = wallet_dir::open(dir, network)?;
    let passphrase = input::unlock_passphrase(passphrase_file)?;
    let wallet = locked.unlock(&passphrase)?;
    Ok(SigningKeys::standard(&wallet.seed, network))
}

fn wat(w: u64) -> String {
    format!(
        "{}.{:08}",
        w / mona::amount::WAT_PER_MONA,
        w % mona::amount::WAT_PER_MONA
    )
}

fn refused(violations: &[Violation]) -> CliError {
    CliError::new(
        Exit::BadInput,
        format!(
            "refused: {} policy violation(s) ({}); nothing was signed",
            violations.len(),
            violations
                .iter()
                .map(Violation::code)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// The JSON report of a review (also what the human text is printed from).
fn report(reviewed: &Reviewed) -> Value {
    let s: &TxSummary = reviewed.summary();
    let v: &Verdict = reviewed.verdict();
    let inputs: Vec<Value> = s
        .inputs
        .iter()
        .map(|i| {
            let (owner, path) = match &i.ownership {
                InputOwnership::Ours { path, .. } => ("ours", Some(format!("m/{path}"))),
                InputOwnership::ClaimMismatch { path, .. } => {
                    ("claims ours, unproven", Some(format!("m/{path}")))
                }
                InputOwnership::NotOurs => ("not ours", None),
            };
            let trust = match &i.utxo {
                UtxoEvidence::FullPrevTx { .. } => "full previous transaction",
                UtxoEvidence::WitnessUtxoOnly { .. } => "witness_utxo only",
                _ => "unproven",
            };
            json!({
                "index": i.index,
                "prevout": i.prevout.to_string(),
                "amount": i.amount_wat().map(wat),
                "amount_source": trust,
                "owner": owner,
                "path": path,
                "sighash": sighash_name(i.sighash.unwrap_or(1)),
            })
        })
        .collect();
    let outputs: Vec<Value> = s
        .outputs
        .iter()
        .zip(&v.outputs)
        .map(|(o, class)| {
            let path = match &o.ownership {
                OutputOwnership::Change { path, .. }
                | OutputOwnership::FraudulentChange { path, .. }
                | OutputOwnership::OddChangePath { path, .. } => Some(format!("m/{path}")),
                OutputOwnership::External => None,
            };
            json!({
                "index": o.index,
                "address": o.address,
                "script_pubkey": o.script_pubkey.to_hex_string(),
                "amount": wat(o.amount_wat),
                "class": class.label(),
                "path": path,
            })
        })
        .collect();
    let t = &v.totals;
    json!({
        "psbt_sha256": reviewed.sha256().to_string(),
        "policy_sha256": v.policy_sha256,
        "network": s.network.to_string(),
        "txid": s.txid.to_string(),
        "lock_time": s.lock_time,
        "warnings": v.warnings,
        "violations": v.violations,
        "inputs": inputs,
        "outputs": outputs,
        "fee": t.fee_wat.map(wat),
        "fee_rate_wat_per_vb": t.fee_rate_wat_per_kvb.map(|r| format!("{}.{:03}", r / 1000, r % 1000)),
        "estimated_vsize": t.estimated_vsize,
        "sent": wat(t.sent_wat),
        "change": wat(t.change_wat),
        "total": t.total_spent_wat.map(wat),
        "approvable": v.is_clean(),
    })
}

fn str_of(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| "-".into())
}

fn human(r: &Value, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "PSBT   sha256 {}", str_of(&r["psbt_sha256"]));
    let _ = writeln!(out, "policy sha256 {}", str_of(&r["policy_sha256"]));
    for w in r["warnings"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "WARNING: {}", str_of(&w["message"]));
    }
    for v in r["violations"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "VIOLATION [{}]: {}",
            str_of(&v["code"]),
            str_of(&v["message"])
        );
    }
    let _ = writeln!(out, "txid {}", str_of(&r["txid"]));
    let inputs = r["inputs"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "inputs ({}):", inputs.len());
    for i in &inputs {
        let _ = writeln!(
            out,
            "  #{:<3} {:>18} MONA  {}{}  [{}]",
            i["index"],
            str_of(&i["amount"]),
            str_of(&i["owner"]),
            i["path"]
                .as_str()
                .map(|p| format!(" {p}"))
                .unwrap_or_default(),
            str_of(&i["amount_source"]),
        );
    }
    let outputs = r["outputs"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "outputs ({}):", outputs.len());
    for o in &outputs {
        let dest = o["address"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("script {}", str_of(&o["script_pubkey"])));
        let _ = writeln!(
            out,
            "  #{:<3} {:>18} MONA  {}  {}{}",
            o["index"],
            str_of(&o["amount"]),
            dest,
            str_of(&o["class"]),
            o["path"]
                .as_str()
                .map(|p| format!(" {p}"))
                .unwrap_or_default(),
        );
    }
    let _ = writeln!(
        out,
        "fee {} MONA  ({} watanabe/vbyte, ~{} vbytes)",
        str_of(&r["fee"]),
        str_of(&r["fee_rate_wat_per_vb"]),
        r["estimated_vsize"]
    );
    let _ = writeln!(
        out,
        "sent {} MONA  change {} MONA",
        str_of(&r["sent"]),
        str_of(&r["change"])
    );
    let _ = writeln!(out, "TOTAL (sent + fee) {} MONA", str_of(&r["total"]));
    let n = r["violations"].as_array().map_or(0, Vec::len);
    if n == 0 {
        let _ = writeln!(out, "verdict: acceptable under this policy");
    } else {
        let _ = writeln!(out, "verdict: REFUSED ({n} violation(s))");
    }
}

fn print(text: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| CliError::failure(format!("cannot write to stdout: {e}")))
}

/// A refusal before parsing (size, version, counts): reported like a verdict.
fn envelope_refusal(
    json: bool,
    psbt: &[u8],
    violations: Vec<Violation>,
    policy_sha256: String,
) -> Result<(), CliError> {
    use bitcoin::hashes::{sha256, Hash};
    let r = json!({
        "psbt_sha256": sha256::Hash::hash(psbt).to_string(),
        "policy_sha256": policy_sha256,
        "warnings": [],
        "violations": violations,
        "approvable": false,
    });
    if json {
        print(&format!("{r}\n"))?;
    } else {
        let mut text = String::new();
        let _ = std::fmt::Write::write_fmt(
            &mut text,
            format_args!(
                "PSBT   sha256 {}\npolicy sha256 {}\n",
                str_of(&r["psbt_sha256"]),
                str_of(&r["policy_sha256"])
            ),
        );
        for v in &violations {
            text.push_str(&format!("VIOLATION [{}]: {v}\n", v.code()));
        }
        text.push_str("verdict: REFUSED before parsing\n");
        print(&text)?;
    }
    Err(refused(&violations))
}

fn parse(bytes: Vec<u8>, policy: &Policy, json: bool) -> Result<Option<Parsed>, CliError> {
    match Parsed::parse(bytes.clone(), policy) {
        Ok(p) => Ok(Some(p)),
        Err(ParsePsbtError::Refused {
            violations,
            policy_sha256,
        }) => envelope_refusal(json, &bytes, violations, policy_sha256).map(|()| None),
        Err(e) => Err(CliError::bad_input(e)),
    }
}

/// Runs `inspect`. Exits non-zero when the verdict has violations (a script can pre-flight).
pub fn inspect(network: Network, json: bool, args: &InspectArgs) -> Result<(), CliError> {
    let policy = load_policy(args.policy.as_deref(), network)?;
    let bytes = load_psbt(
        args.file.as_deref(),
        args.qr_in.as_deref(),
        policy.limits.max_psbt_bytes,
    )?;
    let Some(parsed) = parse(bytes, &policy, json)? else {
        return Ok(());
    };
    let keys = match &args.wallet {
        Some(dir) => unlock(dir, args.passphrase_file.as_deref(), network)?
            .public()
            .clone(),
        None => OurKeys::none(network),
    };
    let reviewed = parsed.review(&keys, &policy, now(args.height));
    let r = report(&reviewed);
    if json {
        print(&format!("{r}\n"))?;
    } else {
        let mut text = String::new();
        if args.wallet.is_none() {
            text.push_str("note: no --wallet given, so no input or change can be proven ours\n");
        }
        human(&r, &mut text);
        print(&text)?;
    }
    if reviewed.verdict().is_clean() {
        Ok(())
    } else {
        Err(refused(&reviewed.verdict().violations))
    }
}

/// `NAME-signed.psbt` and `NAME-final.txn` for `file` (or next to `--out`).
fn output_paths(file: &Path, out: Option<&Path>) -> (PathBuf, PathBuf) {
    let stem_of = |p: &Path| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "psbt".into());
        let mut stem = name.as_str();
        for ext in [".txt", ".b64", ".base64", ".hex", ".psbt"] {
            stem = stem.strip_suffix(ext).unwrap_or(stem);
        }
        stem.strip_suffix("-signed").unwrap_or(stem).to_owned()
    };
    match out {
        Some(out) => {
            let dir = out.parent().map(Path::to_path_buf).unwrap_or_default();
            (
                out.to_path_buf(),
                dir.join(format!("{}-final.txn", stem_of(out))),
            )
        }
        None => {
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            let stem = stem_of(file);
            (
                dir.join(format!("{stem}-signed.psbt")),
                dir.join(format!("{stem}-final.txn")),
            )
        }
    }
}

fn ensure_free(path: &Path) -> Result<(), CliError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(CliError::new(
            Exit::AlreadyExists,
            format!("{} already exists; nothing was signed", path.display()),
        ));
    }
    Ok(())
}

fn create(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::new(
                    Exit::AlreadyExists,
                    format!("{} already exists", path.display()),
                )
            } else {
                CliError::failure(format!("cannot write {}: {e}", path.display()))
            }
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))
}

fn ask_total(total: Option<Amount>) -> Result<String, CliError> {
    let Some(total) = total else {
        return Err(CliError::bad_input(
            "the total is unknown, so it cannot be confirmed; nothing was signed",
        ));
    };
    eprint!(
        "Type the total amount to sign ({} MONA as shown above): ",
        total.to_mona_string()
    );
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(256)
        .read_line(&mut line)
        .map_err(|e| CliError::bad_input(format!("cannot read the confirmation: {e}")))?;
    Ok(line)
}

/// Runs `sign`.
pub fn sign(network: Network, json: bool, args: &SignArgs) -> Result<(), CliError> {
    let policy = load_policy(Some(&args.policy), network)?;
    // With --qr-in there is no FILE to name the outputs after: only --out names them.
    let (signed_path, final_path) = match (&args.file, &args.out) {
        (Some(file), out) => {
            let (s, f) = output_paths(file, out.as_deref());
            (Some(s), Some(f))
        }
        (None, Some(out)) => {
            let (s, f) = output_paths(out, Some(out));
            (Some(s), Some(f))
        }
        (None, None) if args.qr_out.is_some() || args.qr.qr_show => (None, None),
        (None, None) => {
            return Err(CliError::new(
                Exit::Usage,
                "sign --qr-in needs --out F, --qr-out DIR or --qr-show for the signed PSBT",
            ))
        }
    };
    for path in signed_path.iter().chain(&final_path) {
        ensure_free(path)?;
    }
    if let Some(dir) = &args.qr_out {
        ensure_qr_dir_free(dir)?;
    }
    let bytes = load_psbt(
        args.file.as_deref(),
        args.qr_in.as_deref(),
        policy.limits.max_psbt_bytes,
    )?;
    // QR input is decoded once into this buffer; it is what gets reviewed and what the
    // signature is bound to (a file is re-read below instead: it could change meanwhile).
    let qr_bytes = args.qr_in.as_ref().map(|_| bytes.clone());
    let Some(parsed) = parse(bytes, &policy, json)? else {
        return Ok(());
    };
    let keys = unlock(&args.wallet, args.passphrase_file.as_deref(), network)?;
    let reviewed = parsed.review(keys.public(), &policy, now(args.height));
    let r = report(&reviewed);
    if !json {
        let mut text = String::new();
        human(&r, &mut text);
        print(&text)?;
    }
    if !reviewed.verdict().is_clean() {
        if json {
            print(&format!("{r}\n"))?;
        }
        return Err(refused(&reviewed.verdict().violations));
    }
    let typed;
    let confirmation = if args.yes {
        Confirmation::Unattended
    } else {
        typed = ask_total(reviewed.verdict().totals.confirmation_amount())?;
        Confirmation::TypedTotal(&typed)
    };
    let approved = reviewed.approve(confirmation).map_err(|e| match e {
        ApproveError::Violations { .. } => CliError::new(Exit::BadInput, e),
        other => CliError::bad_input(other),
    })?;
    // Re-read: sign only the exact bytes that were reviewed.
    let bytes_now = match (&args.file, qr_bytes) {
        (Some(file), _) => read_psbt(file, policy.limits.max_psbt_bytes)?,
        (None, Some(decoded)) => decoded,
        (None, None) => return Err(CliError::failure("no PSBT source")),
    };
    let signed = approved.sign(&keys, &bytes_now).map_err(|e| match e {
        SignError::BytesChanged { .. } => CliError::bad_input(e),
        other => CliError::failure(other),
    })?;
    let signed_bytes = signed.psbt_bytes();
    // QR frames are encoded (in memory) and written first: a refusal there leaves no file.
    let qr_written = if args.qr_out.is_some() || args.qr.qr_show {
        write_qr_out(
            args.qr_out.as_deref(),
            &Payload::Psbt(signed_bytes.clone()),
            &args.qr,
            json,
        )?
    } else {
        None
    };
    if let Some(path) = &signed_path {
        create(path, &signed_bytes)?;
    }
    let final_written = match (signed.final_tx_hex(), &final_path) {
        (Some(hex), Some(final_path)) => {
            create(final_path, format!("{hex}\n").as_bytes())?;
            Some(final_path.display().to_string())
        }
        _ => None,
    };
    let result = json!({
        "signed_psbt": signed_path.as_ref().map(|p| p.display().to_string()),
        "qr_out": qr_written.as_ref().map(|q| q.dir.display().to_string()),
        "qr_frames": qr_written.as_ref().map(|q| q.frames.len()),
        "final_txn": final_written,
        "complete": signed.is_complete(),
        "signed_inputs": signed.signed_inputs(),
        "txid": signed.final_tx().map(|t| t.compute_txid().to_string()),
        "psbt_sha256": signed.reviewed_sha256().to_string(),
        "review": r,
    });
    if json {
        print(&format!("{result}\n"))
    } else {
        let mut text = format!("signed {} input(s)", signed.signed_inputs().len());
        if let Some(path) = &signed_path {
            text.push_str(&format!("; wrote {}", path.display()));
        }
        if let Some(q) = &qr_written {
            text.push_str(&format!(
                "; wrote {} qr frame(s) (ur:{}) to {}",
                q.frames.len(),
                q.ur_type,
                q.dir.display()
            ));
        }
        text.push('\n');
        match (&final_written, signed.is_complete()) {
            (Some(p), _) => {
                text.push_str(&format!("complete: wrote the final transaction to {p}\n"))
            }
            (None, true) => text.push_str("complete: every input is signed\n"),
            (None, false) => text.push_str("incomplete: other signers must still sign\n"),
        }
        print(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_follow_the_contract() {
        let (s, f) = output_paths(Path::new("/x/topup.psbt"), None);
        assert_eq!(s, Path::new("/x/topup-signed.psbt"));
        assert_eq!(f, Path::new("/x/topup-final.txn"));
        let (s, f) = output_paths(
            Path::new("/x/topup.psbt.txt"),
            Some(Path::new("/y/t-signed.psbt")),
        );
        assert_eq!(s, Path::new("/y/t-signed.psbt"));
        assert_eq!(f, Path::new("/y/t-final.txn"));
    }

    #[test]
    fn text_forms_are_detected() {
        let bin = b"psbt\xff\x01\x00".to_vec();
        assert_eq!(decode_psbt(&bin).unwrap(), bin);
        let b64 = format!("{}\n", BASE64.encode(&bin));
        assert_eq!(decode_psbt(b64.as_bytes()).unwrap(), bin);
        assert_eq!(decode_psbt(hex::encode(&bin).as_bytes()).unwrap(), bin);
        assert!(decode_psbt(b"hello").is_err());
    }
}
