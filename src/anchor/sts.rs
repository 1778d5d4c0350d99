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

    /// Handles an STS request (`Action=GetCallerIdentity`, query or form body), as strictly as
    /// AWS: the scope is `sts` in the anchor's `region`, `X-Amz-Date` is within
    /// [`MAX_STS_SKEW`] of `now`, and `host`, `x-amz-date` and a sent security token are signed.
    pub fn get_caller_identity(
        &self,
        request: &ReceivedRequest<'_>,
        now: OffsetDateTime,
        anchor_region: &str,
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
        check_scope_and_headers(auth.signed_headers, headers, region, service, anchor_region)?;
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
        check_skew(signed_at, now, &amz_date)?;
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

/// Largest difference between a request's `X-Amz-Date` and the anchor's clock (AWS: 15 minutes).
pub const MAX_STS_SKEW: time::Duration = time::Duration::minutes(15);

/// The scope names STS in the anchor's region, and the headers AWS insists on are signed.
fn check_scope_and_headers(
    signed_headers: &str,
    headers: &[(String, String)],
    region: &str,
    service: &str,
    anchor_region: &str,
) -> Result<(), StsError> {
    let refuse = |message: String| Err(sts_error(403, "SignatureDoesNotMatch", &message));
    if service != "sts" {
        return refuse(format!(
            "Credential should be scoped to correct service: 'sts'. (got '{}')",
            crate::text::printable(service, 40)
        ));
    }
    if region != anchor_region {
        return refuse(format!(
            "Credential should be scoped to a valid region: '{anchor_region}'. (got '{}')",
            crate::text::printable(region, 40)
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    let token_sent = header_value(headers, "x-amz-security-token").is_some();
    for (name, required) in [
        ("host", true),
        ("x-amz-date", true),
        ("x-amz-security-token", token_sent),
    ] {
        if required && !signed.contains(&name) {
            return refuse(format!(
                "'{name}' must be a 'SignedHeader' in the AWS Authorization."
            ));
        }
    }
    Ok(())
}

/// `X-Amz-Date` is within [`MAX_STS_SKEW`] of `now`, with AWS's wording either way.
fn check_skew(
    signed_at: OffsetDateTime,
    now: OffsetDateTime,
    amz_date: &str,
) -> Result<(), StsError> {
    let stamp = |t: OffsetDateTime| t.format(AMZ_DATE_FORMAT).unwrap_or_default();
    let message = if signed_at < now - MAX_STS_SKEW {
        format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            stamp(now - MAX_STS_SKEW),
            stamp(now)
        )
    } else if signed_at > now + MAX_STS_SKEW {
        format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            stamp(now + MAX_STS_SKEW),
            stamp(now)
        )
    } else {
        return Ok(());
    };
    Err(sts_error(403, "SignatureDoesNotMatch", &message))
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4::SigningParams;

    const FORM: &str = "Action=GetCallerIdentity&Version=2011-06-15";
    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00:00 UTC);

    fn minted(store: &SessionStore) -> IssuedSession {
        let grant = Grant {
            trust_anchor_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/t".into(),
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            session_name: "s".into(),
            source_identity: "CN=s".into(),
            duration_seconds: 3600,
            tags: Vec::new(),
        };
        store.mint(&grant, "123456789012", NOW).unwrap()
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
        store.get_caller_identity(&request, NOW, "us-east-1")
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
