//! A minimal STS client: `GetCallerIdentity` signed with aws-sigv4, used to prove that a set of
//! credentials works (quickstart, doctor).

use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use time::OffsetDateTime;

use crate::aws_credentials::Credentials;
use crate::http::HttpsClient;
use crate::secret::SecretString;

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
    #[error("STS answered HTTP {status}: {body}")]
    Service {
        /// Status.
        status: u16,
        /// The (XML) body, on one line.
        body: String,
    },
    /// No `<Arn>` in the answer.
    #[error("STS answered without an <Arn>")]
    NoArn,
    /// A field is missing from the answer.
    #[error("STS answered without <{0}>")]
    MissingField(&'static str),
    /// The credentials in the answer do not have the AWS shape.
    #[error("STS answered with unusable credentials: {0}")]
    UnusableCredentials(crate::aws_credentials::FieldError),
}

/// The key a request is signed with: an access key, its secret and, for temporary
/// credentials, the session token.
#[derive(Debug, Clone, Copy)]
pub struct SigningKey<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a SecretString,
    /// Session token, for temporary credentials.
    pub session_token: Option<&'a SecretString>,
}

impl<'a> From<&'a Credentials> for SigningKey<'a> {
    fn from(credentials: &'a Credentials) -> Self {
        Self {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
            session_token: Some(credentials.session_token()),
        }
    }
}

/// POSTs a signed STS Query API call (`form` is the url-encoded body) and returns the XML.
pub async fn call(
    http: &HttpsClient,
    endpoint: &Uri,
    region: &str,
    key: SigningKey<'_>,
    form: &str,
    now: OffsetDateTime,
) -> Result<String, StsClientError> {
    let url = endpoint.to_string();
    let identity = aws_credential_types::Credentials::new(
        key.access_key_id,
        key.secret_access_key.expose_secret(),
        key.session_token.map(|t| t.expose_secret().to_owned()),
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
        SignableBody::Bytes(form.as_bytes()),
    )
    .map_err(|e| StsClientError::Sign(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| StsClientError::Sign(e.to_string()))?
        .into_parts();
    let mut request = Request::post(&url)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(form.to_owned())))
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
    let text = String::from_utf8_lossy(&body).into_owned();
    if status != 200 {
        return Err(StsClientError::Service {
            status,
            // Security: the endpoint's words reach a terminal.
            body: crate::text::printable(
                &text.split_whitespace().collect::<Vec<_>>().join(" "),
                500,
            ),
        });
    }
    Ok(text)
}

/// The text of the first `<tag>…</tag>` element, unescaped.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Calls `GetCallerIdentity` at `endpoint` and returns the caller's ARN.
pub async fn get_caller_identity(
    http: &HttpsClient,
    endpoint: &Uri,
    region: &str,
    credentials: &Credentials,
    now: OffsetDateTime,
) -> Result<String, StsClientError> {
    let xml = call(http, endpoint, region, credentials.into(), BODY, now).await?;
    xml_text(&xml, "Arn").ok_or(StsClientError::NoArn)
}
