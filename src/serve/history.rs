//! Each profile's recent refreshes, for the status page and the audit log: a watcher per
//! profile's cache records every refresh that ends (in memory, the last [`KEPT`]) and writes
//! it to the audit log when there is one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::Agent;
use crate::audit::{AuditRecord, Event};
use crate::credentials::refresh::Snapshot;

/// Refreshes kept per profile.
pub const KEPT: usize = 20;

/// One refresh that ended.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefreshEntry {
    /// When it ended (RFC 3339).
    pub at: String,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// The new credentials' access key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// CreateSession's request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The serial (hex) of the certificate that signed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The recent refreshes of every profile.
#[derive(Debug, Default)]
pub struct RefreshHistory {
    // A sync mutex: held only to push or copy.
    entries: Mutex<BTreeMap<String, VecDeque<RefreshEntry>>>,
}

impl RefreshHistory {
    fn push(&self, profile: &str, entry: RefreshEntry) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = entries.entry(profile.to_owned()).or_default();
        if list.len() == KEPT {
            list.pop_front();
        }
        list.push_back(entry);
    }

    /// A profile's refreshes, newest last.
    pub fn of(&self, profile: &str) -> Vec<RefreshEntry> {
        self.entries
            .lock()
            .map(|e| e.get(profile).map(|l| l.iter().cloned().collect()))
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// The refresh that `state` shows ended since the counts `seen`, if any.
fn ended(state: &Snapshot, seen: (u64, u64), at: OffsetDateTime) -> Option<RefreshEntry> {
    let outcome = if state.successes > seen.0 {
        "success"
    } else if state.failures > seen.1 {
        "failure"
    } else {
        return None;
    };
    let fresh = state.credentials.as_ref().filter(|_| outcome == "success");
    let provenance = fresh.map(|c| c.provenance().clone()).unwrap_or_default();
    Some(RefreshEntry {
        at: crate::time_format::rfc3339(at),
        outcome,
        access_key_id: fresh.map(|c| c.access_key_id().to_owned()),
        request_id: provenance.request_id,
        serial: provenance.serial,
        reason: state.last_error.clone().filter(|_| outcome == "failure"),
    })
}

/// Records each refresh of `profile` as it ends, until its cache is dropped (a reload replaced
/// it) or the agent stops.
pub fn watch_refreshes(
    agent: Arc<Agent>,
    profile: String,
    mut states: watch::Receiver<Snapshot>,
    mut stopping: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        // From zero: a refresh that ended before this task started is recorded too.
        let mut seen = (0, 0);
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) {
                tokio::select! {
                    changed = states.changed() => if changed.is_err() { return },
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
            }
            let state = states.borrow_and_update().clone();
            let Some(entry) = ended(&state, seen, agent.clock.now()) else {
                continue;
            };
            seen = (state.successes, state.failures);
            agent.audit(|| AuditRecord {
                time: entry.at.clone(),
                event: Some(Event::Refresh),
                channel: "refresh",
                profile: Some(profile.clone()),
                outcome: Some(entry.outcome),
                access_key_id: entry.access_key_id.clone(),
                request_id: entry.request_id.clone(),
                serial: entry.serial.clone(),
                expiration: state
                    .credentials
                    .as_ref()
                    .filter(|_| entry.outcome == "success")
                    .map(|c| crate::time_format::rfc3339(c.expiration())),
                reason: entry.reason.clone(),
                ..AuditRecord::default()
            });
            agent.history.push(&profile, entry);
        }
    });
}
