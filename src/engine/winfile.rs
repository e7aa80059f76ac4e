//! What a Windows file is beyond its bytes, decided by pure functions
//! over the Windows API's answers (so they run, and are tested against
//! recorded answers, on Linux too): which `FILE_ATTRIBUTE_*` bits a
//! record names (`hidden`, `system`, `readonly`, `reparse`); the named
//! `$DATA` streams (alternate data streams) listed in a `FILE_STREAM_INFO`
//! buffer from `GetFileInformationByHandleEx(FileStreamInfo)`, at most
//! [`MAX_STREAMS`] of them, the unnamed default stream `::$DATA` left out
//! (it is the file itself); the object name a stream is opened by,
//! relative to its file's handle; the shown path of a stream
//! (`file.txt:name`, the stream name in [`super::pathfmt`]'s injective
//! form: a Windows file name never holds a `:`, so the last `:` after the
//! last separator always starts the stream name); and which errors mean
//! that another process holds the file open without sharing it.
//! The Windows calls that produce these answers are in `dirfd_windows`.

use super::pathfmt;

/// `FILE_ATTRIBUTE_READONLY`.
pub const READONLY: u32 = 0x1;
/// `FILE_ATTRIBUTE_HIDDEN`.
pub const HIDDEN: u32 = 0x2;
/// `FILE_ATTRIBUTE_SYSTEM`.
pub const SYSTEM: u32 = 0x4;
/// `FILE_ATTRIBUTE_REPARSE_POINT`.
pub const REPARSE: u32 = 0x400;
/// `FILE_NAMED_STREAMS`, a volume flag of `GetVolumeInformationByHandleW`.
pub const NAMED_STREAMS: u32 = 0x0004_0000;

/// Named streams of one file scanned at most; more are a gap.
pub const MAX_STREAMS: usize = 64;
/// Largest stream list asked for (64 streams of 255 UTF-16 characters
/// need about 35 KiB); a file whose list does not fit is a gap.
pub const MAX_STREAM_INFO: usize = 256 << 10;

/// `ERROR_SHARING_VIOLATION`: opened by another process without sharing.
const ERROR_SHARING_VIOLATION: i32 = 32;
/// `ERROR_LOCK_VIOLATION`: a byte range locked by another process.
const ERROR_LOCK_VIOLATION: i32 = 33;

/// Size of `FILE_STREAM_INFO` before its name.
const ENTRY_HEAD: usize = 24;

/// The attribute names a record carries for `FILE_ATTRIBUTE_*` bits,
/// in a fixed order (none for an ordinary file).
pub fn attribute_names(bits: u32) -> Vec<String> {
    [
        (HIDDEN, "hidden"),
        (SYSTEM, "system"),
        (READONLY, "readonly"),
        (REPARSE, "reparse"),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, name)| (*name).to_string())
    .collect()
}

/// Whether a volume's files are to be searched for named streams, from
/// its `GetVolumeInformationByHandleW` flags (`None`: the volume could
/// not be asked; the streams are then listed, and a list that cannot be
/// read is a gap, never silence).
pub fn holds_named_streams(volume_flags: Option<u32>) -> bool {
    volume_flags.is_none_or(|f| f & NAMED_STREAMS != 0)
}

/// True when an OS error code means another process holds the file (a
/// sharing violation on open, a locked range on read).
pub fn is_locked(code: Option<i32>) -> bool {
    matches!(code, Some(ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION))
}

/// One named `$DATA` stream of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedStream {
    /// The name between the colons, as UTF-16 (not necessarily valid).
    pub name: Vec<u16>,
    /// Its size as listed.
    pub size: u64,
}

/// The named streams of one file, at most [`MAX_STREAMS`] of them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamList {
    pub named: Vec<NamedStream>,
    /// Named streams listed beyond the cap (not scanned: a gap).
    pub more: usize,
}

/// Why a `FILE_STREAM_INFO` answer could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamInfoError {
    #[error("stream list entry at byte {0} runs past the end of the list")]
    Truncated(usize),
    #[error("stream list entry at byte {0} does not point forward")]
    Backwards(usize),
    #[error("stream list entry at byte {0} has a name not of the form :name:type")]
    BadName(usize),
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let b = buf.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Reads the chain of `FILE_STREAM_INFO` entries in `buf` (as many bytes
/// as the call filled; empty means no stream at all) into the named
/// `$DATA` streams, keeping the first `max`. Entries of other types are
/// not data and are left out; any malformed entry refuses the whole list.
pub fn parse_stream_info(buf: &[u8], max: usize) -> Result<StreamList, StreamInfoError> {
    let mut out = StreamList::default();
    let mut at = 0usize;
    while !buf.is_empty() {
        let next = u32_at(buf, at).ok_or(StreamInfoError::Truncated(at))? as usize;
        let len = u32_at(buf, at + 4).ok_or(StreamInfoError::Truncated(at))? as usize;
        let size = u64_at(buf, at + 8).ok_or(StreamInfoError::Truncated(at))?;
        let start = at + ENTRY_HEAD;
        let raw = start
            .checked_add(len)
            .and_then(|end| buf.get(start..end))
            .ok_or(StreamInfoError::Truncated(at))?;
        if !len.is_multiple_of(2) {
            return Err(StreamInfoError::BadName(at));
        }
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if let Some(name) = data_stream_name(&units).ok_or(StreamInfoError::BadName(at))? {
            if out.named.len() < max {
                out.named.push(NamedStream { name, size });
            } else {
                out.more += 1;
            }
        }
        if next == 0 {
            break;
        }
        if next < ENTRY_HEAD {
            return Err(StreamInfoError::Backwards(at));
        }
        at = at.checked_add(next).ok_or(StreamInfoError::Backwards(at))?;
    }
    Ok(out)
}

/// The name of a named `$DATA` stream from `:name:type`: `Some(Some(name))`
/// for a named data stream, `Some(None)` for the default stream or
/// another type, `None` when the text is not of that form.
fn data_stream_name(units: &[u16]) -> Option<Option<Vec<u16>>> {
    let colon = u16::from(b':');
    let rest = units.strip_prefix(&[colon])?;
    let split = rest.iter().position(|&u| u == colon)?;
    let (name, kind) = (&rest[..split], &rest[split + 1..]);
    if kind.is_empty() || kind.contains(&colon) {
        return None;
    }
    let is_data = kind.len() == 5
        && kind
            .iter()
            .zip(b"$DATA")
            .all(|(&u, &b)| u8::try_from(u).is_ok_and(|c| c.eq_ignore_ascii_case(&b)));
    Some((is_data && !name.is_empty()).then(|| name.to_vec()))
}

/// The object name a named stream is opened by, relative to its file's
/// handle: `:name:$DATA`.
pub fn stream_object_name(name: &[u16]) -> Vec<u16> {
    let mut out = Vec::with_capacity(name.len() + 7);
    out.push(u16::from(b':'));
    out.extend_from_slice(name);
    out.extend(":$DATA".encode_utf16());
    out
}

/// UTF-16 as WTF-8: what a Windows `OsStr` holds, so that a stream name
/// that is not valid UTF-16 is escaped exactly as such a file name is.
fn wtf8(units: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len());
    for r in char::decode_utf16(units.iter().copied()) {
        match r {
            Ok(c) => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
            Err(e) => {
                let u = e.unpaired_surrogate();
                out.push(0xE0 | (u >> 12) as u8);
                out.push(0x80 | ((u >> 6) & 0x3F) as u8);
                out.push(0x80 | (u & 0x3F) as u8);
            }
        }
    }
    out
}

/// The shown path of stream `name` of the file shown as `file`
/// (`file` is already in [`pathfmt`]'s text form).
pub fn stream_path(file: &str, name: &[u16]) -> String {
    format!("{file}:{}", pathfmt::bytes_to_string(&wtf8(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `FILE_STREAM_INFO` entry as Windows writes it (8-byte aligned).
    fn entry(name: &str, size: u64, last: bool) -> Vec<u8> {
        entry_units(&name.encode_utf16().collect::<Vec<_>>(), size, last)
    }

    fn entry_units(name: &[u16], size: u64, last: bool) -> Vec<u8> {
        let name_len = name.len() * 2;
        let total = (ENTRY_HEAD + name_len).div_ceil(8) * 8;
        let mut e = Vec::with_capacity(total);
        let next = if last { 0 } else { total as u32 };
        e.extend_from_slice(&next.to_le_bytes());
        e.extend_from_slice(&(name_len as u32).to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.extend_from_slice(&size.div_ceil(4096).saturating_mul(4096).to_le_bytes());
        for u in name {
            e.extend_from_slice(&u.to_le_bytes());
        }
        e.resize(total, 0);
        e
    }

    fn names(list: &StreamList) -> Vec<String> {
        list.named
            .iter()
            .map(|s| String::from_utf16_lossy(&s.name))
            .collect()
    }

    #[test]
    fn attribute_bits_map_to_names() {
        assert!(
            attribute_names(0x20).is_empty(),
            "archive alone is ordinary"
        );
        assert_eq!(attribute_names(0x26), ["hidden", "system"]);
        assert_eq!(
            attribute_names(0x407),
            ["hidden", "system", "readonly", "reparse"]
        );
        assert_eq!(attribute_names(0x1), ["readonly"]);
        assert_eq!(attribute_names(0x10), Vec::<String>::new());
    }

    #[test]
    fn volumes_without_named_streams_are_not_searched() {
        // NTFS: case-sensitive search, case-preserved and Unicode names,
        // ACLs, ..., named streams (0x3E7_00FF); Wine's Z: drive (0xA);
        // FAT32 (0x0020_0206).
        assert!(holds_named_streams(Some(0x03E7_00FF)));
        assert!(!holds_named_streams(Some(0xA)));
        assert!(!holds_named_streams(Some(0x0020_0206)));
        assert!(holds_named_streams(None), "unknown: listed, fail closed");
    }

    #[test]
    fn the_list_buffer_holds_the_capped_streams() {
        // An entry with the longest name (255 characters) and its
        // `::$DATA`-style decoration, 8-byte aligned.
        let longest = (ENTRY_HEAD + (1 + 255 + 6) * 2).div_ceil(8) * 8;
        assert!((MAX_STREAMS + 1) * longest <= MAX_STREAM_INFO);
    }

    #[test]
    fn sharing_and_lock_violations_are_locked() {
        assert!(is_locked(Some(32)));
        assert!(is_locked(Some(33)));
        assert!(!is_locked(Some(5)), "access denied is a permission");
        assert!(!is_locked(None));
    }

    #[test]
    fn default_stream_is_left_out_and_named_ones_kept() {
        // A file with its default stream and two named ones, the shape
        // NTFS answers with (a Zone.Identifier mark and a payload).
        let mut buf = entry("::$DATA", 68, false);
        buf.extend(entry(":Zone.Identifier:$DATA", 26, false));
        buf.extend(entry(":payload.exe:$DATA", 4096, true));
        let list = parse_stream_info(&buf, MAX_STREAMS).unwrap();
        assert_eq!(names(&list), ["Zone.Identifier", "payload.exe"]);
        assert_eq!(list.named[1].size, 4096);
        assert_eq!(list.more, 0);
    }

    #[test]
    fn only_the_default_stream_or_nothing_means_no_named_stream() {
        let buf = entry("::$DATA", 3, true);
        assert_eq!(parse_stream_info(&buf, 8).unwrap(), StreamList::default());
        assert_eq!(parse_stream_info(&[], 8).unwrap(), StreamList::default());
    }

    #[test]
    fn other_types_are_not_data() {
        let mut buf = entry("::$DATA", 3, false);
        buf.extend(entry(":x:$EA", 3, false));
        buf.extend(entry(":lower:$data", 5, true));
        let list = parse_stream_info(&buf, 8).unwrap();
        assert_eq!(names(&list), ["lower"]);
    }

    #[test]
    fn streams_over_the_cap_are_counted() {
        let mut buf = Vec::new();
        for i in 0..5 {
            buf.extend(entry(&format!(":s{i}:$DATA"), 1, i == 4));
        }
        let list = parse_stream_info(&buf, 3).unwrap();
        assert_eq!(names(&list), ["s0", "s1", "s2"]);
        assert_eq!(list.more, 2);
    }

    #[test]
    fn malformed_lists_are_refused() {
        let good = entry(":a:$DATA", 1, true);
        // Cut inside the name.
        assert_eq!(
            parse_stream_info(&good[..ENTRY_HEAD + 3], 8),
            Err(StreamInfoError::Truncated(0))
        );
        // Cut inside the header.
        assert_eq!(
            parse_stream_info(&good[..10], 8),
            Err(StreamInfoError::Truncated(0))
        );
        // A next offset that does not move forward.
        let mut loops = entry(":a:$DATA", 1, true);
        loops[..4].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            parse_stream_info(&loops, 8),
            Err(StreamInfoError::Backwards(0))
        );
        // A next offset past the end.
        let mut past = entry(":a:$DATA", 1, true);
        past[..4].copy_from_slice(&4096u32.to_le_bytes());
        assert_eq!(
            parse_stream_info(&past, 8),
            Err(StreamInfoError::Truncated(4096))
        );
        for bad in ["a:$DATA", ":a", ":a:b:$DATA", ":a:"] {
            assert_eq!(
                parse_stream_info(&entry(bad, 1, true), 8),
                Err(StreamInfoError::BadName(0)),
                "{bad}"
            );
        }
        let mut odd = entry(":a:$DATA", 1, true);
        odd[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(parse_stream_info(&odd, 8), Err(StreamInfoError::BadName(0)));
    }

    #[test]
    fn object_names_are_relative_stream_opens() {
        let n: Vec<u16> = "evil".encode_utf16().collect();
        assert_eq!(
            String::from_utf16(&stream_object_name(&n)).unwrap(),
            ":evil:$DATA"
        );
    }

    #[test]
    fn stream_paths_escape_odd_names() {
        let file = pathfmt::bytes_to_string(br"Z:\stick\report.txt");
        let plain: Vec<u16> = "evil".encode_utf16().collect();
        assert_eq!(stream_path(&file, &plain), r"Z:\\stick\\report.txt:evil");
        let rlo: Vec<u16> = "a\u{202E}b\x1b\\".encode_utf16().collect();
        assert_eq!(
            stream_path(&file, &rlo),
            r"Z:\\stick\\report.txt:a\u{202E}b\x1B\\"
        );
        // An unpaired surrogate is escaped as its WTF-8 bytes, as a file
        // name that is not valid UTF-16 is.
        let lone = [u16::from(b'x'), 0xD800];
        let shown = stream_path(&file, &lone);
        assert_eq!(shown, r"Z:\\stick\\report.txt:x\xED\xA0\x80");
        assert_eq!(
            pathfmt::decode(shown.rsplit(':').next().unwrap()),
            Some(vec![b'x', 0xED, 0xA0, 0x80])
        );
    }

    #[test]
    fn different_stream_names_never_show_alike() {
        let file = "f";
        let names: [&[u16]; 6] = [
            &[0xD800],
            &[0xDC00],
            &[0xD800, 0xDC00],
            &[u16::from(b'\\'), u16::from(b'x')],
            &[u16::from(b'x')],
            &[0x1B],
        ];
        let mut seen = std::collections::HashSet::new();
        for n in names {
            assert!(seen.insert(stream_path(file, n)), "{n:?}");
        }
    }
}
