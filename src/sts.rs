//! A minimal STS client: `GetCallerIdentity` signed with aws-sigv4, used to prove that a set of
//! credentials works (quickstart, doctor).

use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use time::OffsetDateTime;

use crate::credentials::Credentials;
use crate::http::HttpsClient;

/// The form body of the call.
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// Why the call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StsClientError {
    /// Signing failed.
    #[error("cannot sign the STS request: {0}")]
    Sign(String),
    /// Transport failure.
    #[error("cannot reach STS at {endpoint}: {detail}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        detail: String,
    },
    /// STS answered with an error.
    #[error("STS GetCallerIdentity failed: HTTP {status}: {body}")]
    Service {
        /// Status.
        status: u16,
        /// The (XML) body, on one line.
        body: String,
    },
    /// No `<Arn>` in the answer.
    #[error("STS answered without an <Arn>")]
    NoArn,
}

/// Calls `GetCallerIdentity` at `endpoint` and returns the caller's ARN.
pub async fn get_caller_identity(
    http: &HttpsClient,
    endpoint: &Uri,
    region: &str,
    credentials: &Credentials,
    now: OffsetDateTime,
) -> Result<String, StsClientError> {
    let url = endpoint.to_string();
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key().expose_secret(),
        Some(credentials.session_token().expose_secret().to_owned()),
        None,
        "tessera",
    )
    .into();
    let seconds = u64::try_from(now.unix_timestamp()).unwrap_or_default();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(UNIX_EPOCH + Duration::from_secs(seconds))
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| StsClientError::Sign(e.to_string()))?
        .into();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let headers = [("content-type", content_type)];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.into_iter(),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .map_err(|e| StsClientError::Sign(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| StsClientError::Sign(e.to_string()))?
        .into_parts();
    let mut request = Request::post(&url)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .map_err(|e| StsClientError::Sign(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut request);
    let transport = |detail: String| StsClientError::Transport {
        endpoint: url.clone(),
        detail,
    };
    let response = http
        .request(request)
        .await
        .map_err(|e| transport(e.to_string()))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), 1024 * 1024)
        .collect()
        .await
        .map_err(|e| transport(e.to_string()))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        return Err(StsClientError::Service {
            status,
            body: text.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    let start = text.find("<Arn>").ok_or(StsClientError::NoArn)? + "<Arn>".len();
    let end = text[start..].find("</Arn>").ok_or(StsClientError::NoArn)? + start;
    Ok(text[start..end].to_owned())
}
