//! Header hygiene: what is forwarded upstream and what comes back.

use http::header::{HeaderName, HeaderValue, HOST};
use http::HeaderMap;

use super::ProxySettings;

/// Headers never forwarded: hop-by-hop ones, and the signature the proxy replaces.
const DROPPED: [&str; 15] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Hop-by-hop headers removed from responses (as names, so that no removal parses a string).
const RESPONSE_HOP_BY_HOP: [HeaderName; 6] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
    HeaderName::from_static("proxy-connection"),
    http::header::TRAILER,
];

/// The headers to sign and send: the client's, less hop-by-hop ones, those its `Connection`
/// header lists, the old signature and `--strip-header`s; plus `--add-header`s and `host`.
pub(super) fn forwarded(
    incoming: &HeaderMap,
    settings: &ProxySettings,
    host: HeaderValue,
) -> Vec<(HeaderName, HeaderValue)> {
    let connection_listed: Vec<String> = incoming
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    let mut headers: Vec<(HeaderName, HeaderValue)> = incoming
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !DROPPED.contains(&name)
                && !connection_listed.iter().any(|c| c == name)
                && !settings.strip_headers.iter().any(|s| s == name)
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    headers.extend(settings.add_headers.iter().cloned());
    headers.push((HOST, host));
    headers
}

/// Removes hop-by-hop headers from an upstream response.
pub(super) fn strip_response(headers: &mut HeaderMap) {
    for name in &RESPONSE_HOP_BY_HOP {
        headers.remove(name);
    }
}

/// A numeric header (`content-length`), 0 when absent or malformed.
pub(super) fn length(headers: &HeaderMap, name: HeaderName) -> u64 {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_signature_and_listed_headers_are_dropped() {
        let mut incoming = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-private"),
            ("x-private", "1"),
            ("authorization", "AWS4-HMAC-SHA256 old"),
            ("x-amz-date", "20260101T000000Z"),
            ("x-strip", "1"),
            ("x-kept", "yes"),
        ] {
            incoming.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let settings = super::super::ProxySettings {
            strip_headers: vec![HeaderName::from_static("x-strip")],
            add_headers: vec![(
                HeaderName::from_static("x-added"),
                HeaderValue::from_static("a"),
            )],
            ..super::super::ProxySettings::default()
        };
        let names: Vec<String> = forwarded(&incoming, &settings, HeaderValue::from_static("h"))
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, ["x-kept", "x-added", "host"]);
    }
}
