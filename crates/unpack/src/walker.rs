//! The limits machinery every format module uses: one [`Walker`] per
//! top-level file counts members and produced bytes, watches the clock and
//! the ratio, keeps the chain of member names, and turns every limit or
//! error into an event. Format modules add `impl Walker` blocks of their
//! own and only ever produce member bytes through [`Walker::read_member`]
//! (a decoder behind `Read`) or [`Walker::decoded`] (a decoder that wrote
//! into a buffer capped at [`Walker::cap`]).

use std::cell::Cell;
use std::io::{self, Read};
use std::time::Instant;

use crate::locate::{locate, Found};
use crate::{
    ArchiveLimits, ContainerKind, Gap, MemberEvent, CHUNK, RULE_DEPTH_BOMB, RULE_RATIO_BOMB,
};

/// Why reading a member stopped early.
#[derive(Debug)]
pub(crate) enum Limit {
    MemberSize,
    TotalBytes,
    Time,
    /// (produced, compressed, whole_file)
    Ratio(u64, u64, bool),
}

/// How reading one member ended.
pub(crate) enum End {
    Complete,
    Limit(Limit),
    Error(io::Error),
}

/// Counts the compressed bytes a decoder consumed, for the ratio check.
pub(crate) struct Counting<'c, R> {
    pub inner: R,
    pub n: &'c Cell<u64>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.set(self.n.get().saturating_add(k as u64));
        Ok(k)
    }
}

pub(crate) struct Walker<'l, 'v> {
    pub(crate) limits: &'l ArchiveLimits,
    start: Instant,
    top_len: u64,
    /// Bytes produced so far, all levels.
    total: u64,
    members: u64,
    /// A walk-wide limit was hit: stop everything.
    pub(crate) stopped: bool,
    flagged_depth: bool,
    chain: Vec<Vec<u8>>,
    visit: &'v mut dyn FnMut(MemberEvent<'_>),
}

impl<'l, 'v> Walker<'l, 'v> {
    pub(crate) fn skip(&mut self, reason: Gap, detail: String) {
        (self.visit)(MemberEvent::Skip {
            chain: &self.chain,
            reason,
            detail,
        });
    }

    pub(crate) fn suspicious(&mut self, rule: &'static str, detail: String) {
        (self.visit)(MemberEvent::Suspicious {
            chain: &self.chain,
            rule,
            detail,
        });
    }

    /// A new walk over a top-level file of `top_len` bytes.
    pub(crate) fn new(
        limits: &'l ArchiveLimits,
        top_len: u64,
        visit: &'v mut dyn FnMut(MemberEvent<'_>),
    ) -> Self {
        Walker {
            limits,
            start: Instant::now(),
            top_len,
            total: 0,
            members: 0,
            stopped: false,
            flagged_depth: false,
            chain: Vec::new(),
            visit,
        }
    }

    /// Open the container `found` in `data` at nesting `depth` (1 for the
    /// top-level file), unless the depth limit says no.
    pub(crate) fn container(&mut self, found: Found, data: &[u8], depth: u32) {
        let kind = found.kind;
        if self.stopped {
            return;
        }
        if depth > self.limits.max_depth {
            if !self.flagged_depth {
                self.flagged_depth = true;
                self.suspicious(
                    RULE_DEPTH_BOMB,
                    format!("containers nested deeper than {}", self.limits.max_depth),
                );
            }
            self.skip(
                Gap::Limit,
                format!(
                    "max_depth ({}): {} container not opened",
                    self.limits.max_depth,
                    kind.as_str()
                ),
            );
            return;
        }
        self.dispatch(found, data, depth);
    }

    /// One arm per kind; each format module owns its method.
    fn dispatch(&mut self, found: Found, data: &[u8], depth: u32) {
        let inner = data.get(found.offset..).unwrap_or_default();
        match found.kind {
            // The zip reader gets the whole file: it finds the archive's
            // start itself, whether its offsets count from the file or from
            // the zip; `inner` (from the first local header) is only for
            // reading without a central directory.
            ContainerKind::Zip => self.zip(data, inner, depth),
            ContainerKind::Tar => self.tar(data, depth),
            ContainerKind::Gzip
            | ContainerKind::Bzip2
            | ContainerKind::Xz
            | ContainerKind::Zstd => self.stream(found.kind, data, depth),
            ContainerKind::SevenZ => self.sevenz(inner, depth),
            ContainerKind::Rar => self.rar(inner, found.offset, depth),
            ContainerKind::Ole2 => self.ole2(inner, depth),
            ContainerKind::Rtf => self.rtf(inner, depth),
            ContainerKind::Mail => self.mail(inner, depth),
            ContainerKind::Uuencode => self.uuencode(data, depth),
            ContainerKind::BinHex => self.binhex(data, depth),
            ContainerKind::Html => self.html(data, depth),
            ContainerKind::Pdf => self.pdf(inner, depth),
            ContainerKind::Cab => self.cab(inner, depth),
            ContainerKind::Szdd => self.szdd(inner, depth),
            ContainerKind::Cpio => self.cpio(inner, depth),
            ContainerKind::Ar => self.ar(inner, depth),
            ContainerKind::Arj => self.arj(inner, depth),
            ContainerKind::Nsis => self.nsis(data, found.offset, depth),
            ContainerKind::Inno | ContainerKind::InstallShield => {
                self.installer_gap(found.kind, found.offset)
            }
            ContainerKind::Upx => self.upx(data, depth),
        }
    }

    /// Count one member; false (after reporting) when the member limit is hit.
    pub(crate) fn admit(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        self.members += 1;
        if self.members > self.limits.max_members {
            self.stop(format!(
                "max_members ({}): remaining members not scanned",
                self.limits.max_members
            ));
            return false;
        }
        true
    }

    /// Read a member's bytes through the limits. `consumed` reports how many
    /// compressed bytes the decoder has taken so far (for the ratio check).
    pub(crate) fn read_member(
        &mut self,
        r: &mut dyn Read,
        consumed: &dyn Fn() -> u64,
    ) -> (Vec<u8>, End) {
        let l = self.limits;
        let mut out = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if self.start.elapsed() > l.max_time {
                return (out, End::Limit(Limit::Time));
            }
            let n = match r.read(&mut chunk) {
                Ok(0) => return (out, End::Complete),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return (out, End::Error(e)),
            };
            if let Some(limit) = self.charge(out.len() as u64, n as u64, consumed) {
                return (out, End::Limit(limit));
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Charge `added` bytes produced by a member that had `before` bytes:
    /// the limit they break, if any. `consumed` gives the compressed bytes
    /// taken so far (for the ratio).
    fn charge(&mut self, before: u64, added: u64, consumed: &dyn Fn() -> u64) -> Option<Limit> {
        let l = self.limits;
        let produced = before.saturating_add(added);
        self.total = self.total.saturating_add(added);
        if produced > l.max_member_size {
            return Some(Limit::MemberSize);
        }
        if self.total > l.max_total_bytes {
            return Some(Limit::TotalBytes);
        }
        if produced >= l.ratio_min_bytes {
            let c = consumed().max(1);
            if produced / c > l.max_ratio {
                return Some(Limit::Ratio(produced, c, false));
            }
        }
        if self.total >= l.ratio_min_bytes && self.total / self.top_len.max(1) > l.max_ratio {
            return Some(Limit::Ratio(self.total, self.top_len, true));
        }
        None
    }

    /// Bytes the next member may produce before a limit stops it, plus one
    /// (so a decoder that fills its cap shows it went over). Decoders that
    /// write into a buffer themselves must stop at this many bytes.
    pub(crate) fn cap(&self) -> usize {
        let l = self.limits;
        let left = l.max_total_bytes.saturating_sub(self.total);
        let cap = l.max_member_size.min(left).saturating_add(1);
        usize::try_from(cap).unwrap_or(usize::MAX)
    }

    /// True once the walk's time limit has passed; long decoders check it
    /// now and then and return what they have.
    pub(crate) fn out_of_time(&self) -> bool {
        self.start.elapsed() > self.limits.max_time
    }

    /// Time left before the walk's time limit (zero once it has passed).
    pub(crate) fn time_left(&self) -> std::time::Duration {
        self.limits.max_time.saturating_sub(self.start.elapsed())
    }

    /// Bytes the walk may still produce before its total limit.
    pub(crate) fn total_left(&self) -> u64 {
        self.limits.max_total_bytes.saturating_sub(self.total)
    }

    /// A member a decoder wrote into memory itself (capped at
    /// [`Walker::cap`]) from `compressed` input bytes: charged against the
    /// limits, then visited. `error` says why decoding stopped early (the
    /// member is then reported incomplete with a `Corrupt` gap).
    pub(crate) fn decoded(
        &mut self,
        data: Vec<u8>,
        compressed: u64,
        error: Option<String>,
        depth: u32,
        what: &str,
    ) {
        if self.out_of_time() {
            return self.limit_reached(Limit::Time);
        }
        if let Some(limit) = self.charge(0, data.len() as u64, &|| compressed) {
            return self.limit_reached(limit);
        }
        let end = match error {
            None => End::Complete,
            Some(e) => End::Error(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        self.finish(data, end, depth, what);
    }

    /// Report how a member read ended and visit what was read (a partial
    /// read only when it ended on an error). Walk-wide limits set `stopped`.
    pub(crate) fn finish(&mut self, data: Vec<u8>, end: End, depth: u32, what: &str) {
        match end {
            End::Complete => self.visit_member(&data, true, depth),
            End::Error(e) => {
                if !data.is_empty() {
                    self.visit_member(&data, false, depth);
                }
                self.skip(
                    Gap::Corrupt,
                    format!("{what}: {e} (after {} readable bytes)", data.len()),
                );
            }
            End::Limit(limit) => self.limit_reached(limit),
        }
    }

    /// Report a limit a member read ran into; every limit but the member
    /// size stops the walk.
    pub(crate) fn limit_reached(&mut self, limit: Limit) {
        let l = self.limits;
        match limit {
            Limit::MemberSize => self.skip(
                Gap::Limit,
                format!("max_member_size ({} bytes) exceeded", l.max_member_size),
            ),
            Limit::TotalBytes => self.stop(format!(
                "max_total_bytes ({} bytes) reached: rest of the archive not scanned",
                l.max_total_bytes
            )),
            Limit::Time => self.stop(format!(
                "max_time ({} s) reached: rest of the archive not scanned",
                l.max_time.as_secs()
            )),
            Limit::Ratio(produced, compressed, whole) => {
                let of = if whole {
                    "the top-level file"
                } else {
                    "this member"
                };
                self.suspicious(
                    RULE_RATIO_BOMB,
                    format!(
                        "{produced} bytes produced from {compressed} bytes of {of}: ratio above {}",
                        l.max_ratio
                    ),
                );
                self.stop(format!(
                    "max_ratio ({}): decompression stopped",
                    l.max_ratio
                ));
            }
        }
    }

    /// Stop the walk, reporting the walk-wide limit that was reached.
    pub(crate) fn stop(&mut self, detail: String) {
        self.stopped = true;
        self.skip(Gap::Limit, detail);
    }

    /// Hand a member to the visitor, then open it if it is a container.
    pub(crate) fn visit_member(&mut self, data: &[u8], complete: bool, depth: u32) {
        (self.visit)(MemberEvent::Member {
            chain: &self.chain,
            data,
            complete,
        });
        if let Some(found) = locate(data) {
            self.container(found, data, depth + 1);
        }
    }

    /// A named member: push its name for the duration of `f`.
    pub(crate) fn named(&mut self, name: Vec<u8>, f: impl FnOnce(&mut Self)) {
        self.chain.push(name);
        f(self);
        self.chain.pop();
    }
}
