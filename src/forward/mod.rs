//! PLACEHOLDER (issue 15, owned by the forward helper): `kensa forward`,
//! sending stored findings and sessions to a SIEM. `ocsf` and `ecs` build
//! the events, `syslog` frames and sends RFC 5424 messages (also used by
//! the agent's live `[syslog]` sink).

pub mod ecs;
pub mod ocsf;
pub mod syslog;
