//! PLACEHOLDER (issue 14 work in progress): executable packer recognition.

/// The packer an executable (PE or ELF) was packed with, by its own marks
/// (section names, entry-point code, signatures), as a short lower-case
/// name (`"upx"`, `"aspack"`, ...); `None` for anything else.
pub fn identify_packer(_data: &[u8]) -> Option<&'static str> {
    None
}
