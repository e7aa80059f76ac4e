//! PLACEHOLDER (issue 14 work in progress): the installer reader. Replace this
//! paragraph with what the module owns.

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

/// Recognise this module's container at the start of `data`.
pub(crate) fn sniff(_data: &[u8]) -> Option<Found> {
    None
}

impl Walker<'_, '_> {
    pub(crate) fn nsis(&mut self, _data: &[u8], _offset: usize, _depth: u32) {
        self.skip(Gap::Unsupported, "nsis: not implemented yet".into());
        let _ = ContainerKind::Zip;
    }

    pub(crate) fn installer_gap(&mut self, _kind: ContainerKind, _offset: usize) {
        self.skip(
            Gap::Unsupported,
            "installer_gap: not implemented yet".into(),
        );
        let _ = ContainerKind::Zip;
    }
}
