//! How a request body travels: buffered (to be hashed), streamed `UNSIGNED-PAYLOAD`, or
//! streamed as signed aws-chunked frames.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use http_body_util::{BodyExt, Full, Limited};

use super::route::SigningTarget;
use super::sign::{ChainSeed, Payload};
use super::{chunked, ProxyBody, ProxySettings, Refusal};
use crate::http::BoxError;

/// How a request body travels.
pub(super) enum BodyPlan {
    /// Read whole (to hash it).
    Buffered(Bytes),
    /// Streamed as is, signed `UNSIGNED-PAYLOAD`.
    Unsigned(hyper::body::Incoming),
    /// Streamed as signed aws-chunked frames.
    Chunked(hyper::body::Incoming),
}

impl BodyPlan {
    /// Chooses the plan: S3 streams (chunk-signed with `--s3-streaming-signature` and a
    /// known length), every other service is buffered up to `--max-buffered-body`. A chunked
    /// plan rewrites the length and encoding headers in `headers`.
    pub(super) async fn choose(
        body: hyper::body::Incoming,
        incoming: &HeaderMap,
        headers: &mut Vec<(HeaderName, HeaderValue)>,
        settings: &ProxySettings,
        target: &SigningTarget,
    ) -> Result<Self, Refusal> {
        let bytes_in = super::headers::length(incoming, http::header::CONTENT_LENGTH);
        if !target.is_s3() {
            return match Limited::new(body, settings.max_buffered_body).collect().await {
                Ok(collected) => Ok(Self::Buffered(collected.to_bytes())),
                Err(_) => Err(Refusal::new(413, format!(
                    "request body over --max-buffered-body ({} bytes): {} needs the payload hash to sign, so bodies are buffered",
                    settings.max_buffered_body, target.service
                ))),
            };
        }
        if settings.s3_streaming_signature && bytes_in > 0 {
            chunked_headers(incoming, headers, bytes_in);
            return Ok(Self::Chunked(body));
        }
        if settings.s3_streaming_signature && incoming.contains_key(http::header::TRANSFER_ENCODING)
        {
            return Err(Refusal::new(
                411,
                "--s3-streaming-signature needs the request's Content-Length".to_owned(),
            ));
        }
        Ok(Self::Unsigned(body))
    }

    /// What the signature covers.
    pub(super) fn payload(&self) -> Payload<'_> {
        match self {
            Self::Buffered(bytes) => Payload::Bytes(bytes),
            Self::Unsigned(_) => Payload::Unsigned,
            Self::Chunked(_) => Payload::Chunked,
        }
    }

    /// The body to send; a chunked one continues the request's signature chain.
    pub(super) fn into_body(self, chain: ChainSeed, target: &SigningTarget) -> ProxyBody {
        match self {
            Self::Buffered(bytes) => Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync(),
            Self::Unsigned(body) => body.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync(),
            Self::Chunked(body) => {
                let signer = chunked::ChunkSigner::new(
                    chain.key(),
                    chain.amz_date().to_owned(),
                    chain.scope(target),
                    chain.signature().to_owned(),
                );
                chunked::encode(body, signer).boxed_unsync()
            }
        }
    }
}

/// An aws-chunked body's headers: the encoded length, the decoded length and the encoding.
fn chunked_headers(
    incoming: &HeaderMap,
    headers: &mut Vec<(HeaderName, HeaderValue)>,
    bytes_in: u64,
) {
    headers.retain(|(name, _)| {
        name != http::header::CONTENT_LENGTH && name != http::header::CONTENT_ENCODING
    });
    let encodings = incoming
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding =
        encodings.map_or_else(|| "aws-chunked".to_owned(), |e| format!("aws-chunked,{e}"));
    for (name, value) in [
        (
            "content-length",
            chunked::encoded_length(bytes_in).to_string(),
        ),
        ("x-amz-decoded-content-length", bytes_in.to_string()),
        ("content-encoding", encoding),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.push((HeaderName::from_static(name), value));
        }
    }
}
