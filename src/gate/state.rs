//! The gate's state file (`<state>/gate.json`, version 1): the devices
//! the running agent holds, since when and why, written atomically after
//! every change and removed when the agent stops; `kensa status` reads it
//! (capped at [`MAX_STATE`]).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_VERSION: u32 = 1;
/// A state file larger than this is not read.
pub const MAX_STATE: u64 = 1024 * 1024;
/// Most devices listed (far more than a PC has ports).
pub const MAX_DEVICES: usize = 256;

/// The state file of a state directory.
pub fn path(state: &crate::state::StateDir) -> PathBuf {
    state.root().join("gate.json")
}

/// One held device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldDevice {
    /// Device node (`/dev/sdb`).
    pub device: String,
    /// Vendor, model or backing file, in words.
    pub description: String,
    /// When it was held (RFC 3339).
    pub since: String,
    /// `scanning` or `blocked`.
    pub state: String,
    /// Why it is held.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateState {
    pub version: u32,
    /// The agent process that wrote it.
    pub pid: u32,
    pub updated: String,
    pub devices: Vec<HeldDevice>,
}

/// Writes the file atomically (temp file, fsync, rename).
pub fn write(path: &Path, devices: &[HeldDevice]) -> std::io::Result<()> {
    let s = GateState {
        version: STATE_VERSION,
        pid: std::process::id(),
        updated: crate::findings::now_rfc3339(),
        devices: devices.iter().take(MAX_DEVICES).cloned().collect(),
    };
    let text = serde_json::to_vec_pretty(&s).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic(path, &text, 0o644)
}

/// Reads the file; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<GateState>, String> {
    match crate::fsutil::read_capped(path, MAX_STATE) {
        Ok(bytes) => {
            let s: GateState = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            if s.version != STATE_VERSION {
                return Err(format!(
                    "version {} (this kensa reads {STATE_VERSION})",
                    s.version
                ));
            }
            Ok(Some(s))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}
