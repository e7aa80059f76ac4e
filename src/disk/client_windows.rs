//! Devices and disk images on Windows: not parsed. The file-system
//! parsers run only inside the Linux sandbox (a re-executed child under
//! seccomp and resource limits); running them unconfined on hostile
//! images is what that sandbox exists to prevent, so here every probe is
//! refused with [`DiskError::Unsupported`] and the image becomes a gap in
//! the session (never a silent "clean").

use super::{DiskError, DiskOptions, DiskVisitor, Layout};
use std::fs::File;

pub(super) fn probe(_dev: &File, _opts: &DiskOptions) -> Result<Layout, DiskError> {
    Err(DiskError::Unsupported)
}

pub(super) fn read(
    _dev: &File,
    _layout: &Layout,
    _opts: &DiskOptions,
    _visit: &mut dyn DiskVisitor,
) -> Result<(), DiskError> {
    Err(DiskError::Unsupported)
}
