//! SigV4 header signing (`AWS4-HMAC-SHA256`) of one proxied request. Pure apart from
//! [`SigningKeys`], which keeps derived keys. The canonical request is written in one buffer by
//! the published rules, with S3's exceptions: single percent-encoding, no path normalisation and
//! an `x-amz-content-sha256` header. A request then costs two SHA-256 passes and one HMAC; the
//! four-HMAC key derivation runs once a day per credentials, region and service. The tests
//! check every output against aws-sigv4's signer.

use std::borrow::Cow;
use std::sync::Mutex;

use http::header::{HeaderName, HeaderValue};
use ring::{digest, hmac};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::chunked::STREAMING_PAYLOAD;
use super::route::SigningTarget;
use crate::aws_credentials::Credentials;
use crate::rolesanywhere::canonical::{canonical_query, canonical_uri};

/// The signature algorithm.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a body that is not signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Headers left out of the signature: the signature itself, and headers that proxies and CDNs
/// change in transit (the set the AWS SDKs leave out).
const UNSIGNED_HEADERS: [&str; 4] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];
/// Derived keys kept: one per (credentials, day, region, service) in use.
const KEPT_KEYS: usize = 8;

/// How the signature covers the body.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body, hashed.
    Bytes(&'a [u8]),
    /// `UNSIGNED-PAYLOAD` (S3 streaming).
    Unsigned,
    /// Signed aws-chunked frames follow; the seed signature starts the chain.
    Chunked,
}

/// One request to sign, as it will be sent.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as sent (percent-encoded once).
    pub path: &'a str,
    /// The query as sent, without the `?`.
    pub query: Option<&'a str>,
    /// The headers to send; they include `host`.
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// What the signature covers of the body.
    pub payload: Payload<'a>,
}

/// A request's signature: the headers to add, and what an aws-chunked body continues from.
#[derive(Debug)]
pub struct Signed {
    /// `x-amz-date`, `authorization` and, as needed, `x-amz-content-sha256` and
    /// `x-amz-security-token` (marked sensitive).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The seed of an aws-chunked chain.
    pub chain: ChainSeed,
}

/// What the frames of an aws-chunked body are signed with.
pub struct ChainSeed {
    /// The request's signature, hex.
    pub signature: String,
    /// The signing time, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// `<day>/<region>/<service>/aws4_request`.
    pub scope: String,
    /// The derived signing key.
    pub key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ChainSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Security: the signing key is never printed.
        f.debug_struct("ChainSeed")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignRequestError {
    /// A credential field cannot be sent in a header.
    #[error("the credentials' {0} is not a valid HTTP header value")]
    Credentials(&'static str),
}

/// Derived signing keys, by credentials (the very set, so its secret), day, region and service:
/// every input of the derivation.
#[derive(Default)]
pub struct SigningKeys {
    kept: Mutex<Vec<KeptKey>>,
}

struct KeptKey {
    credentials: Credentials,
    day: String,
    target: SigningTarget,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Security: keys are never printed, only how many are kept.
        let kept = self.kept.lock().map_or(0, |kept| kept.len());
        f.debug_struct("SigningKeys").field("kept", &kept).finish()
    }
}

impl SigningKeys {
    /// The key for `credentials` on `day` (`YYYYMMDD`) for `target`, derived on first use.
    pub fn key(
        &self,
        credentials: &Credentials,
        day: &str,
        target: &SigningTarget,
    ) -> Zeroizing<[u8; 32]> {
        let matches = |kept: &KeptKey| {
            kept.credentials.is_same(credentials) && kept.day == day && kept.target == *target
        };
        if let Ok(kept) = self.kept.lock() {
            if let Some(found) = kept.iter().find(|kept| matches(kept)) {
                return found.key.clone();
            }
        }
        let key = derive_key(credentials.secret_access_key().expose_secret(), day, target);
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= KEPT_KEYS {
                kept.remove(0);
            }
            kept.push(KeptKey {
                credentials: credentials.clone(),
                day: day.to_owned(),
                target: target.clone(),
                key: key.clone(),
            });
        }
        key
    }
}

/// SigV4's key derivation: HMAC chained over the day, region, service and `aws4_request`.
fn derive_key(secret: &str, day: &str, target: &SigningTarget) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    // Security: the prefixed secret is wiped when dropped, like the secret itself.
    let prefixed = Zeroizing::new(format!("AWS4{secret}"));
    key.copy_from_slice(
        hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, prefixed.as_bytes()),
            day.as_bytes(),
        )
        .as_ref(),
    );
    for part in [&target.region, &target.service, "aws4_request"] {
        let next = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()),
            part.as_bytes(),
        );
        key.copy_from_slice(next.as_ref());
    }
    key
}

/// Signs `request` for `target` at `at` with `credentials`, the key from `keys`.
pub fn sign_request(
    request: &RequestToSign<'_>,
    credentials: &Credentials,
    target: &SigningTarget,
    at: OffsetDateTime,
    keys: &SigningKeys,
) -> Result<Signed, SignRequestError> {
    let amz_date = crate::time_format::amz_date(at);
    let day = &amz_date[..8];
    let scope = format!("{day}/{}/{}/aws4_request", target.region, target.service);
    let payload_hash = payload_hash(request.payload);
    let token = credentials.session_token().expose_secret();
    let token = (!token.is_empty()).then_some(token);
    let mut added = vec![("x-amz-date", amz_date.as_str())];
    if let Some(token) = token {
        added.push(("x-amz-security-token", token));
    }
    if target.is_s3() {
        added.push(("x-amz-content-sha256", payload_hash.as_ref()));
    }
    let (canonical, signed_headers) = canonical_request(request, target, &added, &payload_hash);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    );
    let key = keys.key(credentials, day, target);
    let signature = hex::encode(hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()),
        string_to_sign.as_bytes(),
    ));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id()
    );
    let mut headers = vec![
        (
            http::header::HeaderName::from_static("x-amz-date"),
            value(&amz_date, "time")?,
        ),
        (
            http::header::AUTHORIZATION,
            value(&authorization, "access key id")?,
        ),
    ];
    if target.is_s3() {
        headers.push((
            HeaderName::from_static("x-amz-content-sha256"),
            value(&payload_hash, "payload hash")?,
        ));
    }
    if let Some(token) = token {
        let mut token = value(token, "session token")?;
        token.set_sensitive(true);
        headers.push((HeaderName::from_static("x-amz-security-token"), token));
    }
    Ok(Signed {
        headers,
        chain: ChainSeed {
            signature,
            amz_date,
            scope,
            key,
        },
    })
}

/// A header value, or which credential field could not be one.
fn value(text: &str, what: &'static str) -> Result<HeaderValue, SignRequestError> {
    HeaderValue::from_str(text).map_err(|_| SignRequestError::Credentials(what))
}

/// The payload line of the canonical request.
fn payload_hash(payload: Payload<'_>) -> Cow<'static, str> {
    match payload {
        Payload::Bytes(bytes) => Cow::Owned(hex::encode(digest::digest(&digest::SHA256, bytes))),
        Payload::Unsigned => Cow::Borrowed(UNSIGNED_PAYLOAD),
        Payload::Chunked => Cow::Borrowed(STREAMING_PAYLOAD),
    }
}

/// The canonical request and its signed-headers list. `added` are the signing headers, which
/// replace any of the same name.
fn canonical_request(
    request: &RequestToSign<'_>,
    target: &SigningTarget,
    added: &[(&str, &str)],
    payload_hash: &str,
) -> (String, String) {
    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !UNSIGNED_HEADERS.contains(&name) && !added.iter().any(|(a, _)| *a == name)
        })
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
        .chain(added.iter().copied())
        .collect();
    // Stable: repeated names keep their order, and their values are joined in it.
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(
        256 + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 2)
            .sum::<usize>(),
    );
    out.push_str(request.method);
    out.push('\n');
    if target.is_s3() {
        out.push_str(if request.path.is_empty() {
            "/"
        } else {
            request.path
        });
    } else {
        out.push_str(&canonical_uri(&normalize_path(request.path)));
    }
    out.push('\n');
    if let Some(query) = request.query.filter(|q| !q.is_empty()) {
        let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
        out.push_str(&canonical_query(&pairs));
    }
    out.push('\n');
    let mut signed = String::with_capacity(128);
    let mut previous: Option<&str> = None;
    for (name, value) in &headers {
        if previous == Some(*name) {
            out.push(',');
        } else {
            if previous.is_some() {
                out.push('\n');
                signed.push(';');
            }
            out.push_str(name);
            out.push(':');
            signed.push_str(name);
            previous = Some(name);
        }
        push_folded(&mut out, value);
    }
    out.push_str("\n\n");
    out.push_str(&signed);
    out.push('\n');
    out.push_str(payload_hash);
    (out, signed)
}

/// Appends a header value trimmed of spaces, with each inner run of spaces folded to one (only
/// spaces: S3 keeps other whitespace).
fn push_folded(out: &mut String, value: &str) {
    let mut words = value.split(' ').filter(|word| !word.is_empty());
    if let Some(first) = words.next() {
        out.push_str(first);
    }
    for word in words {
        out.push(' ');
        out.push_str(word);
    }
}

/// The path with dot segments and empty segments removed (RFC 3986 section 5.2.4, as SigV4
/// normalises it for every service but S3); a trailing slash stays.
fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    if path.starts_with('/') && !path.contains('.') && !path.contains("//") {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            kept => segments.push(kept),
        }
    }
    let mut normalized = String::with_capacity(path.len() + 1);
    for segment in &segments {
        normalized.push('/');
        normalized.push_str(segment);
    }
    let ends_in_directory = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| path.ends_with(end))
        || matches!(path, "." | "..");
    if normalized.is_empty() || (ends_in_directory && !normalized.ends_with('/')) {
        normalized.push('/');
    }
    Cow::Owned(normalized)
}

#[cfg(test)]
mod tests;
