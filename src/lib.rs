//! kensa — inspection agent for removable media and maintenance PCs on closed
//! OT networks. The library holds every piece of logic; `main.rs` only maps
//! errors to exit codes.

pub mod findings;
