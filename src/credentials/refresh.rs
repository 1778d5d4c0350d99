//! The cache in front of a provider: one background task per profile refreshes ahead of expiry
//! (with jitter), retries failures with capped exponential backoff, keeps serving the last good
//! credentials while they are safe, and publishes its state on a `watch` channel. Readers never
//! wait on the network.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use super::provider::{CredentialProvider, ErrorKind};
use crate::aws_credentials::Credentials;
use crate::clock::Clock;

/// How often the refresher checks for rotated files while waiting.
pub const ROTATION_POLL: StdDuration = StdDuration::from_secs(2);
/// Longest wait between attempts that failed for a transient reason.
pub const MAX_BACKOFF: Duration = Duration::seconds(60);
/// First wait after a configuration or credential error.
pub const SLOW_BACKOFF_START: Duration = Duration::seconds(10);
/// Longest wait between attempts that failed for a configuration or credential reason.
pub const MAX_SLOW_BACKOFF: Duration = Duration::minutes(5);

/// The cache's condition, for logs, health and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No credentials yet; the first refresh is running or being retried.
    Starting,
    /// Holding credentials that are safe to hand out.
    Fresh,
    /// The last refresh failed, but the last good credentials are still safe.
    Degraded,
    /// Nothing safe to hand out.
    Failed,
}

impl Health {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Fresh => "fresh",
            Health::Degraded => "degraded",
            Health::Failed => "failed",
        }
    }
}

/// A published state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The last good credentials.
    pub credentials: Option<Credentials>,
    /// The last refresh error, if the last refresh failed.
    pub last_error: Option<String>,
    /// When the next refresh is due.
    pub next_refresh: Option<OffsetDateTime>,
    /// Successful refreshes.
    pub successes: u64,
    /// Failed refreshes.
    pub failures: u64,
}

/// Why nothing can be handed out.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// A refreshed, shared credential cache.
#[derive(Debug)]
pub struct CredentialCache {
    provider: Arc<dyn CredentialProvider>,
    clock: Arc<dyn Clock>,
    state: watch::Sender<Snapshot>,
}

impl CredentialCache {
    /// A cache for `provider`; call [`CredentialCache::run`] to start refreshing.
    pub fn new(provider: Arc<dyn CredentialProvider>, clock: Arc<dyn Clock>) -> Arc<Self> {
        let (state, _) = watch::channel(Snapshot {
            credentials: None,
            last_error: None,
            next_refresh: None,
            successes: 0,
            failures: 0,
        });
        Arc::new(Self {
            provider,
            clock,
            state,
        })
    }

    /// NotAfter of the certificate the provider signs with, once loaded.
    pub fn certificate_not_after(&self) -> Option<OffsetDateTime> {
        self.provider.certificate_not_after()
    }

    /// A receiver that sees every published state.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.state.subscribe()
    }

    /// The current state.
    pub fn snapshot(&self) -> Snapshot {
        self.state.borrow().clone()
    }

    /// The health right now.
    pub fn health(&self) -> Health {
        let snapshot = self.state.borrow();
        let safe = snapshot
            .credentials
            .as_ref()
            .is_some_and(|c| c.is_fresh(self.clock.now(), self.provider.session_duration()));
        match (
            safe,
            snapshot.last_error.is_some(),
            snapshot.credentials.is_some(),
        ) {
            (true, false, _) => Health::Fresh,
            (true, true, _) => Health::Degraded,
            (false, _, false) if snapshot.failures == 0 => Health::Starting,
            _ => Health::Failed,
        }
    }

    /// Credentials safe to hand out now, or why there are none.
    pub fn current(&self) -> Result<Credentials, Unavailable> {
        let snapshot = self.state.borrow();
        match &snapshot.credentials {
            Some(c) if c.is_fresh(self.clock.now(), self.provider.session_duration()) => {
                Ok(c.clone())
            }
            Some(_) => Err(Unavailable(format!(
                "credentials are about to expire and refreshing failed: {}",
                snapshot.last_error.as_deref().unwrap_or("refresh pending")
            ))),
            None => Err(Unavailable(match &snapshot.last_error {
                Some(error) => format!("no credentials yet: {error}"),
                None => "no credentials yet: the first refresh is running".into(),
            })),
        }
    }

    /// When to refresh credentials obtained at `now`: at 60–75% of their life, and at least a
    /// margin plus 30 s before they stop being handed out.
    fn schedule(&self, credentials: &Credentials, now: OffsetDateTime) -> OffsetDateTime {
        let lifetime = credentials.expiration() - now;
        let session = lifetime.min(self.provider.session_duration());
        let latest = credentials.expiration()
            - crate::aws_credentials::refresh_margin(session)
            - Duration::seconds(30);
        let planned = now + lifetime * (0.60 + fastrand::f64() * 0.15);
        planned.min(latest).max(now + Duration::seconds(1))
    }

    /// Refreshes until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, label: String, mut shutdown: watch::Receiver<bool>) {
        let background = self.provider.background(shutdown.clone()).map(tokio::spawn);
        self.refresh_until(&label, &mut shutdown).await;
        if let Some(task) = background {
            let _ = task.await;
        }
    }

    async fn refresh_until(&self, label: &str, shutdown: &mut watch::Receiver<bool>) {
        let mut consecutive_failures: u32 = 0;
        loop {
            let next = self.refresh_once(label, &mut consecutive_failures).await;
            if !self.wait_until(next, label, shutdown).await {
                return;
            }
        }
    }

    /// One attempt: publishes its outcome and returns when the next one is due.
    async fn refresh_once(&self, label: &str, consecutive_failures: &mut u32) -> OffsetDateTime {
        match self.provider.provide().await {
            Ok(credentials) => {
                *consecutive_failures = 0;
                let next = self.schedule(&credentials, self.clock.now());
                tracing::info!(
                    profile = %label,
                    access_key_id = credentials.access_key_id(),
                    "credentials refreshed; valid until {}, next refresh at {}",
                    crate::time_format::rfc3339(credentials.expiration()),
                    crate::time_format::rfc3339(next)
                );
                self.state.send_modify(|s| {
                    s.credentials = Some(credentials);
                    s.last_error = None;
                    s.next_refresh = Some(next);
                    s.successes += 1;
                });
                next
            }
            Err(error) => {
                *consecutive_failures = consecutive_failures.saturating_add(1);
                let step = backoff(error.kind(), *consecutive_failures);
                // From the failure, not from the start of the attempt: an attempt that hangs
                // until its timeout must not be followed by another at once.
                let next = self.clock.now() + step * (0.5 + fastrand::f64() * 0.5);
                self.state.send_modify(|s| {
                    s.last_error = Some(error.to_string());
                    s.next_refresh = Some(next);
                    s.failures += 1;
                });
                tracing::warn!(
                    profile = %label,
                    health = self.health().as_str(),
                    kind = ?error.kind(),
                    "refresh failed: {error}; retrying at {}",
                    crate::time_format::rfc3339(next)
                );
                next
            }
        }
    }

    /// Waits for `next` (by the wall clock, checked at least every [`ROTATION_POLL`]), a
    /// rotation of the identity files, or shutdown; `false` on shutdown.
    async fn wait_until(
        &self,
        next: OffsetDateTime,
        label: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        loop {
            let left = next - self.clock.now();
            if left <= Duration::ZERO {
                return true;
            }
            let nap = StdDuration::try_from(left)
                .unwrap_or(ROTATION_POLL)
                .min(ROTATION_POLL);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = shutdown.changed() => return false,
            }
            if *shutdown.borrow() {
                return false;
            }
            if self.provider.inputs_changed() {
                tracing::info!(profile = %label, "identity files changed; refreshing now");
                return true;
            }
        }
    }
}

/// The wait before the next attempt after `failures` consecutive failures of `kind`, before
/// jitter (which takes off up to half): transient failures double from 1 s to [`MAX_BACKOFF`];
/// configuration and credential errors, which do not fix themselves, start at
/// [`SLOW_BACKOFF_START`] and double to [`MAX_SLOW_BACKOFF`].
pub fn backoff(kind: ErrorKind, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(10);
    match kind {
        ErrorKind::Transient => (Duration::seconds(1) * (1_i32 << doublings)).min(MAX_BACKOFF),
        ErrorKind::Configuration | ErrorKind::Credentials => {
            (SLOW_BACKOFF_START * (1_i32 << doublings)).min(MAX_SLOW_BACKOFF)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::clock::ManualClock;
    use crate::config::ConfigError;
    use crate::credentials::provider::{ProvideFuture, ProviderError};
    use crate::rolesanywhere::client::ClientError;
    use crate::secret::SecretString;

    const START: OffsetDateTime = time::macros::datetime!(2026-06-01 00:00:00 UTC);
    const HOUR: Duration = Duration::hours(1);

    /// What the fake provider answers next.
    enum Answer {
        Issue(Duration),
        Transient,
        Misconfigured,
        /// A transient failure after hanging this many seconds.
        HangThenFail(u64),
    }

    /// A provider that answers from a script (then keeps issuing 1-hour sessions) and counts
    /// its calls.
    #[derive(Debug)]
    struct Scripted {
        clock: Arc<ManualClock>,
        script: Mutex<VecDeque<Answer>>,
        calls: AtomicU32,
        rotated: AtomicBool,
    }

    impl std::fmt::Debug for Answer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Answer")
        }
    }

    impl CredentialProvider for Scripted {
        fn provide(&self) -> ProvideFuture<'_> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Answer::Issue(HOUR));
            let now = self.clock.now();
            Box::pin(async move {
                match answer {
                    Answer::Issue(life) => Ok(Credentials::new(
                        "ASIAEXAMPLEEXAMPLE00".into(),
                        SecretString::new("secret".into()),
                        SecretString::new("token".into()),
                        now + life,
                    )),
                    Answer::Transient => Err(ProviderError::Client(ClientError::Timeout {
                        endpoint: "https://rolesanywhere.example".into(),
                        seconds: 1,
                    })),
                    Answer::Misconfigured => {
                        Err(ProviderError::Config(ConfigError::Timeout("timeout")))
                    }
                    Answer::HangThenFail(seconds) => {
                        tokio::time::sleep(StdDuration::from_secs(seconds)).await;
                        Err(ProviderError::Client(ClientError::Timeout {
                            endpoint: "https://rolesanywhere.example".into(),
                            seconds,
                        }))
                    }
                }
            })
        }

        fn session_duration(&self) -> Duration {
            HOUR
        }

        fn inputs_changed(&self) -> bool {
            self.rotated.swap(false, Ordering::SeqCst)
        }
    }

    /// A running cache over a scripted provider, with its stop switch.
    fn start(script: Vec<Answer>) -> (Arc<CredentialCache>, Arc<Scripted>, watch::Sender<bool>) {
        let clock = Arc::new(ManualClock::new(START));
        let provider = Arc::new(Scripted {
            clock: clock.clone(),
            script: Mutex::new(script.into()),
            calls: AtomicU32::new(0),
            rotated: AtomicBool::new(false),
        });
        let cache = CredentialCache::new(provider.clone(), clock);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(cache.clone().run("test".into(), stopped));
        (cache, provider, stop)
    }

    async fn sleep(seconds: u64) {
        tokio::time::sleep(StdDuration::from_secs(seconds)).await;
    }

    #[test]
    fn transient_failures_back_off_fast_and_configuration_errors_slowly() {
        let seconds = |kind, n| backoff(kind, n).whole_seconds();
        let transient: Vec<i64> = (1..=8).map(|n| seconds(ErrorKind::Transient, n)).collect();
        assert_eq!(transient, [1, 2, 4, 8, 16, 32, 60, 60]);
        let slow: Vec<i64> = (1..=6)
            .map(|n| seconds(ErrorKind::Configuration, n))
            .collect();
        assert_eq!(slow, [10, 20, 40, 80, 160, 300]);
        assert_eq!(seconds(ErrorKind::Credentials, 1), 10);
        assert_eq!(seconds(ErrorKind::Transient, u32::MAX), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_is_fresh_and_the_next_refresh_is_at_60_to_75_percent_of_its_life() {
        let (cache, provider, _stop) = start(vec![]);
        sleep(1).await;
        assert_eq!(cache.health(), Health::Fresh);
        assert!(cache.current().is_ok());
        let next = cache.snapshot().next_refresh.unwrap();
        let at = next - START;
        assert!(
            at >= Duration::minutes(36) && at <= Duration::minutes(45),
            "{at}"
        );
        // Nothing more happens until then.
        sleep(30 * 60).await;
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
        sleep(20 * 60).await;
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
        assert_eq!(cache.snapshot().successes, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_keeps_the_last_good_credentials_while_they_are_safe() {
        // One success, then the service times out for good.
        let mut script = vec![Answer::Issue(HOUR)];
        script.extend((0..200).map(|_| Answer::Transient));
        let (cache, _provider, _stop) = start(script);
        sleep(1).await;
        let first = cache.current().unwrap();
        // The refresh is due by 43 min 30 s (the 16-minute margin plus 30 s before expiry);
        // the credentials stay safe until 44 min.
        sleep(43 * 60 + 45).await;
        assert_eq!(cache.health(), Health::Degraded);
        assert_eq!(
            cache.current().unwrap().access_key_id(),
            first.access_key_id()
        );
        assert!(cache
            .snapshot()
            .last_error
            .unwrap()
            .contains("did not complete"));
        // Past the refresh margin nothing is handed out, and the error says why.
        sleep(14 * 60).await;
        assert_eq!(cache.health(), Health::Failed);
        let refused = cache.current().unwrap_err().0;
        assert!(refused.contains("about to expire"), "{refused}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_recovers_within_seconds() {
        let (cache, provider, _stop) = start(vec![Answer::Transient, Answer::Transient]);
        sleep(1).await;
        assert_eq!(cache.health(), Health::Failed);
        // Back-off 1 s then 2 s (each with up to half taken off): fresh within 4 s.
        sleep(3).await;
        assert_eq!(cache.health(), Health::Fresh);
        assert_eq!(provider.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_back_off_starts_when_an_attempt_fails_not_when_it_started() {
        let (_cache, provider, _stop) = start(vec![Answer::HangThenFail(5)]);
        // The attempt hangs 5 s; the retry waits at least half a second after that.
        tokio::time::sleep(StdDuration::from_millis(5400)).await;
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
        sleep(1).await;
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_configuration_error_is_not_retried_every_second() {
        let (cache, provider, _stop) = start((0..50).map(|_| Answer::Misconfigured).collect());
        sleep(60).await;
        // At 0 s, then after 5-10 s, 10-20 s, 20-40 s, 40-80 s: at most four attempts in a
        // minute (transient back-off would make about nine).
        let calls = provider.calls.load(Ordering::SeqCst);
        assert!((3..=4).contains(&calls), "{calls} attempts in 60 s");
        assert_eq!(cache.health(), Health::Failed);
    }

    #[tokio::test(start_paused = true)]
    async fn rotated_files_refresh_at_once_and_shutdown_stops_the_task() {
        let (cache, provider, stop) = start(vec![]);
        sleep(1).await;
        provider.rotated.store(true, Ordering::SeqCst);
        sleep(ROTATION_POLL.as_secs() + 1).await;
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
        assert_eq!(cache.snapshot().successes, 2);
        stop.send(true).unwrap();
        sleep(3 * 3600).await;
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2, "stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wall_clock_jump_past_the_refresh_time_refreshes_on_the_next_tick() {
        let clock = Arc::new(ManualClock::new(START));
        let provider = Arc::new(Scripted {
            clock: clock.clone(),
            script: Mutex::new(VecDeque::new()),
            calls: AtomicU32::new(0),
            rotated: AtomicBool::new(false),
        });
        let cache = CredentialCache::new(provider.clone(), clock.clone());
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(cache.clone().run("test".into(), stopped));
        sleep(1).await;
        // A laptop sleeps for two hours: tokio's clock does not move, the wall clock does.
        clock.jump(Duration::hours(2));
        assert_eq!(
            cache.health(),
            Health::Failed,
            "the old credentials are not handed out"
        );
        sleep(ROTATION_POLL.as_secs() + 1).await;
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
        assert_eq!(cache.health(), Health::Fresh);
    }
}
