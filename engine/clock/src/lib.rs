//! The one wall clock Pyra reads for schedules: real time, or — for tests and for users
//! checking a schedule — a start instant and a speed set by `PYRA_CLOCK`, e.g.
//! `PYRA_CLOCK=2027-03-28T01:58:00+01:00@60x` (the clock starts at that instant when the
//! process starts and runs 60 times faster than real time; without `@…x` it runs at real
//! speed from that instant).
//!
//! `PYRA_CLOCK=file:PATH` reads that setting from a file, and again whenever the file
//! changes: each new setting starts the clock at its instant there and then, so a test can
//! move a running daemon's clock forward or back (a suspend, an NTP step).
//!
//! Waiting for a wall-clock deadline is never one long monotonic sleep: a suspended laptop
//! or a clock jump would delay it by the time asleep. [`Clock::wait_for`] gives the real
//! time to sleep before looking at the clock again, at most [`RECHECK`] (one minute of
//! real time), so a deadline is met within a minute of the wall clock passing it
//! whatever the clock did meanwhile.
//!
//! **Architecture invariant:** every schedule decision reads time through a [`Clock`];
//! nothing here sleeps, spawns or does IO but reading the environment (and the file of a
//! `file:` setting).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

/// The most real time a waiter sleeps before reading the clock again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// The environment variable that sets the clock.
pub const ENV: &str = "PYRA_CLOCK";

/// The fastest a set clock may run (a day in about 9 s of real time).
pub const MAX_SPEED: f64 = 10_000.0;

/// A wall clock: the real one, or one set to start at an instant and run at a speed.
#[derive(Debug, Clone)]
pub struct Clock {
    set: Option<Set>,
    /// A `file:` setting: read again when the file changes.
    file: Option<Arc<Watched>>,
}

/// A file's modification time and length: read again when either changes.
type Stamp = (SystemTime, u64);

#[derive(Debug)]
struct Watched {
    path: PathBuf,
    /// The stamp of the contents last read, and the setting they gave.
    seen: Mutex<(Option<Stamp>, Option<Set>)>,
}

#[derive(Debug, Clone)]
struct Set {
    start: DateTime<Utc>,
    at: Instant,
    speed: f64,
}

/// `PYRA_CLOCK` could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{ENV}=`{given}`: {why}\n  help: give an RFC 3339 instant and optionally a speed, e.g. \
     `2027-03-28T01:58:00+01:00@60x`, or unset {ENV} to use real time"
)]
pub struct ClockError {
    pub given: String,
    pub why: String,
}

impl Clock {
    /// The real clock.
    pub fn real() -> Clock {
        Clock { set: None, file: None }
    }

    /// The clock `PYRA_CLOCK` sets, or the real one when it is unset or empty.
    pub fn from_env() -> Result<Clock, ClockError> {
        match std::env::var(ENV) {
            Ok(spec) if spec.trim().starts_with("file:") => Clock::file(spec.trim().trim_start_matches("file:")),
            Ok(spec) if !spec.trim().is_empty() => Clock::parse(&spec),
            _ => Ok(Clock::real()),
        }
    }

    /// A clock from `INSTANT[@SPEEDx]`, starting now.
    pub fn parse(spec: &str) -> Result<Clock, ClockError> {
        let error = |why: &str| ClockError { given: spec.to_string(), why: why.to_string() };
        let (instant, speed) = match spec.trim().rsplit_once('@') {
            Some((instant, speed)) => {
                let number = speed.trim().strip_suffix('x').unwrap_or(speed.trim());
                let speed: f64 = number.parse().map_err(|_| error("the speed is not a number such as `60x`"))?;
                if !(speed.is_finite() && speed > 0.0 && speed <= MAX_SPEED) {
                    return Err(error(&format!("the speed must be above 0 and at most {MAX_SPEED}x")));
                }
                (instant, speed)
            }
            None => (spec.trim(), 1.0),
        };
        let start = DateTime::parse_from_rfc3339(instant.trim())
            .map_err(|_| error("the instant is not RFC 3339 (with an offset, e.g. `+01:00` or `Z`)"))?
            .with_timezone(&Utc);
        Ok(Clock { set: Some(Set { start, at: Instant::now(), speed }), file: None })
    }

    /// A clock whose setting is the contents of `path`, read again whenever it changes.
    pub fn file(path: &str) -> Result<Clock, ClockError> {
        let watched = Watched { path: PathBuf::from(path), seen: Mutex::new((None, None)) };
        let clock = Clock { set: None, file: Some(Arc::new(watched)) };
        clock.current()?;
        Ok(clock)
    }

    /// The setting in force: the file's, reread when it changed.
    fn current(&self) -> Result<Option<Set>, ClockError> {
        let Some(file) = &self.file else { return Ok(self.set.clone()) };
        let error = |why: String| ClockError { given: format!("file:{}", file.path.display()), why };
        let meta = std::fs::metadata(&file.path).map_err(|e| error(format!("cannot read the file: {e}")))?;
        let stamp = (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len());
        let mut seen = file.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.0 != Some(stamp) {
            let text = std::fs::read_to_string(&file.path).map_err(|e| error(format!("cannot read the file: {e}")))?;
            let set = Clock::parse(&text).map_err(|e| error(e.why))?.set;
            *seen = (Some(stamp), set);
        }
        Ok(seen.1.clone())
    }

    /// Whether `PYRA_CLOCK` set this clock.
    pub fn is_set(&self) -> bool {
        self.set.is_some() || self.file.is_some()
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        // A file that became unreadable keeps the last setting read.
        let set =
            self.current().ok().flatten().or_else(|| self.file.as_ref().and_then(|f| f.seen.lock().ok()?.1.clone()));
        match &set {
            None => Utc::now(),
            Some(set) => set.start + wall_span(set.at.elapsed(), set.speed),
        }
    }

    /// How long to sleep (real time) before looking at the clock again while waiting for
    /// `deadline`: `None` once it has passed, else at most [`RECHECK`].
    pub fn wait_for(&self, deadline: DateTime<Utc>) -> Option<Duration> {
        let left = (deadline - self.now()).to_std().ok().filter(|d| !d.is_zero())?;
        let speed = self.current().ok().flatten().map_or(1.0, |s| s.speed);
        Some(left.div_f64(speed).min(RECHECK))
    }
}

/// The wall-clock span that `real` real time covers at `speed`.
fn wall_span(real: Duration, speed: f64) -> chrono::Duration {
    chrono::Duration::from_std(real.mul_f64(speed)).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_set_clock_starts_at_its_instant_and_runs_at_its_speed() {
        let clock = Clock::parse("2027-03-28T01:58:00+01:00@60x").unwrap();
        assert!(clock.is_set());
        let now = clock.now();
        assert!(now >= at("2027-03-28T00:58:00Z") && now < at("2027-03-28T01:08:00Z"), "{now}");
        // Two minutes of clock time are two seconds of real time at 60x.
        let wait = clock.wait_for(at("2027-03-28T01:00:00Z")).unwrap();
        assert!(wait <= Duration::from_secs(2) && wait > Duration::from_millis(1500), "{wait:?}");
        assert_eq!(wall_span(Duration::from_secs(3), 60.0), chrono::Duration::minutes(3));
        let plain = Clock::parse("2027-01-01T00:00:00Z").unwrap();
        assert!(plain.now() < at("2027-01-01T00:01:00Z"));
    }

    #[test]
    fn waits_are_rechecked_at_least_every_minute_and_end_at_the_deadline() {
        let real = Clock::real();
        assert_eq!(real.wait_for(Utc::now() + chrono::Duration::hours(23)), Some(RECHECK));
        assert_eq!(real.wait_for(Utc::now() - chrono::Duration::seconds(1)), None);
        let fast = Clock::parse("2027-01-01T00:00:00Z@10000x").unwrap();
        let day = fast.wait_for(at("2027-01-02T00:00:00Z")).unwrap();
        assert!(
            day > Duration::from_secs(8) && day <= Duration::from_millis(8640),
            "a day is 8.64 s at 10000x: {day:?}"
        );
        assert_eq!(fast.wait_for(at("2028-01-01T00:00:00Z")), Some(RECHECK), "a year is 53 min, capped at a minute");
    }

    #[test]
    fn a_file_setting_is_read_again_when_it_changes_so_the_clock_can_jump() {
        let dir = std::env::temp_dir().join(format!("pyra-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("clock");
        std::fs::write(&path, "2027-01-01T00:00:00Z").unwrap();
        let clock = Clock::file(path.to_str().unwrap()).unwrap();
        assert!(clock.is_set());
        assert!(clock.now() < at("2027-01-01T00:01:00Z"));
        // Back a year (the file's length changes, so the change is seen at once).
        std::fs::write(&path, "2026-01-01T00:00:00Z@2x").unwrap();
        let now = clock.now();
        assert!(now >= at("2026-01-01T00:00:00Z") && now < at("2026-01-01T00:01:00Z"), "{now}");
        std::fs::write(&path, "not a time").unwrap();
        assert!(clock.now() < at("2026-01-01T00:01:00Z"), "a bad file keeps the last setting");
        assert!(Clock::file(dir.join("missing").to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_settings_say_what_is_wrong_and_how_to_fix_it() {
        for (spec, why) in [
            ("tomorrow", "not RFC 3339"),
            ("2027-03-28T01:58:00@60x", "not RFC 3339"),
            ("2027-03-28T01:58:00Z@fast", "not a number"),
            ("2027-03-28T01:58:00Z@0x", "above 0"),
            ("2027-03-28T01:58:00Z@1e9x", "at most"),
            ("2027-03-28T01:58:00Z@-2x", "above 0"),
        ] {
            let err = Clock::parse(spec).unwrap_err();
            assert!(err.why.contains(why), "{spec}: {err}");
            assert!(err.to_string().contains("help: give an RFC 3339 instant"), "{err}");
        }
    }
}
