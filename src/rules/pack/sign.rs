//! Minisign signatures for rule packs: publisher public keys, the
//! publisher's secret key (unencrypted `minisign -G -W` keys, and
//! password-protected `minisign -G` keys, whose scrypt-encrypted secret is
//! decrypted here), prehashed (`ED`) signatures with a trusted comment, and
//! their verification.
//!
//! This is an adapter: the agent's own keys live in `crate::keys` (branch
//! `journal`), which has the same file formats. Once that module is on
//! main, `PublisherKey`, `PackSigner` and `verify` can delegate to
//! `keys::PublicKey` / `keys::SecretKey` (feeding `decrypt_secret_key`'s
//! plain key text to `keys::SecretKey::parse`); nothing outside this file
//! depends on how they are implemented.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Blake2b512, Digest};
use ed25519_dalek::{Signer, Verifier};

const ALG_ED: &[u8; 2] = b"Ed";
const ALG_PREHASHED: &[u8; 2] = b"ED";
const KDF_NONE: &[u8; 2] = &[0, 0];
const KDF_SCRYPT: &[u8; 2] = b"Sc";
const CHK_B2: &[u8; 2] = b"B2";
const UNTRUSTED: &str = "untrusted comment: ";
const TRUSTED: &str = "trusted comment: ";
/// Decoded secret key: algorithms (6), salt (32), ops/mem limits (16),
/// then key id (8), key pair (64) and checksum (32), encrypted for "Sc".
const SK_LEN: usize = 6 + 32 + 16 + 104;
/// Largest key or signature text accepted.
pub const MAX_KEY_TEXT: usize = 4096;
/// scrypt memory above this (bytes) is refused (minisign uses 1 GiB).
const MAX_SCRYPT_MEM: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error(
        "the secret key is password-protected: give --password-file or set KENSA_PACK_PASSWORD"
    )]
    NeedPassword,
    #[error("wrong password or damaged secret key (checksum mismatch)")]
    Checksum,
    #[error("unsupported algorithm {0:?}")]
    Algorithm(String),
    #[error("the signature does not match the signed data")]
    BadSignature,
    #[error("the trusted comment's signature does not match")]
    BadGlobalSignature,
}

fn malformed(what: &'static str, detail: impl Into<String>) -> SignError {
    SignError::Malformed {
        what,
        detail: detail.into(),
    }
}

/// The minisign key id as printed by minisign (little-endian, upper hex).
pub fn key_id_hex(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

fn payload_line(text: &str, what: &'static str) -> Result<Vec<u8>, SignError> {
    if text.len() > MAX_KEY_TEXT {
        return Err(malformed(what, "too large"));
    }
    let t = text.trim();
    let line = if t.starts_with(UNTRUSTED) {
        t.lines()
            .nth(1)
            .ok_or_else(|| malformed(what, "base64 line missing"))?
    } else {
        t
    };
    B64.decode(line.trim())
        .map_err(|e| malformed(what, format!("bad base64: {e}")))
}

/// A publisher's Ed25519 public key (minisign `.pub` file or base64 line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherKey {
    id: [u8; 8],
    key: ed25519_dalek::VerifyingKey,
}

impl PublisherKey {
    pub fn parse(text: &str) -> Result<PublisherKey, SignError> {
        let data = payload_line(text, "public key")?;
        if data.len() != 42 {
            return Err(malformed(
                "public key",
                format!("{} bytes, expected 42", data.len()),
            ));
        }
        if &data[..2] != ALG_ED {
            return Err(SignError::Algorithm(
                String::from_utf8_lossy(&data[..2]).into(),
            ));
        }
        let id: [u8; 8] = data[2..10].try_into().expect("8 bytes");
        let pk: [u8; 32] = data[10..42].try_into().expect("32 bytes");
        let key = ed25519_dalek::VerifyingKey::from_bytes(&pk)
            .map_err(|_| malformed("public key", "not a valid Ed25519 key"))?;
        Ok(PublisherKey { id, key })
    }

    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    pub fn id_hex(&self) -> String {
        key_id_hex(&self.id)
    }

    /// The minisign public key file text.
    pub fn to_file_text(&self) -> String {
        let mut data = Vec::with_capacity(42);
        data.extend_from_slice(ALG_ED);
        data.extend_from_slice(&self.id);
        data.extend_from_slice(self.key.as_bytes());
        format!(
            "{UNTRUSTED}minisign public key {}\n{}\n",
            self.id_hex(),
            B64.encode(data)
        )
    }
}

/// A publisher's secret key, decrypted, ready to sign packs.
pub struct PackSigner {
    id: [u8; 8],
    key: ed25519_dalek::SigningKey,
}

fn checksum(id: &[u8; 8], keypair: &[u8; 64]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(ALG_ED);
    h.update(id);
    h.update(keypair);
    h.finalize().into()
}

/// libsodium's scrypt parameter choice for (opslimit, memlimit), which
/// minisign uses: returns (log2 N, r, p).
fn scrypt_params(ops: u64, mem: u64) -> (u8, u32, u32) {
    let ops = ops.max(32768);
    let r: u64 = 8;
    let n_log2_below = |max_n: u64| {
        let mut n = 1u8;
        while n < 63 && (1u64 << n) <= max_n / 2 {
            n += 1;
        }
        n
    };
    if ops < mem / 32 {
        (n_log2_below(ops / (r * 4)), r as u32, 1)
    } else {
        let n = n_log2_below(mem / (r * 128));
        let maxrp = ((ops / 4) / (1u64 << n)).min(0x3fff_ffff);
        (n, r as u32, ((maxrp / r) as u32).max(1))
    }
}

/// Turns a minisign secret key file (encrypted or not) into the key id
/// and key pair, checking the checksum.
pub fn decrypt_secret_key(text: &str, password: Option<&str>) -> Result<PackSigner, SignError> {
    let mut data = payload_line(text, "secret key")?;
    if data.len() != SK_LEN {
        return Err(malformed(
            "secret key",
            format!("{} bytes, expected {SK_LEN}", data.len()),
        ));
    }
    if &data[..2] != ALG_ED {
        return Err(SignError::Algorithm(
            String::from_utf8_lossy(&data[..2]).into(),
        ));
    }
    if &data[4..6] != CHK_B2 {
        return Err(malformed("secret key", "unknown checksum algorithm"));
    }
    let kdf: [u8; 2] = data[2..4].try_into().expect("2 bytes");
    if &kdf == KDF_SCRYPT {
        let password = password.ok_or(SignError::NeedPassword)?;
        let salt = &data[6..38];
        let ops = u64::from_le_bytes(data[38..46].try_into().expect("8 bytes"));
        let mem = u64::from_le_bytes(data[46..54].try_into().expect("8 bytes"));
        if mem > MAX_SCRYPT_MEM {
            return Err(malformed("secret key", "scrypt memory limit above 4 GiB"));
        }
        let (n, r, p) = scrypt_params(ops, mem);
        let params = scrypt::Params::new(n, r, p, scrypt::Params::RECOMMENDED_LEN)
            .map_err(|e| malformed("secret key", format!("scrypt parameters: {e}")))?;
        let mut stream = [0u8; 104];
        scrypt::scrypt(password.as_bytes(), salt, &params, &mut stream)
            .map_err(|e| malformed("secret key", format!("scrypt: {e}")))?;
        for (b, s) in data[54..].iter_mut().zip(stream.iter()) {
            *b ^= s;
        }
    } else if &kdf != KDF_NONE {
        return Err(SignError::Algorithm(String::from_utf8_lossy(&kdf).into()));
    }
    let body = &data[54..];
    let id: [u8; 8] = body[..8].try_into().expect("8 bytes");
    let keypair: [u8; 64] = body[8..72].try_into().expect("64 bytes");
    // `minisign -G -W` (0.11) leaves the checksum of an unencrypted key
    // zero; the key pair check below still catches a damaged key.
    let unchecked = &kdf == KDF_NONE && body[72..104].iter().all(|&b| b == 0);
    if !unchecked && checksum(&id, &keypair) != body[72..104] {
        return Err(SignError::Checksum);
    }
    let key = ed25519_dalek::SigningKey::from_keypair_bytes(&keypair)
        .map_err(|_| malformed("secret key", "public half does not match"))?;
    Ok(PackSigner { id, key })
}

impl PackSigner {
    pub fn public(&self) -> PublisherKey {
        PublisherKey {
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// A minisign signature file (prehashed, `ED`) over `data`.
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String, SignError> {
        if trusted_comment.contains(['\n', '\r']) {
            return Err(malformed("trusted comment", "must be one line"));
        }
        let sig = self.key.sign(&Blake2b512::digest(data)).to_bytes();
        let mut global = sig.to_vec();
        global.extend_from_slice(trusted_comment.as_bytes());
        let gsig = self.key.sign(&global).to_bytes();
        let mut line = Vec::with_capacity(74);
        line.extend_from_slice(ALG_PREHASHED);
        line.extend_from_slice(&self.id);
        line.extend_from_slice(&sig);
        Ok(format!(
            "{UNTRUSTED}signature from kensa rule pack publisher {}\n{}\n{TRUSTED}{}\n{}\n",
            key_id_hex(&self.id),
            B64.encode(line),
            trusted_comment,
            B64.encode(gsig)
        ))
    }
}

/// A parsed minisign signature file.
pub struct Signature {
    pub key_id: [u8; 8],
    sig: [u8; 64],
    pub trusted_comment: String,
    global: [u8; 64],
}

impl Signature {
    pub fn parse(text: &str) -> Result<Signature, SignError> {
        if text.len() > MAX_KEY_TEXT {
            return Err(malformed("signature", "too large"));
        }
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() != 4 || !lines[0].starts_with(UNTRUSTED) {
            return Err(malformed("signature", "expected four minisign lines"));
        }
        let raw = B64
            .decode(lines[1].trim())
            .map_err(|e| malformed("signature", format!("bad base64: {e}")))?;
        if raw.len() != 74 {
            return Err(malformed("signature", "wrong length"));
        }
        if &raw[..2] != ALG_PREHASHED {
            return Err(SignError::Algorithm(
                String::from_utf8_lossy(&raw[..2]).into(),
            ));
        }
        let trusted_comment = lines[2]
            .strip_prefix(TRUSTED)
            .ok_or_else(|| malformed("signature", "third line is not a trusted comment"))?
            .to_string();
        let global: [u8; 64] = B64
            .decode(lines[3].trim())
            .map_err(|e| malformed("signature", format!("bad base64: {e}")))?
            .try_into()
            .map_err(|_| malformed("signature", "global signature is not 64 bytes"))?;
        Ok(Signature {
            key_id: raw[2..10].try_into().expect("8 bytes"),
            sig: raw[10..74].try_into().expect("64 bytes"),
            trusted_comment,
            global,
        })
    }

    /// Checks the signature over `data` and the trusted comment with `key`.
    pub fn verify(&self, key: &PublisherKey, data: &[u8]) -> Result<(), SignError> {
        if self.key_id != key.id {
            return Err(SignError::BadSignature);
        }
        let s = ed25519_dalek::Signature::from_bytes(&self.sig);
        key.key
            .verify(&Blake2b512::digest(data), &s)
            .map_err(|_| SignError::BadSignature)?;
        let mut global = self.sig.to_vec();
        global.extend_from_slice(self.trusted_comment.as_bytes());
        key.key
            .verify(&global, &ed25519_dalek::Signature::from_bytes(&self.global))
            .map_err(|_| SignError::BadGlobalSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret key file in minisign's layout, unencrypted.
    fn plain_key(seed: u8) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let id = [seed, 2, 3, 4, 5, 6, 7, 8];
        let kp = key.to_keypair_bytes();
        let mut d = Vec::new();
        d.extend_from_slice(ALG_ED);
        d.extend_from_slice(KDF_NONE);
        d.extend_from_slice(CHK_B2);
        d.extend_from_slice(&[0u8; 48]);
        d.extend_from_slice(&id);
        d.extend_from_slice(&kp);
        d.extend_from_slice(&checksum(&id, &kp));
        format!("{UNTRUSTED}test\n{}\n", B64.encode(d))
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let s = decrypt_secret_key(&plain_key(7), None).unwrap();
        let pk = PublisherKey::parse(&s.public().to_file_text()).unwrap();
        let sig = Signature::parse(&s.sign(b"manifest", "kensa pack 3").unwrap()).unwrap();
        sig.verify(&pk, b"manifest").unwrap();
        assert!(matches!(
            sig.verify(&pk, b"manifesT"),
            Err(SignError::BadSignature)
        ));
        let other = decrypt_secret_key(&plain_key(9), None).unwrap().public();
        assert!(sig.verify(&other, b"manifest").is_err());
        let text = s
            .sign(b"m", "a")
            .unwrap()
            .replace("trusted comment: a", "trusted comment: b");
        let forged = Signature::parse(&text).unwrap();
        assert!(matches!(
            forged.verify(&pk, b"m"),
            Err(SignError::BadGlobalSignature)
        ));
    }

    #[test]
    fn scrypt_params_match_libsodium_for_minisign_defaults() {
        // minisign: opslimit 2^25, memlimit 2^30 -> N = 2^20, r = 8, p = 1.
        assert_eq!(scrypt_params(1 << 25, 1 << 30), (20, 8, 1));
    }

    #[test]
    fn unencrypted_key_with_zero_checksum_is_accepted_if_the_pair_matches() {
        let text = plain_key(6);
        let mut d = B64.decode(text.lines().nth(1).unwrap()).unwrap();
        let n = d.len();
        d[n - 32..].fill(0);
        let zeroed = format!("{UNTRUSTED}x\n{}\n", B64.encode(&d));
        assert!(decrypt_secret_key(&zeroed, None).is_ok());
        // A damaged public half is still caught.
        d[54 + 8 + 40] ^= 1;
        let damaged = format!("{UNTRUSTED}x\n{}\n", B64.encode(&d));
        assert!(decrypt_secret_key(&damaged, None).is_err());
    }

    #[test]
    fn damaged_key_fails_checksum() {
        let text = plain_key(5);
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut d = B64.decode(&lines[1]).unwrap();
        d[70] ^= 1;
        lines[1] = B64.encode(&d);
        assert!(matches!(
            decrypt_secret_key(&lines.join("\n"), None),
            Err(SignError::Checksum)
        ));
    }
}
