//! Reading a state directory's journal in tests through the library's own
//! reader (`kensa::journal::read_all`): every line is chain-checked and must
//! parse as JSON, or the test fails. Only a torn last line (a writer caught
//! mid-append) ends the read early, as the journal itself allows.

use kensa::journal::{self, JournalError};
use kensa::state::StateDir;
use std::path::Path;

/// Every record in the journal of the state directory `state`, in order.
/// Panics on a broken chain or a line that is not JSON.
pub fn records(state: &Path) -> Vec<serde_json::Value> {
    let dir = StateDir::new(state.to_path_buf()).journal_dir();
    let lines =
        journal::read_all(&dir).unwrap_or_else(|e| panic!("open journal {}: {e}", dir.display()));
    let mut out = Vec::new();
    for line in lines {
        let line = match line {
            Ok(l) => l,
            Err(JournalError::TornTail { .. }) => break,
            Err(e) => panic!("journal {}: {e}", dir.display()),
        };
        let value = serde_json::from_slice(&line.bytes).unwrap_or_else(|e| {
            panic!(
                "journal line seq {} is not JSON ({e}): {}",
                line.seq,
                String::from_utf8_lossy(&line.bytes)
            )
        });
        out.push(value);
    }
    out
}
