//! Fetches counted by consumer, profile and outcome, for `/metrics`, and each consumer's last
//! fetch, for the status page.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The most distinct (consumer, profile) pairs counted; consumers and profiles come from the
/// config, but a profile name from a request is bounded too.
const MAX_SERIES: usize = 4096;

/// `tessera_consumer_fetches_total` by (consumer, profile, outcome).
#[derive(Debug, Default)]
pub struct FetchCounters {
    // A sync mutex: held only to bump a counter.
    counts: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    // Each consumer's last fetch: when, which profile, the outcome.
    last: Mutex<BTreeMap<String, LastFetch>>,
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

impl FetchCounters {
    /// Counts one fetch at `at`.
    pub fn count(
        &self,
        consumer: &str,
        profile: &str,
        outcome: &'static str,
        at: time::OffsetDateTime,
    ) {
        if let Ok(mut counts) = self.counts.lock() {
            let key = (consumer.to_owned(), profile.to_owned(), outcome);
            if counts.contains_key(&key) || counts.len() < MAX_SERIES {
                *counts.entry(key).or_default() += 1;
            }
        }
        if let Ok(mut last) = self.last.lock() {
            if last.contains_key(consumer) || last.len() < MAX_SERIES {
                let fetch = LastFetch {
                    at: crate::time_format::rfc3339(at),
                    profile: crate::text::printable(profile, 128),
                    outcome,
                };
                last.insert(consumer.to_owned(), fetch);
            }
        }
    }

    /// A consumer's last fetch.
    pub fn last(&self, consumer: &str) -> Option<LastFetch> {
        self.last.lock().ok()?.get(consumer).cloned()
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> BTreeMap<(String, String, &'static str), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
