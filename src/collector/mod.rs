//! The collector: the SQLite store of imported records, and the incidents
//! and triage built over it.

pub mod incidents;
