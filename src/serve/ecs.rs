//! The ECS container-credentials endpoint: `GET /v1/credentials/<profile>` with the profile's
//! token in `Authorization` (compared in constant time).

use http::Method;

use super::refusal::{refuse, Family};
use super::Agent;
use crate::server::{Incoming, Reply};

fn error(status: u16, code: &str, message: &str) -> Reply {
    refuse(Family::Ecs, status, code, message)
}

/// Handles `/v1/credentials/<profile>`.
pub fn handle(agent: &Agent, profile: &str, request: &Incoming) -> Reply {
    if request.method != Method::GET {
        return error(405, "MethodNotAllowed", "use GET");
    }
    // Security: an unknown profile gets the same 401 as a wrong token, so profile names
    // cannot be enumerated without a token.
    let served = agent.profile(profile);
    let presented = request.header("authorization").unwrap_or_default();
    let authorized = served.as_ref().is_some_and(|served| {
        crate::secret::constant_time_eq(
            presented.as_bytes(),
            served.ecs_token.expose_secret().as_bytes(),
        )
    });
    let (Some(served), true) = (served, authorized) else {
        return error(
            401,
            "Unauthorized",
            "the Authorization header must be this profile's token",
        );
    };
    match served.cache.current() {
        Ok(credentials) => Reply::secret(
            200,
            "application/json",
            credentials.to_ecs_json(served.account_id(), &served.role_arn),
        ),
        Err(unavailable) => error(503, "CredentialsUnavailable", &unavailable.0),
    }
}
