//! Spaces the refreshes of many caches that share one endpoint, so a cold start or a burst of
//! due refreshes never sends more CreateSessions per second than the service allows: the real
//! service throttles, and a throttled refresh only comes back later.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The gap `serve` keeps between the starts of two refreshes: five a second (what the service
/// accepts without throttling) less a 5 % margin, so network jitter cannot put a sixth inside
/// one second at the endpoint.
pub const SERVE_REFRESH_GAP: Duration = Duration::from_millis(210);

/// Hands out start times at least `gap` apart, first come first served.
#[derive(Debug)]
pub struct RefreshPacer {
    gap: Duration,
    next_free: Mutex<Option<Instant>>,
}

impl RefreshPacer {
    /// Starts at least `gap` apart.
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            next_free: Mutex::new(None),
        }
    }

    /// Waits for this caller's turn. A caller that gives up while waiting (its task stopped)
    /// leaves its slot unused, which only spaces the others further.
    pub async fn turn(&self) {
        let at = self.reserve(crate::clock::monotonic_now());
        tokio::time::sleep_until(at).await;
    }

    /// The next free start time at or after `now`, taken.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next_free = self
            .next_free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = next_free.map_or(now, |free| free.max(now));
        *next_free = Some(at + self.gap);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spaced_by_the_gap_and_an_idle_pacer_starts_at_once() {
        let pacer = RefreshPacer::new(SERVE_REFRESH_GAP);
        let now = crate::clock::monotonic_now();
        let starts: Vec<Instant> = (0..4).map(|_| pacer.reserve(now)).collect();
        for (i, start) in starts.iter().enumerate() {
            assert_eq!(*start, now + SERVE_REFRESH_GAP * u32::try_from(i).unwrap());
        }
        let later = now + Duration::from_secs(60);
        assert_eq!(pacer.reserve(later), later);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_five_start_in_any_second() {
        let pacer = std::sync::Arc::new(RefreshPacer::new(SERVE_REFRESH_GAP));
        let begin = crate::clock::monotonic_now();
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let pacer = pacer.clone();
            tasks.push(tokio::spawn(async move {
                pacer.turn().await;
                crate::clock::monotonic_now()
            }));
        }
        let mut starts = Vec::new();
        for task in tasks {
            starts.push(task.await.unwrap());
        }
        starts.sort();
        for (i, start) in starts.iter().enumerate() {
            let within = starts[i..]
                .iter()
                .take_while(|s| **s < *start + Duration::from_secs(1))
                .count();
            assert!(within <= 5, "{within} starts within one second of {i}");
        }
        assert!(starts[39] - begin < Duration::from_secs(9));
    }
}
