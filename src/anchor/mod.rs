//! The local trust anchor: a Roles Anywhere-compatible `CreateSession` endpoint that applies
//! the real service's checks, plus the small STS (`GetCallerIdentity`) needed to prove the
//! credentials it issues, and Prometheus metrics. Runs offline, in CI and in the quickstart.

pub mod config;
pub mod server;
pub mod session;
pub mod sts;
pub mod tags;
pub mod upstream;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use self::config::AnchorState;
use self::session::{decide, refusal_for_verify_error, Refusal};
use self::sts::{IssuedSession, SessionStore, StsError};
use self::upstream::UpstreamSts;
use crate::clock::Clock;
use crate::identity::cert::rfc3339;
use crate::rolesanywhere::verify::{verify, ReceivedRequest};
use crate::server::Reply;

/// The anchor: configuration, issued sessions, counters.
#[derive(Debug)]
pub struct Anchor {
    state: AnchorState,
    sessions: SessionStore,
    /// When set, sessions are minted by AssumeRole at this STS instead of locally.
    upstream: Option<UpstreamSts>,
    // Sync mutex: held only to bump a counter, never across an await.
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    clock: Arc<dyn Clock>,
}

fn request_id() -> String {
    let r = fastrand::u128(..);
    let h = format!("{r:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Anchor {
    /// An anchor for a validated configuration; with `upstream`, credentials come from that
    /// STS's AssumeRole.
    pub fn new(state: AnchorState, upstream: Option<UpstreamSts>, clock: Arc<dyn Clock>) -> Self {
        Self {
            state,
            sessions: SessionStore::default(),
            upstream,
            counters: Mutex::new(BTreeMap::new()),
            clock,
        }
    }

    /// The configuration in force.
    pub fn state(&self) -> &AnchorState {
        &self.state
    }

    fn count(&self, metric: &'static str, outcome: &str) {
        if let Ok(mut counters) = self.counters.lock() {
            *counters.entry((metric, outcome.to_owned())).or_default() += 1;
        }
    }

    /// `POST /sessions`.
    pub async fn create_session(&self, request: &ReceivedRequest<'_>) -> Reply {
        let now = self.clock.now();
        let id = request_id();
        let outcome = verify(request)
            .map_err(|e| refusal_for_verify_error(&e))
            .and_then(|verified| {
                decide(&verified, &self.state, now).map(|grant| (verified, grant))
            });
        let outcome = match outcome {
            Ok((verified, grant)) => self
                .mint(&grant, now)
                .await
                .map(|session| (verified, grant, session)),
            Err(refusal) => Err(refusal),
        };
        match outcome {
            Ok((verified, grant, session)) => {
                self.count("tessera_anchor_create_session_total", "success");
                tracing::info!(
                    request_id = %id,
                    serial = verified.leaf.serial_decimal(),
                    role = %grant.role_arn,
                    session = %grant.session_name,
                    access_key_id = session.credentials.access_key_id(),
                    "CreateSession granted for {} s",
                    grant.duration_seconds
                );
                Reply {
                    status: 201,
                    content_type: "application/json",
                    headers: vec![("x-amzn-RequestId", id)],
                    body: session_json(
                        &session,
                        &grant,
                        &self.state,
                        &verified.leaf.fingerprint_sha256(),
                    )
                    .to_string(),
                }
            }
            Err(refusal) => {
                self.count("tessera_anchor_create_session_total", refusal.code);
                tracing::warn!(request_id = %id, status = refusal.status, code = refusal.code, "CreateSession refused: {}", refusal.check);
                refusal_reply(&refusal, id)
            }
        }
    }

    async fn mint(
        &self,
        grant: &session::Grant,
        now: time::OffsetDateTime,
    ) -> Result<IssuedSession, Refusal> {
        match &self.upstream {
            None => self
                .sessions
                .mint(grant, &self.state.account_id, now)
                .map_err(|e| Refusal {
                    status: 500,
                    code: "InternalServerException",
                    message: "The server could not create credentials.".into(),
                    check: e.to_string(),
                }),
            Some(upstream) => upstream
                .assume_role(grant, &self.state.account_id)
                .await
                .map_err(|e| Refusal {
                    status: 403,
                    code: "AccessDeniedException",
                    message: format!("Unable to assume role for {}.", grant.role_arn),
                    check: format!("upstream STS AssumeRole failed: {e}"),
                }),
        }
    }

    /// STS on `/` (query or form POST).
    pub fn sts(&self, request: &ReceivedRequest<'_>) -> Reply {
        let id = request_id();
        match self
            .sessions
            .get_caller_identity(request, self.clock.now(), &self.state.region)
        {
            Ok(session) => {
                self.count("tessera_anchor_sts_requests_total", "success");
                Reply {
                    status: 200,
                    content_type: "text/xml",
                    headers: vec![("x-amzn-RequestId", id.clone())],
                    body: sts::caller_identity_xml(&session, &id),
                }
            }
            Err(error) => {
                self.count("tessera_anchor_sts_requests_total", error.code);
                tracing::warn!(request_id = %id, code = error.code, "STS request refused: {}", error.message);
                sts_reply(&error, id)
            }
        }
    }

    /// `GET /metrics` in Prometheus text format.
    pub fn metrics(&self) -> Reply {
        let mut body = String::from(
            "# HELP tessera_anchor_create_session_total CreateSession requests by outcome.\n# TYPE tessera_anchor_create_session_total counter\n# HELP tessera_anchor_sts_requests_total STS requests by outcome.\n# TYPE tessera_anchor_sts_requests_total counter\n",
        );
        if let Ok(counters) = self.counters.lock() {
            for ((metric, outcome), value) in counters.iter() {
                let outcome = crate::text::label_value(outcome);
                body.push_str(&format!("{metric}{{outcome=\"{outcome}\"}} {value}\n"));
            }
        }
        Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            headers: Vec::new(),
            body,
        }
    }
}

fn session_json(
    session: &IssuedSession,
    grant: &session::Grant,
    state: &AnchorState,
    fingerprint: &str,
) -> serde_json::Value {
    let subject_id = &fingerprint[..32];
    json!({
        "credentialSet": [{
            "assumedRoleUser": {"arn": session.assumed_role_arn, "assumedRoleId": session.assumed_role_id},
            "credentials": {
                "accessKeyId": session.credentials.access_key_id(),
                "expiration": rfc3339(session.credentials.expiration()),
                // Security: the one place secrets leave the anchor, in the response body.
                "secretAccessKey": session.credentials.secret_access_key().expose_secret(),
                "sessionToken": session.credentials.session_token().expose_secret(),
            },
            "packedPolicySize": 0,
            "roleArn": grant.role_arn,
            "sourceIdentity": grant.source_identity,
        }],
        "subjectArn": format!(
            "arn:aws:rolesanywhere:{}:{}:subject/{}-{}-{}-{}-{}",
            state.region, state.account_id, &subject_id[..8], &subject_id[8..12], &subject_id[12..16], &subject_id[16..20], &subject_id[20..32]
        ),
    })
}

fn refusal_reply(refusal: &Refusal, id: String) -> Reply {
    Reply {
        status: refusal.status,
        content_type: "application/json",
        headers: vec![
            ("X-Amzn-ErrorType", refusal.code.to_owned()),
            ("x-amzn-RequestId", id),
        ],
        body: json!({ "message": refusal.message }).to_string(),
    }
}

fn sts_reply(error: &StsError, id: String) -> Reply {
    Reply {
        status: error.status,
        content_type: "text/xml",
        headers: vec![("x-amzn-RequestId", id.clone())],
        body: sts::error_xml(error, &id),
    }
}
