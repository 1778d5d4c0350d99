//! Every JSON shape credentials travel in, built in one place as zeroizing strings (they hold
//! the secrets): credential_process (and the cache, which adds `IssuedAt`), IMDS, ECS, and the
//! anchor's CreateSession `credentials` object.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{check_fields, Credentials, FieldError};
use crate::secret::SecretString;
use crate::time_format::rfc3339;

/// A credential_process document that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessJsonError {
    /// Not JSON of the expected shape.
    #[error("{0}")]
    Malformed(String),
    /// Another version than 1.
    #[error("not a Version 1 credentials document")]
    Version,
    /// A field that may not be stored.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A time that is not RFC 3339.
    #[error("a time is not RFC 3339: {0}")]
    Time(String),
}

/// Serializes a document of strings and numbers (which cannot fail) into a zeroizing buffer.
pub fn zeroizing_json(value: &impl Serialize) -> Zeroizing<String> {
    Zeroizing::new(serde_json::to_string(value).unwrap_or_default())
}

impl Credentials {
    /// The credential_process Version-1 JSON document (one line, no trailing newline).
    /// Security: the returned buffer holds the secrets and is zeroized on drop.
    pub fn to_process_json(&self) -> Zeroizing<String> {
        self.to_json(false)
    }

    /// The same document plus `IssuedAt`, as stored in the credential cache.
    pub fn to_cache_json(&self) -> Zeroizing<String> {
        self.to_json(true)
    }

    fn to_json(&self, with_issued_at: bool) -> Zeroizing<String> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ProcessOutput<'a> {
            version: u8,
            access_key_id: &'a str,
            secret_access_key: &'a str,
            session_token: &'a str,
            expiration: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            issued_at: Option<String>,
        }
        let output = ProcessOutput {
            version: 1,
            access_key_id: self.access_key_id(),
            secret_access_key: self.secret_access_key().expose_secret(),
            session_token: self.session_token().expose_secret(),
            expiration: rfc3339(self.expiration()),
            issued_at: self.issued_at().filter(|_| with_issued_at).map(rfc3339),
        };
        zeroizing_json(&output)
    }

    /// Parses the credential_process Version-1 JSON (as written by [`Self::to_process_json`]).
    pub fn from_process_json(text: &str) -> Result<Self, ProcessJsonError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct ProcessInput {
            version: u8,
            access_key_id: String,
            secret_access_key: String,
            session_token: String,
            expiration: String,
            issued_at: Option<String>,
        }
        let input: ProcessInput = serde_json::from_str(text).map_err(|e| {
            ProcessJsonError::Malformed(crate::text::printable(&e.to_string(), 200))
        })?;
        if input.version != 1 {
            return Err(ProcessJsonError::Version);
        }
        check_fields(
            &input.access_key_id,
            &input.secret_access_key,
            &input.session_token,
        )?;
        let parse = |text: &str| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|e| ProcessJsonError::Time(e.to_string()))
        };
        let credentials = Self::new(
            input.access_key_id,
            SecretString::new(input.secret_access_key),
            SecretString::new(input.session_token),
            parse(&input.expiration)?,
        );
        match input.issued_at {
            Some(text) => Ok(credentials.with_issued_at(parse(&text)?)),
            None => Ok(credentials),
        }
    }

    /// The IMDS `security-credentials/<role>` document; `account_id` for the extended path.
    pub fn to_imds_json(
        &self,
        last_updated: OffsetDateTime,
        account_id: Option<&str>,
    ) -> Zeroizing<String> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Imds<'a> {
            code: &'static str,
            last_updated: String,
            #[serde(rename = "Type")]
            kind: &'static str,
            access_key_id: &'a str,
            secret_access_key: &'a str,
            token: &'a str,
            expiration: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            account_id: Option<&'a str>,
        }
        zeroizing_json(&Imds {
            code: "Success",
            last_updated: rfc3339(last_updated),
            kind: "AWS-HMAC",
            access_key_id: self.access_key_id(),
            // Security: the output boundary of the IMDS endpoint.
            secret_access_key: self.secret_access_key().expose_secret(),
            token: self.session_token().expose_secret(),
            expiration: rfc3339(self.expiration()),
            account_id,
        })
    }

    /// The ECS container-credentials document.
    pub fn to_ecs_json(&self, account_id: &str, role_arn: &str) -> Zeroizing<String> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Ecs<'a> {
            access_key_id: &'a str,
            secret_access_key: &'a str,
            token: &'a str,
            expiration: String,
            account_id: &'a str,
            role_arn: &'a str,
        }
        zeroizing_json(&Ecs {
            access_key_id: self.access_key_id(),
            // Security: the output boundary of the ECS endpoint.
            secret_access_key: self.secret_access_key().expose_secret(),
            token: self.session_token().expose_secret(),
            expiration: rfc3339(self.expiration()),
            account_id,
            role_arn,
        })
    }

    /// The `credentials` object of a CreateSession answer (the anchor's), borrowing the
    /// secrets: serialize it with [`zeroizing_json`].
    pub fn create_session_credentials(&self) -> CreateSessionCredentials<'_> {
        CreateSessionCredentials {
            access_key_id: self.access_key_id(),
            expiration: rfc3339(self.expiration()),
            // Security: the one place secrets leave the anchor, in the response body.
            secret_access_key: self.secret_access_key().expose_secret(),
            session_token: self.session_token().expose_secret(),
        }
    }
}

/// The `credentials` object of a CreateSession answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionCredentials<'a> {
    access_key_id: &'a str,
    expiration: String,
    secret_access_key: &'a str,
    session_token: &'a str,
}
