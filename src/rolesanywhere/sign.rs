//! The client side of the Roles Anywhere signature (SigV4 with an X.509 key instead of an
//! HMAC secret): canonical request, string to sign, Authorization header.
//!
//! Everything here is a pure function of its inputs and the time passed in; the canonical
//! helpers are shared with [`super::verify`] so both sides build byte-identical strings.

use base64::Engine;
use serde::Serialize;
use time::OffsetDateTime;

use super::canonical::{
    canonical_query, canonical_request, credential_scope, string_to_sign, CONTENT_TYPE,
    SESSIONS_PATH,
};
use super::model::SessionParams;
use crate::identity::{Digest, SignError, Signer};
use crate::time_format::amz_date;

/// A request ready to send: method, path and query, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// HTTP method.
    pub method: &'static str,
    /// Path plus `?query`.
    pub path_and_query: String,
    /// Headers in the order to send, names lowercase (Host included).
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
}

impl SignedRequest {
    /// The value of a header (names are lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionBody<'a> {
    duration_seconds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_session_name: Option<&'a str>,
}

/// Builds and signs a CreateSession request for `host` (as it will appear in the Host header).
pub fn sign_create_session(
    params: &SessionParams,
    host: &str,
    region: &str,
    signer: &dyn Signer,
    now: OffsetDateTime,
) -> Result<SignedRequest, SignError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let query = canonical_query(&[
        ("profileArn", params.profile_arn.as_str()),
        ("roleArn", params.role_arn.as_str()),
        ("trustAnchorArn", params.trust_anchor_arn.as_str()),
    ]);
    let body = serde_json::to_vec(&CreateSessionBody {
        duration_seconds: params.duration_seconds,
        role_session_name: params.role_session_name.as_deref(),
    })
    .unwrap_or_default();
    let date_time = amz_date(now);
    let mut headers = vec![
        ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
        ("host".to_owned(), host.to_owned()),
        ("x-amz-date".to_owned(), date_time.clone()),
        (
            "x-amz-x509".to_owned(),
            b64.encode(signer.certificate().der()),
        ),
    ];
    if !signer.chain().is_empty() {
        let chain: Vec<String> = signer.chain().iter().map(|c| b64.encode(c.der())).collect();
        headers.push(("x-amz-x509-chain".to_owned(), chain.join(",")));
    }
    // Already in sorted order: content-type < host < x-amz-date < x-amz-x509 < x-amz-x509-chain.
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = canonical_request(
        "POST",
        SESSIONS_PATH,
        &query,
        &headers,
        &signed_headers,
        &body,
    );
    let algorithm = signer.family().request_algorithm();
    let scope = credential_scope(&date_time[..8], region);
    let to_sign = string_to_sign(algorithm, &date_time, &scope, &canonical);
    let signature = signer.sign(to_sign.as_bytes(), Digest::Sha256)?;
    headers.push((
        "authorization".to_owned(),
        format!(
            "{algorithm} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={}",
            signer.certificate().serial_decimal(),
            hex::encode(signature)
        ),
    ));
    Ok(SignedRequest {
        method: "POST",
        path_and_query: format!("{SESSIONS_PATH}?{query}"),
        headers,
        body,
    })
}
