//! Fetches counted by consumer, profile and outcome, for `/metrics`, and each consumer's last
//! fetch, for the status page.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The most distinct (consumer, profile) pairs counted; consumers and profiles come from the
/// config, but a profile name from a request is bounded too.
const MAX_SERIES: usize = 4096;

/// `tessera_consumer_fetches_total` by (consumer, profile, outcome). Counting a fetch that was
/// counted before allocates nothing: it is on every credentials request.
#[derive(Debug, Default)]
pub struct FetchCounters {
    // A sync mutex: held only to bump a counter. Consumer → profile → [granted, refused].
    counts: Mutex<BTreeMap<String, BTreeMap<String, [u64; 2]>>>,
    // Each consumer's last fetch.
    last: Mutex<BTreeMap<String, Last>>,
}

/// A consumer's last fetch, as kept (the time is formatted when asked for).
#[derive(Debug)]
struct Last {
    at: time::OffsetDateTime,
    profile: String,
    outcome: &'static str,
}

/// A consumer's last fetch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastFetch {
    /// When (RFC 3339).
    pub at: String,
    /// The profile asked for.
    pub profile: String,
    /// `granted` or `refused`.
    pub outcome: &'static str,
}

const OUTCOMES: [&str; 2] = ["granted", "refused"];

impl FetchCounters {
    /// Counts one fetch at `at`; `outcome` is `granted` or `refused`.
    pub fn count(
        &self,
        consumer: &str,
        profile: &str,
        outcome: &'static str,
        at: time::OffsetDateTime,
    ) {
        let slot = usize::from(outcome != OUTCOMES[0]);
        if let Ok(mut counts) = self.counts.lock() {
            if let Some(counted) = counts.get_mut(consumer).and_then(|p| p.get_mut(profile)) {
                counted[slot] += 1;
            } else if counts.values().map(BTreeMap::len).sum::<usize>() < MAX_SERIES {
                let by_profile = counts.entry(consumer.to_owned()).or_default();
                by_profile.entry(profile.to_owned()).or_default()[slot] += 1;
            }
        }
        if let Ok(mut last) = self.last.lock() {
            let room = last.len() < MAX_SERIES;
            match last.get_mut(consumer) {
                Some(fetch) => {
                    fetch.at = at;
                    fetch.outcome = outcome;
                    if fetch.profile != profile {
                        fetch.profile = crate::text::printable(profile, 128);
                    }
                }
                None if room => {
                    let profile = crate::text::printable(profile, 128);
                    last.insert(
                        consumer.to_owned(),
                        Last {
                            at,
                            profile,
                            outcome,
                        },
                    );
                }
                None => {}
            }
        }
    }

    /// A consumer's last fetch.
    pub fn last(&self, consumer: &str) -> Option<LastFetch> {
        let last = self.last.lock().ok()?;
        let fetch = last.get(consumer)?;
        Some(LastFetch {
            at: crate::time_format::rfc3339(fetch.at),
            profile: fetch.profile.clone(),
            outcome: fetch.outcome,
        })
    }

    /// A copy of the counts by (consumer, profile, outcome); outcomes never seen are left out.
    pub fn snapshot(&self) -> BTreeMap<(String, String, &'static str), u64> {
        let Ok(counts) = self.counts.lock() else {
            return BTreeMap::new();
        };
        let mut flat = BTreeMap::new();
        for (consumer, by_profile) in counts.iter() {
            for (profile, counted) in by_profile {
                for (outcome, count) in OUTCOMES.iter().zip(counted) {
                    if *count > 0 {
                        flat.insert((consumer.clone(), profile.clone(), *outcome), *count);
                    }
                }
            }
        }
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_are_counted_by_consumer_profile_and_outcome_and_the_last_is_kept() {
        let counters = FetchCounters::default();
        let at = time::macros::datetime!(2026-12-02 10:00:00 UTC);
        counters.count("ci", "deploy", "granted", at);
        counters.count("ci", "deploy", "granted", at);
        counters.count("ci", "admin", "refused", at + time::Duration::seconds(5));
        counters.count("-", "deploy", "granted", at);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.len(), 3);
        assert_eq!(snapshot[&("ci".into(), "deploy".into(), "granted")], 2);
        assert_eq!(snapshot[&("ci".into(), "admin".into(), "refused")], 1);
        assert_eq!(snapshot[&("-".into(), "deploy".into(), "granted")], 1);
        let last = counters.last("ci").unwrap();
        assert_eq!(
            (last.at.as_str(), last.profile.as_str(), last.outcome),
            ("2026-12-02T10:00:05Z", "admin", "refused")
        );
    }
}
