//! `archive::walk` against archives generated at test time: EICAR found
//! with its chain through nesting and office documents, and hostile archives
//! (bombs, lying headers, truncation, hostile names) finishing in bounded
//! time with the right skips and suspicious events.

use crate::support::archive as a;
use kensa::engine::archive::{
    detect, walk, ArchiveLimits, ContainerKind, MemberEvent, RULE_DEPTH_BOMB, RULE_RATIO_BOMB,
    RULE_ZIP_OVERLAP,
};
use kensa::findings::SkipReason;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum Ev {
    Member {
        chain: Vec<String>,
        len: usize,
        /// Kept only for small members.
        data: Option<Vec<u8>>,
        complete: bool,
    },
    Skip {
        chain: Vec<String>,
        reason: SkipReason,
        detail: String,
    },
    Suspicious {
        chain: Vec<String>,
        rule: &'static str,
    },
}

struct Run {
    events: Vec<Ev>,
    elapsed: Duration,
}

impl Run {
    fn members(&self) -> impl Iterator<Item = (&Vec<String>, usize, Option<&Vec<u8>>)> {
        self.events.iter().filter_map(|e| match e {
            Ev::Member {
                chain, len, data, ..
            } => Some((chain, *len, data.as_ref())),
            _ => None,
        })
    }

    fn member(&self, chain: &[&str]) -> Option<&Vec<u8>> {
        self.members()
            .find(|(c, _, _)| c.iter().map(String::as_str).eq(chain.iter().copied()))
            .and_then(|(_, _, d)| d)
    }

    fn skips(&self, reason: SkipReason) -> Vec<(&Vec<String>, &str)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Skip {
                    chain,
                    reason: r,
                    detail,
                } if *r == reason => Some((chain, detail.as_str())),
                _ => None,
            })
            .collect()
    }

    fn has_limit(&self, name: &str) -> bool {
        self.skips(SkipReason::ArchiveLimit)
            .iter()
            .any(|(_, d)| d.starts_with(name))
    }

    fn suspicious(&self, rule: &str) -> usize {
        self.suspicious_chains(rule).len()
    }

    fn suspicious_chains(&self, rule: &str) -> Vec<&Vec<String>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Suspicious { chain, rule: r } if *r == rule => Some(chain),
                _ => None,
            })
            .collect()
    }

    fn assert_bounded(&self, limits: &ArchiveLimits) {
        assert!(
            self.elapsed < Duration::from_secs(10),
            "took {:?}",
            self.elapsed
        );
        let total: usize = self.members().map(|(_, l, _)| l).sum();
        assert!(
            total as u64 <= limits.max_total_bytes,
            "members total {total} bytes"
        );
        for (c, l, _) in self.members() {
            assert!(l as u64 <= limits.max_member_size, "{c:?} has {l} bytes");
        }
    }
}

fn run_with(data: &[u8], limits: &ArchiveLimits) -> Run {
    let mut events = Vec::new();
    let t = Instant::now();
    walk(data, limits, &mut |e| {
        events.push(match e {
            MemberEvent::Member {
                chain,
                data,
                complete,
            } => Ev::Member {
                chain: chain.to_vec(),
                len: data.len(),
                data: (data.len() < 1 << 20).then(|| data.to_vec()),
                complete,
            },
            MemberEvent::Skip {
                chain,
                reason,
                detail,
            } => Ev::Skip {
                chain: chain.to_vec(),
                reason,
                detail,
            },
            MemberEvent::Suspicious { chain, rule, .. } => Ev::Suspicious {
                chain: chain.to_vec(),
                rule,
            },
        })
    });
    Run {
        events,
        elapsed: t.elapsed(),
    }
}

fn run(data: &[u8]) -> Run {
    run_with(data, &ArchiveLimits::default())
}

fn no_gaps(r: &Run) {
    let gaps: Vec<_> = r
        .events
        .iter()
        .filter(|e| matches!(e, Ev::Skip { .. } | Ev::Suspicious { .. }))
        .collect();
    assert!(gaps.is_empty(), "unexpected: {gaps:?}");
}

#[test]
fn eicar_in_zip_in_tar_gz_has_its_chain() {
    let data = a::eicar_zip_in_tar_gz();
    assert_eq!(detect(&data), Some(ContainerKind::Gzip));
    let r = run(&data);
    no_gaps(&r);
    assert_eq!(
        r.member(&["docs/inner.zip", "inner/payload.com"]),
        Some(&a::eicar())
    );
    // The gzip layer adds no chain element; its tar stream is a member too.
    assert!(r.member(&[]).is_some());
    assert_eq!(r.member(&["docs/notes.txt"]), Some(&b"plain".to_vec()));
    assert!(r.member(&["docs/inner.zip"]).is_some());
}

#[test]
fn eicar_in_docx() {
    let r = run(&a::eicar_docx());
    no_gaps(&r);
    assert_eq!(
        r.member(&["word/embeddings/oleObject1.bin"]),
        Some(&a::eicar())
    );
    assert!(r.member(&["[Content_Types].xml"]).is_some());
}

#[test]
fn eicar_in_tar_xz_tar_bz2_and_multi_member_gzip() {
    let t = a::tar(&[("x/payload.com", &a::eicar())]);

    let mut xz = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
        .expect("xz writer");
    xz.write_all(&t).unwrap();
    let xz = xz.finish().unwrap();
    assert_eq!(detect(&xz), Some(ContainerKind::Xz));
    let r = run(&xz);
    no_gaps(&r);
    assert_eq!(r.member(&["x/payload.com"]), Some(&a::eicar()));

    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&t).unwrap();
    let bz = bz.finish().unwrap();
    assert_eq!(detect(&bz), Some(ContainerKind::Bzip2));
    let r = run(&bz);
    no_gaps(&r);
    assert_eq!(r.member(&["x/payload.com"]), Some(&a::eicar()));

    // Two gzip members concatenated: the EICAR half is in the second.
    let (head, tail) = t.split_at(700);
    let mut gz = a::gzip(head);
    gz.extend(a::gzip(tail));
    let r = run(&gz);
    no_gaps(&r);
    assert_eq!(r.member(&["x/payload.com"]), Some(&a::eicar()));
}

#[test]
fn nested_zip_bomb_is_suspicious_and_bounded() {
    // 8^3 leaves of 32 MiB: 16 GiB if fully expanded.
    let data = a::nested_bomb(3, 8, 32 << 20);
    let limits = ArchiveLimits::default();
    let r = run_with(&data, &limits);
    r.assert_bounded(&limits);
    assert_eq!(r.suspicious(RULE_RATIO_BOMB), 1, "{:?}", r.events);
    assert!(r.has_limit("max_ratio"));
    // The bomb was caught at a leaf, three levels down.
    let (chain, _) = r.skips(SkipReason::ArchiveLimit)[0];
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert_eq!(r.suspicious_chains(RULE_RATIO_BOMB)[0], chain);
}

#[test]
fn overlapping_entry_zip_bomb_is_suspicious_and_bounded() {
    // 4000 entries sharing one deflated 8 MiB kernel: 32 GiB declared.
    let data = a::overlap_bomb(8 << 20, 4000);
    let limits = ArchiveLimits::default();
    let r = run_with(&data, &limits);
    r.assert_bounded(&limits);
    assert_eq!(r.suspicious(RULE_ZIP_OVERLAP), 1);
    // Each entry is only 8 MiB, below the per-member ratio floor; the
    // whole-file ratio stops it.
    assert_eq!(
        r.suspicious(RULE_RATIO_BOMB),
        1,
        "{:?}",
        r.skips(SkipReason::ArchiveLimit)
    );
    assert!(r.has_limit("max_ratio"));
    assert!(r.members().count() < 100);
}

#[test]
fn overlapping_entries_without_ratio_hit_the_total_limit() {
    let data = a::overlap_bomb(8 << 20, 4000);
    let limits = ArchiveLimits {
        max_ratio: u64::MAX,
        ..ArchiveLimits::default()
    };
    let r = run_with(&data, &limits);
    r.assert_bounded(&limits);
    assert!(
        r.has_limit("max_total_bytes"),
        "{:?}",
        r.skips(SkipReason::ArchiveLimit)
    );
}

#[test]
fn high_ratio_single_member_is_suspicious() {
    let data = a::high_ratio_zip(1 << 30);
    let limits = ArchiveLimits::default();
    let r = run_with(&data, &limits);
    r.assert_bounded(&limits);
    assert_eq!(r.suspicious(RULE_RATIO_BOMB), 1);
    assert!(r.has_limit("max_ratio"));
    assert_eq!(r.members().count(), 0, "a bomb member is not handed out");
    assert_eq!(
        r.suspicious_chains(RULE_RATIO_BOMB)[0].as_slice(),
        ["zeros.bin"]
    );
}

#[test]
fn zip_with_100k_empty_members_stops_at_member_limit() {
    let data = a::many_empty(100_000);
    let limits = ArchiveLimits::default();
    let r = run_with(&data, &limits);
    r.assert_bounded(&limits);
    assert_eq!(r.members().count() as u64, limits.max_members);
    assert!(r.has_limit("max_members"));
    assert_eq!(r.suspicious(RULE_RATIO_BOMB), 0);
}

#[test]
fn declared_sizes_that_lie_are_ignored() {
    let r = run(&a::lying_sizes());
    // Both members are read in full, whatever the headers claim.
    assert_eq!(r.member(&["claims-4-bytes.com"]), Some(&a::eicar()));
    assert_eq!(r.member(&["claims-4-GiB.com"]), Some(&a::eicar()));
    no_gaps(&r);
}

#[test]
fn truncated_zip_scans_the_readable_part() {
    let r = run(&a::truncated());
    assert_eq!(r.member(&["first.com"]), Some(&a::eicar()));
    let corrupt = r.skips(SkipReason::Corrupt);
    assert!(corrupt.len() >= 2, "{corrupt:?}");
    // The cut member: its readable part is handed out, marked incomplete.
    assert!(r.events.iter().any(|e| matches!(e,
        Ev::Member { chain, complete: false, len, .. } if chain == &["second.bin"] && *len > 0)));
    assert!(corrupt.iter().any(|(c, _)| c.as_slice() == ["second.bin"]));
    assert!(r.member(&["third.txt"]).is_none());
}

#[test]
fn hostile_names_are_carried_as_data() {
    let dir = std::env::current_dir().unwrap();
    let before = std::fs::read_dir(&dir).unwrap().count();
    let r = run(&a::hostile_names());
    no_gaps(&r);
    for name in a::HOSTILE_NAMES {
        let shown = kensa::engine::pathfmt::bytes_to_string(name.as_bytes());
        assert_eq!(r.member(&[&shown]), Some(&a::eicar()), "{name:?}");
    }
    let after = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(before, after, "nothing written next to the test");
    assert!(!std::path::Path::new("/etc/x").exists());
}

#[test]
fn encrypted_member_is_an_encrypted_skip() {
    let r = run(&a::encrypted());
    let enc = r.skips(SkipReason::Encrypted);
    assert_eq!(enc.len(), 1);
    assert_eq!(enc[0].0.as_slice(), ["secret.bin"]);
    assert_eq!(r.member(&["open.txt"]), Some(&b"readable".to_vec()));
}

#[test]
fn depth_bomb_is_suspicious() {
    let limits = ArchiveLimits::default();
    let data = a::deep_zip(limits.max_depth + 4);
    let r = run_with(&data, &limits);
    r.assert_bounded(&limits);
    assert_eq!(r.suspicious(RULE_DEPTH_BOMB), 1);
    assert!(r.has_limit("max_depth"));
    // Containers down to the limit were still opened and handed out.
    let deepest = r.members().map(|(c, _, _)| c.len()).max().unwrap();
    assert_eq!(deepest as u32, limits.max_depth);
    // A tree within the limit is not flagged.
    let r = run(&a::deep_zip(limits.max_depth));
    no_gaps(&r);
}

#[test]
fn member_size_limit_skips_one_member_and_continues() {
    let big = vec![7u8; 300_000];
    let data = a::zip(&[
        a::RawEntry::deflated("big.bin", &big),
        a::RawEntry::stored("after.com", &a::eicar()),
    ]);
    let limits = ArchiveLimits {
        max_member_size: 100_000,
        ..ArchiveLimits::default()
    };
    let r = run_with(&data, &limits);
    assert!(r.has_limit("max_member_size"));
    assert!(r.member(&["big.bin"]).is_none());
    assert_eq!(r.member(&["after.com"]), Some(&a::eicar()));
}

#[test]
fn time_limit_stops_the_walk() {
    let limits = ArchiveLimits {
        max_time: Duration::ZERO,
        ..ArchiveLimits::default()
    };
    let r = run_with(&a::eicar_docx(), &limits);
    assert!(r.has_limit("max_time"), "{:?}", r.events);
    assert_eq!(r.members().count(), 0);
}

#[test]
fn garbage_after_magic_is_corrupt_not_a_panic() {
    for magic in [
        &b"PK\x03\x04"[..],
        &[0x1f, 0x8b, 0x08][..],
        &[0xfd, b'7', b'z', b'X', b'Z', 0][..],
        &[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c][..],
        &b"BZh91AY&SY"[..],
    ] {
        let mut d = magic.to_vec();
        d.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let r = run(&d);
        assert!(
            !r.skips(SkipReason::Corrupt).is_empty(),
            "{magic:?}: {:?}",
            r.events
        );
    }
}
