//! UPX on PE (win32/pe, win64/pe): sections `UPX0` (no raw data: the
//! space the program is unpacked into) and `UPX1` (the compressed block at
//! its start, then the unpacking stub); the pack header sits in the header
//! area, right before the first section's raw data (after the UPX version
//! string), or anywhere in the first 4 KiB when a packer renamed things.
//! The section table is the shared bounds-checked reader of `packer`.

use super::{Method, PackHeader, Piece, MAGIC};
use crate::packer::{pe_sections, Section};
use crate::walker::Walker;

/// How far into the file a pack header is looked for.
const HEADER_WINDOW: usize = 4096;

/// A PE with `UPX0`/`UPX1` sections, or with a valid pack header in its
/// first 4 KiB.
pub(super) fn sniff(data: &[u8]) -> bool {
    let Some(sections) = pe_sections(data) else {
        return false;
    };
    sections
        .iter()
        .any(|s| s.name_is(b"UPX0") || s.name_is(b"UPX1"))
        || find_header(data, &sections).is_some()
}

/// The pack header: before `UPX1`'s raw data first, else the first valid
/// one in the first 4 KiB.
fn find_header(data: &[u8], sections: &[Section]) -> Option<PackHeader> {
    if let Some(at) = packed_section(sections).and_then(|s| s.raw_ptr.checked_sub(32)) {
        if let Some(h) = PackHeader::parse(data, at) {
            return Some(h);
        }
    }
    let window = data.get(..data.len().min(HEADER_WINDOW))?;
    window
        .windows(MAGIC.len())
        .enumerate()
        .filter(|(_, w)| w == MAGIC)
        .find_map(|(i, _)| PackHeader::parse(data, i))
}

/// The section holding the compressed block: `UPX1`, else the section
/// after an empty first one (UPX's layout under other names).
fn packed_section(sections: &[Section]) -> Option<&Section> {
    sections.iter().find(|s| s.name_is(b"UPX1")).or_else(|| {
        let first = sections.first()?;
        (first.raw_size == 0).then(|| sections.get(1)).flatten()
    })
}

impl Walker<'_, '_> {
    /// Unpack a UPX PE; `None` after reporting why not.
    pub(crate) fn upx_pe(&mut self, data: &[u8]) -> Option<Piece> {
        let sections = pe_sections(data).unwrap_or_default();
        let Some(h) = find_header(data, &sections) else {
            self.upx_unsupported(
                "pe",
                "UPX sections but no valid pack header (altered or scrambled UPX)".into(),
            );
            return None;
        };
        let Some(method) = Method::from_id(h.method) else {
            let name = super::method_name(h.method);
            self.upx_unsupported("pe", format!("compression {name} is not decoded here"));
            return None;
        };
        let start = packed_section(&sections).map_or(0, |s| s.raw_ptr);
        let c_len = usize::try_from(h.c_len).unwrap_or(usize::MAX);
        let src = data.get(start..).unwrap_or_default();
        let (src, short) = match src.get(..c_len) {
            Some(s) => (s, false),
            None => (src, true),
        };
        let want = usize::try_from(h.u_len).unwrap_or(usize::MAX);
        let mut piece = self.upx_decode(src, method, want, self.cap());
        let problem = if short {
            Some(format!(
                "file truncated: {} of {c_len} compressed bytes present",
                src.len()
            ))
        } else if super::adler32(src) != h.c_adler {
            Some("adler32 of the compressed data does not match the pack header".into())
        } else if piece.error.is_none()
            && piece.out.len() == want
            && h.filter == 0
            && super::adler32(&piece.out) != h.u_adler
        {
            Some("adler32 of the unpacked data does not match the pack header".into())
        } else {
            None
        };
        if let Some(p) = problem {
            piece.error = Some(match piece.error {
                Some(e) => format!("{p}; {e}"),
                None => p,
            });
        }
        Some(piece)
    }
}
