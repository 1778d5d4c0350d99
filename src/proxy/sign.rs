//! SigV4 header signing of one proxied request, through aws-sigv4. Pure: the caller supplies
//! the headers to forward, the credentials, the target and the time.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningInstructions, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4::SigningParams;
use http::header::{HeaderName, HeaderValue};

use super::chunked::STREAMING_PAYLOAD;
use super::route::SigningTarget;
use crate::aws_credentials::Credentials;

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

/// Why a request could not be signed (aws-sigv4's own errors, which name the problem).
#[derive(Debug, thiserror::Error)]
pub enum SignRequestError {
    /// The signing parameters are incomplete.
    #[error("{0}")]
    Params(aws_sigv4::sign::v4::signing_params::BuildError),
    /// The request cannot be signed (a bad URI or header).
    #[error("{0}")]
    Request(aws_sigv4::http_request::SigningError),
}

/// Signs a request to `uri` with `headers` (which must include `host`). S3 has its own rules:
/// an `x-amz-content-sha256` header, single percent-encoding and no path normalisation.
/// Returns the headers to add and the signature (the seed of an aws-chunked chain).
pub fn sign_request(
    method: &str,
    uri: &str,
    headers: &[(HeaderName, HeaderValue)],
    payload: Payload<'_>,
    credentials: &Credentials,
    target: &SigningTarget,
    at: SystemTime,
) -> Result<(SigningInstructions, String), SignRequestError> {
    let mut settings = SigningSettings::default();
    if target.is_s3() {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let body = match payload {
        Payload::Bytes(bytes) => SignableBody::Bytes(bytes),
        Payload::Unsigned => SignableBody::UnsignedPayload,
        Payload::Chunked => SignableBody::Precomputed(STREAMING_PAYLOAD.to_owned()),
    };
    let token = credentials.session_token();
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key().expose_secret(),
        (!token.is_empty()).then(|| token.expose_secret().to_owned()),
        None,
        "tessera",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(&target.region)
        .name(&target.service)
        .time(at)
        .settings(settings)
        .build()
        .map_err(SignRequestError::Params)?;
    let header_text = headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)));
    let signable =
        SignableRequest::new(method, uri, header_text, body).map_err(SignRequestError::Request)?;
    sign(signable, &params.into())
        .map(|output| output.into_parts())
        .map_err(SignRequestError::Request)
}
