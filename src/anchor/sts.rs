//! The anchor's own STS: mints credentials for granted sessions and answers
//! `GetCallerIdentity`, verifying SigV4 (aws-sigv4's key derivation and HMAC, constant-time
//! comparison), the session token and the expiration.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::session::Grant;
use crate::credentials::Credentials;
use crate::rolesanywhere::sign::{canonical_query, canonical_request, canonical_uri};
use crate::rolesanywhere::verify::{
    decode_path, header_value, parse_authorization, parse_query, ReceivedRequest, AMZ_DATE_FORMAT,
};
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

fn sts_error(status: u16, code: &'static str, message: &str) -> StsError {
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
    /// Mints credentials for a grant, valid from `now` for the granted duration.
    pub fn mint(
        &self,
        grant: &Grant,
        account: &str,
        now: OffsetDateTime,
    ) -> Result<IssuedSession, RandomError> {
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

    /// Handles an STS request (`Action=GetCallerIdentity`, query or form body).
    pub fn get_caller_identity(
        &self,
        request: &ReceivedRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedSession, StsError> {
        let ReceivedRequest {
            method,
            path,
            query,
            headers,
            body,
        } = *request;
        let mut params = parse_query(query);
        if method == "POST" {
            let form = String::from_utf8_lossy(body).replace('+', " ");
            params.extend(parse_query(&form));
        }
        let action = params
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let authorization = header_value(headers, "authorization").ok_or_else(|| {
            sts_error(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            )
        })?;
        let invalid_token = || {
            sts_error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        };
        let mismatch = || {
            sts_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            )
        };
        let auth = parse_authorization(&authorization).map_err(|_| mismatch())?;
        if auth.algorithm != "AWS4-HMAC-SHA256" {
            return Err(mismatch());
        }
        let scope: Vec<&str> = auth.credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
            return Err(mismatch());
        };
        let session = self
            .sessions
            .lock()
            .ok()
            .and_then(|s| s.get(access_key_id).cloned())
            .ok_or_else(invalid_token)?;
        let token = header_value(headers, "x-amz-security-token")
            .or_else(|| {
                params
                    .iter()
                    .find(|(k, _)| k == "X-Amz-Security-Token")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_default();
        if !crate::secret::constant_time_eq(
            token.as_bytes(),
            session
                .credentials
                .session_token()
                .expose_secret()
                .as_bytes(),
        ) {
            return Err(invalid_token());
        }
        if session.credentials.expiration() <= now {
            return Err(sts_error(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        let amz_date = header_value(headers, "x-amz-date").ok_or_else(mismatch)?;
        let signed_at = PrimitiveDateTime::parse(&amz_date, AMZ_DATE_FORMAT)
            .map_err(|_| mismatch())?
            .assume_utc();
        if amz_date.get(..8) != Some(date) {
            return Err(mismatch());
        }
        let mut canonical_headers = Vec::new();
        for name in auth.signed_headers.split(';') {
            canonical_headers.push((
                name.to_owned(),
                header_value(headers, name).ok_or_else(mismatch)?,
            ));
        }
        let canonical = canonical_request(
            method,
            &canonical_uri(&decode_path(path)),
            &canonical_query(&parse_query(query)),
            &canonical_headers,
            auth.signed_headers,
            body,
        );
        let digest = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ));
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{digest}"
        );
        let seconds = u64::try_from(signed_at.unix_timestamp()).map_err(|_| mismatch())?;
        let key = aws_sigv4::sign::v4::generate_signing_key(
            session.credentials.secret_access_key().expose_secret(),
            UNIX_EPOCH + Duration::from_secs(seconds),
            region,
            service,
        );
        let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
        if !crate::secret::constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            return Err(mismatch());
        }
        if action != "GetCallerIdentity" {
            return Err(sts_error(
                400,
                "InvalidAction",
                &format!("Could not find operation {action} for version 2011-06-15"),
            ));
        }
        Ok(session)
    }
}

/// Escapes text for XML element content.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
