//! Reads a volume's label and serial or UUID straight from its first
//! sectors (FAT12/16/32, exFAT, NTFS, ext2/3/4, ISO 9660), for the medium's
//! identity in session records. Pure parsing of at most 64 KiB; any error
//! just means "unknown".

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    pub label: Option<String>,
    pub uuid: Option<String>,
    pub serial: Option<String>,
}

/// Probes a device node or image file; None when unreadable or unknown.
pub fn probe(source: &Path) -> Option<Volume> {
    #[cfg(windows)]
    if let Some(v) = super::windows::volume_identity(source) {
        return Some(v);
    }
    if !source.is_absolute() {
        return None;
    }
    let meta = std::fs::metadata(source).ok()?;
    #[cfg(unix)]
    let block = std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type());
    #[cfg(windows)]
    let block = false;
    if !(meta.is_file() || block) {
        return None;
    }
    let mut f = std::fs::File::open(source).ok()?;
    let mut head = vec![0u8; 4096];
    let n = read_full(&mut f, &mut head).ok()?;
    head.truncate(n);
    if let Some(v) = parse_boot_sector(&head) {
        return Some(v);
    }
    // ext superblock at 1024; ISO 9660 primary descriptor at 32768.
    if let Some(v) = parse_ext(&head) {
        return Some(v);
    }
    let mut pvd = vec![0u8; 2048];
    f.seek(SeekFrom::Start(32768)).ok()?;
    let n = read_full(&mut f, &mut pvd).ok()?;
    parse_iso(&pvd[..n])
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let r = f.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n)
}

/// A label or serial from on-disk bytes, padding trimmed, in the one text
/// form of names (a hostile label stays unambiguous and inert).
fn text(b: &[u8]) -> Option<String> {
    let pad = |c: &u8| *c == 0 || c.is_ascii_whitespace();
    let start = b.iter().position(|c| !pad(c))?;
    let end = b.iter().rposition(|c| !pad(c))? + 1;
    let s = crate::engine::pathfmt::bytes_to_string(&b[start..end]);
    (s != "NO NAME").then_some(s)
}

/// FAT, exFAT and NTFS boot sectors.
pub fn parse_boot_sector(b: &[u8]) -> Option<Volume> {
    if b.len() < 512 || b[510] != 0x55 || b[511] != 0xAA {
        return None;
    }
    if &b[3..11] == b"EXFAT   " {
        let serial = u32::from_le_bytes(b[100..104].try_into().ok()?);
        return Some(Volume {
            label: None,
            uuid: None,
            serial: Some(format!("{:04X}-{:04X}", serial >> 16, serial & 0xFFFF)),
        });
    }
    if &b[3..11] == b"NTFS    " {
        let serial = u64::from_le_bytes(b[72..80].try_into().ok()?);
        return Some(Volume {
            label: None,
            uuid: None,
            serial: Some(format!("{serial:016X}")),
        });
    }
    // FAT32 extended boot record at 0x40, FAT12/16 at 0x24; signature 0x29.
    let (sig, id, label) = if &b[82..87] == b"FAT32" {
        (b[66], &b[67..71], &b[71..82])
    } else if &b[54..57] == b"FAT" {
        (b[38], &b[39..43], &b[43..54])
    } else {
        return None;
    };
    if sig != 0x29 && sig != 0x28 {
        return Some(Volume::default());
    }
    let serial = u32::from_le_bytes(id.try_into().ok()?);
    Some(Volume {
        label: if sig == 0x29 { text(label) } else { None },
        uuid: None,
        serial: Some(format!("{:04X}-{:04X}", serial >> 16, serial & 0xFFFF)),
    })
}

/// ext2/3/4 superblock (at byte 1024 of `b`).
pub fn parse_ext(b: &[u8]) -> Option<Volume> {
    let sb = b.get(1024..1024 + 264)?;
    if sb[0x38] != 0x53 || sb[0x39] != 0xEF {
        return None;
    }
    let u = &sb[0x68..0x78];
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        hex::encode(&u[0..4]),
        hex::encode(&u[4..6]),
        hex::encode(&u[6..8]),
        hex::encode(&u[8..10]),
        hex::encode(&u[10..16])
    );
    Some(Volume {
        label: text(&sb[0x78..0x88]),
        uuid: Some(uuid),
        serial: None,
    })
}

/// ISO 9660 primary volume descriptor.
pub fn parse_iso(pvd: &[u8]) -> Option<Volume> {
    if pvd.len() < 830 || pvd[0] != 1 || &pvd[1..6] != b"CD001" {
        return None;
    }
    Some(Volume {
        label: text(&pvd[40..72]),
        // The volume creation date doubles as the "UUID" blkid reports.
        uuid: text(&pvd[813..829]),
        serial: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat32_label_and_serial() {
        let mut b = vec![0u8; 512];
        b[510] = 0x55;
        b[511] = 0xAA;
        b[82..87].copy_from_slice(b"FAT32");
        b[66] = 0x29;
        b[67..71].copy_from_slice(&0x1234_ABCDu32.to_le_bytes());
        b[71..82].copy_from_slice(b"CONTRACTOR ");
        let v = parse_boot_sector(&b).unwrap();
        assert_eq!(v.serial.as_deref(), Some("1234-ABCD"));
        assert_eq!(v.label.as_deref(), Some("CONTRACTOR"));
    }

    #[test]
    fn fat16_and_garbage() {
        let mut b = vec![0u8; 512];
        b[510] = 0x55;
        b[511] = 0xAA;
        b[54..59].copy_from_slice(b"FAT16");
        b[38] = 0x29;
        b[39..43].copy_from_slice(&1u32.to_le_bytes());
        b[43..54].copy_from_slice(b"NO NAME    ");
        let v = parse_boot_sector(&b).unwrap();
        assert_eq!(v.label, None);
        assert_eq!(v.serial.as_deref(), Some("0000-0001"));
        assert!(parse_boot_sector(&[0u8; 100]).is_none());
        assert!(parse_ext(&[0u8; 100]).is_none());
    }

    #[test]
    fn ext_superblock() {
        let mut b = vec![0u8; 2048];
        b[1024 + 0x38] = 0x53;
        b[1024 + 0x39] = 0xEF;
        for i in 0..16 {
            b[1024 + 0x68 + i] = i as u8;
        }
        b[1024 + 0x78..1024 + 0x7C].copy_from_slice(b"DATA");
        let v = parse_ext(&b).unwrap();
        assert_eq!(
            v.uuid.as_deref(),
            Some("00010203-0405-0607-0809-0a0b0c0d0e0f")
        );
        assert_eq!(v.label.as_deref(), Some("DATA"));
    }
}
