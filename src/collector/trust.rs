//! Trusted agent keys at the collector: add, list, remove and look up the
//! public key for a key id. An agent's first key's id is its agent id; a
//! key it rotated to is trusted the same way, under its own key id, and
//! import ties it to the agent through the agent's key rotations. Only
//! bundles signed by a key in this table are imported.

use super::{Store, StoreError};
use crate::keys::PublicKey;

/// One trusted key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub agent: String,
    pub pubkey: String,
    pub name: Option<String>,
    pub added: String,
}

/// Trusts `key`, optionally under a unique `name`. Adding the same key
/// again only updates a given name; a different key for the same id is refused.
pub fn add(store: &Store, key: &PublicKey, name: Option<&str>) -> Result<TrustedKey, StoreError> {
    let agent = key.key_id_hex();
    let pubkey = key.to_base64();
    if let Some(existing) = get(store, &agent)? {
        if existing.pubkey != pubkey {
            return Err(StoreError::Trust(format!(
                "agent id {agent} is already trusted with a different public key; remove it first"
            )));
        }
    }
    if let Some(n) = name {
        if n.is_empty() || n.len() > 200 || n.chars().any(char::is_control) {
            return Err(StoreError::Trust(
                "name must be 1-200 printable characters".into(),
            ));
        }
        let holder = store.backend().trust_name_holder(n)?;
        if holder.as_deref().is_some_and(|h| h != agent) {
            return Err(StoreError::Trust(format!(
                "name {n:?} is already used by another key"
            )));
        }
    }
    store.backend().trust_put(&TrustedKey {
        agent: agent.clone(),
        pubkey,
        name: name.map(str::to_string),
        added: crate::findings::now_rfc3339(),
    })?;
    get(store, &agent)?.ok_or_else(|| StoreError::Trust("key vanished after insert".into()))
}

/// The trusted key row for an agent id.
pub fn get(store: &Store, agent: &str) -> Result<Option<TrustedKey>, StoreError> {
    store.backend().trust_get(agent)
}

/// The public key trusted for an agent id, if any.
pub fn lookup(store: &Store, agent: &str) -> Result<Option<PublicKey>, StoreError> {
    match get(store, agent)? {
        Some(k) => Ok(Some(PublicKey::parse(&k.pubkey)?)),
        None => Ok(None),
    }
}

/// All trusted keys, by agent id.
pub fn list(store: &Store) -> Result<Vec<TrustedKey>, StoreError> {
    store.backend().trust_list()
}

/// Removes the key with this agent id or name; returns how many were removed.
/// Records already imported stay.
pub fn remove(store: &Store, id_or_name: &str) -> Result<usize, StoreError> {
    store.backend().trust_remove(id_or_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    #[test]
    fn add_list_remove() {
        let s = Store::open_in_memory().unwrap();
        let k1 = SecretKey::generate().unwrap().public();
        let k2 = SecretKey::generate().unwrap().public();
        add(&s, &k1, Some("plant-a")).unwrap();
        add(&s, &k1, None).unwrap();
        assert_eq!(list(&s).unwrap()[0].name.as_deref(), Some("plant-a"));
        assert!(add(&s, &k2, Some("plant-a")).is_err());
        add(&s, &k2, Some("plant-b")).unwrap();
        assert_eq!(lookup(&s, &k2.key_id_hex()).unwrap(), Some(k2.clone()));
        assert_eq!(remove(&s, "plant-a").unwrap(), 1);
        assert_eq!(remove(&s, &k2.key_id_hex()).unwrap(), 1);
        assert!(list(&s).unwrap().is_empty());
    }
}
