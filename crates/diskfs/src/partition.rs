//! Partition tables: MBR (four primaries, and the extended partition's
//! chain of logical partitions) and GPT (protective MBR, header at LBA 1
//! with its CRC32 and the entry array's CRC32 checked, 512- or 4096-byte
//! sectors detected, the backup header at the last LBA read when the
//! primary is corrupt). [`read_table`] is a pure function over a
//! [`Device`]: it turns whatever the first sectors hold into a list of
//! partitions clipped to the device, the `$mbr` region (LBA 0 up to the
//! first partition, where boot loaders and bootkits live) and the problems
//! met on the way (a looping extended chain, a corrupt header, an entry
//! outside the device). A device with no table is one bare volume.
//!
//! Every count and size read from the medium is capped before it is used:
//! the logical chain is bounded and remembers the EBRs it has visited, the
//! GPT entry array is read only up to [`MAX_GPT_ARRAY`] bytes. The CRC32
//! (IEEE, reflected) is computed here; it is twelve lines and not worth a
//! dependency.

use crate::device::Device;
use std::collections::HashSet;
use std::io;

/// The `$mbr` region is never longer than this.
pub const MAX_BOOT_REGION: u64 = 1 << 20;
/// Logical partitions followed in an extended partition's chain.
pub const MAX_LOGICAL: usize = 128;
/// Bytes of GPT entry array read at most (the usual array is 16 KiB).
pub const MAX_GPT_ARRAY: u64 = 1 << 20;

/// The kind of partition table on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Mbr,
    Gpt,
}

impl TableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Mbr => "mbr",
            TableKind::Gpt => "gpt",
        }
    }
}

/// One partition, in bytes, clipped to the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Number as Linux gives it: MBR primaries 1–4 by slot, logical
    /// partitions from 5 in chain order, GPT entries by slot from 1.
    pub index: u32,
    pub offset: u64,
    pub size: u64,
    /// The type as recorded: `0x0c` (MBR) or the GPT type GUID.
    pub type_code: String,
    /// A common type's name (`FAT32 (LBA)`, `EFI system`); `None`: unknown.
    pub type_name: Option<&'static str>,
}

impl Partition {
    /// The type for people: `0x0c FAT32 (LBA)`, `EFI system`, or the code.
    pub fn type_text(&self) -> String {
        match (self.type_name, self.type_code.starts_with("0x")) {
            (Some(n), true) => format!("{} {n}", self.type_code),
            (Some(n), false) => n.to_string(),
            (None, _) => self.type_code.clone(),
        }
    }
}

/// What [`read_table`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// `None`: no partition table; the device is one bare volume.
    pub kind: Option<TableKind>,
    /// Logical sector size the table uses (512 for MBR).
    pub sector_size: u64,
    /// Partitions in index order (extended containers and GPT's
    /// protective entry are not partitions).
    pub partitions: Vec<Partition>,
    /// Bytes of the `$mbr` region: LBA 0 up to the first partition's
    /// start, at most [`MAX_BOOT_REGION`] (0 without a table).
    pub boot_region: u64,
    /// What was wrong with the table, in plain words.
    pub problems: Vec<String>,
}

/// Reads the partition table of `dev`. An error only when the device
/// cannot be read at all; a malformed table is a problem in the result.
pub fn read_table(dev: &dyn Device) -> io::Result<Table> {
    let len = dev.len();
    let mut head = vec![0u8; (68 * 1024).min(len) as usize];
    dev.read_at(0, &mut head)?;
    if head.len() < 512 || head[510..512] != [0x55, 0xAA] {
        return Ok(bare());
    }
    // A hybrid ISO carries an MBR for USB boot; the disc is the volume.
    if matches!(
        crate::detect_bytes(&head),
        Some(crate::FsKind::Iso9660 | crate::FsKind::Udf)
    ) {
        return Ok(bare());
    }
    let slots = mbr_slots(&head[..512]);
    let mut t = if slots.iter().any(|s| s.kind == 0xEE) {
        gpt(dev)?
    } else if mbr_valid(&head[..512], &slots) {
        mbr(dev, &slots)
    } else {
        return Ok(bare());
    };
    clip(&mut t, len);
    t.boot_region = boot_region(&t, len);
    Ok(t)
}

fn bare() -> Table {
    Table {
        sector_size: 512,
        ..Table::default()
    }
}

/// One of the four MBR slots.
#[derive(Clone, Copy, Debug)]
struct Slot {
    boot: u8,
    kind: u8,
    start: u32,
    sectors: u32,
}

fn le32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn mbr_slots(sector: &[u8]) -> [Slot; 4] {
    let slot = |i: usize| {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        Slot {
            boot: e[0],
            kind: e[4],
            start: le32(e, 8),
            sectors: le32(e, 12),
        }
    };
    [slot(0), slot(1), slot(2), slot(3)]
}

/// A real MBR: boot flags 0 or 0x80, at least one used slot, each used
/// slot starting after LBA 0 with some length; and not a FAT/NTFS/exFAT
/// boot sector whose boot code happens to look like entries.
fn mbr_valid(sector: &[u8], slots: &[Slot; 4]) -> bool {
    let used: Vec<&Slot> = slots.iter().filter(|s| s.kind != 0).collect();
    let flags_ok = slots.iter().all(|s| s.boot == 0 || s.boot == 0x80);
    let entries_ok = !used.is_empty() && used.iter().all(|s| s.start > 0 && s.sectors > 0);
    let boot_sector = &sector[3..8] == b"NTFS " || &sector[3..8] == b"EXFAT";
    flags_ok && entries_ok && !boot_sector
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0F | 0x85)
}

fn mbr(dev: &dyn Device, slots: &[Slot; 4]) -> Table {
    let mut t = Table {
        kind: Some(TableKind::Mbr),
        sector_size: 512,
        ..Table::default()
    };
    let mut extended = None;
    for (i, s) in slots.iter().enumerate() {
        if s.kind == 0 {
            continue;
        }
        if is_extended(s.kind) {
            if extended.is_some() {
                t.problems.push(format!(
                    "more than one extended partition; the one in slot {} is ignored",
                    i + 1
                ));
            } else {
                extended = Some(*s);
            }
            continue;
        }
        t.partitions.push(mbr_partition(
            i as u32 + 1,
            u64::from(s.start),
            u64::from(s.sectors),
            s.kind,
        ));
    }
    if let Some(ext) = extended {
        logicals(dev, ext, &mut t);
    }
    t
}

fn mbr_partition(index: u32, start: u64, sectors: u64, kind: u8) -> Partition {
    Partition {
        index,
        offset: start * 512,
        size: sectors * 512,
        type_code: format!("0x{kind:02x}"),
        type_name: mbr_type_name(kind),
    }
}

/// Follows the extended partition's chain of EBRs: each holds one logical
/// partition (relative to the EBR) and a link to the next EBR (relative to
/// the extended partition's start). Bounded and cycle-checked.
fn logicals(dev: &dyn Device, ext: Slot, t: &mut Table) {
    let base = u64::from(ext.start);
    let mut next = Some(base);
    let mut seen = HashSet::new();
    let mut index = 5u32;
    while let Some(ebr) = next.take() {
        if !seen.insert(ebr) {
            t.problems.push(format!(
                "the extended partition's chain loops back to sector {ebr}; logical partitions after it are not read"
            ));
            return;
        }
        if seen.len() > MAX_LOGICAL {
            t.problems.push(format!(
                "the extended partition's chain has more than {MAX_LOGICAL} links; the rest is not read"
            ));
            return;
        }
        let mut sector = [0u8; 512];
        if let Err(e) = dev.read_at(ebr * 512, &mut sector) {
            t.problems.push(format!(
                "the extended boot record at sector {ebr} cannot be read: {e}"
            ));
            return;
        }
        if sector[510..512] != [0x55, 0xAA] {
            t.problems.push(format!(
                "the extended boot record at sector {ebr} has no 0x55AA signature; the chain ends there"
            ));
            return;
        }
        let s = mbr_slots(&sector);
        if s[0].kind != 0 && s[0].sectors > 0 && !is_extended(s[0].kind) {
            let start = ebr + u64::from(s[0].start);
            t.partitions.push(mbr_partition(
                index,
                start,
                u64::from(s[0].sectors),
                s[0].kind,
            ));
            index += 1;
        }
        if is_extended(s[1].kind) && s[1].start != 0 {
            next = Some(base + u64::from(s[1].start));
        }
    }
}

/// The GPT: the primary header at LBA 1 (sector size 512 or 4096,
/// whichever holds `EFI PART`), or the backup at the last LBA when the
/// primary is missing or corrupt.
fn gpt(dev: &dyn Device) -> io::Result<Table> {
    let mut t = Table {
        kind: Some(TableKind::Gpt),
        sector_size: 512,
        ..Table::default()
    };
    let mut why = Vec::new();
    for ss in [512u64, 4096] {
        match gpt_at(dev, ss, 1) {
            Ok(parts) => {
                t.sector_size = ss;
                t.partitions = parts;
                return Ok(t);
            }
            Err(e) => why.push(format!("{ss}-byte sectors: {e}")),
        }
    }
    for ss in [512u64, 4096] {
        let last = match (dev.len() / ss).checked_sub(1) {
            Some(l) if l > 1 => l,
            _ => continue,
        };
        if let Ok(parts) = gpt_at(dev, ss, last) {
            t.sector_size = ss;
            t.partitions = parts;
            t.problems.push(format!(
                "the primary GPT header is corrupt ({}); the backup header at LBA {last} was read instead",
                why.join("; ")
            ));
            return Ok(t);
        }
    }
    t.problems.push(format!(
        "a protective MBR names a GPT, but neither the primary nor the backup header is valid ({})",
        why.join("; ")
    ));
    Ok(t)
}

/// Why a GPT header was refused.
#[derive(Debug)]
struct GptError(String);

impl std::fmt::Display for GptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(s: impl Into<String>) -> GptError {
    GptError(s.into())
}

/// Reads and checks the GPT header at `lba` and its entry array.
fn gpt_at(dev: &dyn Device, ss: u64, lba: u64) -> Result<Vec<Partition>, GptError> {
    let mut h = vec![0u8; ss as usize];
    let at = lba
        .checked_mul(ss)
        .ok_or_else(|| bad("header past the end"))?;
    dev.read_at(at, &mut h)
        .map_err(|e| bad(format!("header unreadable: {e}")))?;
    if &h[..8] != b"EFI PART" {
        return Err(bad("no EFI PART signature"));
    }
    let hsize = le32(&h, 12) as usize;
    if !(92..=ss as usize).contains(&hsize) {
        return Err(bad(format!("header size {hsize} out of range")));
    }
    let stored = le32(&h, 16);
    let mut copy = h[..hsize].to_vec();
    copy[16..20].fill(0);
    if crc32(&copy) != stored {
        return Err(bad("header CRC32 mismatch"));
    }
    if le64(&h, 24) != lba {
        return Err(bad("header does not name its own LBA"));
    }
    let entries_lba = le64(&h, 72);
    let count = u64::from(le32(&h, 80));
    let esize = u64::from(le32(&h, 84));
    if esize < 128 || esize % 8 != 0 || esize > 4096 {
        return Err(bad(format!("entry size {esize} out of range")));
    }
    let bytes = count
        .checked_mul(esize)
        .filter(|&b| b <= MAX_GPT_ARRAY)
        .ok_or_else(|| bad(format!("{count} entries of {esize} bytes exceed the cap")))?;
    let mut arr = vec![0u8; bytes as usize];
    let off = entries_lba
        .checked_mul(ss)
        .ok_or_else(|| bad("entry array past the end"))?;
    dev.read_at(off, &mut arr)
        .map_err(|e| bad(format!("entry array unreadable: {e}")))?;
    if crc32(&arr) != le32(&h, 88) {
        return Err(bad("entry array CRC32 mismatch"));
    }
    Ok(gpt_entries(&arr, esize as usize, ss))
}

fn gpt_entries(arr: &[u8], esize: usize, ss: u64) -> Vec<Partition> {
    let mut out = Vec::new();
    for (i, e) in arr.chunks_exact(esize).enumerate() {
        let guid: [u8; 16] = match e[..16].try_into() {
            Ok(g) => g,
            Err(_) => continue,
        };
        if guid == [0u8; 16] {
            continue;
        }
        let first = le64(e, 32);
        let last = le64(e, 40);
        let sectors = last.saturating_sub(first).saturating_add(1);
        let code = guid_text(&guid);
        out.push(Partition {
            index: i as u32 + 1,
            offset: first.saturating_mul(ss),
            size: if last < first {
                0
            } else {
                sectors.saturating_mul(ss)
            },
            type_name: gpt_type_name(&code),
            type_code: code,
        });
    }
    out
}

/// A GUID as text: the first three fields little-endian, as tools print it.
pub fn guid_text(g: &[u8; 16]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13],
        g[14], g[15]
    )
}

/// Partitions outside the device are dropped, those passing its end
/// clipped; either is a problem.
fn clip(t: &mut Table, len: u64) {
    let mut problems = Vec::new();
    t.partitions.retain_mut(|p| {
        if p.size == 0 {
            problems.push(format!("partition {} is empty or inverted; skipped", p.index));
            return false;
        }
        if p.offset >= len {
            problems.push(format!(
                "partition {} starts at byte {} past the device's end ({len}); skipped",
                p.index, p.offset
            ));
            return false;
        }
        let avail = len - p.offset;
        if p.size > avail {
            problems.push(format!(
                "partition {} ends at byte {} past the device's end ({len}); clipped to {avail} bytes",
                p.index,
                p.offset.saturating_add(p.size)
            ));
            p.size = avail;
        }
        true
    });
    t.problems.extend(problems);
}

fn boot_region(t: &Table, len: u64) -> u64 {
    let first = t
        .partitions
        .iter()
        .map(|p| p.offset)
        .min()
        .unwrap_or(MAX_BOOT_REGION);
    first
        .min(MAX_BOOT_REGION)
        .min(len)
        .max(t.sector_size.min(len))
}

/// Names of common MBR partition types.
pub fn mbr_type_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        0x01 => "FAT12",
        0x04 => "FAT16 (<32M)",
        0x05 => "extended",
        0x06 => "FAT16",
        0x07 => "NTFS/exFAT",
        0x0b => "FAT32",
        0x0c => "FAT32 (LBA)",
        0x0e => "FAT16 (LBA)",
        0x0f => "extended (LBA)",
        0x11 => "hidden FAT12",
        0x14 => "hidden FAT16 (<32M)",
        0x16 => "hidden FAT16",
        0x17 => "hidden NTFS/exFAT",
        0x1b => "hidden FAT32",
        0x1c => "hidden FAT32 (LBA)",
        0x1e => "hidden FAT16 (LBA)",
        0x27 => "Windows recovery (hidden NTFS)",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xa6 => "OpenBSD",
        0xaf => "Apple HFS/HFS+",
        0xee => "GPT protective",
        0xef => "EFI system",
        0xfd => "Linux RAID",
        _ => return None,
    })
}

/// Names of common GPT partition type GUIDs.
pub fn gpt_type_name(guid: &str) -> Option<&'static str> {
    Some(match guid {
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI system",
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "basic data",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" => "Microsoft reserved",
        "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC" => "Windows recovery",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux filesystem",
        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F" => "Linux swap",
        "E6D6D379-F507-44C2-A23C-238F2A3DF928" => "Linux LVM",
        "A19D880F-05FC-4D3B-A006-743F0F84911E" => "Linux RAID",
        "21686148-6449-6E6F-744E-656564454649" => "BIOS boot",
        "48465300-0000-11AA-AA11-00306543ECAC" => "Apple HFS+",
        "7C3457EF-0000-11AA-AA11-00306543ECAC" => "Apple APFS",
        "516E7CB4-6ECF-11D6-8FF8-00022D09712B" => "FreeBSD data",
        _ => return None,
    })
}

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC32 (IEEE 802.3, reflected), as GPT uses it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests;
