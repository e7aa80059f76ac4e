//! The device gate where there is none: the gate holds block devices
//! through Linux uevents and exclusive opens, which other systems do not
//! have. Here `[gate] enabled = true` (or `kensa run --gate`) is refused
//! at start with [`GateError::Unsupported`], so an operator who asked for
//! a gate is never left believing one runs. The gate's state file
//! ([`state`]) is shared, so `kensa status` reads the same way.

mod setup;
pub mod state;

pub use setup::GateSetup;

use crate::engine::Engine;
use std::sync::Arc;

/// Why the gate did not start.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("the device gate needs Linux (kernel uevents and exclusive block-device opens); turn [gate] off on this system")]
    Unsupported,
}

/// A running gate: none can exist on this system.
pub enum Gate {}

impl Gate {
    /// Always [`GateError::Unsupported`].
    pub fn start(_setup: GateSetup) -> Result<Gate, GateError> {
        Err(GateError::Unsupported)
    }

    pub fn set_engine(&self, _e: Arc<Engine>) {
        match *self {}
    }

    pub fn stop(self) {
        match self {}
    }
}
