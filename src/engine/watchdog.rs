//! The watchdog over a session's threads. A read that blocks in the kernel
//! forever (a hung FUSE or network file, a tracefs pipe) cannot be
//! interrupted by a check between chunks, so each walker and worker thread
//! marks every call that may block as busy with a [`Watch`]; the
//! recording thread abandons a thread busy for too long (or any thread
//! still running after a stop's grace period), records what it was
//! doing as a `timeout` skip, and finishes the session without it. An
//! abandoned thread that ever wakes up sees it was abandoned when it ends
//! its busy call and exits without sending anything.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    /// Since when and on what the thread is in a call that may block.
    busy: Option<(Instant, PathBuf)>,
    /// Large files a worker set aside; reported if it is abandoned.
    deferred: Vec<PathBuf>,
    abandoned: bool,
    exited: bool,
}

/// One thread's busy state, shared with the recording thread.
#[derive(Default)]
pub(crate) struct Watch {
    state: Mutex<State>,
}

/// What an abandoned thread left undone.
pub(crate) struct Abandoned {
    /// The file or directory it was blocked on.
    pub busy: PathBuf,
    /// Files it had set aside and never scanned.
    pub deferred: Vec<PathBuf>,
}

impl Watch {
    pub fn new() -> Arc<Watch> {
        Arc::new(Watch::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a call that may block, on `what`.
    pub fn begin(&self, what: &Path) {
        self.lock().busy = Some((Instant::now(), what.to_path_buf()));
    }

    /// Ends the call; false when the thread was abandoned meanwhile (it
    /// must then send nothing more and return).
    pub fn end(&self) -> bool {
        let mut s = self.lock();
        s.busy = None;
        !s.abandoned
    }

    /// Runs `f` as one busy call on `what`; `None` when abandoned.
    pub fn busy<T>(&self, what: &Path, f: impl FnOnce() -> T) -> Option<T> {
        self.begin(what);
        let r = f();
        self.end().then_some(r)
    }

    /// The large files set aside now (replaces the previous list).
    pub fn set_deferred(&self, paths: Vec<PathBuf>) {
        self.lock().deferred = paths;
    }

    /// Abandons the thread if it has been busy for `limit` or longer (any
    /// running thread with `Duration::ZERO`, busy or not).
    pub fn abandon_if_busy_for(&self, limit: Duration) -> Option<Abandoned> {
        let mut s = self.lock();
        if s.exited || s.abandoned {
            return None;
        }
        let busy = match &s.busy {
            Some((since, what)) if since.elapsed() >= limit => what.clone(),
            None if limit.is_zero() => PathBuf::new(),
            _ => return None,
        };
        s.abandoned = true;
        Some(Abandoned {
            busy,
            deferred: std::mem::take(&mut s.deferred),
        })
    }

    /// Whether the thread has exited or been abandoned.
    pub fn settled(&self) -> bool {
        let s = self.lock();
        s.exited || s.abandoned
    }
}

/// Marks its watch exited when dropped, also when the thread panics, and
/// wakes the recording thread (if its queue has room; it looks anyway
/// at its next tick).
pub(crate) struct ExitGuard(
    pub Arc<Watch>,
    pub crossbeam_channel::Sender<super::Message>,
);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.lock().exited = true;
        let _ = self.1.try_send(super::Message::Exited);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandons_only_long_busy_threads_and_tells_them() {
        let w = Watch::new();
        assert!(w.abandon_if_busy_for(Duration::from_secs(1)).is_none());
        w.begin(Path::new("/a"));
        assert!(w.abandon_if_busy_for(Duration::from_secs(60)).is_none());
        w.set_deferred(vec![PathBuf::from("/big")]);
        let gone = w.abandon_if_busy_for(Duration::ZERO).unwrap();
        assert_eq!(gone.busy, Path::new("/a"));
        assert_eq!(gone.deferred, [PathBuf::from("/big")]);
        assert!(w.settled() && !w.end());
        assert!(w.abandon_if_busy_for(Duration::ZERO).is_none());
        let w2 = Watch::new();
        let (tx, rx) = crossbeam_channel::bounded(1);
        drop(ExitGuard(w2.clone(), tx));
        assert!(matches!(rx.try_recv(), Ok(crate::engine::Message::Exited)));
        assert!(w2.settled() && w2.end());
        assert!(w2.abandon_if_busy_for(Duration::ZERO).is_none());
    }
}
