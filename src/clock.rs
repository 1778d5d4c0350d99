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

/// The system clock moved by a fixed offset: an endpoint whose clock is off (the anchor's
/// `--clock-offset`, for exercising clients' skew handling).
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock(pub time::Duration);

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        SystemClock.now() + self.0
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

/// A wall clock for tests of expiry, refresh and rotation: it starts at a given time, moves
/// with tokio's clock (so, under paused time, exactly as far as the timers that fired), and
/// jumps when told to, as a suspended laptop's or a corrected clock does.
#[derive(Debug)]
pub struct ManualClock {
    start: OffsetDateTime,
    origin: tokio::time::Instant,
    jumped: Mutex<time::Duration>,
}

impl ManualClock {
    /// A clock reading `start` now.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            start,
            origin: monotonic_now(),
            jumped: Mutex::new(time::Duration::ZERO),
        }
    }

    /// Jumps the wall clock by `by` without moving tokio's (negative jumps back).
    pub fn jump(&self, by: time::Duration) {
        *self
            .jumped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let jumped = *self
            .jumped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed =
            time::Duration::try_from(monotonic_now() - self.origin).unwrap_or(time::Duration::ZERO);
        self.start + elapsed + jumped
    }
}

/// Notices jumps of the wall clock against the monotonic clock: a suspend (the monotonic
/// clock stands still while the machine sleeps), or the clock being set. Cheap enough for
/// every read.
#[derive(Debug)]
pub struct JumpWatch {
    origin: tokio::time::Instant,
    /// Wall time minus monotonic time since `origin`, in milliseconds, when last looked at.
    offset_ms: std::sync::atomic::AtomicI64,
}

/// Differences between the clocks below this are drift and scheduling noise, not a jump.
const JUMP_THRESHOLD_MS: i64 = 2_000;

impl JumpWatch {
    /// Starts watching `clock`.
    pub fn new(clock: &dyn Clock) -> Self {
        let origin = monotonic_now();
        Self {
            origin,
            offset_ms: std::sync::atomic::AtomicI64::new(Self::offset_ms(clock, origin)),
        }
    }

    fn offset_ms(clock: &dyn Clock, origin: tokio::time::Instant) -> i64 {
        let wall_ms = i64::try_from(clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mono_ms = i64::try_from((monotonic_now() - origin).as_millis()).unwrap_or(i64::MAX);
        wall_ms.saturating_sub(mono_ms)
    }

    /// How far the wall clock jumped since the last look (forward is positive), once per jump.
    pub fn jumped(&self, clock: &dyn Clock) -> Option<time::Duration> {
        use std::sync::atomic::Ordering;
        let now = Self::offset_ms(clock, self.origin);
        let seen = self.offset_ms.load(Ordering::Relaxed);
        let moved = now.saturating_sub(seen);
        if moved.abs() < JUMP_THRESHOLD_MS {
            return None;
        }
        // Only the caller that moves the mark reports the jump.
        self.offset_ms
            .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| time::Duration::milliseconds(moved))
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

    #[tokio::test(start_paused = true)]
    async fn a_manual_clock_follows_paused_time_and_jumps() {
        let start = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        tokio::time::sleep(std::time::Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + time::Duration::seconds(90));
        clock.jump(time::Duration::hours(8));
        assert_eq!(
            clock.now(),
            start + time::Duration::seconds(90) + time::Duration::hours(8)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_jump_of_the_wall_clock_is_reported_once_and_time_passing_is_not_a_jump() {
        let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00:00 UTC));
        let watch = JumpWatch::new(&clock);
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        assert_eq!(watch.jumped(&clock), None);
        clock.jump(time::Duration::hours(9));
        assert_eq!(watch.jumped(&clock), Some(time::Duration::hours(9)));
        assert_eq!(watch.jumped(&clock), None);
        clock.jump(time::Duration::minutes(-5));
        assert_eq!(watch.jumped(&clock), Some(time::Duration::minutes(-5)));
    }
}
