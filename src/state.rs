//! The state directory (`--state-dir`, default `/var/lib/kensa`, on
//! Windows `%ProgramData%\kensa`, see `state_windows.rs`): the one
//! owner of every path below it. Keys, the journal and its inbox and lock,
//! the compiled-rule cache, installed rule packs and their trust store, and
//! the collector database are all named here and nowhere else, so the
//! layout can be read (and changed) in one place:
//!
//! ```text
//! <state>/keys/agent.key, agent.pub     the agent's minisign key pair
//! <state>/journal/                      hash-chained segments, lock, inbox/
//! <state>/cache/                        compiled rule sets
//! <state>/rules/                        current -> packs/<ver>-<digest>/, trusted/, lock
//! <state>/kensa.db                      the collector store (SQLite)
//! ```

use std::path::{Path, PathBuf};

#[cfg(windows)]
#[path = "state_windows.rs"]
pub mod windows;

/// Default state directory of an installed agent (Unix).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/kensa";

/// The default state directory on this system: [`DEFAULT_STATE_DIR`], on
/// Windows `%ProgramData%\kensa`.
pub fn default_state_dir() -> std::io::Result<PathBuf> {
    #[cfg(windows)]
    return windows::default_dir();
    #[cfg(not(windows))]
    Ok(PathBuf::from(DEFAULT_STATE_DIR))
}

/// A state directory. Holding one creates nothing: commands that write
/// state create what they need, readers such as `kensa status` never do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// A state directory at `root` (made absolute by the caller).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<state>/keys`: the agent key pair (directory mode 0700).
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// `<state>/keys/agent.key`: the agent's secret key (mode 0600).
    pub fn secret_key(&self) -> PathBuf {
        self.keys_dir().join("agent.key")
    }

    /// `<state>/keys/agent.pub`: the agent's public key (minisign format).
    pub fn public_key(&self) -> PathBuf {
        self.keys_dir().join("agent.pub")
    }

    /// `<state>/journal`: the signed, hash-chained journal.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// `<state>/cache`: compiled rule sets.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// `<state>/rules`: installed rule packs, their trust store and lock.
    pub fn rules_dir(&self) -> PathBuf {
        self.root.join("rules")
    }

    /// `<state>/rules/current`: the symlink naming the active pack.
    pub fn rules_current(&self) -> PathBuf {
        self.rules_dir().join("current")
    }

    /// `<state>/kensa.db`: the collector store.
    pub fn database(&self) -> PathBuf {
        self.root.join("kensa.db")
    }

    /// Creates the state directory itself (mode 0700 when new; on Windows
    /// with the SYSTEM-and-Administrators-only access list).
    pub fn create(&self) -> std::io::Result<()> {
        crate::fsutil::create_private_dir(&self.root)
    }

    /// True when this looks like an agent's state: a key and a journal.
    pub fn is_agent(&self) -> bool {
        self.secret_key().is_file() && self.journal_dir().is_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let s = StateDir::new("/var/lib/kensa");
        assert_eq!(s.secret_key(), Path::new("/var/lib/kensa/keys/agent.key"));
        assert_eq!(s.public_key(), Path::new("/var/lib/kensa/keys/agent.pub"));
        assert_eq!(s.journal_dir(), Path::new("/var/lib/kensa/journal"));
        assert_eq!(s.cache_dir(), Path::new("/var/lib/kensa/cache"));
        assert_eq!(s.rules_current(), Path::new("/var/lib/kensa/rules/current"));
        assert_eq!(s.database(), Path::new("/var/lib/kensa/kensa.db"));
    }
}
