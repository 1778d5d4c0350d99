//! The EC2 instance metadata (IMDSv2) subset SDKs use for credentials, shaped as botocore, the
//! JavaScript SDK v3 and the Rust SDK expect it (INTEROP.md): token PUT with the TTL echoed,
//! bare role name, `Code: Success` only with real credentials, RFC 3339 times.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use http::Method;
use serde_json::json;
use tokio::time::Instant;

use super::consumers::Caller;
use super::documents::Document;
use super::refusal::{refuse, Family};
use super::{Agent, ImdsOptions, ServedProfile};
use crate::audit::{AuditRecord, Event};
use crate::server::{Incoming, Reply};

/// Tokens kept at most; the oldest are evicted first.
pub const MAX_TOKENS: usize = 10_000;
/// The TTL bounds of the token PUT.
const MAX_TTL_SECONDS: u64 = 21_600;
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// Issued IMDSv2 session tokens. Security: tokens are never logged.
#[derive(Debug, Default)]
pub struct TokenStore {
    // A sync mutex: held only for map operations.
    tokens: Mutex<HashMap<String, Instant>>,
}

impl TokenStore {
    fn issue(&self, ttl: Duration) -> Result<String, crate::secret::RandomError> {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(crate::secret::random_bytes::<32>()?);
        let now = crate::clock::monotonic_now();
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.len() >= MAX_TOKENS {
            tokens.retain(|_, expiry| *expiry > now);
        }
        while tokens.len() >= MAX_TOKENS {
            let Some(oldest) = tokens
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(t, _)| t.clone())
            else {
                break;
            };
            tokens.remove(&oldest);
        }
        tokens.insert(token.clone(), now + ttl);
        Ok(token)
    }

    fn valid(&self, token: &str) -> bool {
        let tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens
            .get(token)
            .is_some_and(|expiry| *expiry > crate::clock::monotonic_now())
    }
}

fn text(status: u16, body: impl Into<String>) -> Reply {
    Reply::new(status, "text/plain", body)
}

/// An IMDS refusal (plain text, as EC2's).
fn error(status: u16, message: &str) -> Reply {
    refuse(Family::Imds, status, "", message)
}

/// Handles `/latest/…` (only routed when IMDS is enabled).
pub fn handle(agent: &Agent, options: &ImdsOptions, request: &Incoming) -> Reply {
    if request.path == "/latest/api/token" {
        return put_token(agent, request);
    }
    if request.method != Method::GET {
        return error(405, "Method Not Allowed");
    }
    match request.header(TOKEN_HEADER) {
        Some(token) if agent.imds_tokens.valid(token) => {}
        None if options.v1 => {}
        _ => return error(401, "Unauthorized"),
    }
    let Some(served) = agent.profile(&options.profile) else {
        return error(404, "Not Found");
    };
    let path = request.path.as_str();
    if path == "/latest/meta-data/placement/region" {
        return text(200, served.region.clone());
    }
    if path == "/latest/meta-data/iam/security-credentials/"
        || path == "/latest/meta-data/iam/security-credentials-extended/"
    {
        // A bare role name: the Rust SDK fails on a trailing newline.
        return text(200, served.role_name().to_owned());
    }
    let (extended, role) =
        if let Some(role) = path.strip_prefix("/latest/meta-data/iam/security-credentials/") {
            (false, role)
        } else if let Some(role) =
            path.strip_prefix("/latest/meta-data/iam/security-credentials-extended/")
        {
            (true, role)
        } else {
            return error(404, "Not Found");
        };
    if role != served.role_name() {
        return error(404, "Not Found");
    }
    credentials(agent, &options.profile, &served, extended, request)
}

/// The credentials document, when IMDS may hand it out: with `[[consumers]]` declared, only
/// when one opted the host in (`imds = true`) and is granted the IMDS profile. Audited.
fn credentials(
    agent: &Agent,
    profile: &str,
    served: &ServedProfile,
    extended: bool,
    request: &Incoming,
) -> Reply {
    let record = || AuditRecord {
        profile: Some(profile.to_owned()),
        ..AuditRecord::request(
            agent.clock.now(),
            Event::Refused,
            "imds",
            &Caller::of(request.peer),
        )
    };
    let consumers = agent.consumers();
    let consumer = consumers.for_imds().filter(|c| c.may_fetch(profile));
    if !consumers.is_empty() && consumer.is_none() {
        let reason =
            "IMDS is not opted in: no [[consumers]] entry with imds = true is granted this profile";
        agent.audit(|| AuditRecord {
            reason: Some(reason.into()),
            ..record()
        });
        return error(403, reason);
    }
    let consumer = consumer.map(|c| c.name.clone());
    match served.cache.current() {
        Ok(credentials) => {
            agent.handed_out(record, consumer, profile, &served.role_arn, &credentials);
            let account = extended.then(|| served.account_id());
            let kind = match extended {
                true => Document::ImdsExtended,
                false => Document::Imds,
            };
            match credentials.issued_at() {
                // LastUpdated is the time received, fixed with the credentials: shareable.
                Some(received) => Reply::shared(
                    200,
                    "application/json",
                    served.documents.get(&credentials, kind, || {
                        credentials.to_imds_json(received, account)
                    }),
                ),
                None => Reply::secret(
                    200,
                    "application/json",
                    credentials.to_imds_json(agent.clock.now(), account),
                ),
            }
        }
        Err(unavailable) => {
            agent.audit(|| AuditRecord {
                consumer,
                reason: Some(unavailable.0.clone()),
                ..record()
            });
            Reply::new(
                503,
                "application/json",
                json!({ "Code": "CredentialsUnavailable", "Message": unavailable.0 }).to_string(),
            )
        }
    }
}

fn put_token(agent: &Agent, request: &Incoming) -> Reply {
    if request.method != Method::PUT {
        return error(405, "Method Not Allowed");
    }
    if request.header("x-forwarded-for").is_some() {
        return error(400, "Bad Request: X-Forwarded-For is not accepted");
    }
    let ttl = request
        .header(TTL_HEADER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_TTL_SECONDS).contains(t));
    let Some(ttl) = ttl else {
        return error(
            400,
            "Bad Request: x-aws-ec2-metadata-token-ttl-seconds must be 1–21600",
        );
    };
    let Ok(token) = agent.imds_tokens.issue(Duration::from_secs(ttl)) else {
        return error(503, "Service Unavailable: no randomness for a token");
    };
    let mut reply = text(200, token);
    reply.headers.push((TTL_HEADER, ttl.to_string()));
    reply
}
