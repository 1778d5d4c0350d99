//! STS `AssumeRole` at the anchor: role chaining from a session the anchor issued. Checked as
//! AWS does: the parameters' shapes, the 1-hour cap on chained sessions, the role's trust
//! policy (its trusted principals and conditions such as `sts:ExternalId`), the role's
//! MaxSessionDuration, and a source identity that may never change once set.

use super::config::RoleConfig;
use super::sts::{sts_error, xml_escape, IssuedSession, MintRequest, StsCall, StsError};
use super::tags::{condition_holds, glob_match};
use crate::aws_credentials::Credentials;

/// AWS's cap on a session assumed with role credentials.
pub const MAX_CHAINED_SECONDS: u32 = 3600;
/// AssumeRole's shortest session.
const MIN_SECONDS: u32 = 900;

/// The AssumeRole parameters, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleParams {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// `DurationSeconds` (default 3600).
    pub duration_seconds: u32,
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// `SourceIdentity`.
    pub source_identity: Option<String>,
}

/// A refusal: the error sent, and the reason for the anchor's log (never sent).
pub type Refused = (StsError, String);

/// STS's "1 validation error detected" message for one member.
fn validation(value: &str, member: &str, constraint: &str) -> Refused {
    let message = format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    );
    (
        sts_error(400, "ValidationError", &message),
        format!("parameter {member}"),
    )
}

/// Whether `value` is 2..=`max` characters of `[\w+=,.@-]` plus `extra`.
fn fits(value: &str, max: usize, extra: &str) -> bool {
    (2..=max).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) || extra.contains(c))
}

impl AssumeRoleParams {
    /// Reads and validates the call's parameters.
    pub fn parse(call: &StsCall) -> Result<Self, Refused> {
        let required = |name: &str, member: &str| {
            call.param(name).map(str::to_owned).ok_or_else(|| {
                let message = format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null");
                (
                    sts_error(400, "ValidationError", &message),
                    format!("no {name}"),
                )
            })
        };
        let role_arn = required("RoleArn", "roleArn")?;
        let session_name = required("RoleSessionName", "roleSessionName")?;
        if !fits(&session_name, 64, "") {
            return Err(validation(
                &session_name,
                "roleSessionName",
                "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            ));
        }
        let duration_seconds = match call.param("DurationSeconds") {
            None => MAX_CHAINED_SECONDS,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|d| *d >= MIN_SECONDS)
                .ok_or_else(|| {
                    validation(
                        text,
                        "durationSeconds",
                        "Member must have value greater than or equal to 900",
                    )
                })?,
        };
        let external_id = call.param("ExternalId").map(str::to_owned);
        if let Some(id) = external_id.as_deref().filter(|id| !fits(id, 1224, ":/")) {
            return Err(validation(
                id,
                "externalId",
                "Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
            ));
        }
        let source_identity = call.param("SourceIdentity").map(str::to_owned);
        if let Some(id) = source_identity.as_deref().filter(|id| !fits(id, 64, "")) {
            return Err(validation(
                id,
                "sourceIdentity",
                "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            ));
        }
        Ok(Self {
            role_arn,
            session_name,
            duration_seconds,
            external_id,
            source_identity,
        })
    }
}

/// The session AssumeRole grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chained {
    /// The role assumed.
    pub role_arn: String,
    /// The new session's name.
    pub session_name: String,
    /// The source identity, the caller's when it had one.
    pub source_identity: String,
    /// Session length.
    pub duration_seconds: u32,
}

impl Chained {
    /// The session to mint.
    pub fn mint_request(&self) -> MintRequest<'_> {
        MintRequest {
            role_arn: &self.role_arn,
            session_name: &self.session_name,
            source_identity: &self.source_identity,
            duration_seconds: self.duration_seconds,
            chained: true,
        }
    }
}

/// Decides whether `caller` may assume `params.role_arn`, given the anchor's roles.
pub fn decide(
    caller: &IssuedSession,
    params: &AssumeRoleParams,
    roles: &[RoleConfig],
) -> Result<Chained, Refused> {
    if params.duration_seconds > MAX_CHAINED_SECONDS {
        let message = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.";
        return Err((
            sts_error(400, "ValidationError", message),
            format!("chained duration {} s", params.duration_seconds),
        ));
    }
    let denied = |reason: String| {
        let message = format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
            caller.assumed_role_arn, params.role_arn
        );
        (sts_error(403, "AccessDenied", &message), reason)
    };
    let role = roles
        .iter()
        .find(|r| r.arn == params.role_arn)
        .ok_or_else(|| denied("no such role in the anchor's config".into()))?;
    if !role
        .trusted_principals
        .iter()
        .any(|p| glob_match(p, &caller.role_arn))
    {
        return Err(denied(format!(
            "{} is not among the role's trustedPrincipals",
            caller.role_arn
        )));
    }
    let source_identity = sticky_source_identity(caller, params)?;
    let value_of = |key: &str| match key {
        "sts:ExternalId" => params.external_id.as_deref(),
        "sts:SourceIdentity" => Some(source_identity.as_str()).filter(|s| !s.is_empty()),
        "sts:RoleSessionName" => Some(params.session_name.as_str()),
        "aws:PrincipalArn" => Some(caller.role_arn.as_str()),
        _ => None,
    };
    if let Some(failed) = role
        .assume_role_conditions
        .iter()
        .find(|c| !condition_holds(c, value_of))
    {
        return Err(denied(format!(
            "condition {:?} {} {:?} does not hold",
            failed.test, failed.key, failed.values
        )));
    }
    if params.duration_seconds > role.max_session_duration {
        let message =
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.";
        return Err((
            sts_error(400, "ValidationError", message),
            format!(
                "duration > MaxSessionDuration {}",
                role.max_session_duration
            ),
        ));
    }
    Ok(Chained {
        role_arn: role.arn.clone(),
        session_name: params.session_name.clone(),
        source_identity,
        duration_seconds: params.duration_seconds,
    })
}

/// The caller's source identity, which a chained call may repeat but never change.
fn sticky_source_identity(
    caller: &IssuedSession,
    params: &AssumeRoleParams,
) -> Result<String, Refused> {
    match params.source_identity.as_deref() {
        None => Ok(caller.source_identity.clone()),
        Some(asked) if caller.source_identity.is_empty() || asked == caller.source_identity => {
            Ok(asked.to_owned())
        }
        // Ours: AWS documents that a set source identity cannot change, not its wording.
        Some(asked) => Err((
            sts_error(
                403,
                "AccessDenied",
                &format!(
                    "SourceIdentity cannot be changed: the calling session's source identity is '{}', not '{asked}'",
                    caller.source_identity
                ),
            ),
            "source identity change".into(),
        )),
    }
}

/// The `AssumeRole` response body (it holds the new secrets).
pub fn response_xml(session: &IssuedSession, request_id: &str) -> zeroize::Zeroizing<String> {
    let credentials: &Credentials = &session.credentials;
    let source_identity = match session.source_identity.as_str() {
        "" => String::new(),
        id => format!("    <SourceIdentity>{}</SourceIdentity>\n", xml_escape(id)),
    };
    zeroize::Zeroizing::new(format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>\n{source_identity}    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n    <PackedPolicySize>0</PackedPolicySize>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        xml_escape(&session.assumed_role_id),
        xml_escape(&session.assumed_role_arn),
        credentials.access_key_id(),
        xml_escape(credentials.secret_access_key().expose_secret()),
        xml_escape(credentials.session_token().expose_secret()),
        crate::time_format::rfc3339(credentials.expiration()),
    ))
}

#[cfg(test)]
mod tests;
