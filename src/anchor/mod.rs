//! The local trust anchor: a Roles Anywhere-compatible `CreateSession` endpoint that applies
//! the real service's checks, plus the small STS (`GetCallerIdentity`) needed to prove the
//! credentials it issues, and Prometheus metrics. Runs offline, in CI and in the quickstart.

pub mod assume_role;
pub mod config;
pub mod enrol;
pub mod federation;
pub mod server;
pub mod session;
pub mod sts;
mod sts_sigv4;
pub mod tags;
pub mod upstream;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use self::config::AnchorState;
use self::enrol::Enrolment;
use self::session::{decide, refusal_for_verify_error, Refusal};
use self::sts::{IssuedSession, SessionStore, StsError};
use self::upstream::UpstreamSts;
use crate::aws_credentials::json::{zeroizing_json, CreateSessionCredentials};
use crate::clock::Clock;
use crate::metrics_text::{self, Kind, MetricsText};
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
    /// The enrolment CA, when the config has an `[enrolment]` section.
    enrolment: Option<Enrolment>,
    /// The emulated federation sign-in endpoint.
    federation: federation::Federation,
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
            enrolment: None,
            federation: federation::Federation::default(),
        }
    }

    /// `GET /federation…`: the emulated sign-in endpoint and its console page.
    pub fn federation(&self, request: &crate::server::Incoming) -> Reply {
        self.federation
            .handle(&self.sessions, request, self.clock.now())
    }

    /// The same anchor with an enrolment CA on `/1.0/sign` and `/1.0/renew`.
    pub fn with_enrolment(mut self, enrolment: Enrolment) -> Self {
        self.enrolment = Some(enrolment);
        self
    }

    /// The enrolment CA, if configured.
    pub fn enrolment(&self) -> Option<&Enrolment> {
        self.enrolment.as_ref()
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
                    source_identity = %grant.source_identity,
                    access_key_id = session.credentials.access_key_id(),
                    "CreateSession granted for {} s",
                    grant.duration_seconds
                );
                Reply {
                    status: 201,
                    content_type: "application/json",
                    headers: vec![("x-amzn-RequestId", id), ("date", http_date(now))],
                    body: crate::server::wiped_bytes(session_json(
                        &session,
                        &grant,
                        &self.state,
                        &verified.leaf.fingerprint_sha256(),
                    )),
                }
            }
            Err(refusal) => {
                self.count("tessera_anchor_create_session_total", refusal.code);
                tracing::warn!(request_id = %id, status = refusal.status, code = refusal.code, "CreateSession refused: {}", refusal.check);
                let mut reply = refusal_reply(&refusal, id);
                reply.headers.push(("date", http_date(now)));
                reply
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
                .mint(grant.mint_request(), now)
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

    /// STS on `/` (query or form POST): `GetCallerIdentity` and `AssumeRole`.
    pub fn sts(&self, request: &ReceivedRequest<'_>) -> Reply {
        let id = request_id();
        let now = self.clock.now();
        let answer = self
            .sessions
            .authenticate(request, now, &self.state.region)
            .map_err(|error| {
                let reason = error.message.clone();
                (error, reason)
            })
            .and_then(|call| match call.action() {
                "GetCallerIdentity" => Ok(sts::caller_identity_xml(&call.caller, &id).into()),
                "AssumeRole" => self.assume_role(&call, &id, now),
                other => {
                    let error = sts::invalid_action(other);
                    let reason = error.message.clone();
                    Err((error, reason))
                }
            });
        match answer {
            Ok(body) => {
                self.count("tessera_anchor_sts_requests_total", "success");
                Reply {
                    status: 200,
                    content_type: "text/xml",
                    headers: vec![("x-amzn-RequestId", id)],
                    body: crate::server::wiped_bytes(body),
                }
            }
            Err((error, reason)) => {
                self.count("tessera_anchor_sts_requests_total", error.code);
                tracing::warn!(request_id = %id, code = error.code, "STS request refused: {reason}");
                sts_reply(&error, id)
            }
        }
    }

    /// `AssumeRole` for an authenticated call: decided against the roles' trust policies,
    /// then minted here (role chaining from the anchor's own sessions).
    fn assume_role(
        &self,
        call: &sts::StsCall,
        id: &str,
        now: time::OffsetDateTime,
    ) -> Result<Zeroizing<String>, assume_role::Refused> {
        let params = assume_role::AssumeRoleParams::parse(call)?;
        let chained = assume_role::decide(&call.caller, &params, &self.state.roles)?;
        let session = self
            .sessions
            .mint(chained.mint_request(), now)
            .map_err(|e| {
                let error = sts::sts_error(
                    500,
                    "InternalFailure",
                    "The server could not create credentials.",
                );
                (error, e.to_string())
            })?;
        tracing::info!(
            request_id = %id,
            caller = %call.caller.assumed_role_arn,
            role = %chained.role_arn,
            session = %chained.session_name,
            source_identity = %chained.source_identity,
            access_key_id = session.credentials.access_key_id(),
            "AssumeRole granted for {} s",
            chained.duration_seconds
        );
        Ok(assume_role::response_xml(&session, id))
    }

    /// `GET /metrics` in Prometheus text format.
    pub fn metrics(&self) -> Reply {
        let counters = self.counters.lock().map(|c| c.clone()).unwrap_or_default();
        let mut page = MetricsText::new();
        for (metric, help) in [
            (
                "tessera_anchor_create_session_total",
                "CreateSession requests by outcome.",
            ),
            (
                "tessera_anchor_sts_requests_total",
                "STS requests by outcome.",
            ),
        ] {
            page.family(metric, Kind::Counter, help);
            for ((name, outcome), value) in &counters {
                if *name == metric {
                    page.sample(&[("outcome", outcome)], value);
                }
            }
        }
        Reply::new(200, metrics_text::CONTENT_TYPE, page.finish())
    }
}

/// A CreateSession answer, shaped as the service's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionAnswer<'a> {
    credential_set: [CredentialSetEntry<'a>; 1],
    subject_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialSetEntry<'a> {
    assumed_role_user: AssumedRoleUser<'a>,
    credentials: CreateSessionCredentials<'a>,
    packed_policy_size: u32,
    role_arn: &'a str,
    source_identity: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssumedRoleUser<'a> {
    arn: &'a str,
    assumed_role_id: &'a str,
}

/// The CreateSession answer body, in a buffer wiped on drop (it holds the secrets).
fn session_json(
    session: &IssuedSession,
    grant: &session::Grant,
    state: &AnchorState,
    fingerprint: &str,
) -> Zeroizing<String> {
    let id = &fingerprint[..32];
    zeroizing_json(&CreateSessionAnswer {
        credential_set: [CredentialSetEntry {
            assumed_role_user: AssumedRoleUser {
                arn: &session.assumed_role_arn,
                assumed_role_id: &session.assumed_role_id,
            },
            credentials: session.credentials.create_session_credentials(),
            packed_policy_size: 0,
            role_arn: &grant.role_arn,
            source_identity: &grant.source_identity,
        }],
        subject_arn: format!(
            "arn:aws:rolesanywhere:{}:{}:subject/{}-{}-{}-{}-{}",
            state.region,
            state.account_id,
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..32]
        ),
    })
}

/// The anchor's time as an HTTP `Date` (its clock may be offset), which clients read to
/// measure their skew.
fn http_date(now: time::OffsetDateTime) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(now))
}

fn refusal_reply(refusal: &Refusal, id: String) -> Reply {
    Reply {
        status: refusal.status,
        content_type: "application/json",
        headers: vec![
            ("X-Amzn-ErrorType", refusal.code.to_owned()),
            ("x-amzn-RequestId", id),
        ],
        body: json!({ "message": refusal.message }).to_string().into(),
    }
}

fn sts_reply(error: &StsError, id: String) -> Reply {
    Reply {
        status: error.status,
        content_type: "text/xml",
        headers: vec![("x-amzn-RequestId", id.clone())],
        body: sts::error_xml(error, &id).into(),
    }
}
