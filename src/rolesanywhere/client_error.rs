//! Why CreateSession did not produce credentials, and what that says about retrying.

use crate::identity::SignError;

/// Why CreateSession did not produce credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Signing failed (key unavailable).
    #[error("cannot sign the CreateSession request")]
    Sign(#[source] SignError),
    /// TLS handshake failed.
    #[error("TLS connection to {endpoint} failed: {detail}; if the endpoint uses a private CA pass --ca-bundle")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// The TLS error chain, flattened.
        detail: String,
    },
    /// The endpoint could not be reached.
    #[error("cannot reach Roles Anywhere endpoint {endpoint}: {detail}; check --endpoint, the network and proxy settings")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// The transport error chain, flattened.
        detail: String,
    },
    /// The time budget ran out.
    #[error("CreateSession at {endpoint} did not complete within {seconds} s (--timeout)")]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The budget.
        seconds: u64,
    },
    /// The service answered with an error.
    #[error("CreateSession failed: HTTP {status} {code}: {message}{}", request_id.as_deref().map(|id| format!(" (request id {id})")).unwrap_or_default())]
    Service {
        /// HTTP status.
        status: u16,
        /// AWS error code (`AccessDeniedException`, …) or `UnknownError`.
        code: String,
        /// The service's message.
        message: String,
        /// `x-amzn-RequestId`, when sent.
        request_id: Option<String>,
    },
    /// A success status with a body that is not a usable CreateSession response.
    #[error("CreateSession at {endpoint} returned HTTP {status} with an unusable body: {detail}")]
    MalformedResponse {
        /// The endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// What is wrong.
        detail: String,
    },
}

impl ClientError {
    /// Whether the endpoint refused the signature for its time (clock skew).
    pub fn is_signature_expired(&self) -> bool {
        matches!(self, ClientError::Service { status: 403, message, .. }
            if message.starts_with("Signature expired") || message.starts_with("Signature not yet current"))
    }

    /// Whether another attempt may succeed: transport trouble, 5xx, 429 and throttling.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport { .. } | ClientError::Timeout { .. } => true,
            ClientError::Service { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || code.contains("Throttl")
                    || code == "TooManyRequestsException"
            }
            _ => false,
        }
    }
}
