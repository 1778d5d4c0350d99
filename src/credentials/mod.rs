//! Temporary AWS credentials: secrets kept in zeroizing, redacting types, and the
//! credential_process output format.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::identity::cert::rfc3339;
use crate::secret::SecretString;

/// A set of temporary credentials. Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials(Arc<Inner>);

#[derive(PartialEq, Eq)]
struct Inner {
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: SecretString,
    expiration: OffsetDateTime,
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
        }))
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

    /// The credential_process Version-1 JSON document (one line, no trailing newline).
    /// Security: the returned buffer holds the secrets and is zeroized on drop.
    pub fn to_process_json(&self) -> Zeroizing<String> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ProcessOutput<'a> {
            version: u8,
            access_key_id: &'a str,
            secret_access_key: &'a str,
            session_token: &'a str,
            expiration: String,
        }
        let output = ProcessOutput {
            version: 1,
            access_key_id: self.access_key_id(),
            secret_access_key: self.secret_access_key().expose_secret(),
            session_token: self.session_token().expose_secret(),
            expiration: rfc3339(self.expiration()),
        };
        // Serializing a struct of strings cannot fail.
        Zeroizing::new(serde_json::to_string(&output).unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials::new(
            "ASIAEXAMPLE".into(),
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
            r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret/key+value","SessionToken":"token==","Expiration":"2026-01-02T03:04:05Z"}"#
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let text = format!("{:?}", sample());
        assert!(text.contains("ASIAEXAMPLE"));
        assert!(!text.contains("secret/key"));
        assert!(!text.contains("token=="));
    }
}
