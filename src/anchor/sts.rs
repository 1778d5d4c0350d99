//! The anchor's own STS: mints credentials for granted sessions and authenticates STS calls
//! made with them (`GetCallerIdentity` here, `AssumeRole` in `assume_role.rs`), verifying SigV4
//! (aws-sigv4's key derivation and HMAC, constant-time comparison), the session token and the
//! expiration.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use time::OffsetDateTime;

use super::sts_sigv4::SignedRequest;
pub use super::sts_sigv4::MAX_STS_SKEW;
use crate::aws_credentials::Credentials;
use crate::rolesanywhere::verify::{header_value, parse_query, ReceivedRequest};
use crate::secret::{random_bytes, RandomError, SecretString};

/// Minted sessions kept at most; expired ones are dropped first.
const MAX_SESSIONS: usize = 100_000;

/// A session the anchor issued.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The credentials handed out.
    pub credentials: Credentials,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
    /// `AROA…:<session>`.
    pub assumed_role_id: String,
    /// The account.
    pub account: String,
    /// The source identity the session carries (empty: none).
    pub source_identity: String,
    /// The IAM role the session is of: `arn:aws:iam::<account>:role/<role>`.
    pub role_arn: String,
    /// Whether it came from AssumeRole with role credentials (role chaining).
    pub chained: bool,
}

/// What a new session is: its role, name, source identity and length.
#[derive(Debug, Clone, Copy)]
pub struct MintRequest<'a> {
    /// The role assumed.
    pub role_arn: &'a str,
    /// The role session name.
    pub session_name: &'a str,
    /// The source identity (empty: none).
    pub source_identity: &'a str,
    /// Session length.
    pub duration_seconds: u32,
    /// Whether this is role chaining (AssumeRole with role credentials).
    pub chained: bool,
}

/// An authenticated STS call: the session that signed it and its parameters (query and
/// form body).
#[derive(Debug)]
pub struct StsCall {
    /// The calling session.
    pub caller: IssuedSession,
    params: Vec<(String, String)>,
}

impl StsCall {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Action`.
    pub fn action(&self) -> &str {
        self.param("Action").unwrap_or_default()
    }

    /// A call as if authenticated, for tests of the actions.
    #[cfg(test)]
    pub(super) fn for_test(caller: IssuedSession, params: &[(&str, &str)]) -> Self {
        let params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self { caller, params }
    }
}

/// An STS error (XML `ErrorResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    /// HTTP status.
    pub status: u16,
    /// STS error code.
    pub code: &'static str,
    /// Message.
    pub message: String,
}

pub(super) fn sts_error(status: u16, code: &'static str, message: &str) -> StsError {
    StsError {
        status,
        code,
        message: message.to_owned(),
    }
}

/// The sessions minted by this anchor, by access key id.
#[derive(Debug, Default)]
pub struct SessionStore {
    // A sync mutex: held only for map operations, never across an await.
    sessions: Mutex<HashMap<String, IssuedSession>>,
}

fn base32(bytes: &[u8], len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    bytes
        .iter()
        .take(len)
        .map(|b| ALPHABET[usize::from(b % 32)] as char)
        .collect()
}

impl SessionStore {
    /// Mints credentials for a session of `request.role_arn` (in that ARN's account), valid
    /// from `now` for the requested duration.
    pub fn mint(
        &self,
        grant: MintRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedSession, RandomError> {
        let account = grant.role_arn.split(':').nth(4).unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD;
        let access_key_id = format!("ASIA{}", base32(&random_bytes::<16>()?, 16));
        let secret = b64.encode(random_bytes::<30>()?);
        let token = format!("tessera-anchor/{}", b64.encode(random_bytes::<96>()?));
        let expiration = now + time::Duration::seconds(i64::from(grant.duration_seconds));
        let role_name = grant.role_arn.rsplit('/').next().unwrap_or_default();
        let role_digest = ring::digest::digest(&ring::digest::SHA256, grant.role_arn.as_bytes());
        let session = IssuedSession {
            credentials: Credentials::new(
                access_key_id.clone(),
                SecretString::new(secret),
                SecretString::new(token),
                expiration,
            ),
            assumed_role_arn: format!(
                "arn:aws:sts::{account}:assumed-role/{role_name}/{}",
                grant.session_name
            ),
            assumed_role_id: format!(
                "AROA{}:{}",
                base32(role_digest.as_ref(), 17),
                grant.session_name
            ),
            account: account.to_owned(),
            source_identity: grant.source_identity.to_owned(),
            role_arn: grant.role_arn.to_owned(),
            chained: grant.chained,
        };
        if let Ok(mut sessions) = self.sessions.lock() {
            if sessions.len() >= MAX_SESSIONS {
                sessions.retain(|_, s| s.credentials.expiration() > now);
            }
            if sessions.len() < MAX_SESSIONS {
                sessions.insert(access_key_id, session.clone());
            }
        }
        Ok(session)
    }

    /// Authenticates an STS request (query or form POST) as strictly as AWS (see
    /// `sts_sigv4.rs`): the scope is `sts` in the anchor's `region`, `X-Amz-Date` is within
    /// [`MAX_STS_SKEW`] of `now`, and `host`, `x-amz-date` and a sent security token are signed.
    pub fn authenticate(
        &self,
        request: &ReceivedRequest<'_>,
        now: OffsetDateTime,
        anchor_region: &str,
    ) -> Result<StsCall, StsError> {
        let mut params = parse_query(request.query);
        if request.method == "POST" {
            let form = String::from_utf8_lossy(request.body).replace('+', " ");
            params.extend(parse_query(&form));
        }
        let signed = SignedRequest::parse(request.headers, anchor_region)?;
        let token = header_value(request.headers, "x-amz-security-token")
            .or_else(|| {
                params
                    .iter()
                    .find(|(k, _)| k == "X-Amz-Security-Token")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_default();
        let caller = self.session_for(&signed.access_key_id, &token, now)?;
        signed.verify(request, caller.credentials.secret_access_key(), now)?;
        Ok(StsCall { caller, params })
    }

    /// The unexpired session whose access key id, secret and token are all these (the
    /// federation endpoint's check of the session JSON).
    pub fn session_with_secret(
        &self,
        access_key_id: &str,
        secret: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<IssuedSession, StsError> {
        let session = self.session_for(access_key_id, token, now)?;
        let expected = session.credentials.secret_access_key().expose_secret();
        if !crate::secret::constant_time_eq(secret.as_bytes(), expected.as_bytes()) {
            return Err(sts_error(
                403,
                "SignatureDoesNotMatch",
                "The credentials in the session JSON are not valid.",
            ));
        }
        Ok(session)
    }

    /// The unexpired session `access_key_id` names, if `token` is its session token.
    fn session_for(
        &self,
        access_key_id: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<IssuedSession, StsError> {
        let invalid_token = || {
            sts_error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        };
        let session = self
            .sessions
            .lock()
            .ok()
            .and_then(|s| s.get(access_key_id).cloned())
            .ok_or_else(invalid_token)?;
        let expected = session.credentials.session_token().expose_secret();
        if !crate::secret::constant_time_eq(token.as_bytes(), expected.as_bytes()) {
            return Err(invalid_token());
        }
        if session.credentials.expiration() <= now {
            return Err(sts_error(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        Ok(session)
    }
}

/// Escapes text for XML element content.
pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The answer to an action the anchor's STS does not have.
pub fn invalid_action(action: &str) -> StsError {
    sts_error(
        400,
        "InvalidAction",
        &format!("Could not find operation {action} for version 2011-06-15"),
    )
}

/// The `GetCallerIdentity` response body.
pub fn caller_identity_xml(session: &IssuedSession, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml_escape(&session.assumed_role_arn),
        xml_escape(&session.assumed_role_id),
        xml_escape(&session.account)
    )
}

/// An STS error body.
pub fn error_xml(error: &StsError, request_id: &str) -> String {
    let kind = if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        error.code,
        xml_escape(&error.message)
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4::SigningParams;

    const FORM: &str = "Action=GetCallerIdentity&Version=2011-06-15";
    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00:00 UTC);

    fn minted(store: &SessionStore) -> IssuedSession {
        let request = MintRequest {
            role_arn: "arn:aws:iam::123456789012:role/app",
            session_name: "s",
            source_identity: "CN=s",
            duration_seconds: 3600,
            chained: false,
        };
        store.mint(request, NOW).unwrap()
    }

    /// Headers of a GetCallerIdentity POST signed by aws-sigv4 at `at` for `region`/`service`.
    fn signed(
        session: &IssuedSession,
        at: OffsetDateTime,
        region: &str,
        service: &str,
    ) -> Vec<(String, String)> {
        let c = &session.credentials;
        let identity = aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key().expose_secret(),
            Some(c.session_token().expose_secret().to_owned()),
            None,
            "test",
        )
        .into();
        let seconds = u64::try_from(at.unix_timestamp()).unwrap();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(UNIX_EPOCH + Duration::from_secs(seconds))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let content_type = ("content-type", "application/x-www-form-urlencoded");
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:8443/",
            [content_type].into_iter(),
            SignableBody::Bytes(FORM.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut headers = vec![
            ("host".to_owned(), "127.0.0.1:8443".to_owned()),
            (content_type.0.to_owned(), content_type.1.to_owned()),
        ];
        for (name, value) in instructions.headers() {
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        headers
    }

    fn call(store: &SessionStore, headers: &[(String, String)]) -> Result<IssuedSession, StsError> {
        let request = ReceivedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
            body: FORM.as_bytes(),
        };
        store
            .authenticate(&request, NOW, "us-east-1")
            .map(|call| call.caller)
    }

    #[test]
    fn a_request_signed_now_for_sts_in_the_anchors_region_is_accepted() {
        let store = SessionStore::default();
        let session = minted(&store);
        let headers = signed(
            &session,
            NOW - time::Duration::minutes(14),
            "us-east-1",
            "sts",
        );
        assert_eq!(call(&store, &headers).unwrap().account, "123456789012");
    }

    #[test]
    fn old_or_future_dates_are_refused_as_aws_does() {
        let store = SessionStore::default();
        let session = minted(&store);
        for (offset, wording) in [
            (time::Duration::days(-3), "Signature expired"),
            (time::Duration::minutes(-16), "Signature expired"),
            (time::Duration::minutes(16), "Signature not yet current"),
            (time::Duration::days(365), "Signature not yet current"),
        ] {
            let error =
                call(&store, &signed(&session, NOW + offset, "us-east-1", "sts")).unwrap_err();
            assert_eq!(error.code, "SignatureDoesNotMatch");
            assert!(
                error.message.starts_with(wording),
                "{offset}: {}",
                error.message
            );
        }
    }

    #[test]
    fn another_service_or_region_in_the_scope_is_refused() {
        let store = SessionStore::default();
        let session = minted(&store);
        let error = call(&store, &signed(&session, NOW, "us-east-1", "s3")).unwrap_err();
        assert!(
            error.message.contains("correct service: 'sts'"),
            "{}",
            error.message
        );
        let error = call(&store, &signed(&session, NOW, "eu-west-1", "sts")).unwrap_err();
        assert!(
            error.message.contains("valid region: 'us-east-1'"),
            "{}",
            error.message
        );
    }

    #[test]
    fn host_date_and_token_must_be_signed() {
        let store = SessionStore::default();
        let session = minted(&store);
        let headers = signed(&session, NOW, "us-east-1", "sts");
        for omitted in ["host", "x-amz-date", "x-amz-security-token"] {
            let edited: Vec<(String, String)> = headers
                .iter()
                .map(|(name, value)| {
                    let value = if name == "authorization" {
                        let (head, rest) = value.split_once("SignedHeaders=").unwrap();
                        let (list, tail) = rest.split_once(',').unwrap();
                        let kept: Vec<&str> = list.split(';').filter(|h| *h != omitted).collect();
                        format!("{head}SignedHeaders={},{tail}", kept.join(";"))
                    } else {
                        value.clone()
                    };
                    (name.clone(), value)
                })
                .collect();
            let error = call(&store, &edited).unwrap_err();
            assert!(
                error
                    .message
                    .contains(&format!("'{omitted}' must be a 'SignedHeader'")),
                "{omitted}: {}",
                error.message
            );
        }
    }
}
