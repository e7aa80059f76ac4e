//! Names in FAT directories: 8.3 short names (raw OEM bytes, with the
//! Windows NT lower-case flags applied), VFAT long names gathered from
//! their entries and accepted only when their order and checksum match the
//! short entry they precede (as WTF-8, `crate::bytes`).

use crate::bytes::wtf8_from_utf16;

/// The checksum of an 11-byte short name that its long-name entries carry.
pub(crate) fn short_checksum(name: &[u8; 11]) -> u8 {
    name.iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// The short name of a 32-byte entry as a path component: base and
/// extension with trailing spaces cut, joined by `.`, lower-cased where the
/// entry's NT flags say (byte 12: 0x08 base, 0x10 extension). A first
/// byte 0x05 stands for 0xE5.
pub(crate) fn short_name(entry: &[u8; 32]) -> Vec<u8> {
    let mut raw = [0u8; 11];
    raw.copy_from_slice(&entry[..11]);
    if raw[0] == 0x05 {
        raw[0] = 0xE5;
    }
    let trim = |s: &[u8]| -> Vec<u8> {
        let end = s.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
        s[..end].to_vec()
    };
    let mut base = trim(&raw[..8]);
    let mut ext = trim(&raw[8..]);
    if entry[12] & 0x08 != 0 {
        base.make_ascii_lowercase();
    }
    if entry[12] & 0x10 != 0 {
        ext.make_ascii_lowercase();
    }
    if !ext.is_empty() {
        base.push(b'.');
        base.extend_from_slice(&ext);
    }
    base
}

/// Long-name entries met so far, waiting for their short entry.
#[derive(Default)]
pub(crate) struct LongName {
    /// UTF-16 units, 13 per entry, in name order.
    units: Vec<u16>,
    /// The sequence number the next entry must carry (0: none pending).
    expect: u8,
    checksum: u8,
}

impl LongName {
    /// Forgets a pending name (a deleted entry or a broken sequence).
    pub fn reset(&mut self) {
        self.units.clear();
        self.expect = 0;
    }

    /// Takes one long-name entry (attribute 0x0F). Entries come last part
    /// first: the first carries 0x40 and the count, each next one count-1.
    pub fn push(&mut self, e: &[u8; 32]) {
        let ord = e[0] & 0x1F;
        if e[0] & 0x40 != 0 {
            self.reset();
            if ord == 0 || ord > 20 {
                return;
            }
            self.units = vec![0xFFFF; usize::from(ord) * 13];
            self.checksum = e[13];
        } else if self.expect == 0 || ord != self.expect || e[13] != self.checksum {
            self.reset();
            return;
        }
        let at = usize::from(ord - 1) * 13;
        let pos = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (i, p) in pos.iter().enumerate() {
            self.units[at + i] = u16::from_le_bytes([e[*p], e[p + 1]]);
        }
        self.expect = ord - 1;
    }

    /// The long name for the short entry `short` (its 11 name bytes), if a
    /// whole sequence with a matching checksum precedes it. Clears the
    /// pending name either way.
    pub fn finish(&mut self, short: &[u8; 11]) -> Option<Vec<u8>> {
        let complete = self.expect == 0 && !self.units.is_empty();
        // Fuzzing builds accept any checksum, so the fuzzer reaches the
        // name assembly past it.
        #[allow(unexpected_cfgs)]
        let sum_ok = cfg!(fuzzing) || self.checksum == short_checksum(short);
        let ok = complete && sum_ok;
        let units = std::mem::take(&mut self.units);
        self.reset();
        if !ok {
            return None;
        }
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        let name = &units[..end];
        if name.is_empty() {
            return None;
        }
        Some(wtf8_from_utf16(name.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wtf8_keeps_unpaired_surrogates() {
        assert_eq!(wtf8_from_utf16([0x61, 0xD83D, 0xDE00]), "a😀".as_bytes());
        assert_eq!(
            wtf8_from_utf16([0xD800, 0x62]),
            vec![0xED, 0xA0, 0x80, b'b']
        );
    }

    #[test]
    fn short_names_take_case_flags() {
        let mut e = [b' '; 32];
        e[..11].copy_from_slice(b"README  TXT");
        e[12] = 0;
        assert_eq!(short_name(&e), b"README.TXT");
        e[12] = 0x18;
        assert_eq!(short_name(&e), b"readme.txt");
        e[..11].copy_from_slice(b"\x05ABC       ");
        e[12] = 0;
        assert_eq!(short_name(&e), b"\xE5ABC");
    }

    fn lfn_entry(ord: u8, sum: u8, chars: &[u16]) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = ord;
        e[11] = 0x0F;
        e[13] = sum;
        let pos = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (i, p) in pos.iter().enumerate() {
            let u = chars.get(i).copied().unwrap_or(0xFFFF);
            e[*p..p + 2].copy_from_slice(&u.to_le_bytes());
        }
        e
    }

    #[test]
    fn long_names_need_order_and_checksum() {
        let short = *b"LONGNA~1TXT";
        let sum = short_checksum(&short);
        let name: Vec<u16> = "a long file name.txt".encode_utf16().collect();
        let mut tail = name[13..].to_vec();
        tail.push(0);
        let mut l = LongName::default();
        l.push(&lfn_entry(0x42, sum, &tail));
        l.push(&lfn_entry(0x01, sum, &name[..13]));
        assert_eq!(l.finish(&short).unwrap(), b"a long file name.txt");
        // Wrong checksum: the short name stands.
        l.push(&lfn_entry(0x42, sum ^ 1, &tail));
        l.push(&lfn_entry(0x01, sum ^ 1, &name[..13]));
        assert_eq!(l.finish(&short), None);
        // A missing part: the short name stands.
        l.push(&lfn_entry(0x42, sum, &tail));
        assert_eq!(l.finish(&short), None);
    }
}
