//! A profile's credentials: CreateSession with the certificate (its role session name filled
//! from the certificate when templated), then each `assume-role` hop of the chain with the
//! credentials before it. Refusals become one line that says what to change on the profile.

use std::borrow::Cow;

use crate::aws_credentials::Credentials;
use crate::clock::Clock;
use crate::config::{ChainHop, ResolvedProfile};
use crate::credentials::attribution::TemplateError;
use crate::identity::Signer;
use crate::rolesanywhere::client::{ClientError, RolesAnywhereClient};
use crate::rolesanywhere::model::SessionParams;
use crate::sts::{assume_role, AssumeRoleRequest, StsClientError};

/// Why a chain, or the attribution of its first session, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The Roles Anywhere profile refuses the role session name this profile sends.
    #[error("profile {profile}: the Roles Anywhere profile {profile_arn} does not accept a role session name, and this profile sends '{name}'; remove role-session-name from the profile (and --role-session-name), or enable acceptRoleSessionName on the Roles Anywhere profile")]
    SessionNameRefused {
        /// The tessera profile.
        profile: String,
        /// The Roles Anywhere profile.
        profile_arn: String,
        /// The name sent.
        name: String,
    },
    /// An AssumeRole hop failed.
    #[error("profile {profile}: cannot assume {role_arn} at {endpoint}: {detail}; {hint}")]
    AssumeRole {
        /// The profile whose `assume-role` table it is.
        profile: String,
        /// The role.
        role_arn: String,
        /// The STS called.
        endpoint: String,
        /// STS's status, when it answered.
        status: Option<u16>,
        /// What STS said (or the transport error).
        detail: String,
        /// What to change.
        hint: String,
    },
    /// A name template does not fit the certificate.
    #[error("profile {profile}: {problem}")]
    Template {
        /// The profile.
        profile: String,
        /// What is wrong.
        problem: TemplateError,
    },
}

impl ChainError {
    /// Whether another attempt soon may succeed (STS trouble, not a refusal).
    pub fn is_transient(&self) -> bool {
        match self {
            ChainError::AssumeRole { status, .. } => status.is_none_or(|s| s >= 500 || s == 429),
            _ => false,
        }
    }
}

/// What to change for an STS refusal, by its code.
fn hint(error: &StsClientError, hop: &ChainHop, caller_role: &str) -> String {
    let table = format!("[profiles.{}.assume-role]", hop.profile);
    match error {
        StsClientError::Service { message, .. } if message.contains("SourceIdentity") => {
            format!("remove source-identity from {table}: a session's source identity, once set, stays for the whole chain")
        }
        StsClientError::Service { code, .. } if code == "AccessDenied" => format!(
            "the trust policy of {} must trust {caller_role}, and external-id in {table} must be the one it expects",
            hop.role_arn
        ),
        StsClientError::Service { code, .. }
            if code == "InvalidClientTokenId" || code == "ExpiredToken" =>
        {
            format!("this STS did not issue the credentials before it; set sts-endpoint in {table}")
        }
        StsClientError::Service { .. } => format!("check {table}"),
        _ => format!("check sts-endpoint in {table} and the network"),
    }
}

/// The IAM role ARN behind an assumed-role session ARN, for messages.
fn role_of_session(session_arn: &str, fallback: &str) -> String {
    let mut parts = session_arn.splitn(6, ':');
    let (Some(_), Some(partition), Some(_), Some(_), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return fallback.to_owned();
    };
    match resource
        .strip_prefix("assumed-role/")
        .and_then(|r| r.split('/').next())
    {
        Some(role) => format!("arn:{partition}:iam::{account}:role/{role}"),
        None => fallback.to_owned(),
    }
}

/// CreateSession's parameters for `identity`: a templated role session name filled.
fn session_params<'a>(
    profile: &'a ResolvedProfile,
    identity: &dyn Signer,
) -> Result<Cow<'a, SessionParams>, ChainError> {
    let Some(template) = &profile.session_name_template else {
        return Ok(Cow::Borrowed(&profile.params));
    };
    let name = template
        .fill("role-session-name", identity.certificate())
        .map_err(|problem| ChainError::Template {
            profile: profile_name(profile),
            problem,
        })?;
    let mut params = profile.params.clone();
    params.role_session_name = Some(name);
    Ok(Cow::Owned(params))
}

fn profile_name(profile: &ResolvedProfile) -> String {
    profile.name.as_deref().unwrap_or("default").to_owned()
}

/// Obtains the profile's credentials: CreateSession, then every hop of its chain.
pub async fn obtain(
    profile: &ResolvedProfile,
    client: &RolesAnywhereClient,
    identity: &dyn Signer,
    clock: &dyn Clock,
) -> Result<Credentials, super::provider::ProviderError> {
    let params = session_params(profile, identity)?;
    let mut credentials = match client.create_session(&params, identity).await {
        Err(ClientError::Service { message, .. })
            if message.starts_with("Not authorized to set roleSessionName") =>
        {
            return Err(ChainError::SessionNameRefused {
                profile: profile_name(profile),
                profile_arn: params.profile_arn.to_string(),
                name: params.role_session_name.clone().unwrap_or_default(),
            }
            .into());
        }
        other => other?,
    };
    let provenance = credentials.provenance().clone();
    let mut caller_role = params.role_arn.to_string();
    for hop in &profile.chain {
        let assumed = assume(
            profile,
            client,
            hop,
            &credentials,
            &caller_role,
            identity,
            clock,
        )
        .await?;
        caller_role = role_of_session(&assumed.arn, hop.role_arn.as_str());
        tracing::debug!(role = %assumed.arn, "assumed the next role of the chain");
        credentials = assumed.credentials.with_provenance(provenance.clone());
    }
    Ok(credentials)
}

/// One hop: AssumeRole with `credentials`, named from the certificate.
async fn assume(
    profile: &ResolvedProfile,
    client: &RolesAnywhereClient,
    hop: &ChainHop,
    credentials: &Credentials,
    caller_role: &str,
    identity: &dyn Signer,
    clock: &dyn Clock,
) -> Result<crate::sts::AssumedRole, ChainError> {
    let template_error = |problem| ChainError::Template {
        profile: hop.profile.clone(),
        problem,
    };
    let certificate = identity.certificate();
    let session_name = match &hop.session_name {
        Some(template) => template.fill("role-session-name", certificate),
        None => crate::credentials::attribution::default_session_name(certificate),
    }
    .map_err(template_error)?;
    let source_identity = hop
        .source_identity
        .as_ref()
        .map(|t| t.fill("source-identity", certificate))
        .transpose()
        .map_err(template_error)?;
    let request = AssumeRoleRequest {
        role_arn: hop.role_arn.as_str(),
        session_name: &session_name,
        duration_seconds: hop.duration_seconds,
        external_id: hop.external_id.as_deref(),
        source_identity: source_identity.as_deref(),
    };
    let call = assume_role(
        client.http(),
        &hop.sts_endpoint,
        &profile.region,
        credentials.into(),
        &request,
        clock.now(),
    );
    let failed = |error: StsClientError| ChainError::AssumeRole {
        profile: hop.profile.clone(),
        role_arn: hop.role_arn.to_string(),
        endpoint: hop.sts_endpoint.to_string(),
        status: match &error {
            StsClientError::Service { status, .. } => Some(*status),
            _ => None,
        },
        hint: hint(&error, hop, caller_role),
        detail: error.to_string(),
    };
    match tokio::time::timeout(profile.timeout, call).await {
        Ok(result) => result.map_err(failed),
        Err(_) => Err(failed(StsClientError::Transport {
            endpoint: hop.sts_endpoint.to_string(),
            detail: format!("no answer within {} s", profile.timeout.as_secs()),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_behind_a_session_arn_is_named_in_messages() {
        assert_eq!(
            role_of_session("arn:aws:sts::222233334444:assumed-role/admin/alice", "x"),
            "arn:aws:iam::222233334444:role/admin"
        );
        assert_eq!(role_of_session("garbage", "fallback"), "fallback");
    }
}
