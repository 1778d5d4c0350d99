//! SigV4's canonical forms, shared by the signing side (`sign.rs`) and the verifying side
//! (`verify.rs`, the anchor's STS): query and path encoding, the canonical request, the
//! credential scope and the string to sign. Pure functions.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::identity::Digest;

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
}
