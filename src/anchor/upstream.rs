//! Minting through a real STS: with `--sts-endpoint`, a granted session becomes an
//! `AssumeRole` call upstream (for example a moto server), so the credentials are valid there.

use std::sync::Arc;

use http::Uri;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::session::Grant;
use super::sts::IssuedSession;
use crate::aws_credentials::Credentials;
use crate::clock::Clock;
use crate::http::HttpsClient;
use crate::rolesanywhere::canonical::encode_query_component;
use crate::secret::SecretString;
use crate::sts::{call, xml_text, SigningKey, StsClientError};

/// An upstream STS and the long-term key the anchor calls it with.
#[derive(Debug, Clone)]
pub struct UpstreamSts {
    /// The HTTP client.
    pub http: HttpsClient,
    /// STS endpoint URL.
    pub endpoint: Uri,
    /// Signing region.
    pub region: String,
    /// Access key id of the anchor's upstream identity.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: SecretString,
    /// Clock for signing.
    pub clock: Arc<dyn Clock>,
}

impl UpstreamSts {
    /// Calls `AssumeRole` for a grant.
    pub async fn assume_role(
        &self,
        grant: &Grant,
        account: &str,
    ) -> Result<IssuedSession, StsClientError> {
        let form = format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={}&DurationSeconds={}",
            encode_query_component(&grant.role_arn),
            encode_query_component(&grant.session_name),
            grant.duration_seconds
        );
        let key = SigningKey {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            session_token: None,
        };
        let xml = call(
            &self.http,
            &self.endpoint,
            &self.region,
            key,
            &form,
            self.clock.now(),
        )
        .await?;
        let field =
            |tag: &'static str| xml_text(&xml, tag).ok_or(StsClientError::MissingField(tag));
        let (access_key_id, secret, token) = (
            field("AccessKeyId")?,
            field("SecretAccessKey")?,
            field("SessionToken")?,
        );
        crate::aws_credentials::check_fields(&access_key_id, &secret, &token)
            .map_err(StsClientError::UnusableCredentials)?;
        let expiration_text = field("Expiration")?;
        let expiration = OffsetDateTime::parse(&expiration_text, &Rfc3339)
            .map_err(|_| StsClientError::MissingField("Expiration"))?;
        Ok(IssuedSession {
            credentials: Credentials::new(
                access_key_id,
                SecretString::new(secret),
                SecretString::new(token),
                expiration,
            ),
            assumed_role_arn: crate::text::printable(&field("Arn")?, 2048),
            assumed_role_id: crate::text::printable(&field("AssumedRoleId")?, 2048),
            account: account.to_owned(),
            source_identity: grant.source_identity.clone(),
        })
    }
}
