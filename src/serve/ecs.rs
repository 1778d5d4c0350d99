//! The ECS container-credentials endpoint: `GET /v1/credentials/<profile>`, over TCP and over
//! `serve --socket`. Without `[[consumers]]`, TCP needs the profile's token in `Authorization`
//! (compared in constant time) and the socket is open to whoever may connect to it. With
//! consumers, the caller must be one (its token, or its socket peer credentials) and be granted
//! the profile; every answer is audited.

use std::sync::Arc;

use http::Method;

use super::consumers::Caller;
use super::documents::Document;
use super::refusal::{refuse, Family};
use super::{Agent, ServedProfile};
use crate::audit::{AuditRecord, Event};
use crate::server::{Incoming, Peer, Reply};

/// A refused request: its answer and, for the audit log, the consumer and the reason.
struct Refused {
    status: u16,
    code: &'static str,
    message: String,
    consumer: Option<String>,
}

fn refused(status: u16, code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        status,
        code,
        message: message.into(),
        consumer: None,
    }
}

/// Handles `/v1/credentials/<profile>`.
pub fn handle(agent: &Agent, profile: &str, request: &Incoming) -> Reply {
    let caller = Caller::of(request.peer);
    let channel = match request.peer {
        Peer::Unix(_) => "socket",
        Peer::Tcp(_) => "ecs",
    };
    let granted = if request.method == Method::GET {
        authorize(agent, profile, request, &caller)
    } else {
        Err(refused(405, "MethodNotAllowed", "use GET"))
    };
    let now = agent.clock.now();
    let record = || AuditRecord {
        profile: Some(crate::text::printable(profile, 128)),
        ..AuditRecord::request(now, Event::Refused, channel, &caller)
    };
    let outcome = granted.and_then(|(served, consumer)| match served.cache.current() {
        Ok(credentials) => Ok((served, consumer, credentials)),
        Err(unavailable) => Err(Refused {
            consumer,
            ..refused(503, "CredentialsUnavailable", unavailable.0)
        }),
    });
    match outcome {
        Ok((served, consumer, credentials)) => {
            agent.handed_out(record, consumer, profile, &served.role_arn, &credentials);
            let document = served.documents.get(&credentials, Document::Ecs, || {
                credentials.to_ecs_json(served.account_id(), &served.role_arn)
            });
            Reply::shared(200, "application/json", document)
        }
        Err(refusal) => {
            if let Some(consumer) = &refusal.consumer {
                agent.fetches.count(consumer, profile, "refused", now);
            }
            agent.audit(|| AuditRecord {
                consumer: refusal.consumer,
                reason: Some(refusal.message.clone()),
                ..record()
            });
            refuse(Family::Ecs, refusal.status, refusal.code, &refusal.message)
        }
    }
}

/// The served profile and the consumer (when consumers are declared) this request may have.
fn authorize(
    agent: &Agent,
    profile: &str,
    request: &Incoming,
    caller: &Caller,
) -> Result<(Arc<ServedProfile>, Option<String>), Refused> {
    let consumers = agent.consumers();
    if consumers.is_empty() {
        return unrestricted(agent, profile, request);
    }
    let consumer = match request.peer {
        Peer::Unix(peer) => consumers
            .for_socket(&peer, caller.executable.as_deref())
            .ok_or_else(|| {
                refused(
                    403,
                    "Forbidden",
                    format!(
                        "no [[consumers]] entry matches this peer (uid {}, gid {})",
                        peer.uid, peer.gid
                    ),
                )
            })?,
        Peer::Tcp(_) => {
            let presented = request.header("authorization").unwrap_or_default();
            consumers.for_token(presented).ok_or_else(|| {
                refused(
                    401,
                    "Unauthorized",
                    "the Authorization header must be a consumer's token",
                )
            })?
        }
    };
    // Security: the same answer whether the profile exists or not.
    let not_granted = || Refused {
        consumer: Some(consumer.name.clone()),
        ..refused(
            403,
            "Forbidden",
            format!("consumer '{}' is not granted this profile", consumer.name),
        )
    };
    if !consumer.may_fetch(profile) {
        return Err(not_granted());
    }
    let served = agent.profile(profile).ok_or_else(not_granted)?;
    Ok((served, Some(consumer.name.clone())))
}

/// Without consumers: a socket peer may fetch any profile; over TCP the profile's token is
/// needed, and an unknown profile gets the same 401 as a wrong token (no enumeration).
fn unrestricted(
    agent: &Agent,
    profile: &str,
    request: &Incoming,
) -> Result<(Arc<ServedProfile>, Option<String>), Refused> {
    let served = agent.profile(profile);
    if let (Peer::Unix(_), Some(served)) = (request.peer, &served) {
        return Ok((served.clone(), None));
    }
    let presented = request.header("authorization").unwrap_or_default();
    let authorized = matches!(request.peer, Peer::Tcp(_))
        && served.as_ref().is_some_and(|served| {
            crate::secret::constant_time_eq(
                presented.as_bytes(),
                served.ecs_token.expose_secret().as_bytes(),
            )
        });
    match (served, authorized) {
        (Some(served), true) => Ok((served, None)),
        (_, _) if matches!(request.peer, Peer::Unix(_)) => {
            Err(refused(404, "NotFound", "no such profile"))
        }
        _ => Err(refused(
            401,
            "Unauthorized",
            "the Authorization header must be this profile's token",
        )),
    }
}
