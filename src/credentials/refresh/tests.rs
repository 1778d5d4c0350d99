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

#[tokio::test(start_paused = true)]
async fn reads_of_credentials_unsafe_on_arrival_do_not_turn_into_a_create_session_each() {
    // A far-off endpoint clock: every session arrives with a minute left, inside the margin.
    let script = (0..1000)
        .map(|_| Answer::Issue(Duration::minutes(1)))
        .collect();
    let (cache, provider, _stop) = start(script);
    for _ in 0..300 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        assert!(cache.current().is_err());
    }
    // 30 s of reads every 100 ms: the schedule (10 s before such a session's margin) and at
    // most one read-started refresh per READ_WAKE_GAP, not one per read (which would be ~300).
    let calls = provider.calls.load(Ordering::SeqCst);
    assert!((2..=8).contains(&calls), "{calls} CreateSessions in 30 s");
}
