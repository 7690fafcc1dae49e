//! Seed file behaviour: round trip, every failure class, file handling.

use std::fs;
use std::path::Path;

use mona_keystore::{
    create_file, open_file, read_file, seal, CreateError, KdfParams, OpenError, OpenErrorClass,
    Passphrase, SealError, SeedFile, WriteError, FORMAT_VERSION, MAGIC,
};
use proptest::prelude::*;

/// Cheap parameters so debug-mode tests stay fast (the format does not depend on them).
const FAST: KdfParams = KdfParams {
    m_cost_kib: 8,
    t_cost: 1,
    p_cost: 1,
};

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s.to_owned())
}

fn small_file() -> Vec<u8> {
    seal(
        b"secret payload",
        b"{\"network\":\"regtest\"}",
        &pass("pw"),
        &FAST,
    )
    .unwrap()
}

fn class(bytes: Vec<u8>) -> OpenErrorClass {
    match SeedFile::parse(bytes) {
        Ok(_) => panic!("parse accepted bad bytes"),
        Err(e) => e.class(),
    }
}

/// Rewrites both checksums after an edit, like an attacker who knows the format would.
fn recompute_checksums(bytes: &mut [u8]) {
    let sha = |d: &[u8]| ring::digest::digest(&ring::digest::SHA256, d);
    let fixed = sha(&bytes[..31]);
    bytes[31..63].copy_from_slice(fixed.as_ref());
    let n = bytes.len();
    let whole = sha(&bytes[..n - 32]);
    bytes[n - 32..].copy_from_slice(whole.as_ref());
}

#[test]
fn round_trip_in_memory() {
    let bytes = small_file();
    let file = SeedFile::parse(bytes).unwrap();
    assert_eq!(file.metadata(), b"{\"network\":\"regtest\"}");
    assert_eq!(file.kdf_params(), FAST);
    assert_eq!(file.version(), FORMAT_VERSION);
    assert_eq!(
        file.open(&pass("pw")).unwrap().as_bytes(),
        b"secret payload"
    );
    assert!(!format!("{file:?}").contains("secret"));
}

#[test]
fn each_seal_uses_fresh_salt_and_nonce() {
    assert_ne!(small_file(), small_file());
}

#[test]
fn wrong_passphrase() {
    let file = SeedFile::parse(small_file()).unwrap();
    for wrong in ["pW", "pw ", "", "p"] {
        let err = file.open(&pass(wrong)).unwrap_err();
        assert!(
            matches!(err, OpenError::WrongPassphrase),
            "{wrong:?}: {err}"
        );
        assert_eq!(err.to_string(), "wrong passphrase");
    }
}

#[test]
fn every_truncation_is_truncated() {
    let bytes = small_file();
    for len in 0..bytes.len() {
        let got = class(bytes[..len].to_vec());
        assert_eq!(got, OpenErrorClass::Truncated, "truncated to {len} bytes");
    }
}

#[test]
fn every_byte_flip_is_refused_with_its_class() {
    let bytes = small_file();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            let expected = match i {
                0..=7 => OpenErrorClass::NotASeedFile,
                8..=9 => OpenErrorClass::UnsupportedVersion,
                _ => OpenErrorClass::Tampered,
            };
            assert_eq!(class(b), expected, "byte {i} ^ {mask:#04x}");
        }
    }
}

#[test]
fn edited_ciphertext_with_recomputed_checksums_reads_as_wrong_passphrase() {
    // The documented limit: unkeyed checksums cannot tell a careful attacker from a typo,
    // but the AEAD still refuses to decrypt.
    let bytes = small_file();
    let n = bytes.len();
    for i in [n - 33, n - 40, n - 50] {
        let mut b = bytes.clone();
        b[i] ^= 1;
        recompute_checksums(&mut b);
        let file = SeedFile::parse(b).unwrap();
        assert!(matches!(
            file.open(&pass("pw")),
            Err(OpenError::WrongPassphrase)
        ));
    }
    // Same for the metadata (authenticated as AAD).
    let mut b = bytes.clone();
    let meta_at = 63 + 16 + 12;
    b[meta_at] ^= 1;
    recompute_checksums(&mut b);
    let file = SeedFile::parse(b).unwrap();
    assert!(matches!(
        file.open(&pass("pw")),
        Err(OpenError::WrongPassphrase)
    ));
}

#[test]
fn bad_magic_and_other_files() {
    let cases: &[(&str, &[u8])] = &[
        ("text", b"hello world, this is not a seed file at all"),
        ("json", b"{\"mnemonic\":\"...\"}"),
        ("zeros", &[0u8; 200]),
        ("lowercase magic", b"monaseed\x00\x01rest"),
        ("one byte", b"X"),
    ];
    for (name, bytes) in cases {
        assert_eq!(
            class(bytes.to_vec()),
            OpenErrorClass::NotASeedFile,
            "{name}"
        );
    }
}

#[test]
fn future_and_zero_versions() {
    for version in [0u16, 2, 3, 0x0100, u16::MAX] {
        let mut b = small_file();
        b[8..10].copy_from_slice(&version.to_be_bytes());
        let err = SeedFile::parse(b).unwrap_err();
        assert!(
            matches!(err, OpenError::UnsupportedVersion { found, supported: 1 } if found == version),
            "{version}: {err}"
        );
    }
    // A future version is recognized even when its file is shorter than a v1 header.
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&2u16.to_be_bytes());
    assert_eq!(class(b), OpenErrorClass::UnsupportedVersion);
}

#[test]
fn unknown_algorithm_ids() {
    for (at, what) in [(10usize, "kdf"), (24, "aead")] {
        let mut b = small_file();
        b[at] = 9;
        recompute_checksums(&mut b);
        let err = SeedFile::parse(b).unwrap_err();
        assert!(
            matches!(err, OpenError::UnsupportedAlgorithm { what: w, id: 9 } if w == what),
            "{err}"
        );
    }
}

#[test]
fn absurd_kdf_params_are_refused_before_any_work() {
    // (name, offset of the u32 field, value)
    let cases: &[(&str, usize, u32)] = &[
        ("m_cost 4 TiB", 11, u32::MAX),
        ("m_cost 1 TiB", 11, 1 << 30),
        ("m_cost zero", 11, 0),
        ("t_cost an hour", 15, u32::MAX),
        ("t_cost zero", 15, 0),
        ("p_cost huge", 19, 1 << 24),
        ("p_cost zero", 19, 0),
    ];
    for (name, at, value) in cases {
        let mut b = small_file();
        b[*at..at + 4].copy_from_slice(&value.to_be_bytes());
        // Naive edit: caught by the header checksum.
        assert_eq!(class(b.clone()), OpenErrorClass::Tampered, "{name} (naive)");
        // Careful edit: caught by the bounds, before the KDF would run.
        recompute_checksums(&mut b);
        let err = SeedFile::parse(b).unwrap_err();
        assert!(
            matches!(err, OpenError::KdfParamsOutOfBounds(_)),
            "{name}: {err}"
        );
        assert_eq!(err.class(), OpenErrorClass::Tampered, "{name}");
    }
    // And seal refuses them too.
    let absurd = KdfParams {
        m_cost_kib: u32::MAX,
        ..FAST
    };
    assert!(matches!(
        seal(b"x", b"", &pass("pw"), &absurd),
        Err(SealError::KdfParams(_))
    ));
}

#[test]
fn trailing_data_is_tampering() {
    let mut b = small_file();
    b.push(0);
    assert_eq!(class(b), OpenErrorClass::Tampered);
}

#[test]
fn seal_refuses_bad_inputs() {
    assert!(matches!(
        seal(b"x", b"", &pass(""), &FAST),
        Err(SealError::EmptyPassphrase)
    ));
    assert!(matches!(
        seal(b"", b"", &pass("pw"), &FAST),
        Err(SealError::PayloadSize { .. })
    ));
    assert!(matches!(
        seal(&vec![0; 16 * 1024 + 1], b"", &pass("pw"), &FAST),
        Err(SealError::PayloadSize { .. })
    ));
    assert!(matches!(
        seal(b"x", &vec![0; 4097], &pass("pw"), &FAST),
        Err(SealError::MetadataTooLarge { .. })
    ));
    // The largest accepted sizes round trip.
    let big = seal(&vec![7; 16 * 1024], &vec![1; 4096], &pass("pw"), &FAST).unwrap();
    let file = SeedFile::parse(big).unwrap();
    assert_eq!(file.open(&pass("pw")).unwrap().len(), 16 * 1024);
}

fn snapshot(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        fs::read(path).unwrap(),
        fs::metadata(path).unwrap().modified().unwrap(),
    )
}

#[test]
fn file_round_trip_mode_0600_and_no_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.enc");
    create_file(&path, b"payload", b"meta", &pass("pw"), &FAST).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("seed.enc")],
        "temp file left"
    );
    let (file, payload) = open_file(&path, &pass("pw")).unwrap();
    assert_eq!(payload.as_bytes(), b"payload");
    assert_eq!(file.metadata(), b"meta");
}

#[test]
fn refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.enc");
    create_file(&path, b"first", b"", &pass("pw"), &FAST).unwrap();
    let before = snapshot(&path);
    let err = create_file(&path, b"second", b"", &pass("pw"), &FAST).unwrap_err();
    assert!(
        matches!(err, CreateError::Write(WriteError::AlreadyExists { .. })),
        "{err}"
    );
    // Even the low-level writer, called directly, refuses.
    let err = mona_keystore::write_new_file(&path, b"junk").unwrap_err();
    assert!(matches!(err, WriteError::AlreadyExists { .. }), "{err}");
    assert_eq!(snapshot(&path), before);
    // A non-seed file is not replaced either.
    let other = dir.path().join("notes.txt");
    fs::write(&other, "keep me").unwrap();
    assert!(create_file(&other, b"x", b"", &pass("pw"), &FAST).is_err());
    assert_eq!(fs::read_to_string(&other).unwrap(), "keep me");
}

#[test]
fn failed_opens_leave_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("seed.enc");
    create_file(&good, b"payload", b"meta", &pass("pw"), &FAST).unwrap();
    let bytes = fs::read(&good).unwrap();
    let mut flipped = bytes.clone();
    flipped[70] ^= 1;
    let cases: Vec<(&str, Vec<u8>, Passphrase, OpenErrorClass)> = vec![
        (
            "wrong passphrase",
            bytes.clone(),
            pass("nope"),
            OpenErrorClass::WrongPassphrase,
        ),
        (
            "truncated",
            bytes[..bytes.len() - 1].to_vec(),
            pass("pw"),
            OpenErrorClass::Truncated,
        ),
        ("tampered", flipped, pass("pw"), OpenErrorClass::Tampered),
        (
            "not a seed file",
            b"hello".to_vec(),
            pass("pw"),
            OpenErrorClass::NotASeedFile,
        ),
    ];
    for (name, content, pw, expected) in cases {
        let path = dir.path().join(name.replace(' ', "_"));
        fs::write(&path, &content).unwrap();
        let before = snapshot(&path);
        let err = open_file(&path, &pw).unwrap_err();
        assert_eq!(err.class(), expected, "{name}: {err}");
        assert_eq!(snapshot(&path), before, "{name}: file changed");
    }
}

#[test]
fn missing_file_is_io() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_file(&dir.path().join("absent")).unwrap_err();
    assert_eq!(err.class(), OpenErrorClass::Io);
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn huge_file_is_not_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let mut b = small_file();
    b.resize(10 * 1024 * 1024, 0);
    fs::write(&path, &b).unwrap();
    assert_eq!(
        read_file(&path).unwrap_err().class(),
        OpenErrorClass::Tampered
    );
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = SeedFile::parse(bytes);
    }

    #[test]
    fn parse_never_panics_with_valid_prefix(
        tail in proptest::collection::vec(any::<u8>(), 0..300),
        cut in 0usize..200,
    ) {
        let mut b = small_file();
        b.truncate(cut.min(b.len()));
        b.extend_from_slice(&tail);
        let _ = SeedFile::parse(b);
    }

    #[test]
    fn parse_never_panics_on_checksummed_random_header(
        fields in proptest::collection::vec(any::<u8>(), 21),
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        // Valid magic, version and header checksum, random fields: exercises the bounds.
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        b.extend_from_slice(&fields);
        let sum = ring::digest::digest(&ring::digest::SHA256, &b);
        b.extend_from_slice(sum.as_ref());
        b.extend_from_slice(&rest);
        let _ = SeedFile::parse(b);
    }
}

/// A file written by the v1 writer and committed: later builds must keep opening it (format
/// and KDF stability). Regenerate only for a new format version, never to make this pass.
#[test]
fn golden_v1_file_still_opens() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1-fast.seed");
    if std::env::var_os("KEYSTORE_WRITE_GOLDEN").is_some() && !path.exists() {
        create_file(
            &path,
            b"golden payload \x00\x01\x02",
            b"{\"network\":\"regtest\",\"master_fingerprint\":\"5c9e228d\"}",
            &pass("golden passphrase"),
            &KdfParams {
                m_cost_kib: 64,
                t_cost: 2,
                p_cost: 1,
            },
        )
        .unwrap();
    }
    let (file, payload) = open_file(&path, &pass("golden passphrase")).unwrap();
    assert_eq!(payload.as_bytes(), b"golden payload \x00\x01\x02");
    assert_eq!(
        file.metadata(),
        b"{\"network\":\"regtest\",\"master_fingerprint\":\"5c9e228d\"}"
    );
    assert_eq!(
        file.kdf_params(),
        KdfParams {
            m_cost_kib: 64,
            t_cost: 2,
            p_cost: 1
        }
    );
    assert!(matches!(
        file.open(&pass("golden passphrasE")),
        Err(OpenError::WrongPassphrase)
    ));
}
