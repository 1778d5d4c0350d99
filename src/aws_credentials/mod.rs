//! Temporary AWS credentials as a value: secrets in zeroizing, redacting types, when they are
//! still worth handing out, and the checks every received set must pass. A leaf below
//! `rolesanywhere`, `credentials`, `serve`, `proxy` and the anchor; `json.rs` holds every JSON
//! shape they travel in.

pub mod json;

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::secret::SecretString;
use crate::time_format::rfc3339;

/// A set of temporary credentials. Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials(Arc<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: SecretString,
    expiration: OffsetDateTime,
    /// When tessera received them: with the expiration, the session's real length (a profile
    /// may grant less than was asked for).
    issued_at: Option<OffsetDateTime>,
    /// Where they came from, for audit lines: CreateSession's request id and the certificate's
    /// serial (neither is a secret).
    provenance: Provenance,
}

/// Where a set of credentials came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// CreateSession's `x-amzn-RequestId`.
    pub request_id: Option<String>,
    /// The serial (hex) of the certificate that signed CreateSession.
    pub serial: Option<String>,
}

impl Credentials {
    /// Assembles credentials.
    pub fn new(
        access_key_id: String,
        secret_access_key: SecretString,
        session_token: SecretString,
        expiration: OffsetDateTime,
    ) -> Self {
        Self(Arc::new(Inner {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
            issued_at: None,
            provenance: Provenance::default(),
        }))
    }

    /// The same credentials, recorded as coming from `provenance`.
    pub fn with_provenance(self, provenance: Provenance) -> Self {
        let inner = Arc::unwrap_or_clone(self.0);
        Self(Arc::new(Inner {
            provenance,
            ..inner
        }))
    }

    /// Where they came from, as far as known.
    pub fn provenance(&self) -> &Provenance {
        &self.0.provenance
    }

    /// Records when the credentials were received.
    pub fn with_issued_at(self, issued_at: OffsetDateTime) -> Self {
        let inner = Arc::unwrap_or_clone(self.0);
        Self(Arc::new(Inner {
            issued_at: Some(issued_at),
            ..inner
        }))
    }

    /// Whether `other` is this very set (a clone of it), not merely equal values.
    pub fn is_same(&self, other: &Credentials) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// When the credentials were received, if known.
    pub fn issued_at(&self) -> Option<OffsetDateTime> {
        self.0.issued_at
    }

    /// The access key id (not secret; safe to log).
    pub fn access_key_id(&self) -> &str {
        &self.0.access_key_id
    }

    /// The secret access key.
    pub fn secret_access_key(&self) -> &SecretString {
        &self.0.secret_access_key
    }

    /// The session token.
    pub fn session_token(&self) -> &SecretString {
        &self.0.session_token
    }

    /// When the credentials stop working.
    pub fn expiration(&self) -> OffsetDateTime {
        self.0.expiration
    }
}

/// botocore treats credentials with this much time left or less as expiring, and then runs
/// `credential_process` again on every API call (INTEROP.md).
pub const SDK_REFRESH_WINDOW: Duration = Duration::minutes(15);

/// How much life credentials must have left to be handed out: more than the SDKs' refresh
/// window plus a minute of clock skew, when the session is long enough for that to leave a
/// useful life (at least twice as long); otherwise a third of the session.
pub fn refresh_margin(session: Duration) -> Duration {
    let wanted = SDK_REFRESH_WINDOW + Duration::minutes(1);
    if session >= wanted * 2 {
        wanted
    } else {
        session / 3
    }
}

impl Credentials {
    /// Whether these credentials may still be handed out at `now`. `requested` is the session
    /// length asked for; when the issue time is known, a shorter granted session counts.
    pub fn is_fresh(&self, now: OffsetDateTime, requested: Duration) -> bool {
        let session = self.issued_at().map_or(requested, |issued| {
            (self.expiration() - issued).min(requested)
        });
        self.expiration() - now > refresh_margin(session)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.0.access_key_id)
            .field("secret_access_key", &self.0.secret_access_key)
            .field("session_token", &self.0.session_token)
            .field("expiration", &rfc3339(self.0.expiration))
            .finish()
    }
}

/// A received credential field that may not be stored or printed. The message never holds a
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The access key id is not 16-128 of `A-Z0-9`.
    #[error("the access key id is not 16-128 characters of A-Z and 0-9")]
    AccessKeyId,
    /// A secret is empty or holds a character that could break a file or a header.
    #[error("the {0} is empty or holds whitespace, control or non-ASCII characters")]
    Secret(&'static str),
}

/// Checks credentials received from outside before anything stores or prints them: the access
/// key id is 16–128 of `A-Z0-9`, and the secret and session token are printable ASCII without
/// whitespace. Security: a value with a line break would otherwise inject lines into
/// `~/.aws/credentials` (a `credential_process` botocore runs).
pub fn check_fields(
    access_key_id: &str,
    secret: &str,
    session_token: &str,
) -> Result<(), FieldError> {
    let id_ok = (16..=128).contains(&access_key_id.len())
        && access_key_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !id_ok {
        return Err(FieldError::AccessKeyId);
    }
    for (name, value) in [
        ("secret access key", secret),
        ("session token", session_token),
    ] {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FieldError::Secret(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials::new(
            "ASIAEXAMPLE12345".into(),
            SecretString::new("secret/key+value".into()),
            SecretString::new("token==".into()),
            time::macros::datetime!(2026-01-02 03:04:05.678 UTC),
        )
    }

    #[test]
    fn process_json_has_exactly_the_version_1_fields() {
        let json = sample().to_process_json();
        assert_eq!(
            json.as_str(),
            r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE12345","SecretAccessKey":"secret/key+value","SessionToken":"token==","Expiration":"2026-01-02T03:04:05Z"}"#
        );
    }

    #[test]
    fn process_json_round_trips() {
        let credentials = sample();
        let parsed = Credentials::from_process_json(&credentials.to_process_json()).unwrap();
        assert_eq!(parsed.access_key_id(), "ASIAEXAMPLE12345");
        assert_eq!(
            parsed.secret_access_key().expose_secret(),
            "secret/key+value"
        );
        assert_eq!(
            parsed.expiration(),
            time::macros::datetime!(2026-01-02 03:04:05 UTC)
        );
        assert!(Credentials::from_process_json("{\"Version\":1}").is_err());
        assert!(Credentials::from_process_json("garbage").is_err());
    }

    #[test]
    fn credentials_are_handed_out_only_with_more_than_the_sdk_window_left() {
        let now = time::macros::datetime!(2026-01-02 00:00:00 UTC);
        let hour = Duration::hours(1);
        let with_left = |left: Duration| {
            Credentials::new(
                "A".into(),
                SecretString::new("s".into()),
                SecretString::new("t".into()),
                now + left,
            )
        };
        assert!(with_left(Duration::minutes(17)).is_fresh(now, hour));
        assert!(!with_left(Duration::minutes(16)).is_fresh(now, hour));
        assert!(!with_left(Duration::minutes(15)).is_fresh(now, hour));
        // A granted session shorter than the requested one counts.
        let short = with_left(Duration::minutes(6)).with_issued_at(now - Duration::minutes(9));
        assert!(short.is_fresh(now, hour));
        // A 15-minute session cannot keep 16 minutes: a third of it is the margin.
        assert!(with_left(Duration::minutes(6)).is_fresh(now, Duration::minutes(15)));
        assert!(!with_left(Duration::minutes(5)).is_fresh(now, Duration::minutes(15)));
        assert!(!with_left(Duration::minutes(-1)).is_fresh(now, hour));
    }

    #[test]
    fn credentials_with_line_breaks_or_odd_ids_are_refused() {
        let token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==";
        assert!(check_fields("ASIAEXAMPLE12345", "wJalr/XUtnFEMI+K7MDENG", token).is_ok());
        let injected = "t\n\n[prod]\ncredential_process = sh -c id";
        for (id, secret, token) in [
            ("ASIAEXAMPLE12345", "s", injected),
            ("ASIAEXAMPLE12345\n[prod]", "s", token),
            ("asiaexample12345", "s", token),
            ("ASIA", "s", token),
            ("ASIAEXAMPLE12345", "has space", token),
            ("ASIAEXAMPLE12345", "", token),
            ("ASIAEXAMPLE12345", "s", "bell\u{7}"),
        ] {
            let error = check_fields(id, secret, token).unwrap_err().to_string();
            assert!(
                !error.contains("prod") && !error.contains("has space"),
                "{error}"
            );
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let text = format!("{:?}", sample());
        assert!(text.contains("ASIAEXAMPLE12345"));
        assert!(!text.contains("secret/key"));
        assert!(!text.contains("token=="));
    }
}
