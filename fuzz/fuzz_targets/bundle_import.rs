//! Fuzzes bundle verification and collector import. The first byte picks a
//! mode: raw bundle + signature text (mode 0), a trusted comment line and
//! body signed by the trusted key so parsing past the signature is reached
//! (mode 1), or record bodies chained and signed correctly so the import
//! logic (link, duplicates, forks) is reached (mode 2). Invariants checked:
//! nothing panics, a verified bundle from seq 1 imports into an empty store,
//! and importing it again adds nothing.
#![no_main]

use kensa_fuzz::bundle::{self, Claim};
use kensa_fuzz::collector::{import_bundle_bytes, trust, Store};
use kensa_fuzz::journal::{genesis, line_hash};
use kensa_fuzz::keys::SecretKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key() -> &'static SecretKey {
    static KEY: OnceLock<SecretKey> = OnceLock::new();
    KEY.get_or_init(|| SecretKey::generate().expect("random source"))
}

fn store() -> Store {
    let s = Store::open_in_memory().expect("in-memory store");
    trust::add(&s, &key().public(), Some("fuzz")).expect("trust");
    s
}

fn check(data: &[u8], sig: &str) {
    let pk = key().public();
    let verified = bundle::verify_bytes(data, sig, &pk);
    let mut s = store();
    let first = import_bundle_bytes(&mut s, data, sig, "fuzz");
    match (&verified, &first) {
        (Ok(vb), Ok(o)) => {
            assert_eq!(o.added + o.duplicates, vb.lines.len() as u64);
            let again = import_bundle_bytes(&mut s, data, sig, "fuzz").expect("re-import");
            assert_eq!(again.added, 0);
        }
        (Ok(vb), Err(e)) => assert!(vb.claim.from > 1, "verified seq-1 bundle refused: {e}"),
        (Err(_), Ok(_)) => panic!("import accepted what verify refused"),
        (Err(_), Err(_)) => {}
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let cut = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let sig = String::from_utf8_lossy(rest.get(cut + 1..).unwrap_or_default());
            check(&rest[..cut], &sig);
        }
        1 => {
            let cut = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let tc = String::from_utf8_lossy(&rest[..cut]).replace(['\r', '\n'], " ");
            let body = rest.get(cut + 1..).unwrap_or_default();
            if let Ok(sig) = key().sign(body, &tc) {
                check(body, &sig);
            }
        }
        _ => {
            let agent = key().key_id_hex();
            let from = 1 + u64::from(mode >> 6);
            let mut prev = if from == 1 {
                genesis(&agent)
            } else {
                line_hash(&[mode])
            };
            let mut lines = Vec::new();
            for (i, body) in rest.split(|&b| b == b'\n').enumerate().take(64) {
                let mut l = format!("{{\"seq\":{},\"prev\":\"{prev}\",", from + i as u64).into_bytes();
                l.extend_from_slice(body);
                prev = line_hash(&l);
                lines.push(l);
            }
            let claim = Claim {
                agent: agent.clone(),
                from,
                to: from + lines.len() as u64 - 1,
                head: prev,
            };
            let mut data = format!(
                "{{\"type\":\"bundle\",\"v\":1,\"agent\":\"{agent}\",\"from\":{},\"to\":{},\"head\":\"{}\",\"created\":\"x\"}}\n",
                claim.from, claim.to, claim.head
            )
            .into_bytes();
            for l in &lines {
                data.extend_from_slice(l);
                data.push(b'\n');
            }
            if let Ok(sig) = key().sign(&data, &claim.to_comment()) {
                check(&data, &sig);
            }
        }
    }
});
