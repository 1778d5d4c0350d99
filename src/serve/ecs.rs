//! The ECS container-credentials endpoint: `GET /v1/credentials/<profile>` with the profile's
//! token in `Authorization` (compared in constant time).

use http::Method;
use serde_json::json;

use super::Agent;
use crate::identity::cert::rfc3339;
use crate::server::{Incoming, Reply};

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        "application/json",
        json!({ "code": code, "message": message }).to_string(),
    )
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
        Ok(credentials) => Reply::new(
            200,
            "application/json",
            json!({
                "AccessKeyId": credentials.access_key_id(),
                // Security: the output boundary of the ECS endpoint.
                "SecretAccessKey": credentials.secret_access_key().expose_secret(),
                "Token": credentials.session_token().expose_secret(),
                "Expiration": rfc3339(credentials.expiration()),
                "AccountId": served.account_id(),
                "RoleArn": served.role_arn,
            })
            .to_string(),
        ),
        Err(unavailable) => error(503, "CredentialsUnavailable", &unavailable.0),
    }
}
