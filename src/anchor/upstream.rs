//! Minting through a real STS: with `--sts-endpoint`, a granted session becomes an
//! `AssumeRole` call upstream (for example a moto server), so the credentials are valid there.

use std::sync::Arc;

use http::Uri;

use super::session::Grant;
use super::sts::IssuedSession;
use crate::clock::Clock;
use crate::http::HttpsClient;
use crate::secret::SecretString;
use crate::sts::{assume_role, AssumeRoleRequest, SigningKey, StsClientError};

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
        let key = SigningKey {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            session_token: None,
        };
        let request = AssumeRoleRequest {
            role_arn: &grant.role_arn,
            session_name: &grant.session_name,
            duration_seconds: grant.duration_seconds,
            external_id: None,
            source_identity: None,
        };
        let assumed = assume_role(
            &self.http,
            &self.endpoint,
            &self.region,
            key,
            &request,
            self.clock.now(),
        )
        .await?;
        Ok(IssuedSession {
            credentials: assumed.credentials,
            assumed_role_arn: assumed.arn,
            assumed_role_id: assumed.assumed_role_id,
            account: account.to_owned(),
            source_identity: grant.source_identity.clone(),
            role_arn: grant.role_arn.clone(),
            chained: false,
        })
    }
}
