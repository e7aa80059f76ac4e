//! PLACEHOLDER (issue 14 work in progress): the arj reader. Replace this
//! paragraph with what the module owns.

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

/// Recognise this module's container at the start of `data`.
pub(crate) fn sniff(_data: &[u8]) -> Option<Found> {
    None
}

impl Walker<'_, '_> {
    pub(crate) fn arj(&mut self, _inner: &[u8], _depth: u32) {
        self.skip(Gap::Unsupported, "arj: not implemented yet".into());
        let _ = ContainerKind::Zip;
    }
}
