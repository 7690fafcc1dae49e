//! Key derivation (argon2id) and authenticated encryption (ChaCha20-Poly1305, ring).
//!
//! Invariant: the derived key, the argon2 working memory and every plaintext buffer are wiped
//! before they are released, on success and on failure; plaintext is only returned after the
//! AEAD tag verified.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{OpenError, SealError};
use crate::format::{self, HeaderFields, SeedFile, NONCE_LEN, SALT_LEN, TAG_LEN};
use crate::params::KdfParams;
use crate::secret::{Passphrase, SecretBytes};

const KEY_LEN: usize = 32;

/// Why the KDF failed (internal; mapped to each operation's error).
enum KdfFailure {
    OutOfMemory,
    Params,
}

/// argon2 working memory that is wiped on drop.
struct WipedBlocks(Vec<Block>);

impl Drop for WipedBlocks {
    fn drop(&mut self) {
        for block in &mut self.0 {
            let words: &mut [u64] = block.as_mut();
            words.zeroize();
        }
    }
}

fn derive_key(
    passphrase: &Passphrase,
    salt: &[u8],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; KEY_LEN]>, KdfFailure> {
    let argon_params = Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        Some(KEY_LEN),
    )
    .map_err(|_| KdfFailure::Params)?;
    let block_count = argon_params.block_count();
    // Allocate fallibly: a header within bounds may still ask for more than this machine has.
    let mut blocks = Vec::new();
    blocks
        .try_reserve_exact(block_count)
        .map_err(|_| KdfFailure::OutOfMemory)?;
    blocks.resize(block_count, Block::new());
    let mut memory = WipedBlocks(blocks);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into_with_memory(
            passphrase.as_bytes(),
            salt,
            &mut key[..],
            &mut memory.0[..],
        )
        .map_err(|_| KdfFailure::Params)?;
    Ok(key)
}

fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // CHACHA20_POLY1305 takes exactly 32-byte keys, which is what we pass.
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).expect("32-byte chacha20 key"))
}

/// Encrypts `payload` under a key derived from `passphrase` and returns the whole file.
pub fn seal(
    payload: &[u8],
    metadata: &[u8],
    passphrase: &Passphrase,
    params: &KdfParams,
) -> Result<Vec<u8>, SealError> {
    params.validate()?;
    if passphrase.is_empty() {
        return Err(SealError::EmptyPassphrase);
    }
    if payload.is_empty() || payload.len() > format::MAX_PAYLOAD_LEN {
        return Err(SealError::PayloadSize {
            len: payload.len(),
            max: format::MAX_PAYLOAD_LEN,
        });
    }
    if metadata.len() > format::MAX_METADATA_LEN {
        return Err(SealError::MetadataTooLarge {
            len: metadata.len(),
            max: format::MAX_METADATA_LEN,
        });
    }
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| SealError::Rng)?;
    rng.fill(&mut nonce).map_err(|_| SealError::Rng)?;
    let key = derive_key(passphrase, &salt, params).map_err(|e| match e {
        KdfFailure::OutOfMemory => SealError::OutOfMemory {
            m_cost_kib: params.m_cost_kib,
        },
        // validate() accepted these parameters and argon2's own bounds are wider, so this is
        // unreachable; report it rather than panic.
        KdfFailure::Params => SealError::Kdf,
    })?;
    let header = format::encode_header(&HeaderFields {
        params: *params,
        salt: &salt,
        nonce: &nonce,
        metadata,
        ciphertext_len: payload.len() + TAG_LEN,
    });
    let mut in_out = Zeroizing::new(Vec::with_capacity(payload.len() + TAG_LEN));
    in_out.extend_from_slice(payload);
    aead_key(&key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header[..]),
            &mut *in_out,
        )
        // Only fails for inputs longer than ~256 GiB; ours is at most 16 KiB.
        .map_err(|_| SealError::PayloadSize {
            len: payload.len(),
            max: format::MAX_PAYLOAD_LEN,
        })?;
    let mut body = header;
    body.extend_from_slice(&in_out);
    Ok(format::finish_file(body))
}

/// Derives the key from the header's parameters and decrypts the payload.
pub fn open(file: &SeedFile, passphrase: &Passphrase) -> Result<SecretBytes, OpenError> {
    let params = file.kdf_params();
    let key = derive_key(passphrase, file.salt(), &params).map_err(|e| match e {
        KdfFailure::OutOfMemory => OpenError::OutOfMemory {
            m_cost_kib: params.m_cost_kib,
        },
        // parse() validated the parameters, so argon2 accepts them; report it as tampering
        // rather than panicking if that ever changes.
        KdfFailure::Params => OpenError::Tampered {
            reason: crate::error::TamperReason::FieldOutOfBounds("kdf parameters"),
        },
    })?;
    let mut in_out = Zeroizing::new(file.ciphertext().to_vec());
    let plain_len = aead_key(&key)
        .open_in_place(
            Nonce::assume_unique_for_key(file.nonce()),
            Aad::from(file.aad()),
            &mut in_out,
        )
        .map_err(|_| OpenError::WrongPassphrase)?
        .len();
    Ok(SecretBytes::from_slice(&in_out[..plain_len]))
}
