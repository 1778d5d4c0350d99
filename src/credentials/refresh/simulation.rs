//! A deterministic simulation of the refresher: 30 days of a profile with 1-hour sessions under
//! tokio's paused time and a [`ManualClock`], each seed with its own schedule of outages, 429
//! bursts, hangs, bad certificates, rotations, suspends (wall-clock jumps the monotonic clock
//! does not see) and skew. Consumers read at random times; every read is checked. A failing
//! seed is printed, and `TESSERA_SIMULATION_SEED=N` replays it alone.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::*;
use crate::clock::ManualClock;
use crate::config::ConfigError;
use crate::credentials::provider::{ProvideFuture, ProviderError};
use crate::rolesanywhere::client::ClientError;
use crate::secret::SecretString;

const START: OffsetDateTime = time::macros::datetime!(2026-06-01 00:00:00 UTC);
const SESSION: Duration = Duration::hours(1);
const DAYS: i64 = 30;
const SEEDS: u64 = 200;

/// What the endpoint does during a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 5xx or 429: an immediate transient failure.
    Down,
    /// No answer until the client's 30 s timeout.
    Hang,
    /// A broken certificate was rotated in: a configuration error.
    BadCertificate,
}

/// A fault over `[from, to)` of simulated (monotonic) time, in seconds since the start.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: u64,
    to: u64,
    fault: Fault,
}

/// One seed's world: the faults, and the endpoint's clock offset (skew) from ours.
#[derive(Debug)]
struct World {
    windows: Vec<Window>,
    /// Our wall clock minus the endpoint's, seconds (±10 min).
    skew: i64,
}

impl World {
    fn generate(rng: &mut fastrand::Rng) -> Self {
        let horizon = u64::try_from(DAYS * 86_400).unwrap_or(u64::MAX);
        let mut windows = Vec::new();
        for _ in 0..rng.usize(5..40) {
            let from = rng.u64(0..horizon);
            let length = match rng.u8(0..10) {
                0 => rng.u64(3600..4 * 3600),
                1..=3 => rng.u64(60..3600),
                _ => rng.u64(1..60),
            };
            let fault = match rng.u8(0..10) {
                0 => Fault::BadCertificate,
                1..=2 => Fault::Hang,
                _ => Fault::Down,
            };
            windows.push(Window {
                from,
                to: from + length,
                fault,
            });
        }
        Self {
            windows,
            skew: rng.i64(-600..=600),
        }
    }

    fn fault_at(&self, second: u64) -> Option<Fault> {
        self.windows
            .iter()
            .find(|w| (w.from..w.to).contains(&second))
            .map(|w| w.fault)
    }

    /// By when, after the faults that started by `second`, the cache must serve again: one
    /// back-off step after each fault's end (the longest step of its kind, plus a hung
    /// attempt's timeout and a little slack).
    fn recovered_by(&self, second: u64) -> u64 {
        self.windows
            .iter()
            .filter(|w| w.from <= second)
            .map(|w| w.to + recovery(w.fault))
            .max()
            .unwrap_or(0)
    }
}

/// The simulated endpoint behind a provider.
#[derive(Debug)]
struct Endpoint {
    clock: Arc<ManualClock>,
    world: World,
    calls: AtomicU32,
    rotated: AtomicBool,
    origin: tokio::time::Instant,
}

impl Endpoint {
    fn second(&self) -> u64 {
        self.origin.elapsed().as_secs()
    }
}

impl CredentialProvider for Endpoint {
    fn provide(&self) -> ProvideFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = self.world.fault_at(self.second());
        // The endpoint's clock: ours minus the skew.
        let now = self.clock.now() - Duration::seconds(self.world.skew);
        Box::pin(async move {
            let transient = || {
                ProviderError::Client(ClientError::Timeout {
                    endpoint: "https://rolesanywhere.example".into(),
                    seconds: 30,
                })
            };
            match fault {
                None => Ok(Credentials::new(
                    "ASIAEXAMPLEEXAMPLE00".into(),
                    SecretString::new("secret".into()),
                    SecretString::new("token".into()),
                    now + SESSION,
                )),
                Some(Fault::Down) => Err(transient()),
                Some(Fault::Hang) => {
                    tokio::time::sleep(StdDuration::from_secs(30)).await;
                    Err(transient())
                }
                Some(Fault::BadCertificate) => {
                    Err(ProviderError::Config(ConfigError::Timeout("timeout")))
                }
            }
        })
    }

    fn session_duration(&self) -> Duration {
        SESSION
    }

    fn inputs_changed(&self) -> bool {
        self.rotated.swap(false, Ordering::SeqCst)
    }
}

/// Seconds of slack for the refresh itself.
const SLACK: u64 = 5;

/// How long after a fault of this kind ends the cache may still fail: one back-off step.
fn recovery(fault: Fault) -> u64 {
    let step = |d: Duration| u64::try_from(d.whole_seconds()).unwrap_or(0);
    match fault {
        Fault::Down | Fault::Hang => step(MAX_BACKOFF) + 30 + SLACK,
        Fault::BadCertificate => step(MAX_SLOW_BACKOFF) + 30 + SLACK,
    }
}

/// Runs one seed; the first broken promise, if any.
async fn simulate(seed: u64) -> Result<(), String> {
    fastrand::seed(seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let clock = Arc::new(ManualClock::new(START));
    let endpoint = Arc::new(Endpoint {
        clock: clock.clone(),
        world: World::generate(&mut rng),
        calls: AtomicU32::new(0),
        rotated: AtomicBool::new(false),
        origin: crate::clock::monotonic_now(),
    });
    // Production polls every 2 s; 5 min keeps 30 days × 200 seeds fast. Recovery after a
    // suspend then rests on the first read noticing it, as it must.
    let cache =
        CredentialCache::with_poll(endpoint.clone(), clock.clone(), StdDuration::from_secs(300));
    let (stop, stopped) = watch::channel(false);
    let refresher = tokio::spawn(cache.clone().run("sim".into(), stopped));
    let horizon = u64::try_from(DAYS * 86_400).unwrap_or(u64::MAX);
    let mut last_jump = 0;
    let mut suspends = 0;
    while endpoint.second() < horizon {
        tokio::time::sleep(StdDuration::from_secs(rng.u64(1..900))).await;
        match rng.u16(0..400) {
            0 => {
                // A suspend: the wall clock jumps, the monotonic one does not.
                clock.jump(Duration::seconds(rng.i64(60..14 * 3600)));
                last_jump = endpoint.second();
                suspends += 1;
            }
            1..=2 => endpoint.rotated.store(true, Ordering::SeqCst),
            _ => {}
        }
        let second = endpoint.second();
        let now = clock.now();
        match cache.current() {
            Ok(credentials) => {
                let left = credentials.expiration() - now;
                if left <= crate::aws_credentials::refresh_margin(SESSION) {
                    return Err(format!(
                        "at {second} s a read returned credentials with only {left} left"
                    ));
                }
            }
            Err(Unavailable(why)) => {
                // A suspend is noticed by this very read: the next one must succeed.
                let due = endpoint
                    .world
                    .recovered_by(second)
                    .max(last_jump + 30 + SLACK);
                if endpoint.world.fault_at(second).is_none() && second > due {
                    return Err(format!(
                        "at {second} s a read failed ({why}), {} s after it should have recovered",
                        second - due
                    ));
                }
            }
        }
    }
    let _ = stop.send(true);
    let _ = refresher.await;
    let calls = u64::from(endpoint.calls.load(Ordering::SeqCst));
    // Healthy: one CreateSession per 60 % of a session at most; each fault window may add its
    // back-off attempts (at least 30 s apart once backed off) and each suspend or rotation one.
    let healthy = horizon / 2160 + 1;
    let faults: u64 = endpoint
        .world
        .windows
        .iter()
        .map(|w| (w.to - w.from) / 30 + 12)
        .sum();
    let bound = healthy + faults + suspends * 2 + 20;
    if calls > bound {
        return Err(format!(
            "{calls} CreateSessions, more than the bound of {bound}"
        ));
    }
    Ok(())
}

fn seeds() -> Vec<u64> {
    match std::env::var("TESSERA_SIMULATION_SEED") {
        Ok(seed) => vec![seed.parse().unwrap_or(0)],
        Err(_) => (0..SEEDS).collect(),
    }
}

#[test]
fn thirty_days_of_faults_never_serve_a_stale_credential_or_storm_the_endpoint() {
    // The seeds are independent worlds: they run on every core, each on its own paused runtime.
    let seeds = seeds();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = seeds.len().div_ceil(threads).max(1);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = seeds
            .chunks(share)
            .map(|chunk| scope.spawn(move || simulate_seeds(chunk)))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| vec!["a worker panicked".into()])
            })
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs `seeds` one after another; the broken ones, each with how to replay it.
fn simulate_seeds(seeds: &[u64]) -> Vec<String> {
    let mut failures = Vec::new();
    for &seed in seeds {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        if let Err(broken) = runtime.block_on(simulate(seed)) {
            failures.push(format!(
                "seed {seed}: {broken} (replay: TESSERA_SIMULATION_SEED={seed})"
            ));
        }
    }
    failures
}
