use super::*;
use crate::device::MemDevice;

const MIB: u64 = 1 << 20;

fn put_slot(img: &mut [u8], sector_off: usize, slot: usize, kind: u8, start: u32, sectors: u32) {
    let e = sector_off + 446 + 16 * slot;
    img[e + 4] = kind;
    img[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
    img[e + 12..e + 16].copy_from_slice(&sectors.to_le_bytes());
    img[sector_off + 510] = 0x55;
    img[sector_off + 511] = 0xAA;
}

fn table(img: Vec<u8>) -> Table {
    read_table(&MemDevice(img.into())).unwrap()
}

/// 2 primaries, an extended with 2 logicals, on a 16 MiB disk.
fn mbr_image() -> Vec<u8> {
    let mut img = vec![0u8; 16 * MIB as usize];
    put_slot(&mut img, 0, 0, 0x0c, 2048, 4096);
    put_slot(&mut img, 0, 1, 0x83, 6144, 4096);
    put_slot(&mut img, 0, 2, 0x05, 10240, 20480);
    // EBR 1 at 10240: logical at +2048, next EBR at ext+8192.
    put_slot(&mut img, 10240 * 512, 0, 0x07, 2048, 4096);
    put_slot(&mut img, 10240 * 512, 1, 0x05, 8192, 8192);
    // EBR 2 at 18432: logical at +2048, end of chain.
    put_slot(&mut img, 18432 * 512, 0, 0x83, 2048, 4096);
    img
}

#[test]
fn mbr_primaries_and_logicals_numbered_as_linux() {
    let t = table(mbr_image());
    assert_eq!(t.kind, Some(TableKind::Mbr));
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let got: Vec<_> = t
        .partitions
        .iter()
        .map(|p| (p.index, p.offset / 512, p.size / 512, p.type_text()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 2048, 4096, "0x0c FAT32 (LBA)".to_string()),
            (2, 6144, 4096, "0x83 Linux".to_string()),
            (5, 12288, 4096, "0x07 NTFS/exFAT".to_string()),
            (6, 20480, 4096, "0x83 Linux".to_string()),
        ]
    );
    assert_eq!(t.boot_region, MIB);
}

#[test]
fn looping_chain_is_a_problem() {
    let mut img = mbr_image();
    // EBR 2 links back to EBR 1 (relative 0 is "none", so use the first
    // link's own offset: ext + 0 is EBR 1; make EBR 2 point at +8192 = itself).
    put_slot(&mut img, 18432 * 512, 1, 0x05, 8192, 8192);
    let t = table(img);
    assert_eq!(t.partitions.len(), 4);
    assert!(
        t.problems.iter().any(|p| p.contains("loops")),
        "{:?}",
        t.problems
    );
}

#[test]
fn partition_past_the_end_is_clipped_and_reported() {
    let mut img = vec![0u8; 4 * MIB as usize];
    put_slot(&mut img, 0, 0, 0x0c, 2048, 100_000);
    put_slot(&mut img, 0, 1, 0x83, 1_000_000, 10);
    let t = table(img);
    assert_eq!(t.partitions.len(), 1);
    assert_eq!(t.partitions[0].size, 3 * MIB);
    assert_eq!(t.problems.len(), 2, "{:?}", t.problems);
}

#[test]
fn no_signature_or_fat_boot_sector_is_bare() {
    assert_eq!(table(vec![0u8; 8192]).kind, None);
    let mut fat = vec![0u8; 8192];
    fat[0] = 0xEB;
    fat[3..11].copy_from_slice(b"MSDOS5.0");
    fat[446..510].fill(b'x');
    fat[510] = 0x55;
    fat[511] = 0xAA;
    let t = table(fat);
    assert_eq!(t.kind, None);
    assert_eq!(t.boot_region, 0);
    assert_eq!(table(vec![1u8; 100]).kind, None);
}

fn guid_bytes(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut b = [0u8; 16];
    for i in 0..16 {
        b[i] = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

fn write_gpt(
    img: &mut [u8],
    ss: usize,
    lba: u64,
    alt: u64,
    entries_lba: u64,
    parts: &[(&str, u64, u64)],
) {
    let mut arr = vec![0u8; 128 * 128];
    for (i, (ty, first, last)) in parts.iter().enumerate() {
        let e = &mut arr[i * 128..(i + 1) * 128];
        e[..16].copy_from_slice(&guid_bytes(ty));
        e[16] = i as u8 + 1;
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
    }
    let off = entries_lba as usize * ss;
    img[off..off + arr.len()].copy_from_slice(&arr);
    let h = lba as usize * ss;
    let hdr = &mut img[h..h + 92];
    hdr[..8].copy_from_slice(b"EFI PART");
    hdr[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    hdr[12..16].copy_from_slice(&92u32.to_le_bytes());
    hdr[24..32].copy_from_slice(&lba.to_le_bytes());
    hdr[32..40].copy_from_slice(&alt.to_le_bytes());
    hdr[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    hdr[80..84].copy_from_slice(&128u32.to_le_bytes());
    hdr[84..88].copy_from_slice(&128u32.to_le_bytes());
    hdr[88..92].copy_from_slice(&crc32(&arr).to_le_bytes());
    let c = crc32(hdr);
    hdr[16..20].copy_from_slice(&c.to_le_bytes());
}

fn gpt_image(ss: usize) -> Vec<u8> {
    let len = 8 * MIB as usize;
    let last = (len / ss) as u64 - 1;
    let mut img = vec![0u8; len];
    put_slot(&mut img, 0, 0, 0xEE, 1, u32::try_from(last).unwrap());
    let parts = [
        (
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            MIB / ss as u64,
            2 * MIB / ss as u64 - 1,
        ),
        (
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
            2 * MIB / ss as u64,
            6 * MIB / ss as u64 - 1,
        ),
    ];
    let array_sectors = (128 * 128 / ss) as u64;
    write_gpt(&mut img, ss, 1, last, 2, &parts);
    write_gpt(&mut img, ss, last, 1, last - array_sectors, &parts);
    img
}

#[test]
fn gpt_512_and_4096() {
    for ss in [512usize, 4096] {
        let t = table(gpt_image(ss));
        assert_eq!(t.kind, Some(TableKind::Gpt));
        assert_eq!(t.sector_size, ss as u64);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        let got: Vec<_> = t
            .partitions
            .iter()
            .map(|p| (p.index, p.offset, p.size, p.type_text()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, MIB, MIB, "EFI system".to_string()),
                (2, 2 * MIB, 4 * MIB, "basic data".to_string()),
            ]
        );
        assert_eq!(t.boot_region, MIB);
    }
}

#[test]
fn corrupt_primary_gpt_falls_back_to_backup() {
    let mut img = gpt_image(512);
    img[512 + 16] ^= 0xFF; // header CRC
    let t = table(img);
    assert_eq!(t.partitions.len(), 2);
    assert!(
        t.problems.iter().any(|p| p.contains("backup")),
        "{:?}",
        t.problems
    );
    let mut img = gpt_image(512);
    img[1024 + 40] ^= 1; // entry array
    let t = table(img);
    assert_eq!(t.partitions.len(), 2);
    assert!(
        t.problems.iter().any(|p| p.contains("entry array CRC32")),
        "{:?}",
        t.problems
    );
}

#[test]
fn both_gpt_headers_corrupt_is_a_problem() {
    let mut img = gpt_image(512);
    img[512 + 16] ^= 0xFF;
    let n = img.len();
    img[n - 512 + 16] ^= 0xFF;
    let t = table(img);
    assert_eq!(t.kind, Some(TableKind::Gpt));
    assert!(t.partitions.is_empty());
    assert_eq!(t.problems.len(), 1);
}

#[test]
fn crc32_known_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn guid_round_trip() {
    let g = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
    assert_eq!(guid_text(&guid_bytes(g)), g);
}
