//! Keys and signatures in the minisign format (Ed25519), the one
//! implementation kensa has of it. This module owns key generation, the
//! on-disk key files (`agent.key`, unencrypted so a service can use it;
//! `agent.pub`, the stock minisign public key file), reading secret keys the
//! stock tool writes (unencrypted `minisign -G -W` keys, whose checksum it
//! leaves zero, and password-protected `minisign -G` keys, whose
//! scrypt-encrypted secret is decrypted here), and detached signatures that
//! the stock `minisign -Vm FILE -p KEY.pub` verifies: the file is prehashed
//! with BLAKE2b-512 (algorithm `ED`) and a global signature binds the
//! trusted comment. Agent keys (journal checkpoints, bundles) and rule-pack
//! publisher keys are both these types. It knows nothing of findings or
//! packs.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Blake2b512, Digest};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use std::fs;
use std::path::Path;

/// Largest key or signature file kensa reads (they are a few hundred bytes).
pub const MAX_KEY_FILE: u64 = 4096;

const ALG_ED: [u8; 2] = *b"Ed";
const ALG_PREHASHED: [u8; 2] = *b"ED";
const CHK_ALG: [u8; 2] = *b"B2";
const KDF_NONE: [u8; 2] = [0, 0];
const KDF_SCRYPT: [u8; 2] = *b"Sc";
/// scrypt memory above this (bytes) is refused (minisign uses 1 GiB).
const MAX_SCRYPT_MEM: u64 = 4 << 30;
const UNTRUSTED: &str = "untrusted comment: ";
const TRUSTED: &str = "trusted comment: ";
/// Length of the decoded secret key blob: algorithms (6), salt (32), limits
/// (16), key id (8), secret key (64), checksum (32).
const SK_BLOB_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;

/// Errors from reading, writing or checking keys and signatures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] crate::fsutil::ReadError),
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("secret key is encrypted with a password, and no password was given")]
    Encrypted,
    #[error("secret key checksum does not match (wrong password or damaged key file)")]
    Checksum,
    #[error("signature is made by key {found}, not by key {expected}")]
    KeyIdMismatch { expected: String, found: String },
    #[error("signature algorithm {0:?} is not supported (kensa requires prehashed ED signatures)")]
    Algorithm(String),
    #[error("signature does not match the file")]
    BadSignature,
    #[error("global signature does not match the trusted comment")]
    BadGlobalSignature,
    #[error("signature comments must be one line")]
    CommentNewline,
    #[error("the agent key {key} is missing but the journal {journal} holds records signed with it; if the key is lost, `kensa keygen --force` closes that journal and starts a new one")]
    Lost { key: String, journal: String },
}

fn malformed(what: &'static str, detail: impl Into<String>) -> KeyError {
    KeyError::Malformed {
        what,
        detail: detail.into(),
    }
}

/// The 8-byte key id as minisign prints it: the bytes read as a
/// little-endian integer, 16 uppercase hex digits.
pub fn key_id_hex(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

fn read_small(path: &Path) -> Result<String, KeyError> {
    crate::fsutil::read_capped_text(path, MAX_KEY_FILE).map_err(KeyError::Read)
}

/// Writes `text` to `path` through a temp file, fsync and rename, with `mode`.
fn write_atomic(path: &Path, text: &str, mode: u32) -> Result<(), KeyError> {
    crate::fsutil::write_atomic(path, text.as_bytes(), mode).map_err(|source| KeyError::Io {
        path: crate::engine::pathfmt::display(path),
        source,
    })
}

/// Splits `text` into its `untrusted comment:` line and base64 payload line.
fn comment_and_payload<'a>(
    text: &'a str,
    what: &'static str,
) -> Result<(&'a str, Vec<u8>), KeyError> {
    let mut lines = text.lines();
    let comment = lines
        .next()
        .and_then(|l| l.strip_prefix(UNTRUSTED))
        .ok_or_else(|| malformed(what, "first line is not an untrusted comment"))?;
    let b64 = lines
        .next()
        .ok_or_else(|| malformed(what, "base64 line missing"))?;
    let data = B64
        .decode(b64.trim())
        .map_err(|e| malformed(what, format!("bad base64: {e}")))?;
    Ok((comment, data))
}

/// Checks a decoded minisign blob: `len` bytes that start with the
/// algorithm `alg`.
fn check_blob(data: &[u8], what: &'static str, len: usize, alg: [u8; 2]) -> Result<(), KeyError> {
    if data.len() != len {
        return Err(malformed(
            what,
            format!("{} bytes, expected {len}", data.len()),
        ));
    }
    if data[..2] != alg {
        return Err(KeyError::Algorithm(
            String::from_utf8_lossy(&data[..2]).into_owned(),
        ));
    }
    Ok(())
}

/// An Ed25519 public key with its minisign key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key_id: [u8; 8],
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses the text of a minisign public key file, or the bare base64 line.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(malformed("public key", "larger than 4 KiB"));
        }
        let t = text.trim();
        let data = if t.starts_with(UNTRUSTED) {
            comment_and_payload(t, "public key")?.1
        } else {
            B64.decode(t)
                .map_err(|e| malformed("public key", format!("bad base64: {e}")))?
        };
        check_blob(&data, "public key", 42, ALG_ED)?;
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&data[2..10]);
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&data[10..42]);
        let key = VerifyingKey::from_bytes(&pk)
            .map_err(|_| malformed("public key", "not a valid Ed25519 point"))?;
        Ok(PublicKey { key_id, key })
    }

    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        PublicKey::parse(&read_small(path)?)
    }

    /// The base64 line of the public key file (what `minisign -P` takes).
    pub fn to_base64(&self) -> String {
        let mut data = Vec::with_capacity(42);
        data.extend_from_slice(&ALG_ED);
        data.extend_from_slice(&self.key_id);
        data.extend_from_slice(self.key.as_bytes());
        B64.encode(data)
    }

    /// The full public key file text.
    pub fn to_file_text(&self) -> String {
        format!(
            "{UNTRUSTED}minisign public key {}\n{}\n",
            self.key_id_hex(),
            self.to_base64()
        )
    }

    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_atomic(path, &self.to_file_text(), 0o644)
    }

    pub fn key_id(&self) -> [u8; 8] {
        self.key_id
    }

    /// The agent id: the key id as minisign prints it.
    pub fn key_id_hex(&self) -> String {
        key_id_hex(&self.key_id)
    }

    /// Verifies a raw Ed25519 signature (not minisign-wrapped) over `msg`.
    pub fn verify_raw(&self, msg: &[u8], sig: &[u8; 64]) -> Result<(), KeyError> {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.key
            .verify(msg, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// Verifies a minisign signature file's text over `data` and returns the
    /// trusted comment it carries.
    pub fn verify(&self, data: &[u8], sig_text: &str) -> Result<String, KeyError> {
        let sig = SignatureFile::parse(sig_text)?;
        self.verify_parsed(data, &sig)?;
        Ok(sig.trusted_comment)
    }

    /// Verifies an already parsed signature file over `data`.
    pub fn verify_parsed(&self, data: &[u8], sig: &SignatureFile) -> Result<(), KeyError> {
        if sig.key_id != self.key_id {
            return Err(KeyError::KeyIdMismatch {
                expected: self.key_id_hex(),
                found: key_id_hex(&sig.key_id),
            });
        }
        let digest = Blake2b512::digest(data);
        self.verify_raw(&digest, &sig.signature)?;
        let mut global = Vec::with_capacity(64 + sig.trusted_comment.len());
        global.extend_from_slice(&sig.signature);
        global.extend_from_slice(sig.trusted_comment.as_bytes());
        self.verify_raw(&global, &sig.global_signature)
            .map_err(|_| KeyError::BadGlobalSignature)
    }
}

/// An unencrypted Ed25519 secret key with its minisign key id.
#[derive(Clone)]
pub struct SecretKey {
    key_id: [u8; 8],
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.key_id_hex())
    }
}

fn sk_checksum(key_id: &[u8; 8], keypair: &[u8; 64]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(ALG_ED);
    h.update(key_id);
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

/// Decrypts the key id, key pair and checksum of a scrypt-encrypted secret
/// key blob (`data`, `SK_BLOB_LEN` bytes) in place: they are XORed with an
/// scrypt stream of the password over the blob's salt and limits.
fn decrypt_in_place(data: &mut [u8], password: &str) -> Result<(), KeyError> {
    let mut le = [0u8; 8];
    le.copy_from_slice(&data[38..46]);
    let ops = u64::from_le_bytes(le);
    le.copy_from_slice(&data[46..54]);
    let mem = u64::from_le_bytes(le);
    if mem > MAX_SCRYPT_MEM {
        return Err(malformed("secret key", "scrypt memory limit above 4 GiB"));
    }
    let (n, r, p) = scrypt_params(ops, mem);
    let params = scrypt::Params::new(n, r, p, scrypt::Params::RECOMMENDED_LEN)
        .map_err(|e| malformed("secret key", format!("scrypt parameters: {e}")))?;
    let mut stream = [0u8; SK_BLOB_LEN - 54];
    scrypt::scrypt(password.as_bytes(), &data[6..38], &params, &mut stream)
        .map_err(|e| malformed("secret key", format!("scrypt: {e}")))?;
    for (b, s) in data[54..].iter_mut().zip(stream.iter()) {
        *b ^= s;
    }
    Ok(())
}

impl SecretKey {
    /// A fresh key pair and random key id from the OS random source.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        let mut key_id = [0u8; 8];
        let rng = |e: getrandom::Error| KeyError::Io {
            path: "OS random source".into(),
            source: std::io::Error::other(e.to_string()),
        };
        getrandom::fill(&mut seed).map_err(rng)?;
        getrandom::fill(&mut key_id).map_err(rng)?;
        Ok(SecretKey {
            key_id,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses the text of an unencrypted minisign secret key file (kensa's
    /// own, or the stock `minisign -G -W` one with its zero checksum).
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        SecretKey::parse_with_password(text, None)
    }

    /// Parses a minisign secret key file, decrypting a password-protected
    /// (`minisign -G`, scrypt) key with `password`. An encrypted key
    /// without a password is [`KeyError::Encrypted`]; a wrong password is
    /// [`KeyError::Checksum`].
    pub fn parse_with_password(text: &str, password: Option<&str>) -> Result<SecretKey, KeyError> {
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(malformed("secret key", "larger than 4 KiB"));
        }
        let (_, mut data) = comment_and_payload(text.trim(), "secret key")?;
        check_blob(&data, "secret key", SK_BLOB_LEN, ALG_ED)?;
        if data[4..6] != CHK_ALG {
            return Err(malformed("secret key", "unknown checksum algorithm"));
        }
        let kdf = [data[2], data[3]];
        if kdf == KDF_SCRYPT {
            let password = password.ok_or(KeyError::Encrypted)?;
            decrypt_in_place(&mut data, password)?;
        } else if kdf != KDF_NONE {
            return Err(KeyError::Algorithm(
                String::from_utf8_lossy(&kdf).into_owned(),
            ));
        }
        let body = &data[54..];
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&body[..8]);
        let mut keypair = [0u8; 64];
        keypair.copy_from_slice(&body[8..72]);
        // Stock `minisign -G -W` leaves an unencrypted key's checksum zero;
        // the key pair check below still catches a damaged key.
        let unchecked = kdf == KDF_NONE && body[72..104].iter().all(|&b| b == 0);
        if !unchecked && sk_checksum(&key_id, &keypair) != body[72..104] {
            return Err(KeyError::Checksum);
        }
        let key = SigningKey::from_keypair_bytes(&keypair)
            .map_err(|_| malformed("secret key", "public half does not match the secret"))?;
        Ok(SecretKey { key_id, key })
    }

    pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
        SecretKey::parse(&read_small(path)?)
    }

    /// The secret key file text (minisign format, KDF "none").
    pub fn to_file_text(&self) -> String {
        let keypair = self.key.to_keypair_bytes();
        let mut data = Vec::with_capacity(SK_BLOB_LEN);
        data.extend_from_slice(&ALG_ED);
        data.extend_from_slice(&KDF_NONE);
        data.extend_from_slice(&CHK_ALG);
        data.extend_from_slice(&[0u8; 32 + 8 + 8]);
        data.extend_from_slice(&self.key_id);
        data.extend_from_slice(&keypair);
        data.extend_from_slice(&sk_checksum(&self.key_id, &keypair));
        format!(
            "{UNTRUSTED}kensa agent secret key {} (unencrypted)\n{}\n",
            self.key_id_hex(),
            B64.encode(data)
        )
    }

    /// Writes the key file with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_atomic(path, &self.to_file_text(), 0o600)
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    pub fn key_id_hex(&self) -> String {
        key_id_hex(&self.key_id)
    }

    /// A raw Ed25519 signature over `msg` (used for journal checkpoints).
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// A minisign signature file over `data` with the given trusted comment
    /// (untrusted comment: "signature from kensa agent KEYID").
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String, KeyError> {
        self.sign_as(data, trusted_comment, "kensa agent")
    }

    /// Like [`SecretKey::sign`], naming the signer's role (such as "kensa
    /// rule pack publisher") in the untrusted comment.
    pub fn sign_as(
        &self,
        data: &[u8],
        trusted_comment: &str,
        role: &str,
    ) -> Result<String, KeyError> {
        if trusted_comment.contains(['\n', '\r']) || role.contains(['\n', '\r']) {
            return Err(KeyError::CommentNewline);
        }
        let signature = self.sign_raw(&Blake2b512::digest(data));
        let mut global = Vec::with_capacity(64 + trusted_comment.len());
        global.extend_from_slice(&signature);
        global.extend_from_slice(trusted_comment.as_bytes());
        let sig = SignatureFile {
            untrusted_comment: format!("signature from {role} {}", self.key_id_hex()),
            key_id: self.key_id,
            signature,
            trusted_comment: trusted_comment.to_string(),
            global_signature: self.sign_raw(&global),
        };
        Ok(sig.to_text())
    }
}

/// Generates the agent key pair under `<state>/keys` (directory 0700,
/// secret key 0600), replacing what is there. Used by `kensa keygen` and
/// by the agent's first start.
pub fn create_agent_key(state: &crate::state::StateDir) -> Result<SecretKey, KeyError> {
    let dir = state.keys_dir();
    let io = |source| KeyError::Io {
        path: crate::engine::pathfmt::display(&dir),
        source,
    };
    crate::fsutil::create_private_dir(&dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    let sk = SecretKey::generate()?;
    sk.save(&state.secret_key())?;
    sk.public().save(&state.public_key())?;
    Ok(sk)
}

/// Loads the agent key, creating it (as on the agent's first start) when
/// there is none yet; the second value says whether it was created. A
/// missing key beside a journal that holds records is not replaced here
/// (a new key could not continue that journal): that is
/// [`KeyError::Lost`], and `kensa keygen --force` closes the journal.
pub fn load_or_create(state: &crate::state::StateDir) -> Result<(SecretKey, bool), KeyError> {
    let path = state.secret_key();
    if path.exists() {
        return Ok((SecretKey::load(&path)?, false));
    }
    let journal = state.journal_dir();
    let held = fs::read_dir(&journal)
        .map(|rd| {
            rd.filter_map(Result::ok).any(|e| {
                e.file_name().to_string_lossy().ends_with(".jsonl")
                    && e.metadata().is_ok_and(|m| m.len() > 0)
            })
        })
        .unwrap_or(false);
    if held {
        return Err(KeyError::Lost {
            key: crate::engine::pathfmt::display(&path),
            journal: crate::engine::pathfmt::display(&journal),
        });
    }
    Ok((create_agent_key(state)?, true))
}

/// A parsed minisign signature file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureFile {
    pub untrusted_comment: String,
    pub key_id: [u8; 8],
    pub signature: [u8; 64],
    pub trusted_comment: String,
    pub global_signature: [u8; 64],
}

impl SignatureFile {
    /// Parses signature file text; only prehashed (`ED`) signatures are accepted.
    pub fn parse(text: &str) -> Result<SignatureFile, KeyError> {
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(malformed("signature", "larger than 4 KiB"));
        }
        let mut lines = text.split('\n');
        let mut next = |what: &'static str| {
            lines
                .next()
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .ok_or_else(|| malformed("signature", format!("{what} line missing")))
        };
        let untrusted = next("untrusted comment")?
            .strip_prefix(UNTRUSTED)
            .ok_or_else(|| malformed("signature", "first line is not an untrusted comment"))?
            .to_string();
        let (key_id, signature) = decode_signature(next("signature")?)?;
        let trusted = next("trusted comment")?
            .strip_prefix(TRUSTED)
            .ok_or_else(|| malformed("signature", "third line is not a trusted comment"))?
            .to_string();
        let global = B64
            .decode(next("global signature")?)
            .map_err(|e| malformed("signature", format!("bad global signature base64: {e}")))?;
        let global_signature: [u8; 64] = global
            .try_into()
            .map_err(|_| malformed("signature", "global signature is not 64 bytes"))?;
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(malformed(
                "signature",
                "trailing data after the global signature",
            ));
        }
        Ok(SignatureFile {
            untrusted_comment: untrusted,
            key_id,
            signature,
            trusted_comment: trusted,
            global_signature,
        })
    }

    pub fn key_id_hex(&self) -> String {
        key_id_hex(&self.key_id)
    }

    pub fn to_text(&self) -> String {
        let mut sig = Vec::with_capacity(74);
        sig.extend_from_slice(&ALG_PREHASHED);
        sig.extend_from_slice(&self.key_id);
        sig.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED}{}\n{}\n{TRUSTED}{}\n{}\n",
            self.untrusted_comment,
            B64.encode(sig),
            self.trusted_comment,
            B64.encode(self.global_signature)
        )
    }
}

/// Decodes the signature line of a signature file: the key id and the
/// signature of a prehashed (`ED`) signature.
fn decode_signature(line: &str) -> Result<([u8; 8], [u8; 64]), KeyError> {
    let sig = B64
        .decode(line)
        .map_err(|e| malformed("signature", format!("bad base64: {e}")))?;
    check_blob(&sig, "signature", 74, ALG_PREHASHED)?;
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&sig[2..10]);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&sig[10..74]);
    Ok((key_id, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_sign_verify() {
        let sk = SecretKey::generate().unwrap();
        let text = sk.to_file_text();
        let back = SecretKey::parse(&text).unwrap();
        assert_eq!(back.key_id_hex(), sk.key_id_hex());
        let pk = PublicKey::parse(&sk.public().to_file_text()).unwrap();
        assert_eq!(pk, sk.public());
        assert_eq!(pk.key_id_hex().len(), 16);
        let sig = back.sign(b"hello", "kensa test").unwrap();
        assert_eq!(pk.verify(b"hello", &sig).unwrap(), "kensa test");
        assert!(matches!(
            pk.verify(b"hellp", &sig),
            Err(KeyError::BadSignature)
        ));
        let forged = sig.replace("kensa test", "kensa tesT");
        assert!(matches!(
            pk.verify(b"hello", &forged),
            Err(KeyError::BadGlobalSignature)
        ));
        let other = SecretKey::generate().unwrap().public();
        assert!(matches!(
            other.verify(b"hello", &sig),
            Err(KeyError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn damaged_secret_key_is_refused() {
        let sk = SecretKey::generate().unwrap();
        let text = sk.to_file_text();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut blob = B64.decode(&lines[1]).unwrap();
        blob[60] ^= 1;
        lines[1] = B64.encode(&blob);
        assert!(SecretKey::parse(&lines.join("\n")).is_err());
        blob[60] ^= 1;
        blob[2..4].copy_from_slice(&KDF_SCRYPT);
        lines[1] = B64.encode(&blob);
        assert!(matches!(
            SecretKey::parse(&lines.join("\n")),
            Err(KeyError::Encrypted)
        ));
    }

    /// A secret key blob (decoded) in minisign's layout, unencrypted, with
    /// its checksum.
    fn plain_blob(sk: &SecretKey) -> Vec<u8> {
        let text = sk.to_file_text();
        B64.decode(text.lines().nth(1).unwrap()).unwrap()
    }

    fn key_text(blob: &[u8]) -> String {
        format!("{UNTRUSTED}test key\n{}\n", B64.encode(blob))
    }

    #[test]
    fn stock_unencrypted_key_with_zero_checksum_is_accepted_if_the_pair_matches() {
        // `minisign -G -W` writes KDF "none" and a checksum of zeros.
        let sk = SecretKey::generate().unwrap();
        let mut blob = plain_blob(&sk);
        blob[SK_BLOB_LEN - 32..].fill(0);
        let back = SecretKey::parse(&key_text(&blob)).unwrap();
        assert_eq!(back.public(), sk.public());
        let sig = back.sign(b"data", "t").unwrap();
        assert_eq!(sk.public().verify(b"data", &sig).unwrap(), "t");
        // A damaged public half is still caught without a checksum.
        blob[54 + 8 + 40] ^= 1;
        assert!(matches!(
            SecretKey::parse(&key_text(&blob)),
            Err(KeyError::Malformed { .. })
        ));
        // A zero checksum is only trusted for an unencrypted key.
        blob[54 + 8 + 40] ^= 1;
        blob[2..4].copy_from_slice(&KDF_SCRYPT);
        assert!(SecretKey::parse_with_password(&key_text(&blob), Some("pw")).is_err());
    }

    #[test]
    fn encrypted_key_round_trip() {
        let sk = SecretKey::generate().unwrap();
        let mut blob = plain_blob(&sk);
        blob[2..4].copy_from_slice(&KDF_SCRYPT);
        blob[6..38].copy_from_slice(&[7u8; 32]);
        // Small limits keep the test fast: N = 2^10, r = 8, p = 1.
        blob[38..46].copy_from_slice(&32768u64.to_le_bytes());
        blob[46..54].copy_from_slice(&(16u64 << 20).to_le_bytes());
        assert_eq!(scrypt_params(32768, 16 << 20), (10, 8, 1));
        // The cipher is an XOR stream: applying it encrypts.
        decrypt_in_place(&mut blob, "correct horse").unwrap();
        assert_ne!(blob, {
            let mut b = plain_blob(&sk);
            b[2..4].copy_from_slice(&KDF_SCRYPT);
            b
        });
        let text = key_text(&blob);
        let back = SecretKey::parse_with_password(&text, Some("correct horse")).unwrap();
        assert_eq!(back.public(), sk.public());
        assert_eq!(back.key_id_hex(), sk.key_id_hex());
        assert!(matches!(SecretKey::parse(&text), Err(KeyError::Encrypted)));
        assert!(matches!(
            SecretKey::parse_with_password(&text, Some("wrong horse")),
            Err(KeyError::Checksum)
        ));
    }

    #[test]
    fn scrypt_params_match_libsodium_for_minisign_defaults() {
        // minisign: opslimit 2^25, memlimit 2^30 -> N = 2^20, r = 8, p = 1.
        assert_eq!(scrypt_params(1 << 25, 1 << 30), (20, 8, 1));
    }

    #[test]
    fn role_names_the_signer_in_the_untrusted_comment() {
        let sk = SecretKey::generate().unwrap();
        let sig = sk
            .sign_as(b"m", "kensa pack 3", "kensa rule pack publisher")
            .unwrap();
        let parsed = SignatureFile::parse(&sig).unwrap();
        assert_eq!(
            parsed.untrusted_comment,
            format!(
                "signature from kensa rule pack publisher {}",
                sk.key_id_hex()
            )
        );
        assert_eq!(sk.public().verify(b"m", &sig).unwrap(), "kensa pack 3");
    }

    #[test]
    fn trusted_comment_must_be_one_line() {
        let sk = SecretKey::generate().unwrap();
        assert!(matches!(
            sk.sign(b"x", "a\nb"),
            Err(KeyError::CommentNewline)
        ));
    }

    #[test]
    fn key_id_is_printed_little_endian() {
        assert_eq!(key_id_hex(&[1, 0, 0, 0, 0, 0, 0, 0xAB]), "AB00000000000001");
    }
}
