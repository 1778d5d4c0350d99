//! The one place that reads the clocks. Everything else takes a time or a [`Clock`] for wall
//! time, so protocol code is tested with fixed or manual times, and [`monotonic_now`] for
//! elapsed time, which follows tokio's paused time in tests (`clippy.toml` bans the other
//! readers: `SystemTime::now`, `OffsetDateTime::now_utc`, `Instant::now`).

use std::fmt::Debug;
use std::sync::Mutex;

use time::OffsetDateTime;

/// A source of the current UTC time.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the single sanctioned read of the wall clock
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock stuck at one instant, for tests and golden vectors.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// A clock that moves only when told to, for tests of expiry, refresh and rotation.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock by `by` (negative moves it back, as a corrected clock can).
    pub fn advance(&self, by: time::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The monotonic clock, for elapsed times (latency, token lifetimes). It is tokio's, so tests
/// with paused time control it.
#[allow(clippy::disallowed_methods)] // the single sanctioned read of the monotonic clock
pub fn monotonic_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(time::Duration::hours(1));
        assert_eq!(clock.now(), start + time::Duration::hours(1));
    }
}
