//! Finding a container in a file's bytes, wherever it starts. Magic bytes
//! at offset 0 come first; then structures that sit elsewhere: a pre-POSIX
//! (V7) tar header recognised by its checksum, a zip found from its end of
//! central directory record in the last 64 KiB (a zip behind a PE stub, a
//! shell-script stub or any other prefix, offsets adjusted or not), and a
//! 7z or RAR signature at the start of a PE overlay (self-extracting
//! installers, a cabinet behind an IExpress stub). Every check reads a bounded part of the file (512 bytes,
//! the tail, a PE header and the first 64 KiB of its overlay), so the cost
//! on the many files that are not archives stays a few microseconds. A
//! structure found away from offset 0 is only accepted once its own
//! consistency checks hold (CRCs, a central directory and a local header
//! where the end record says), so stray signature bytes in ordinary files
//! do not become containers.

use crate::ContainerKind;

/// A container found in a file: its kind and the offset its own data
/// starts at (for a zip, its first local header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub kind: ContainerKind,
    pub offset: usize,
}

const ZIP_LOCAL: &[u8; 4] = b"PK\x03\x04";
const ZIP_CENTRAL: &[u8; 4] = b"PK\x01\x02";
const ZIP_EOCD: &[u8; 4] = b"PK\x05\x06";
const ZIP64_EOCD: &[u8; 4] = b"PK\x06\x06";
const ZIP64_LOCATOR: &[u8; 4] = b"PK\x06\x07";
/// Fixed part of a zip end of central directory record.
const ZIP_EOCD_LEN: usize = 22;
/// Longest zip comment: the end record lies in the last 64 KiB + 22 bytes.
const ZIP_MAX_COMMENT: usize = 0xffff;
const SEVENZ: &[u8; 6] = b"7z\xbc\xaf\x27\x1c";
const RAR4: &[u8; 7] = b"Rar!\x1a\x07\x00";
const RAR5: &[u8; 8] = b"Rar!\x1a\x07\x01\x00";
/// How far into a PE overlay a 7z or RAR signature is looked for (an SFX
/// module may put its configuration text before the archive).
const OVERLAY_WINDOW: usize = 64 * 1024;
/// Size of a tar header block.
const TAR_BLOCK: usize = 512;

/// The container in `data`, if any (see the module doc for the order).
pub(crate) fn locate(data: &[u8]) -> Option<Found> {
    let at = |kind, offset| Some(Found { kind, offset });
    if let Some(kind) = magic_at_start(data) {
        return at(kind, 0);
    }
    if let Some(found) = by_format_sniffers(data) {
        return Some(found);
    }
    // Spanning markers (`PK00`, `PK\x07\x08`) before a zip's first header.
    if data.len() >= 8
        && (data.starts_with(b"PK00") || data.starts_with(b"PK\x07\x08"))
        && &data[4..8] == ZIP_LOCAL
    {
        return at(ContainerKind::Zip, 4);
    }
    if data.starts_with(RAR4) || data.starts_with(RAR5) {
        return at(ContainerKind::Rar, 0);
    }
    if (data.len() >= TAR_BLOCK && &data[257..262] == b"ustar") || is_v7_tar_header(data) {
        return at(ContainerKind::Tar, 0);
    }
    if let Some(offset) = zip_by_end_record(data) {
        return at(ContainerKind::Zip, offset);
    }
    in_pe_overlay(data).or_else(|| crate::installer::sniff(data))
}

/// The format modules' own recognisers, binary formats first, text
/// formats (which look further into the file) last. Each is cheap on a
/// file that is not its kind: a prefix compare or a bounded search.
fn by_format_sniffers(data: &[u8]) -> Option<Found> {
    use crate::{ar, arj, cab, cpio, html, mail, ole2, pdf, rtf, szdd, upx};
    ole2::sniff(data)
        .or_else(|| cab::sniff(data))
        .or_else(|| szdd::sniff(data))
        .or_else(|| cpio::sniff(data))
        .or_else(|| ar::sniff(data))
        .or_else(|| arj::sniff(data))
        .or_else(|| upx::sniff(data))
        .or_else(|| pdf::sniff(data))
        .or_else(|| rtf::sniff(data))
        .or_else(|| mail::sniff(data))
        .or_else(|| html::sniff(data))
}

/// Containers whose magic bytes open the file.
fn magic_at_start(data: &[u8]) -> Option<ContainerKind> {
    const BZ_BLOCK: &[u8] = &[0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
    const BZ_END: &[u8] = &[0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
    if data.starts_with(ZIP_LOCAL) || data.starts_with(ZIP_EOCD) {
        Some(ContainerKind::Zip)
    } else if data.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some(ContainerKind::Gzip)
    } else if data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (&data[4..10] == BZ_BLOCK || &data[4..10] == BZ_END)
    {
        Some(ContainerKind::Bzip2)
    } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(ContainerKind::Xz)
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(ContainerKind::Zstd)
    } else if data.starts_with(SEVENZ) {
        Some(ContainerKind::SevenZ)
    } else {
        None
    }
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

fn has_at(d: &[u8], at: usize, sig: &[u8]) -> bool {
    at.checked_add(sig.len())
        .and_then(|end| d.get(at..end))
        .is_some_and(|s| s == sig)
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// Start of the last occurrence of the 4-byte `sig` in `hay`. Blocks of
/// 64 bytes are first tested for the signature's last two bytes with a
/// branch-free loop the compiler vectorises (random bytes hold such a pair
/// in one block of a thousand), so a tail without it costs about a
/// microsecond per 16 KiB.
fn rfind(hay: &[u8], sig: &[u8; 4]) -> Option<usize> {
    const BLOCK: usize = 64;
    let (third, last) = (sig[2], sig[3]);
    // `end` bounds (exclusively) the index of the signature's last byte.
    let mut end = hay.len();
    while end > 3 {
        let start = end.saturating_sub(BLOCK).max(3);
        let pairs = hay[start..end].iter().zip(&hay[start - 1..end - 1]);
        if pairs.fold(false, |hit, (&b, &a)| hit | ((b == last) & (a == third))) {
            if let Some(i) = (start..end).rev().find(|&i| &hay[i - 3..=i] == sig) {
                return Some(i - 3);
            }
        }
        end = start;
    }
    None
}

/// A zip found from its end of central directory record: the offset of
/// its first local header. The record is searched in the tail only, last
/// one first, and accepted when the central directory it points at starts
/// with a central header whose local header is where it says (whether the
/// offsets count from the start of the file, as `zip -A` writes them, or
/// from the start of the zip, as a plain `cat stub x.zip` leaves them).
fn zip_by_end_record(data: &[u8]) -> Option<usize> {
    let from = data.len().saturating_sub(ZIP_EOCD_LEN + ZIP_MAX_COMMENT);
    let mut tail = &data[from..];
    while let Some(i) = rfind(tail, ZIP_EOCD) {
        if let Some(first) = zip_from_end_record(data, from + i) {
            return Some(first);
        }
        tail = &tail[..i];
    }
    None
}

/// Check the end record at `pos` (zip64 when its fields say so).
fn zip_from_end_record(data: &[u8], pos: usize) -> Option<usize> {
    let comment = usize::from(u16_at(data, pos + 20)?);
    if pos + ZIP_EOCD_LEN + comment > data.len() {
        return None;
    }
    let (disk, cd_disk) = (u16_at(data, pos + 4)?, u16_at(data, pos + 6)?);
    let (on_disk, entries) = (u16_at(data, pos + 8)?, u16_at(data, pos + 10)?);
    let (cd_size, cd_offset) = (u32_at(data, pos + 12)?, u32_at(data, pos + 16)?);
    if entries == 0xffff || cd_size == u32::MAX || cd_offset == u32::MAX {
        return zip64_from_locator(data, pos);
    }
    // Multi-disk sets and empty zips (nothing to scan) are not taken.
    if disk != 0 || cd_disk != 0 || on_disk != entries || entries == 0 {
        return None;
    }
    zip_from_directory(data, pos, cd_size.into(), cd_offset.into())
}

/// Check a zip64 end record named by the locator just before the zip32
/// end record at `pos`. The record is looked for where the locator says
/// and, for a zip behind a prefix, right before the locator.
fn zip64_from_locator(data: &[u8], pos: usize) -> Option<usize> {
    let locator = pos.checked_sub(20)?;
    if !has_at(data, locator, ZIP64_LOCATOR) {
        return None;
    }
    let declared = usize::try_from(u64_at(data, locator + 8)?).ok();
    let before = locator.checked_sub(56);
    for rec in [declared, before].into_iter().flatten() {
        if rec >= locator || !has_at(data, rec, ZIP64_EOCD) {
            continue;
        }
        let entries = u64_at(data, rec + 32)?;
        let (cd_size, cd_offset) = (u64_at(data, rec + 40)?, u64_at(data, rec + 48)?);
        if entries == 0 {
            return None;
        }
        if let Some(first) = zip_from_directory(data, rec, cd_size, cd_offset) {
            return Some(first);
        }
    }
    None
}

/// The central directory of `cd_size` bytes ends at `end` (the end
/// record); it says it starts at `cd_offset` from the start of the zip, so
/// the zip starts at `base`. Its first header must be a central header and
/// the local header it names must be there: then that header's offset.
fn zip_from_directory(data: &[u8], end: usize, cd_size: u64, cd_offset: u64) -> Option<usize> {
    let cd_start = end.checked_sub(usize::try_from(cd_size).ok()?)?;
    if !has_at(data, cd_start, ZIP_CENTRAL) {
        return None;
    }
    let base = cd_start.checked_sub(usize::try_from(cd_offset).ok()?)?;
    let local = match u32_at(data, cd_start + 42)? {
        // zip64: the offset lives in an extra field; the first member of
        // an ordinary zip starts the zip.
        u32::MAX => base,
        lho => base.checked_add(usize::try_from(lho).ok()?)?,
    };
    (local < cd_start && has_at(data, local, ZIP_LOCAL)).then_some(local)
}

/// A tar header without the POSIX `ustar` magic (V7, pre-POSIX): a named
/// entry with octal mode, size and checksum fields whose checksum matches
/// the header, as an unsigned or a signed byte sum (GNU tar accepts both).
fn is_v7_tar_header(data: &[u8]) -> bool {
    let Some(h) = data.get(..TAR_BLOCK) else {
        return false;
    };
    let name_ok = h[0] != 0
        && h[..100]
            .iter()
            .take_while(|&&b| b != 0)
            .all(|&b| b >= 0x20 && b != 0x7f);
    let type_ok = h[156] == 0 || (b'0'..=b'7').contains(&h[156]);
    if !name_ok || !type_ok || octal(&h[100..108]).is_none() || octal(&h[124..136]).is_none() {
        return false;
    }
    let Some(stored) = octal(&h[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// An octal tar number field: optional leading spaces, at least one octal
/// digit, then only NUL or space.
fn octal(field: &[u8]) -> Option<u64> {
    let digits = field.iter().skip_while(|&&b| b == b' ');
    let mut value = 0u64;
    let mut seen = 0;
    let mut rest = false;
    for &b in digits {
        match b {
            b'0'..=b'7' if !rest => {
                value = value.checked_mul(8)? + u64::from(b - b'0');
                seen += 1;
            }
            0 | b' ' => rest = true,
            _ => return None,
        }
    }
    (seen > 0).then_some(value)
}

/// Where a PE image's sections end (the start of its overlay), if `data` is
/// a PE with bytes after its last section. Every field is bounds-checked.
pub(crate) fn pe_overlay_start(data: &[u8]) -> Option<usize> {
    const SECTION: usize = 40;
    if !data.starts_with(b"MZ") {
        return None;
    }
    let pe = usize::try_from(u32_at(data, 0x3c)?).ok()?;
    if !has_at(data, pe, b"PE\0\0") {
        return None;
    }
    let coff = pe + 4;
    let sections = usize::from(u16_at(data, coff + 2)?);
    let table = coff + 20 + usize::from(u16_at(data, coff + 16)?);
    let mut end = 0u64;
    for i in 0..sections {
        let s = table + i * SECTION;
        let raw_size = u64::from(u32_at(data, s + 16)?);
        let raw_ptr = u64::from(u32_at(data, s + 20)?);
        if raw_size > 0 {
            end = end.max(raw_ptr + raw_size);
        }
    }
    let end = usize::try_from(end).ok()?;
    (end > 0 && end < data.len()).then_some(end)
}

/// A 7z, RAR or CAB archive near the start of a PE overlay (7-Zip and
/// WinRAR SFX modules, IExpress/wextract and other cabinet SFX stubs).
fn in_pe_overlay(data: &[u8]) -> Option<Found> {
    let start = pe_overlay_start(data)?;
    let window = &data[start..data.len().min(start + OVERLAY_WINDOW)];
    for (i, w) in window.windows(SEVENZ.len()).enumerate() {
        let at = start + i;
        let kind = if w == SEVENZ && is_sevenz_start(&data[at..]) {
            ContainerKind::SevenZ
        } else if w.starts_with(b"Rar!") && is_rar_start(&data[at..]) {
            ContainerKind::Rar
        } else if w.starts_with(b"MSCF") && crate::cab::is_cab_start(&data[at..]) {
            ContainerKind::Cab
        } else {
            continue;
        };
        return Some(Found { kind, offset: at });
    }
    None
}

/// A 7z signature header: magic, major version 0, and the CRC of the next
/// 20 bytes (where the header database lies) matching.
fn is_sevenz_start(d: &[u8]) -> bool {
    d.len() >= 32 && d.starts_with(SEVENZ) && d[6] == 0 && u32_at(d, 8) == Some(crc32(&d[12..32]))
}

/// A RAR signature followed by a main archive header whose CRC matches
/// (RAR 4: the low 16 bits of the CRC32 of the header after its CRC field;
/// RAR 5: the CRC32 of the header from its size field on).
fn is_rar_start(d: &[u8]) -> bool {
    if d.starts_with(RAR4) {
        let h = &d[RAR4.len()..];
        let size = u16_at(h, 5).map_or(0, usize::from);
        return size >= 7
            && h.get(2) == Some(&0x73)
            && h.len() >= size
            && u16_at(h, 0) == Some(crc32(&h[2..size]) as u16);
    }
    if d.starts_with(RAR5) {
        let h = &d[RAR5.len()..];
        let Some((size, n)) = vint(h.get(4..).unwrap_or_default()) else {
            return false;
        };
        let Some(end) = usize::try_from(size)
            .ok()
            .and_then(|s| (4 + n).checked_add(s))
        else {
            return false;
        };
        return h.len() >= end
            && vint(&h[4 + n..end]).is_some_and(|(kind, _)| kind == 1)
            && u32_at(h, 0) == Some(crc32(&h[4..end]));
    }
    false
}

/// A RAR 5 variable-length integer: its value and length (at most 3 bytes
/// here: header sizes are below 2 MiB).
fn vint(d: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in d.iter().take(3).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfind_finds_the_last_match_across_blocks() {
        let mut hay = vec![0u8; 300];
        hay[10..14].copy_from_slice(ZIP_EOCD);
        hay[62..66].copy_from_slice(ZIP_EOCD); // across the 64-byte edge
        assert_eq!(rfind(&hay, ZIP_EOCD), Some(62));
        assert_eq!(rfind(&hay[..65], ZIP_EOCD), Some(10));
        assert_eq!(rfind(&hay[..13], ZIP_EOCD), None);
        assert_eq!(rfind(b"", ZIP_EOCD), None);
        assert_eq!(rfind(b"\x06", ZIP_EOCD), None);
        assert_eq!(rfind(ZIP_EOCD, ZIP_EOCD), Some(0));
    }

    #[test]
    fn octal_fields() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"  12 \0\0\0"), Some(0o12));
        assert_eq!(octal(b"\0\0\0\0"), None);
        assert_eq!(octal(b"0008\0"), None);
        assert_eq!(octal(b"12 3"), None);
    }

    #[test]
    fn pe_overlay_needs_a_whole_header() {
        assert_eq!(pe_overlay_start(b"MZ"), None);
        let mut d = vec![0u8; 0x200];
        d[..2].copy_from_slice(b"MZ");
        d[0x3c..0x40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert_eq!(pe_overlay_start(&d), None);
        d[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        d[0x40..0x44].copy_from_slice(b"PE\0\0");
        d[0x46..0x48].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(pe_overlay_start(&d), None, "section table past the end");
    }

    #[test]
    fn nothing_is_found_in_plain_bytes() {
        assert_eq!(locate(b""), None);
        assert_eq!(locate(&[0u8; 4096]), None);
        assert_eq!(locate(b"MZ\x90\x00"), None);
        let mut eocd_only = vec![b'x'; 100];
        eocd_only.extend_from_slice(ZIP_EOCD);
        eocd_only.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0, 46, 0, 0, 0, 10, 0, 0, 0, 0, 0]);
        assert_eq!(locate(&eocd_only), None);
    }
}
