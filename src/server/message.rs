//! What handlers see and return: [`Incoming`] (a fully read request) and [`Reply`], and the
//! loopback-Host rule for admin listeners.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use zeroize::Zeroizing;

/// A request as handlers see it: fully read, headers as text.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Method.
    pub method: http::Method,
    /// Path (percent-encoded as received).
    pub path: String,
    /// Raw query, possibly empty.
    pub query: String,
    /// Headers as received (names lowercase), plus `host` from the authority on HTTP/2.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// The client.
    pub peer: super::Peer,
}

impl Incoming {
    /// The first value of a header (lowercase name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response: status, content type, extra headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body. Every body is built so that it is wiped when its last holder drops it
    /// (credential documents pass through here, some shared by many replies).
    pub body: Bytes,
}

impl Reply {
    /// A reply with a body and no extra headers.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self::secret(status, content_type, Zeroizing::new(body.into()))
    }

    /// A reply whose body holds secrets (a credentials document).
    pub fn secret(status: u16, content_type: &'static str, body: Zeroizing<String>) -> Self {
        Self::shared(status, content_type, wiped_bytes(body))
    }

    /// A reply with a body already in shared, wiped-on-drop bytes (see [`wiped_bytes`]).
    pub fn shared(status: u16, content_type: &'static str, body: Bytes) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// The body as text (empty if it is not UTF-8; every body built here is).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_default()
    }

    /// A JSON `{"message": …}` error.
    pub fn json_error(status: u16, message: &str) -> Self {
        Self::new(
            status,
            "application/json",
            serde_json::json!({ "message": message }).to_string(),
        )
    }
}

/// The 403 for a request whose Host is not loopback on a loopback-only listener, else `None`.
/// Security: a DNS-rebinding page reaches loopback under its own name, so its Host gives it
/// away; without this check it could read the admin endpoints or the anchor.
pub fn foreign_host(request: &Incoming) -> Option<Reply> {
    let host = request.header("host").unwrap_or_default();
    (!crate::host::is_loopback_host(host)).then(|| {
        Reply::json_error(
            403,
            "the Host header must name this machine (localhost, 127.0.0.1 or [::1])",
        )
    })
}

/// Bytes that share `text` without copying it and wipe it when the last of them is dropped.
pub fn wiped_bytes(text: Zeroizing<String>) -> Bytes {
    Bytes::from_owner(text)
}

pub(super) fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    // The body is handed over, not copied: hyper drops it once written.
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(value) = http::HeaderValue::from_str(reply.content_type) {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    for (name, value) in reply.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
