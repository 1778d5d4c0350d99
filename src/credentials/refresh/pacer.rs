//! Spaces the refreshes of many caches that share one endpoint, so a cold start or a burst of
//! due refreshes never sends more CreateSessions per second than the service allows: the real
//! service throttles, and a throttled refresh only comes back later.

use std::time::Duration;

use tokio::time::Instant;

/// The gap `serve` keeps between the starts of two refreshes: five a second (what the service
/// accepts without throttling) less a 5 % margin, so network jitter cannot put a sixth inside
/// one second at the endpoint.
pub const SERVE_REFRESH_GAP: Duration = Duration::from_millis(210);

/// Lets callers start at least `gap` apart, first come first served. The gap is kept between
/// the times callers actually start, not between planned slots, so a caller that runs late
/// (a busy machine) pushes the next one back instead of starting just before it.
#[derive(Debug)]
pub struct RefreshPacer {
    gap: Duration,
    // An async mutex, held while waiting: waiters queue in order.
    last_start: tokio::sync::Mutex<Option<Instant>>,
}

impl RefreshPacer {
    /// Starts at least `gap` apart.
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            last_start: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits for this caller's turn. A caller that gives up while waiting (its task stopped)
    /// leaves the queue without delaying the others.
    pub async fn turn(&self) {
        let mut last_start = self.last_start.lock().await;
        if let Some(last) = *last_start {
            tokio::time::sleep_until(last + self.gap).await;
        }
        *last_start = Some(crate::clock::monotonic_now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn turns_are_a_gap_apart_and_an_idle_pacer_lets_the_next_start_at_once() {
        let pacer = RefreshPacer::new(SERVE_REFRESH_GAP);
        let begin = crate::clock::monotonic_now();
        pacer.turn().await;
        assert_eq!(crate::clock::monotonic_now(), begin);
        pacer.turn().await;
        assert_eq!(crate::clock::monotonic_now(), begin + SERVE_REFRESH_GAP);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let idle = crate::clock::monotonic_now();
        pacer.turn().await;
        assert_eq!(crate::clock::monotonic_now(), idle);
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
