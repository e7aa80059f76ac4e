//! What the device gate is started with, the same on every system: the
//! gate's config, the state folder, the agent's id, the engine that
//! judges a held device and the sink its records go to. Linux's gate
//! (`gate/mod.rs`) takes it; elsewhere (`gate/elsewhere.rs`) it is
//! refused at start.

use crate::agent::SharedSink;
use crate::config::GateConfig;
use crate::engine::Engine;
use crate::state::StateDir;
use std::sync::Arc;

/// What the gate is started with.
pub struct GateSetup {
    pub cfg: GateConfig,
    pub state: StateDir,
    pub agent_id: String,
    pub engine: Arc<Engine>,
    pub sink: SharedSink,
}
