//! Executable packer recognition: which packer a PE or ELF was packed
//! with, by the marks packers leave - PE section names (`UPX0`, `.aspack`,
//! `.MPRESS1`, ...), the code at a PE's entry point (FSG), marker strings
//! in the header area (PECompact, MEW), UPX's `l_info` in an ELF. Only the
//! headers are read (the DOS header, the COFF header, up to 96 section
//! entries and 16 bytes at the entry point), every read bounds-checked, so
//! the cost on every scanned file and member is well under a microsecond.
//! Recognition is a fact rules can use (`packed == "aspack"`); only UPX is
//! also unpacked (module `upx`). Owns the PE section table reader the
//! `upx` module shares.

/// Most section entries read (the PE loader accepts 96).
const MAX_SECTIONS: usize = 96;
const SECTION_LEN: usize = 40;

/// One entry of a PE section table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: [u8; 8],
    pub vaddr: u32,
    pub vsize: u32,
    pub raw_size: usize,
    pub raw_ptr: usize,
}

impl Section {
    /// The name, up to its first NUL, equals `n`.
    pub(crate) fn name_is(&self, n: &[u8]) -> bool {
        self.short_name() == n
    }

    fn short_name(&self) -> &[u8] {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(8);
        &self.name[..end]
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

/// Offset of the `PE\0\0` signature of a PE file.
fn pe_offset(data: &[u8]) -> Option<usize> {
    if !data.starts_with(b"MZ") {
        return None;
    }
    let pe = usize::try_from(u32_at(data, 0x3c)?).ok()?;
    (data.get(pe..pe.checked_add(4)?)? == b"PE\0\0").then_some(pe)
}

/// The section table of a PE (at most 96 entries, only whole entries).
pub(crate) fn pe_sections(data: &[u8]) -> Option<Vec<Section>> {
    let pe = pe_offset(data)?;
    let coff = pe + 4;
    let count = usize::from(u16_at(data, coff + 2)?).min(MAX_SECTIONS);
    let table = coff + 20 + usize::from(u16_at(data, coff + 16)?);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let s = table + i * SECTION_LEN;
        let Some(e) = data.get(s..s + SECTION_LEN) else {
            break;
        };
        let mut name = [0u8; 8];
        name.copy_from_slice(&e[..8]);
        out.push(Section {
            name,
            vsize: u32_at(e, 8)?,
            vaddr: u32_at(e, 12)?,
            raw_size: usize::try_from(u32_at(e, 16)?).ok()?,
            raw_ptr: usize::try_from(u32_at(e, 20)?).ok()?,
        });
    }
    Some(out)
}

/// Section names packers give their sections, and the packer.
const SECTION_NAMES: &[(&[u8], &str)] = &[
    (b"UPX0", "upx"),
    (b"UPX1", "upx"),
    (b"UPX2", "upx"),
    (b".aspack", "aspack"),
    (b".adata", "aspack"),
    (b"PEC2", "pecompact"),
    (b"PEC2TO", "pecompact"),
    (b"PEC2MO", "pecompact"),
    (b"pec1", "pecompact"),
    (b"pec2", "pecompact"),
    (b"PECompact2", "pecompact"),
    (b"MEW", "mew"),
    (b".MPRESS1", "mpress"),
    (b".MPRESS2", "mpress"),
    (b".petite", "petite"),
    (b".nsp0", "nspack"),
    (b".nsp1", "nspack"),
    (b".nsp2", "nspack"),
    (b".themida", "themida"),
    (b".winlice", "themida"),
    (b".vmp0", "vmprotect"),
    (b".vmp1", "vmprotect"),
    (b".vmp2", "vmprotect"),
    (b".enigma1", "enigma"),
    (b".enigma2", "enigma"),
    (b".Upack", "upack"),
];

/// FSG 2.0's entry point: `xchg [addr], esp; popa; xchg eax, esp; push
/// ebp; movsb; mov dh, 0x80; call [ebx]` (`None`: any byte).
const FSG20_ENTRY: [Option<u8>; 14] = [
    Some(0x87),
    Some(0x25),
    None,
    None,
    None,
    None,
    Some(0x61),
    Some(0x94),
    Some(0x55),
    Some(0xa4),
    Some(0xb6),
    Some(0x80),
    Some(0xff),
    Some(0x13),
];

/// The packer an executable (PE or ELF) was packed with, by its own marks
/// (section names, entry-point code, signatures), as a short lower-case
/// name (`"upx"`, `"aspack"`, ...); `None` for anything else.
pub fn identify_packer(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x7fELF") {
        return crate::upx::elf_upx_header(data).map(|_| "upx");
    }
    let sections = pe_sections(data)?;
    let by_name = sections.iter().find_map(|s| {
        let n = s.short_name();
        SECTION_NAMES
            .iter()
            .find(|(name, _)| *name == n)
            .map(|(_, p)| *p)
    });
    if by_name.is_some() {
        return by_name;
    }
    if entry_matches(data, &sections, &FSG20_ENTRY) {
        return Some("fsg");
    }
    header_marker(data)
}

/// Marker strings packers write into the header area (before the first
/// section's data, at most the first 1 KiB).
fn header_marker(data: &[u8]) -> Option<&'static str> {
    let head = data.get(..data.len().min(1024))?;
    let has = |m: &[u8]| head.windows(m.len()).any(|w| w == m);
    if has(b"PECompact2") {
        Some("pecompact")
    } else if has(b"MEW\0") && head.get(0x1c..0x1f) == Some(b"MEW".as_slice()) {
        Some("mew")
    } else {
        None
    }
}

/// The bytes at the entry point match `sig`.
fn entry_matches(data: &[u8], sections: &[Section], sig: &[Option<u8>]) -> bool {
    let Some(pe) = pe_offset(data) else {
        return false;
    };
    let Some(entry) = u32_at(data, pe + 24 + 16) else {
        return false;
    };
    let Some(off) = rva_to_offset(sections, entry) else {
        return false;
    };
    let Some(code) = off
        .checked_add(sig.len())
        .and_then(|end| data.get(off..end))
    else {
        return false;
    };
    code.iter().zip(sig).all(|(b, s)| s.is_none_or(|s| s == *b))
}

/// The file offset of an RVA inside a section's raw data.
fn rva_to_offset(sections: &[Section], rva: u32) -> Option<usize> {
    sections.iter().find_map(|s| {
        let into = rva.checked_sub(s.vaddr)?;
        let into = usize::try_from(into).ok()?;
        let size = s.raw_size.max(usize::try_from(s.vsize).ok()?);
        (into < size).then(|| s.raw_ptr.checked_add(into)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PE with the named sections (raw data 0x200 each from 0x400) and
    /// `entry` at the first section's start.
    fn pe(names: &[&[u8]], entry: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 0x400 + 0x200 * names.len()];
        d[..2].copy_from_slice(b"MZ");
        d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        d[0x80..0x84].copy_from_slice(b"PE\0\0");
        d[0x86..0x88].copy_from_slice(&(names.len() as u16).to_le_bytes());
        d[0x94..0x96].copy_from_slice(&0xe0u16.to_le_bytes());
        d[0x98 + 16..0x98 + 20].copy_from_slice(&0x1000u32.to_le_bytes());
        for (i, n) in names.iter().enumerate() {
            let s = 0x98 + 0xe0 + i * 40;
            d[s..s + n.len()].copy_from_slice(n);
            d[s + 8..s + 12].copy_from_slice(&0x1000u32.to_le_bytes());
            d[s + 12..s + 16].copy_from_slice(&(0x1000 * (i as u32 + 1)).to_le_bytes());
            d[s + 16..s + 20].copy_from_slice(&0x200u32.to_le_bytes());
            d[s + 20..s + 24].copy_from_slice(&(0x400 + 0x200 * i as u32).to_le_bytes());
        }
        d[0x400..0x400 + entry.len()].copy_from_slice(entry);
        d
    }

    #[test]
    fn section_names() {
        assert_eq!(
            identify_packer(&pe(&[b".text", b".aspack"], b"")),
            Some("aspack")
        );
        assert_eq!(identify_packer(&pe(&[b"UPX0", b"UPX1"], b"")), Some("upx"));
        assert_eq!(identify_packer(&pe(&[b".MPRESS1"], b"")), Some("mpress"));
        assert_eq!(identify_packer(&pe(&[b".vmp0"], b"")), Some("vmprotect"));
        assert_eq!(identify_packer(&pe(&[b".text", b".data"], b"")), None);
        assert_eq!(identify_packer(&pe(&[b".aspackx"], b"")), None);
    }

    #[test]
    fn fsg_entry_point() {
        let code = [
            0x87, 0x25, 1, 2, 3, 4, 0x61, 0x94, 0x55, 0xa4, 0xb6, 0x80, 0xff, 0x13,
        ];
        assert_eq!(identify_packer(&pe(&[b""], &code)), Some("fsg"));
        let mut other = code;
        other[7] = 0x90;
        assert_eq!(identify_packer(&pe(&[b""], &other)), None);
    }

    #[test]
    fn hostile_headers() {
        assert_eq!(identify_packer(b""), None);
        assert_eq!(identify_packer(b"MZ"), None);
        let mut d = pe(&[b".aspack"], b"");
        d[0x86..0x88].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(identify_packer(&d), Some("aspack"));
        d.truncate(0x100);
        assert_eq!(identify_packer(&d), None);
        assert_eq!(identify_packer(b"\x7fELF\x02\x01\x01"), None);
    }
}
