//! What the status page and `/status.json` show: for each profile its health, refreshes,
//! credentials' expiry and certificate's NotAfter (with a warning band from 7 days before), the
//! consumers and their last fetch, and the tail of the audit log. Never a secret.

use serde::Serialize;
use time::OffsetDateTime;

use super::consumer_metrics::LastFetch;
use super::history::RefreshEntry;
use super::Agent;

/// A certificate this close to its NotAfter is flagged.
pub const WARNING_BAND: time::Duration = time::Duration::days(7);
/// Audit lines shown.
const AUDIT_TAIL: usize = 20;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// When it was made (RFC 3339).
    pub now: String,
    /// The served profiles.
    pub profiles: Vec<ProfileStatus>,
    /// The declared consumers.
    pub consumers: Vec<ConsumerStatus>,
    /// The last audit records, oldest first (empty without an audit log).
    pub audit_tail: Vec<serde_json::Value>,
}

/// One profile.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileStatus {
    /// Its name.
    pub name: String,
    /// `starting`, `fresh`, `degraded` or `failed`.
    pub health: &'static str,
    /// The role.
    pub role_arn: String,
    /// The last refresh that ended.
    pub last_refresh: Option<RefreshEntry>,
    /// When the next refresh is due (RFC 3339).
    pub next_refresh: Option<String>,
    /// When the held credentials expire (RFC 3339).
    pub expires_at: Option<String>,
    /// Seconds until then.
    pub expires_in_seconds: Option<i64>,
    /// The certificate's NotAfter (RFC 3339).
    pub certificate_not_after: Option<String>,
    /// Whole days until then.
    pub certificate_days_left: Option<i64>,
    /// Seconds until then.
    pub certificate_expires_in_seconds: Option<i64>,
    /// Whether the certificate is within [`WARNING_BAND`] of its end.
    pub certificate_warning: bool,
    /// Recent refreshes, newest last.
    pub history: Vec<RefreshEntry>,
}

/// One consumer.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerStatus {
    /// Its name.
    pub name: String,
    /// The profiles it may fetch.
    pub profiles: Vec<String>,
    /// Its last fetch.
    pub last_fetch: Option<LastFetch>,
}

fn rfc3339(at: OffsetDateTime) -> String {
    crate::time_format::rfc3339(at)
}

/// The report for `agent` at `now`.
pub fn report(agent: &Agent, now: OffsetDateTime) -> StatusReport {
    let profiles = agent
        .profiles()
        .iter()
        .map(|(name, served)| {
            let snapshot = served.cache.snapshot();
            let expiry = snapshot.credentials.as_ref().map(|c| c.expiration());
            let not_after = served.cache.certificate_not_after();
            let history = agent.history.of(name);
            ProfileStatus {
                name: name.clone(),
                health: served.cache.health().as_str(),
                role_arn: served.role_arn.clone(),
                last_refresh: history.last().cloned(),
                next_refresh: snapshot.next_refresh.map(rfc3339),
                expires_at: expiry.map(rfc3339),
                expires_in_seconds: expiry.map(|at| (at - now).whole_seconds()),
                certificate_not_after: not_after.map(rfc3339),
                certificate_days_left: not_after.map(|at| (at - now).whole_days()),
                certificate_expires_in_seconds: not_after.map(|at| (at - now).whole_seconds()),
                certificate_warning: not_after.is_some_and(|at| at - now <= WARNING_BAND),
                history,
            }
        })
        .collect();
    let consumers = agent
        .consumers()
        .grants()
        .into_iter()
        .map(|(name, profiles)| ConsumerStatus {
            last_fetch: agent.fetches.last(&name),
            name,
            profiles,
        })
        .collect();
    StatusReport {
        now: rfc3339(now),
        profiles,
        consumers,
        audit_tail: agent
            .audit
            .as_ref()
            .map(|log| log.tail(AUDIT_TAIL))
            .unwrap_or_default(),
    }
}
