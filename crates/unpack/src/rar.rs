//! RAR 1.5–4.x and RAR 5/7 archives (and RAR 1.3, which the same crate
//! reads) through the `rars` crate: pure Rust, Apache-2.0, `unsafe_code =
//! "forbid"`, actively maintained, with reader limits of its own (header
//! count and bytes, member and total output ceilings, a RAR 5 dictionary
//! ceiling, a workspace ledger for decoder state) and cooperative
//! cancellation. Built without its default features: no `parallel` (no
//! Rayon threads), no `write`, no `recovery`, and no `encryption`: an
//! encrypted member is a [`Gap::Encrypted`] from its header flag, and an
//! archive with encrypted headers (`rar -hp`) stops at the crate's
//! "encryption feature disabled" answer, also [`Gap::Encrypted`]; no
//! password is ever tried.
//!
//! The crate's own limits do not bound CPU, and its documentation says a
//! malformed archive can still make it work hard, so every call into it
//! runs under kensa's limits from outside as well: members are decoded
//! into a writer of ours that refuses bytes past [`Walker::cap`] and past
//! the walk's clock, a watchdog thread cancels the crate's work when the
//! walk's time runs out, a RAR 5 dictionary above [`DICTIONARY_LIMIT`] is
//! refused before it is allocated, and every call is wrapped in
//! `catch_unwind` (a panic in the crate becomes a [`Gap::Corrupt`] that
//! says so). Members are first decoded (all of them at most the walk's
//! remaining byte budget), then visited in archive order, so no visitor
//! code ever runs inside the crate.
//!
//! Names in the chain are the stored names, raw bytes. A member split
//! across volumes is a [`Gap::Unsupported`] (the other volumes are not on
//! hand); in a solid archive a member that cannot be read (encrypted,
//! split, over a limit) ends the walk of that archive with a gap for the
//! rest, since later members depend on it.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rars::{
    Archive, ArchiveMember, ArchiveReadOptions, ArchiveReader, ErrorKind, ExtractionDecision,
    ExtractionErrorAction, ReadCancellation,
};

use crate::walker::{Limit, Walker};
use crate::{Gap, MIB};

/// Largest RAR 5 dictionary a member may declare (RAR 5 archives default
/// to 32 MiB, RAR 7 allows up to 64 GiB): above it the member is a limit
/// gap, and nothing of that size is allocated.
pub(crate) const DICTIONARY_LIMIT: u64 = 256 * MIB;
/// Decoder state (dictionary, PPMd model, filter scratch) the crate may
/// hold for one archive.
const WORKSPACE_LIMIT: u64 = DICTIONARY_LIMIT + 64 * MIB;
/// Header bytes one archive may declare in all (names, extras).
const HEADER_BYTES_LIMIT: u64 = 16 * MIB;

/// How one member's reading ended.
enum Outcome {
    /// Decoded to its end (or to our writer's cap: the walker sees it).
    Read,
    /// The crate failed on it.
    Failed(rars::Error),
    /// Not read: a gap of this kind.
    Gap(Gap, String),
}

/// A member, decoded (or not) before anything is visited.
struct Taken {
    name: Vec<u8>,
    packed: u64,
    data: Rc<RefCell<Vec<u8>>>,
    outcome: Outcome,
}

/// What the extraction callbacks collect, outside the walker.
struct Collect {
    members: Vec<Taken>,
    /// Members admitted so far (the walker's own count comes at visit).
    max_members: u64,
    /// Bytes the collected members may hold in all.
    budget: u64,
    max_member: u64,
    /// The walker's cap when the archive was opened: no member exceeds it.
    walk_cap: usize,
    deadline: Instant,
    /// Index in `members` of the member being decoded now.
    open: Option<usize>,
    /// Bytes the members decoded before the open one hold.
    held: u64,
    /// Members (directories too) the crate has offered so far, of `total`.
    seen: usize,
    total: usize,
    /// Why collecting stopped early, reported after the members.
    rest: Option<(Gap, String)>,
}

/// The writer a member is decoded into: refuses bytes past its cap or
/// the walk's deadline, keeping what fitted.
struct Sink {
    data: Rc<RefCell<Vec<u8>>>,
    cap: usize,
    deadline: Instant,
    refused: Rc<Cell<bool>>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if Instant::now() > self.deadline {
            self.refused.set(true);
            return Err(io::Error::other("kensa: time limit"));
        }
        let mut data = self.data.borrow_mut();
        let room = self.cap.saturating_sub(data.len());
        if buf.len() > room {
            data.extend_from_slice(buf.get(..room).unwrap_or_default());
            self.refused.set(true);
            return Err(io::Error::other("kensa: member size limit"));
        }
        data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Collect {
    /// The callback's decision for `m`, the next member in archive order.
    fn decide(&mut self, m: &ArchiveMember, solid: bool, refused: &Rc<Cell<bool>>) -> Decision {
        if let Some(t) = self.open.take().and_then(|i| self.members.get(i)) {
            self.held = self.held.saturating_add(t.data.borrow().len() as u64);
        }
        self.seen += 1;
        if self.members.len() as u64 > self.max_members {
            // The walker reports the limit when it visits this many.
            return Decision::Stop;
        }
        if Instant::now() > self.deadline {
            self.rest = Some((
                Gap::Limit,
                "max_time reached: rest of the rar not read".into(),
            ));
            return Decision::Stop;
        }
        let meta = &m.meta;
        if meta.is_directory || meta.is_redirection {
            return Decision::Skip;
        }
        let gap = member_gap(m, self.max_member);
        let data = Rc::new(RefCell::new(Vec::new()));
        let taken = |outcome| Taken {
            name: meta.name.clone(),
            packed: meta.packed_size,
            data: Rc::clone(&data),
            outcome,
        };
        if let Some((reason, detail)) = gap {
            self.members.push(taken(Outcome::Gap(reason, detail)));
            if solid && self.seen < self.total {
                self.rest = Some((
                    Gap::Limit,
                    "solid rar: members after an unreadable one not scanned".into(),
                ));
                return Decision::Stop;
            }
            return if solid {
                Decision::Stop
            } else {
                Decision::Skip
            };
        }
        let left = self.budget.saturating_sub(self.held);
        let cap = self.max_member.min(left).saturating_add(1);
        self.open = Some(self.members.len());
        self.members.push(taken(Outcome::Read));
        refused.set(false);
        Decision::Extract(Sink {
            data,
            cap: usize::try_from(cap)
                .unwrap_or(usize::MAX)
                .min(self.walk_cap),
            deadline: self.deadline,
            refused: Rc::clone(refused),
        })
    }

    /// The crate failed on the member being decoded (or, with none open,
    /// on the archive): remember it.
    fn failed(&mut self, e: rars::Error) {
        match self.open.and_then(|i| self.members.get_mut(i)) {
            Some(t) => t.outcome = Outcome::Failed(e),
            None => self.rest = Some(classify(&e)),
        }
        self.open = None;
    }
}

/// Why member `m` is not read, if it is not: encrypted, split across
/// volumes, or declaring more bytes than one member may produce.
fn member_gap(m: &ArchiveMember, max_member: u64) -> Option<(Gap, String)> {
    let meta = &m.meta;
    if meta.is_encrypted {
        Some((Gap::Encrypted, "rar member is encrypted".to_string()))
    } else if meta.is_split_before || meta.is_split_after {
        Some((
            Gap::Unsupported,
            "multi-volume rar: other volumes not on hand".to_string(),
        ))
    } else if meta.unpacked_size > max_member {
        Some((
            Gap::Limit,
            format!(
                "max_member_size ({max_member} bytes): rar member declares {} bytes",
                meta.unpacked_size
            ),
        ))
    } else {
        None
    }
}

enum Decision {
    Extract(Sink),
    Skip,
    Stop,
}

/// The gap a crate error stands for.
fn classify(e: &rars::Error) -> (Gap, String) {
    let gap = match e.kind() {
        ErrorKind::PasswordRequired | ErrorKind::BadPassword => Gap::Encrypted,
        ErrorKind::UnsupportedFeature
            if matches!(
                e.root_cause(),
                rars::Error::FeatureDisabled {
                    feature: "encryption"
                }
            ) =>
        {
            Gap::Encrypted
        }
        ErrorKind::UnsupportedFormat | ErrorKind::UnsupportedFeature => Gap::Unsupported,
        ErrorKind::ResourceLimit | ErrorKind::Cancelled => Gap::Limit,
        _ => Gap::Corrupt,
    };
    let detail = match gap {
        Gap::Encrypted => format!("rar: encrypted ({e})"),
        _ => format!("rar: {e}"),
    };
    (gap, detail)
}

/// Run `f` with a thread that cancels `token` once `left` has passed, so
/// work inside the crate that writes nothing still ends with the walk's
/// clock. Without a thread (spawning failed) the writer's clock check
/// remains.
fn with_watchdog<T>(token: &ReadCancellation, left: Duration, f: impl FnOnce() -> T) -> T {
    std::thread::scope(|s| {
        let (done, wait) = mpsc::channel::<()>();
        let watcher = token.clone();
        let spawned = std::thread::Builder::new()
            .name("kensa-rar-watchdog".into())
            .spawn_scoped(s, move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(left) {
                    watcher.cancel();
                }
            });
        let out = f();
        drop(done);
        drop(spawned);
        out
    })
}

impl Walker<'_, '_> {
    pub(crate) fn rar(&mut self, data: &[u8], offset: usize, depth: u32) {
        let token = ReadCancellation::new();
        let left = self.time_left();
        let mut collect = Collect {
            members: Vec::new(),
            max_members: self.limits.max_members,
            budget: self.total_left(),
            max_member: self.limits.max_member_size,
            walk_cap: self.cap(),
            deadline: Instant::now() + left,
            open: None,
            held: 0,
            seen: 0,
            total: 0,
            rest: None,
        };
        let opened = with_watchdog(&token, left, || {
            let opts = self.rar_options(&token);
            let archive = guarded(|| ArchiveReader::read_with_options(data, opts))?;
            guarded(|| rar_extract(&archive, opts, &mut collect))
        });
        self.rar_visit(collect, depth);
        match opened {
            Ok(()) => {}
            Err(_) if self.stopped => {}
            Err(Failure::Panic) => self.skip(
                Gap::Corrupt,
                format!("rar archive at offset {offset}: the rar reader panicked on it"),
            ),
            Err(Failure::Error(_)) if token.is_cancelled() || self.out_of_time() => {
                self.limit_reached(Limit::Time)
            }
            Err(Failure::Error(e)) => {
                let (gap, detail) = classify(&e);
                self.skip(gap, format!("{detail} (rar archive at offset {offset})"));
            }
        }
    }

    /// The crate's own limits, set from ours.
    fn rar_options<'t>(&self, token: &'t ReadCancellation) -> ArchiveReadOptions<'t> {
        let l = self.limits;
        let member = l.max_member_size.saturating_add(1);
        ArchiveReadOptions::new()
            .with_cancellation(token)
            .with_max_header_count(l.max_members.saturating_mul(4).saturating_add(16))
            .with_max_header_bytes(HEADER_BYTES_LIMIT)
            .with_rar50_dictionary_size_limit(DICTIONARY_LIMIT)
            .with_rar50_buffered_decode_limit(member)
            .with_max_member_output_bytes(member)
            .with_max_total_output_bytes(self.total_left().saturating_add(1))
            .with_max_reader_workspace_bytes(WORKSPACE_LIMIT)
    }

    /// Visit what was collected, in archive order, then say why the rest
    /// was not read (if it was not).
    fn rar_visit(&mut self, collect: Collect, depth: u32) {
        for t in collect.members {
            if !self.admit() {
                return;
            }
            let data = std::mem::take(&mut *t.data.borrow_mut());
            let packed = t.packed.min(data.len() as u64);
            self.named(t.name, |w| match t.outcome {
                Outcome::Read => w.decoded(data, packed, None, depth, "rar member"),
                Outcome::Gap(reason, detail) => w.skip(reason, detail),
                Outcome::Failed(e) => match classify(&e) {
                    (Gap::Corrupt, detail) => {
                        w.decoded(data, packed, Some(detail), depth, "rar member")
                    }
                    (gap, detail) => w.skip(gap, detail),
                },
            });
            if self.stopped {
                return;
            }
        }
        if let Some((gap, detail)) = collect.rest {
            self.skip(gap, detail);
        }
    }
}

/// Why a call into the crate produced nothing.
enum Failure {
    Error(rars::Error),
    Panic,
}

/// Call into the crate, turning a panic into [`Failure::Panic`].
fn guarded<T>(f: impl FnOnce() -> rars::Result<T>) -> Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(Failure::Error),
        Err(_) => Err(Failure::Panic),
    }
}

/// Decode every member of `archive` into `collect`. An error on one
/// independent member is kept with it and the next is tried; any other
/// error ends the archive.
fn rar_extract(
    archive: &Archive,
    opts: ArchiveReadOptions<'_>,
    collect: &mut Collect,
) -> rars::Result<()> {
    let solid = archive.members().any(|m| m.is_solid());
    let total = archive.members().count();
    collect.total = total;
    let refused = Rc::new(Cell::new(false));
    let failures: RefCell<Vec<rars::Error>> = RefCell::new(Vec::new());
    let shared = RefCell::new(collect);
    let result = archive.extract_with_control_and_errors(
        opts,
        |m| {
            let mut c = shared.borrow_mut();
            if let Some(e) = failures.borrow_mut().pop() {
                c.failed(e);
            }
            Ok(match c.decide(m, solid, &refused) {
                Decision::Extract(sink) => ExtractionDecision::Extract(Box::new(sink)),
                Decision::Skip => ExtractionDecision::Skip,
                Decision::Stop => ExtractionDecision::Stop,
            })
        },
        |_, e| {
            if refused.get() {
                // Our writer stopped it: the walker reports the limit.
                return Ok(ExtractionErrorAction::Continue);
            }
            failures.borrow_mut().push(e.clone());
            Ok(ExtractionErrorAction::Continue)
        },
    );
    let c = shared.into_inner();
    if let Some(e) = failures.into_inner().pop() {
        c.failed(e);
    }
    let Err(e) = result else { return Ok(()) };
    let (gap, why) = if refused.get() {
        // Our writer refused more bytes: the walker sees the full cap.
        (Gap::Limit, "a member stopped by a limit".to_string())
    } else if c.open.is_some() {
        let (gap, detail) = classify(&e);
        c.failed(e);
        (gap, detail)
    } else {
        return Err(e);
    };
    if c.seen < total && c.rest.is_none() {
        c.rest = Some((gap, format!("rar: members after {why} not read")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{walk, ArchiveLimits, MemberEvent};

    fn crc32(data: &[u8]) -> u32 {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    }

    /// A RAR 5 variable-length integer.
    fn vint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// One RAR 5 header block: CRC32, size, then `body` (type, flags...).
    fn block(body: &[u8], out: &mut Vec<u8>) {
        let mut sized = Vec::new();
        vint(body.len() as u64, &mut sized);
        sized.extend_from_slice(body);
        out.extend_from_slice(&crc32(&sized).to_le_bytes());
        out.extend_from_slice(&sized);
    }

    /// A RAR 5 archive of stored members, written by hand from the format
    /// description: main header, one file header (with data CRC32) and
    /// data area per member, end of archive.
    fn stored_rar5(files: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = b"Rar!\x1a\x07\x01\x00".to_vec();
        block(&[1, 0, 0], &mut out);
        for (name, data) in files {
            let mut h = vec![2, 2]; // file header, has a data area
            vint(data.len() as u64, &mut h);
            h.push(4); // file flags: data CRC32 present
            vint(data.len() as u64, &mut h);
            h.push(0x20); // attributes
            h.extend_from_slice(&crc32(data).to_le_bytes());
            h.extend_from_slice(&[0, 0]); // stored, version 0; host Windows
            vint(name.len() as u64, &mut h);
            h.extend_from_slice(name);
            block(&h, &mut out);
            out.extend_from_slice(data);
        }
        block(&[5, 0, 0], &mut out);
        out
    }

    /// (chain, data) of each member and (chain, reason) of each skip.
    type Seen = (Vec<(Vec<Vec<u8>>, Vec<u8>)>, Vec<(Vec<Vec<u8>>, Gap)>);

    fn seen(data: &[u8], limits: &ArchiveLimits) -> Seen {
        let (mut members, mut skips) = (Vec::new(), Vec::new());
        walk(data, limits, &mut |ev| match ev {
            MemberEvent::Member { chain, data, .. } => {
                members.push((chain.to_vec(), data.to_vec()))
            }
            MemberEvent::Skip { chain, reason, .. } => skips.push((chain.to_vec(), reason)),
            MemberEvent::Suspicious { .. } => {}
        });
        (members, skips)
    }

    #[test]
    fn stored_rar5_members_come_out_with_their_names() {
        let rar = stored_rar5(&[(b"a.txt", b"hello"), (b"dir\xff/b.bin", &[7u8; 300])]);
        let (members, skips) = seen(&rar, &ArchiveLimits::default());
        assert!(skips.is_empty(), "{skips:?}");
        assert_eq!(members.len(), 2);
        assert_eq!(members[0], (vec![b"a.txt".to_vec()], b"hello".to_vec()));
        assert_eq!(members[1].0, vec![b"dir\xff/b.bin".to_vec()]);
        assert_eq!(members[1].1, vec![7u8; 300]);
    }

    #[test]
    fn a_member_over_the_size_limit_is_a_limit_gap_and_the_next_is_read() {
        let rar = stored_rar5(&[(b"big", &[1u8; 5000]), (b"small", b"ok")]);
        let limits = ArchiveLimits {
            max_member_size: 1000,
            ..ArchiveLimits::default()
        };
        let (members, skips) = seen(&rar, &limits);
        assert_eq!(skips, vec![(vec![b"big".to_vec()], Gap::Limit)]);
        assert_eq!(members, vec![(vec![b"small".to_vec()], b"ok".to_vec())]);
    }

    #[test]
    fn truncated_and_damaged_rar5_are_corrupt_gaps() {
        let rar = stored_rar5(&[(b"a.bin", &[3u8; 4000])]);
        for cut in [20, 60, rar.len() - 2000, rar.len() - 1] {
            let (_, skips) = seen(&rar[..cut], &ArchiveLimits::default());
            assert!(
                skips.iter().any(|(_, g)| *g == Gap::Corrupt),
                "cut at {cut}: {skips:?}"
            );
        }
        let mut bad = rar.clone();
        let at = rar.len() - 100;
        bad[at] ^= 0xff; // member data: its CRC32 no longer matches
        let (_, skips) = seen(&bad, &ArchiveLimits::default());
        assert_eq!(skips, vec![(vec![b"a.bin".to_vec()], Gap::Corrupt)]);
    }

    #[test]
    fn an_empty_rar5_has_nothing_to_report() {
        let (members, skips) = seen(&stored_rar5(&[]), &ArchiveLimits::default());
        assert!(members.is_empty() && skips.is_empty(), "{skips:?}");
    }

    #[test]
    fn the_sink_keeps_its_cap_and_refuses_the_rest() {
        let data = Rc::new(RefCell::new(Vec::new()));
        let refused = Rc::new(Cell::new(false));
        let mut sink = Sink {
            data: Rc::clone(&data),
            cap: 10,
            deadline: Instant::now() + Duration::from_secs(60),
            refused: Rc::clone(&refused),
        };
        assert_eq!(sink.write(b"12345678").ok(), Some(8));
        assert!(sink.write(b"abcde").is_err());
        assert!(refused.get());
        assert_eq!(&*data.borrow(), b"12345678ab");
        let mut late = Sink {
            data: Rc::new(RefCell::new(Vec::new())),
            cap: 10,
            deadline: Instant::now() - Duration::from_millis(1),
            refused: Rc::new(Cell::new(false)),
        };
        assert!(late.write(b"x").is_err());
    }

    #[test]
    fn crate_errors_map_to_gaps() {
        use rars::Error as E;
        let cases = [
            (
                E::FeatureDisabled {
                    feature: "encryption",
                },
                Gap::Encrypted,
            ),
            (E::NeedPassword, Gap::Encrypted),
            (
                E::Rar50DictionaryLimitExceeded {
                    limit: 1,
                    required: 2,
                },
                Gap::Limit,
            ),
            (E::Cancelled, Gap::Limit),
            (E::TooShort, Gap::Corrupt),
            (E::InvalidHeader("x"), Gap::Corrupt),
        ];
        for (e, gap) in cases {
            assert_eq!(classify(&e).0, gap, "{e:?}");
        }
    }
}
