//! The cache in front of a provider: one background task per profile refreshes ahead of expiry
//! (with jitter), retries failures with capped exponential backoff, keeps serving the last good
//! credentials while they are safe, and publishes its state on a `watch` channel. Readers never
//! wait on the network.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

pub use pacer::{RefreshPacer, SERVE_REFRESH_GAP};

use super::provider::{CredentialProvider, ErrorKind};
use crate::aws_credentials::Credentials;
use crate::clock::Clock;

/// How often the refresher checks for rotated files while waiting.
pub const ROTATION_POLL: StdDuration = StdDuration::from_secs(2);
/// Longest wait between attempts that failed for a transient reason.
pub const MAX_BACKOFF: Duration = Duration::seconds(60);
/// After a refresh, how long before a read that finds the credentials unsafe may start another.
pub const READ_WAKE_GAP: StdDuration = StdDuration::from_secs(10);
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
    /// Set by a read that finds the held credentials no longer safe (the wall clock jumped:
    /// a suspend, a corrected clock); the refresher then refreshes at once, unless it is
    /// backing off after a failure.
    stale_read: tokio::sync::Notify,
    /// How often the waiting refresher looks at the wall clock and the identity files.
    poll: StdDuration,
    /// Notices the wall clock jumping against the monotonic one, on every read and poll.
    jumps: crate::clock::JumpWatch,
    /// Spaces this cache's refreshes with those of the caches it shares an endpoint with.
    pacer: Option<Arc<RefreshPacer>>,
}

impl CredentialCache {
    /// A cache for `provider`; call [`CredentialCache::run`] to start refreshing.
    pub fn new(provider: Arc<dyn CredentialProvider>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Self::build(provider, clock, ROTATION_POLL, None)
    }

    /// As [`CredentialCache::new`], each refresh waiting for its turn on `pacer` first.
    pub fn paced(
        provider: Arc<dyn CredentialProvider>,
        clock: Arc<dyn Clock>,
        pacer: Arc<RefreshPacer>,
    ) -> Arc<Self> {
        Self::build(provider, clock, ROTATION_POLL, Some(pacer))
    }

    /// As [`CredentialCache::new`], looking at the wall clock and the files every `poll`.
    pub fn with_poll(
        provider: Arc<dyn CredentialProvider>,
        clock: Arc<dyn Clock>,
        poll: StdDuration,
    ) -> Arc<Self> {
        Self::build(provider, clock, poll, None)
    }

    fn build(
        provider: Arc<dyn CredentialProvider>,
        clock: Arc<dyn Clock>,
        poll: StdDuration,
        pacer: Option<Arc<RefreshPacer>>,
    ) -> Arc<Self> {
        let (state, _) = watch::channel(Snapshot {
            credentials: None,
            last_error: None,
            next_refresh: None,
            successes: 0,
            failures: 0,
        });
        Arc::new(Self {
            provider,
            jumps: crate::clock::JumpWatch::new(clock.as_ref()),
            clock,
            state,
            stale_read: tokio::sync::Notify::new(),
            poll,
            pacer,
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
        self.note_jump();
        let snapshot = self.state.borrow();
        match &snapshot.credentials {
            Some(c) if c.is_fresh(self.clock.now(), self.provider.session_duration()) => {
                Ok(c.clone())
            }
            Some(_) => {
                self.stale_read.notify_one();
                Err(Unavailable(match &snapshot.last_error {
                    Some(error) => {
                        format!("credentials are about to expire and refreshing failed: {error}")
                    }
                    None => "the credentials held are about to expire by this machine's clock \
                             (after a suspend or a clock change); a refresh has started, ask \
                             again in a moment"
                        .into(),
                }))
            }
            None => Err(Unavailable(match &snapshot.last_error {
                Some(error) => format!("no credentials yet: {error}"),
                None => "no credentials yet: the first refresh is running".into(),
            })),
        }
    }

    /// Logs a jump of the wall clock (once per jump, whoever sees it first).
    fn note_jump(&self) {
        if let Some(by) = self.jumps.jumped(self.clock.as_ref()) {
            let direction = if by.is_positive() { "ahead" } else { "back" };
            tracing::warn!(
                "the wall clock moved {} s {direction} of the monotonic clock (a suspend, or the \
                 clock was set); credentials are judged by the wall clock",
                by.whole_seconds().abs()
            );
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
            if let Some(pacer) = &self.pacer {
                tokio::select! {
                    () = pacer.turn() => {}
                    _ = shutdown.changed() => return,
                }
            }
            let next = self.refresh_once(label, &mut consecutive_failures).await;
            // Reads may wake it early only after a success, and then at most once per
            // READ_WAKE_GAP: credentials that are unsafe the moment they arrive (a far-off
            // endpoint clock) must not turn every read into a CreateSession.
            let woken_by_reads =
                (consecutive_failures == 0).then(|| crate::clock::monotonic_now() + READ_WAKE_GAP);
            if !self.wait_until(next, label, shutdown, woken_by_reads).await {
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

    /// Waits for `next` (by the wall clock, checked at least every poll), a rotation of the
    /// identity files, shutdown, or (from `woken_by_reads` on, if given) a read that found the
    /// credentials unsafe; `false` on shutdown.
    async fn wait_until(
        &self,
        next: OffsetDateTime,
        label: &str,
        shutdown: &mut watch::Receiver<bool>,
        woken_by_reads: Option<tokio::time::Instant>,
    ) -> bool {
        loop {
            let left = next - self.clock.now();
            if left <= Duration::ZERO {
                return true;
            }
            let nap = StdDuration::try_from(left)
                .unwrap_or(self.poll)
                .min(self.poll);
            let stale_read = async {
                match woken_by_reads {
                    Some(from) => {
                        tokio::time::sleep_until(from).await;
                        self.stale_read.notified().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = shutdown.changed() => return false,
                () = stale_read => {
                    tracing::info!(profile = %label, "the credentials are no longer safe by the wall clock (a suspend or a clock change); refreshing now");
                    return true;
                }
            }
            if *shutdown.borrow() {
                return false;
            }
            self.note_jump();
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

mod pacer;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;
