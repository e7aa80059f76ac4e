//! A byte budget for file contents held in memory at once, shared by every
//! worker (and every session of an engine). A worker reserves a large
//! file's size before reading it and releases it when done, so two workers
//! never hold two huge files together and peak memory stays near one large
//! file plus the rules, however many threads run. Small files pass freely.

use std::sync::{Arc, Condvar, Mutex};

/// Files below this size never wait.
pub const GATE_MIN: u64 = 1 << 20;

#[derive(Debug)]
pub struct MemoryGate {
    budget: u64,
    in_use: Mutex<u64>,
    freed: Condvar,
}

/// A reservation; released on drop.
pub struct Permit<'a> {
    gate: &'a MemoryGate,
    bytes: u64,
}

impl MemoryGate {
    pub fn new(budget: u64) -> MemoryGate {
        MemoryGate {
            budget: budget.max(GATE_MIN),
            in_use: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Reserves `bytes` (at most the whole budget), waiting while others
    /// hold too much. Small requests are granted at once.
    pub fn acquire(&self, bytes: u64) -> Permit<'_> {
        Permit {
            gate: self,
            bytes: self.reserve(bytes),
        }
    }

    /// Waits for and takes `bytes` of the budget (0 for a small request);
    /// returns what was taken.
    fn reserve(&self, bytes: u64) -> u64 {
        if bytes < GATE_MIN {
            return 0;
        }
        let want = bytes.min(self.budget);
        let mut used = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        while *used + want > self.budget {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += want;
        want
    }

    /// Like [`acquire`](Self::acquire) but never waits: `None` when the
    /// budget is taken.
    pub fn try_acquire(&self, bytes: u64) -> Option<Permit<'_>> {
        if bytes < GATE_MIN {
            return Some(Permit {
                gate: self,
                bytes: 0,
            });
        }
        let want = bytes.min(self.budget);
        let mut used = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        if *used + want > self.budget {
            return None;
        }
        *used += want;
        Some(Permit {
            gate: self,
            bytes: want,
        })
    }

    /// Like [`acquire`](Self::acquire), for a reservation that travels
    /// with its bytes to another thread (a file read from a device by the
    /// reader thread, scanned by a worker).
    pub fn acquire_owned(self: &Arc<Self>, bytes: u64) -> OwnedPermit {
        OwnedPermit {
            gate: self.clone(),
            bytes: self.reserve(bytes),
        }
    }

    pub fn in_use(&self) -> u64 {
        *self.in_use.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A reservation that owns its gate; released on drop.
pub struct OwnedPermit {
    gate: Arc<MemoryGate>,
    bytes: u64,
}

impl MemoryGate {
    fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut used = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(bytes);
        self.freed.notify_all();
    }
}

impl Permit<'_> {
    /// Changes the reservation to `bytes` (a small amount is none, a large
    /// one at most the budget) without waiting: what is given back goes to
    /// waiting workers at once; what is added is taken even past the
    /// budget, because the holder already has the memory it accounts for
    /// (waiting here could deadlock two workers that each hold part), and
    /// other large files then wait until it shrinks again.
    pub fn resize(&mut self, bytes: u64) {
        let want = if bytes < GATE_MIN {
            0
        } else {
            bytes.min(self.gate.budget)
        };
        if want < self.bytes {
            self.gate.release(self.bytes - want);
        } else if want > self.bytes {
            let mut used = self.gate.in_use.lock().unwrap_or_else(|p| p.into_inner());
            *used = used.saturating_add(want - self.bytes);
        }
        self.bytes = want;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.release(self.bytes);
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.gate.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn large_reservations_wait_for_each_other() {
        let g = Arc::new(MemoryGate::new(10 << 20));
        let p1 = g.acquire(8 << 20);
        assert_eq!(g.in_use(), 8 << 20);
        let small = g.acquire(1000);
        assert_eq!(g.in_use(), 8 << 20, "small files pass freely");
        drop(small);
        let g2 = g.clone();
        let t = std::thread::spawn(move || {
            let _p = g2.acquire(5 << 20);
            g2.in_use()
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(g.in_use(), 8 << 20, "second reservation waits");
        drop(p1);
        assert_eq!(t.join().unwrap(), 5 << 20);
        assert_eq!(g.in_use(), 0);
        let held = g.acquire(9 << 20);
        assert!(
            g.try_acquire(5 << 20).is_none(),
            "try_acquire does not wait"
        );
        assert!(g.try_acquire(10).is_some(), "small files pass");
        drop(held);
        assert!(g.try_acquire(5 << 20).is_some());
        // A request above the budget takes the whole budget, not forever.
        let p = g.acquire(1 << 40);
        assert_eq!(g.in_use(), 10 << 20);
        drop(p);
    }

    #[test]
    fn a_reservation_shrinks_and_grows_without_waiting() {
        let g = Arc::new(MemoryGate::new(10 << 20));
        let mut p = g.acquire(10 << 20);
        assert!(g.try_acquire(4 << 20).is_none(), "budget taken");
        p.resize(4 << 20);
        assert_eq!(g.in_use(), 4 << 20);
        let other = g.try_acquire(6 << 20).expect("given back at once");
        // Growing past the budget does not wait; others wait for it.
        p.resize(8 << 20);
        assert_eq!(g.in_use(), 14 << 20);
        assert!(g.try_acquire(2 << 20).is_none());
        p.resize(100);
        assert_eq!(g.in_use(), 6 << 20, "a small reservation is none");
        drop(other);
        drop(p);
        assert_eq!(g.in_use(), 0);
    }
}
