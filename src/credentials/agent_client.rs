//! `credential-process --agent`: asking a running `serve` over its Unix socket
//! (`GET /v1/credentials/PROFILE`), so a hardware key's PIN is entered once per refresh by
//! serve, not once per AWS call. No agent, or an agent that does not serve the profile, means
//! the caller goes its usual way.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::aws_credentials::{check_fields, Credentials};
use crate::secret::SecretString;

/// How long the agent may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the agent said.
#[derive(Debug)]
pub enum AgentAnswer {
    /// Its credentials for the profile.
    Credentials(Credentials),
    /// No agent is listening there (why, for a debug line).
    NotRunning(String),
    /// The agent does not serve this profile.
    NotServed,
}

/// Why the agent's answer cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The agent refused the request.
    #[error("the agent at {socket} refused profile {profile}: {message}")]
    Refused {
        /// The socket.
        socket: String,
        /// The profile.
        profile: String,
        /// Its message.
        message: String,
    },
    /// The exchange failed or the answer is not credentials.
    #[error("the agent at {socket} gave no usable answer: {detail}")]
    Unusable {
        /// The socket.
        socket: String,
        /// What went wrong.
        detail: String,
    },
}

/// The ECS document serve answers with.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EcsDocument {
    access_key_id: String,
    secret_access_key: SecretString,
    token: SecretString,
    expiration: String,
}

/// Asks the agent at `socket` for `profile`'s credentials.
pub async fn fetch(socket: &Path, profile: &str) -> Result<AgentAnswer, AgentError> {
    let unusable = |detail: String| AgentError::Unusable {
        socket: socket.display().to_string(),
        detail,
    };
    let stream = match tokio::net::UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(error) => return Ok(AgentAnswer::NotRunning(error.to_string())),
    };
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unusable(e.to_string()))?;
        tokio::spawn(connection);
        let request = http::Request::get(format!("/v1/credentials/{profile}"))
            .header(http::header::HOST, "localhost")
            .body(Empty::<Bytes>::new())
            .map_err(|e| unusable(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unusable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| unusable(e.to_string()))?
            .to_bytes();
        Ok::<_, AgentError>((status, body))
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| unusable(format!("no answer within {} s", TIMEOUT.as_secs())))??;
    match status {
        200 => credentials(&body)
            .map(AgentAnswer::Credentials)
            .map_err(unusable),
        404 => Ok(AgentAnswer::NotServed),
        _ => {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| format!("HTTP {status}"));
            Err(AgentError::Refused {
                socket: socket.display().to_string(),
                profile: profile.to_owned(),
                message: crate::text::printable(&message, 300),
            })
        }
    }
}

/// The credentials in an ECS document, checked.
fn credentials(body: &[u8]) -> Result<Credentials, String> {
    let document: EcsDocument =
        serde_json::from_slice(body).map_err(|_| "not an ECS credentials document".to_owned())?;
    check_fields(
        &document.access_key_id,
        document.secret_access_key.expose_secret(),
        document.token.expose_secret(),
    )
    .map_err(|e| e.to_string())?;
    let expiration = OffsetDateTime::parse(&document.expiration, &Rfc3339)
        .map_err(|_| "its Expiration is not an RFC 3339 time".to_owned())?;
    Ok(Credentials::new(
        document.access_key_id,
        document.secret_access_key,
        document.token,
        expiration,
    ))
}
