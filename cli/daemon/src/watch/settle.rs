//! When a changed file counts as written, and what changed: pure pieces of the watch
//! source, driven by the engine with the instants and file stamps it observed.
//!
//! A file is settled once no writer holds it open (the platform said it was closed after
//! writing, where it says so: inotify's `IN_CLOSE_WRITE`) and its size and modification
//! time have not moved for `settle` — or its modification time is already that old (a
//! file renamed into place). What changed is decided from the file's state against the
//! trigger's index, never from the kinds of events seen: an editor's save by rename, by
//! truncate-and-write or by delete-and-create is one `modified`, and a `touch` that left
//! the content alone is no change at all.

use std::time::{Duration, Instant};

use lang::model::WatchEvent;

/// A file's size and modification time (ns since the epoch); `None`: it does not exist.
pub type Stamp = Option<(u64, i64)>;

/// What an event said about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Created or written: a writer may still hold it.
    Written,
    /// Closed after writing.
    Closed,
    /// Renamed, removed, its metadata changed.
    Other,
}

/// One pending file's settle state.
#[derive(Debug, Clone)]
pub struct Settle {
    last: Option<Stamp>,
    since: Instant,
    writing: bool,
}

impl Settle {
    pub fn new(now: Instant) -> Settle {
        Settle { last: None, since: now, writing: false }
    }

    /// An event about the file.
    pub fn seen(&mut self, now: Instant, seen: Seen) {
        match seen {
            Seen::Written => self.writing = true,
            Seen::Closed => self.writing = false,
            Seen::Other => {}
        }
        self.since = now;
    }

    /// The events may have been lost (a queue overflow): only stability counts now.
    pub fn forget_writer(&mut self) {
        self.writing = false;
    }

    /// Whether a writer was seen and has not closed the file.
    pub fn writing(&self) -> bool {
        self.writing
    }

    /// A look at the file: true once it is settled. `age` is how old its modification
    /// time is on the wall clock.
    pub fn observe(&mut self, now: Instant, stamp: Stamp, age: Option<Duration>, settle: Duration) -> bool {
        if self.last.is_some_and(|last| last != stamp) {
            self.since = now;
        }
        self.last = Some(stamp);
        !self.writing && (now.duration_since(self.since) >= settle || age.is_some_and(|a| a >= settle))
    }

    /// When a look could next find the file settled.
    pub fn due(&self, settle: Duration) -> Instant {
        self.since + settle
    }
}

/// A content hash.
pub type Digest = [u8; 32];

/// A file as the trigger's index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub size: u64,
    pub mtime_ns: i64,
    /// SHA-256 of the content.
    pub hash: Digest,
}

/// What happened to a file between the index and now (`None`: nothing that counts; a
/// `touch` leaves the content and so the hash alone). `hash` reads the file; it is called
/// only when the size or modification time moved.
pub fn classify(
    old: Option<&Known>,
    now: Stamp,
    hash: impl FnOnce() -> Option<Digest>,
) -> (Option<WatchEvent>, Option<Known>) {
    match (old, now) {
        (None, None) => (None, None),
        (Some(_), None) => (Some(WatchEvent::Deleted), None),
        (old, Some((size, mtime_ns))) => {
            if let Some(old) = old
                && old.size == size
                && old.mtime_ns == mtime_ns
            {
                return (None, Some(old.clone()));
            }
            let Some(hash) = hash() else {
                // Unreadable (gone since the look, or no permission): it counts when it
                // can be read.
                return (None, old.cloned());
            };
            let known = Known { size, mtime_ns, hash };
            match old {
                None => (Some(WatchEvent::Created), Some(known)),
                Some(old) if old.hash == known.hash => (None, Some(known)),
                Some(_) => (Some(WatchEvent::Modified), Some(known)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTLE: Duration = Duration::from_secs(2);
    const YOUNG: Option<Duration> = Some(Duration::from_millis(10));

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_file_settles_after_it_stays_the_same_for_settle() {
        let t = Instant::now();
        let mut s = Settle::new(t);
        s.seen(t, Seen::Written);
        s.seen(at(t, 10), Seen::Closed);
        assert!(!s.observe(at(t, 500), Some((10, 1)), YOUNG, SETTLE));
        assert!(!s.observe(at(t, 1500), Some((10, 1)), YOUNG, SETTLE));
        assert!(s.observe(at(t, 2100), Some((10, 1)), YOUNG, SETTLE));
    }

    #[test]
    fn a_change_of_size_or_mtime_starts_the_wait_again() {
        let t = Instant::now();
        let mut s = Settle::new(t);
        assert!(!s.observe(at(t, 0), Some((10, 1)), YOUNG, SETTLE));
        assert!(!s.observe(at(t, 1900), Some((20, 2)), YOUNG, SETTLE));
        assert!(!s.observe(at(t, 3000), Some((20, 2)), YOUNG, SETTLE));
        assert!(s.observe(at(t, 3900), Some((20, 2)), YOUNG, SETTLE));
    }

    #[test]
    fn a_writer_holding_the_file_open_keeps_it_unsettled_through_long_pauses() {
        let t = Instant::now();
        let mut s = Settle::new(t);
        s.seen(t, Seen::Written);
        assert!(!s.observe(at(t, 10_000), Some((10, 1)), Some(Duration::from_secs(10)), SETTLE));
        assert!(!s.observe(at(t, 60_000), Some((10, 1)), Some(Duration::from_secs(60)), SETTLE));
        s.seen(at(t, 61_000), Seen::Closed);
        assert!(!s.observe(at(t, 61_500), Some((10, 1)), Some(Duration::from_millis(500)), SETTLE));
        assert!(s.observe(at(t, 63_100), Some((10, 1)), Some(Duration::from_millis(2100)), SETTLE));
    }

    #[test]
    fn a_lost_close_is_forgotten_after_an_overflow() {
        let t = Instant::now();
        let mut s = Settle::new(t);
        s.seen(t, Seen::Written);
        s.forget_writer();
        assert!(!s.observe(at(t, 100), Some((10, 1)), YOUNG, SETTLE));
        assert!(s.observe(at(t, 2200), Some((10, 1)), YOUNG, SETTLE));
    }

    #[test]
    fn a_file_renamed_into_place_with_an_old_mtime_is_settled_at_once() {
        let t = Instant::now();
        let mut s = Settle::new(t);
        s.seen(t, Seen::Other);
        assert!(s.observe(at(t, 500), Some((10, 1)), Some(Duration::from_secs(3600)), SETTLE));
    }

    #[test]
    fn a_deleted_file_settles_after_settle() {
        let t = Instant::now();
        let mut s = Settle::new(t);
        s.seen(t, Seen::Other);
        assert!(!s.observe(at(t, 500), None, None, SETTLE));
        assert!(s.observe(at(t, 2500), None, None, SETTLE));
    }

    /// A digest made of one byte (enough to tell contents apart here).
    fn h(byte: u8) -> Digest {
        [byte; 32]
    }

    fn known(size: u64, mtime_ns: i64, hash: Digest) -> Known {
        Known { size, mtime_ns, hash }
    }

    #[test]
    fn classify_decides_from_the_index_not_from_events() {
        let never = || -> Option<Digest> { panic!("hashed a file whose stamp did not move") };
        assert_eq!(classify(None, None, never), (None, None));
        let old = known(3, 1, h(1));
        assert_eq!(classify(Some(&old), Some((3, 1)), never), (None, Some(old.clone())));
        assert_eq!(classify(Some(&old), None, never), (Some(WatchEvent::Deleted), None));
        // A touch: the mtime moved, the content did not.
        assert_eq!(classify(Some(&old), Some((3, 9)), || Some(h(1))), (None, Some(known(3, 9, h(1)))));
        assert_eq!(
            classify(Some(&old), Some((4, 9)), || Some(h(2))),
            (Some(WatchEvent::Modified), Some(known(4, 9, h(2))))
        );
        assert_eq!(classify(None, Some((4, 9)), || Some(h(3))), (Some(WatchEvent::Created), Some(known(4, 9, h(3)))));
        // Unreadable now: nothing yet, the index keeps what it knew.
        assert_eq!(classify(Some(&old), Some((4, 9)), || None), (None, Some(old.clone())));
    }
}
