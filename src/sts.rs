//! A minimal STS client signed with aws-sigv4: `GetCallerIdentity`, used to prove that a set of
//! credentials works (quickstart, doctor, login), and `AssumeRole`, for role chaining and the
//! anchor's upstream STS.

use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::aws_credentials::Credentials;
use crate::http::HttpsClient;
use crate::rolesanywhere::canonical::encode_query_component;
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
    #[error("STS answered HTTP {status} {code}: {message}")]
    Service {
        /// Status.
        status: u16,
        /// The `<Code>` of the error (empty when the body had none).
        code: String,
        /// The `<Message>`, or the body on one line when it is not an STS error.
        message: String,
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
        return Err(service_error(status, &text));
    }
    Ok(text)
}

/// An error answer: its `<Code>` and `<Message>`, or the body on one line.
fn service_error(status: u16, body: &str) -> StsClientError {
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    // Security: the endpoint's words reach a terminal.
    let printable = |s: &str| crate::text::printable(&one_line(s), 500);
    StsClientError::Service {
        status,
        code: xml_text(body, "Code")
            .map(|c| printable(&c))
            .unwrap_or_default(),
        message: printable(&xml_text(body, "Message").unwrap_or_else(|| body.to_owned())),
    }
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

/// One `AssumeRole` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleRequest<'a> {
    /// The role to assume.
    pub role_arn: &'a str,
    /// `RoleSessionName`.
    pub session_name: &'a str,
    /// `DurationSeconds`.
    pub duration_seconds: u32,
    /// `ExternalId`, when the role's trust policy asks for one.
    pub external_id: Option<&'a str>,
    /// `SourceIdentity`, when the chain sets one.
    pub source_identity: Option<&'a str>,
}

impl AssumeRoleRequest<'_> {
    /// The url-encoded form body.
    fn form(&self) -> String {
        let mut pairs = vec![
            ("Action", "AssumeRole".to_owned()),
            ("Version", "2011-06-15".to_owned()),
            ("RoleArn", self.role_arn.to_owned()),
            ("RoleSessionName", self.session_name.to_owned()),
            ("DurationSeconds", self.duration_seconds.to_string()),
        ];
        pairs.extend(self.external_id.map(|v| ("ExternalId", v.to_owned())));
        pairs.extend(
            self.source_identity
                .map(|v| ("SourceIdentity", v.to_owned())),
        );
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// What `AssumeRole` answered.
#[derive(Debug, Clone)]
pub struct AssumedRole {
    /// The new session's credentials.
    pub credentials: Credentials,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    /// `AROA…:SESSION`.
    pub assumed_role_id: String,
    /// The session's source identity, if it has one.
    pub source_identity: Option<String>,
}

/// Calls `AssumeRole` at `endpoint`, signed with `key`.
pub async fn assume_role(
    http: &HttpsClient,
    endpoint: &Uri,
    region: &str,
    key: SigningKey<'_>,
    request: &AssumeRoleRequest<'_>,
    now: OffsetDateTime,
) -> Result<AssumedRole, StsClientError> {
    let xml = call(http, endpoint, region, key, &request.form(), now).await?;
    let field = |tag: &'static str| xml_text(&xml, tag).ok_or(StsClientError::MissingField(tag));
    let (access_key_id, secret, token) = (
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        field("SessionToken")?,
    );
    crate::aws_credentials::check_fields(&access_key_id, &secret, &token)
        .map_err(StsClientError::UnusableCredentials)?;
    let expiration = OffsetDateTime::parse(&field("Expiration")?, &Rfc3339)
        .map_err(|_| StsClientError::MissingField("Expiration"))?;
    // Security: these come back to logs and terminals.
    let printable = |text: String| crate::text::printable(&text, 2048);
    Ok(AssumedRole {
        credentials: Credentials::new(
            access_key_id,
            SecretString::new(secret),
            SecretString::new(token),
            expiration,
        ),
        arn: printable(field("Arn")?),
        assumed_role_id: printable(field("AssumedRoleId")?),
        source_identity: xml_text(&xml, "SourceIdentity")
            .filter(|s| !s.is_empty())
            .map(printable),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assume_role_form_encodes_every_parameter() {
        let request = AssumeRoleRequest {
            role_arn: "arn:aws:iam::123456789012:role/admin",
            session_name: "alice@example.com",
            duration_seconds: 3600,
            external_id: Some("a b&c"),
            source_identity: None,
        };
        assert_eq!(
            request.form(),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fadmin&RoleSessionName=alice%40example.com&DurationSeconds=3600&ExternalId=a%20b%26c"
        );
    }

    #[test]
    fn an_error_answer_gives_its_code_and_message() {
        let body = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: x is not\n authorized</Message></Error></ErrorResponse>";
        let error = service_error(403, body);
        assert_eq!(
            error.to_string(),
            "STS answered HTTP 403 AccessDenied: User: x is not authorized"
        );
        let error = service_error(502, "<html>bad\ngateway</html>");
        assert!(matches!(error, StsClientError::Service { ref code, .. } if code.is_empty()));
    }
}
