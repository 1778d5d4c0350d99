//! The client side of the Roles Anywhere signature (SigV4 with an X.509 key instead of an
//! HMAC secret): canonical request, string to sign, Authorization header.
//!
//! Everything here is a pure function of its inputs and the time passed in; the canonical
//! helpers are shared with [`super::verify`] so both sides build byte-identical strings.

use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use time::OffsetDateTime;

use super::model::SessionParams;
use crate::identity::{Digest, SignError, Signer};

/// The service name in the credential scope.
pub const SERVICE: &str = "rolesanywhere";
/// The path CreateSession is posted to.
pub const SESSIONS_PATH: &str = "/sessions";
/// The content type tessera sends.
pub const CONTENT_TYPE: &str = "application/json";

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (SigV4 rule).
const SIGV4_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`SIGV4_QUERY`] but keeping '/' (for the canonical URI).
const SIGV4_PATH: &AsciiSet = &SIGV4_QUERY.remove(b'/');

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

/// `YYYYMMDDTHHMMSSZ`, the X-Amz-Date format.
pub fn amz_date(t: OffsetDateTime) -> String {
    crate::identity::cert::format_utc(t, super::verify::AMZ_DATE_FORMAT)
}

/// Percent-encodes one query key or value the SigV4 way.
pub fn encode_query_component(s: &str) -> String {
    utf8_percent_encode(s, SIGV4_QUERY).to_string()
}

/// The canonical query string: pairs encoded, sorted by key then value, joined with '&'.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                encode_query_component(k.as_ref()),
                encode_query_component(v.as_ref()),
            )
        })
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical URI: the path with each byte outside the unreserved set percent-encoded.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    utf8_percent_encode(path, SIGV4_PATH).to_string()
}

/// A header value as it enters the canonical request: trimmed, inner runs of spaces folded.
pub fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds the canonical request. `headers` are `(lowercase name, value)` in `signed_headers`
/// order, already combined for repeated names.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(String, String)],
    signed_headers: &str,
    body: &[u8],
) -> String {
    let mut out = String::with_capacity(512 + headers.iter().map(|(_, v)| v.len()).sum::<usize>());
    out.push_str(method);
    out.push('\n');
    out.push_str(canonical_uri);
    out.push('\n');
    out.push_str(canonical_query);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(&canonical_header_value(value));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(&hex::encode(Digest::Sha256.hash(body)));
    out
}

/// `<date>/<region>/rolesanywhere/aws4_request`.
pub fn credential_scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/{SERVICE}/aws4_request")
}

/// The string to sign.
pub fn string_to_sign(algorithm: &str, amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "{algorithm}\n{amz_date}\n{scope}\n{}",
        hex::encode(Digest::Sha256.hash(canonical.as_bytes()))
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_are_encoded_rfc3986_style() {
        assert_eq!(
            encode_query_component("arn:aws:iam::123456789012:role/a b+c~d"),
            "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa%20b%2Bc~d"
        );
    }

    #[test]
    fn canonical_query_is_sorted_by_encoded_key() {
        assert_eq!(
            canonical_query(&[("b", "2"), ("a", "1"), ("a", "0")]),
            "a=0&a=1&b=2"
        );
        assert_eq!(canonical_query::<&str, &str>(&[]), "");
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        assert_eq!(canonical_header_value("  a   b \t c  "), "a b c");
    }

    #[test]
    fn amz_date_is_utc_basic_format() {
        let t = time::macros::datetime!(2026-03-04 05:06:07 +02:00);
        assert_eq!(amz_date(t), "20260304T030607Z");
    }
}
