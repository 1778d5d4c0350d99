//! `credential-process --agent`: asking a running `serve` over its Unix socket
//! (`GET /v1/credentials/PROFILE`), so a hardware key's PIN is entered once per refresh by
//! serve, not once per AWS call. No agent, or an agent that does not serve the profile, means
//! the caller goes its usual way.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::aws_credentials::{check_fields, Credentials};
use crate::secret::SecretString;

/// How long the agent may take to answer, in all.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer body read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Room for the status line and headers on top of the body.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Headers parsed at most.
const MAX_HEADERS: usize = 32;

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

/// Asks the agent at `socket` for `profile`'s credentials. Blocking, with no async runtime:
/// it is the whole of a `credential-process --agent` run, paid once per AWS CLI command, so
/// it is one HTTP/1.1 exchange on a plain socket, answered within [`TIMEOUT`] in all.
pub fn fetch(socket: &Path, profile: &str) -> Result<AgentAnswer, AgentError> {
    let unusable = |detail: String| AgentError::Unusable {
        socket: socket.display().to_string(),
        detail,
    };
    let path = format!("/v1/credentials/{profile}");
    if http::uri::PathAndQuery::try_from(path.as_str()).is_err() {
        return Err(unusable(format!(
            "profile {} cannot be named in a request path",
            crate::text::printable(profile, 100)
        )));
    }
    let mut stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(error) => return Ok(AgentAnswer::NotRunning(error.to_string())),
    };
    let deadline = crate::clock::monotonic_now() + TIMEOUT;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .set_write_timeout(Some(TIMEOUT))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|e| unusable(format!("cannot send the request: {e}")))?;
    let answer = read_answer(&mut stream, deadline).map_err(unusable)?;
    let (status, body) = parse_answer(&answer).map_err(unusable)?;
    match status {
        200 => credentials(body)
            .map(AgentAnswer::Credentials)
            .map_err(unusable),
        404 => Ok(AgentAnswer::NotServed),
        _ => {
            let message = serde_json::from_slice::<serde_json::Value>(body)
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

/// Reads the whole answer (the agent closes the connection after it), wiped when dropped.
fn read_answer(
    stream: &mut UnixStream,
    deadline: tokio::time::Instant,
) -> Result<Zeroizing<Vec<u8>>, String> {
    // Allocated once at its cap: a growing Vec would leave unwiped copies behind.
    let mut answer = Zeroizing::new(Vec::with_capacity(MAX_HEAD_BYTES + MAX_ANSWER_BYTES));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let left = deadline.saturating_duration_since(crate::clock::monotonic_now());
        if left.is_zero() {
            return Err(format!("no answer within {} s", TIMEOUT.as_secs()));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let read = match stream.read(chunk.as_mut_slice()) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer within {} s", TIMEOUT.as_secs()))
            }
            Err(e) => return Err(format!("cannot read the answer: {e}")),
        };
        if read == 0 {
            return Ok(answer);
        }
        if answer.len() + read > MAX_HEAD_BYTES + MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is over {} KiB",
                MAX_ANSWER_BYTES / 1024
            ));
        }
        answer.extend_from_slice(&chunk[..read]);
    }
}

/// The status and body of a complete HTTP/1.1 answer.
fn parse_answer(answer: &[u8]) -> Result<(u16, &[u8]), String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(answer) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Err("the answer ended inside its headers".into()),
        Err(e) => return Err(format!("not an HTTP answer ({e})")),
    };
    let status = response.code.unwrap_or_default();
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if header("transfer-encoding").is_some() {
        return Err("a chunked answer (serve sends a length)".into());
    }
    let body = &answer[head..];
    let length = match header("content-length") {
        Some(value) => std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or("its Content-Length is not a number")?,
        None => body.len(),
    };
    match body.get(..length) {
        Some(body) => Ok((status, body)),
        None => Err("the answer was cut short".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_split_into_status_and_exactly_its_length_of_body() {
        let answer = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_answer(answer), Ok((404, &b"{}"[..])));
        let unsized_answer = b"HTTP/1.1 200 OK\r\n\r\nbody";
        assert_eq!(parse_answer(unsized_answer), Ok((200, &b"body"[..])));
    }

    #[test]
    fn a_short_chunked_or_foreign_answer_is_refused() {
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}";
        assert_eq!(parse_answer(short), Err("the answer was cut short".into()));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert!(parse_answer(chunked).unwrap_err().contains("chunked"));
        assert!(parse_answer(b"SSH-2.0-OpenSSH\r\n").is_err());
        let cut_head = b"HTTP/1.1 200 OK\r\ncontent-le";
        assert_eq!(
            parse_answer(cut_head),
            Err("the answer ended inside its headers".into())
        );
    }
}
