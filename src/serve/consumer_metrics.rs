//! Fetches counted by consumer, profile and outcome, for `/metrics`.

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
}

impl FetchCounters {
    /// Counts one fetch.
    pub fn count(&self, consumer: &str, profile: &str, outcome: &'static str) {
        if let Ok(mut counts) = self.counts.lock() {
            let key = (consumer.to_owned(), profile.to_owned(), outcome);
            if counts.contains_key(&key) || counts.len() < MAX_SERIES {
                *counts.entry(key).or_default() += 1;
            }
        }
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> BTreeMap<(String, String, &'static str), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
