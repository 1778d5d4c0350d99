//! `tessera doctor`'s checks: everything about a Roles Anywhere setup that can be checked
//! without calling CreateSession, each with a fix when it fails.

mod chain;
pub mod run;
pub mod tags;

pub use self::chain::check_chain;

use std::fmt;

use time::OffsetDateTime;

use crate::time_format::rfc3339;
use std::sync::Arc;

use crate::identity::file::{IdentityError, Passphrase};
use crate::identity::key_ref::IdentitySources;
use crate::identity::source;
use crate::identity::{Certificate, KeyKind, Signer};
use crate::pki::chain::is_weak_signature_algorithm;
use crate::rolesanywhere::client::ClientError;

/// A check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed, with what was seen.
    Pass(String),
    /// Failed: the problem and how to fix it.
    Fail {
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// Not run, and why.
    Skip(String),
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// Result.
    pub outcome: Outcome,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass(detail) => write!(f, "  ok    {:<22} {detail}", self.name),
            Outcome::Fail { problem, fix } => write!(
                f,
                "  FAIL  {:<22} {problem}\n        {:<22} fix: {fix}",
                self.name, ""
            ),
            Outcome::Skip(reason) => write!(f, "  skip  {:<22} {reason}", self.name),
        }
    }
}

/// The checklist so far.
#[derive(Debug, Default)]
pub struct Report {
    /// The checks in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Records a pass.
    pub fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Pass(detail.into()),
        });
    }

    /// Records a failure.
    pub fn fail(&mut self, name: &'static str, problem: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Fail {
                problem: problem.into(),
                fix: fix.into(),
            },
        });
    }

    /// Records a skipped check.
    pub fn skip(&mut self, name: &'static str, reason: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Skip(reason.into()),
        });
    }

    /// Whether every check that ran passed.
    pub fn all_passed(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Fail { .. }))
    }
}

/// Loads the identity, recording the file, key and validity checks. An identity outside its
/// validity period is still returned (loaded at its NotBefore) so later checks can run.
pub fn check_identity(
    report: &mut Report,
    sources: &IdentitySources,
    passphrase: &Passphrase,
    now: OffsetDateTime,
) -> Option<Arc<dyn Signer>> {
    let identity = match source::load(sources, passphrase, now) {
        Ok(identity) => identity,
        Err(error @ (IdentityError::Expired { .. } | IdentityError::NotYetValid { .. })) => {
            report.pass(
                "certificate and key",
                "parsed; the key matches the certificate",
            );
            report.fail(
                "validity",
                error.to_string(),
                "issue a new certificate (tessera ca issue …, or your CA), or fix the system clock",
            );
            let leaf = source::load_certificate(sources).ok()?;
            return source::load(sources, passphrase, leaf.not_before()).ok();
        }
        Err(error) => {
            let (name, fix) = match &error {
                IdentityError::KeyMismatch { .. } => (
                    "key matches cert",
                    "pass the private key that was generated with this certificate's CSR",
                ),
                IdentityError::UnsupportedCertificateKey { .. } | IdentityError::Key { .. } => (
                    "key type",
                    "reissue with an RSA (2048–8192) or ECDSA P-256/P-384 key",
                ),
                IdentityError::ChainTooLong { .. } => (
                    "chain",
                    "send only the intermediates between the leaf and the trust anchor CA",
                ),
                #[cfg(feature = "tpm")]
                IdentityError::Tpm(_) => (
                    "TPM key",
                    "see the message; `tpm2_getcap handles-persistent` lists persistent keys, and TESSERA_TPM_TCTI picks the TPM",
                ),
                #[cfg(feature = "pkcs11")]
                IdentityError::Pkcs11(_) => (
                    "token key",
                    "see the message; 'tessera read-certificate-data --certificate pkcs11:token=NAME' lists a token's keys and certificates with their URIs",
                ),
                _ => (
                    "certificate and key",
                    "see the message; 'tessera read-certificate-data' shows what a file holds",
                ),
            };
            report.fail(name, error.to_string(), fix);
            return None;
        }
    };
    let leaf = identity.certificate();
    report.pass(
        "certificate and key",
        format!(
            "{} (serial {}), {} key matches",
            leaf.subject(),
            leaf.serial_decimal(),
            leaf.key_kind()
        ),
    );
    report.pass(
        "validity",
        format!(
            "valid {} to {} ({} days left)",
            rfc3339(leaf.not_before()),
            rfc3339(leaf.not_after()),
            (leaf.not_after() - now).whole_days()
        ),
    );
    Some(identity)
}

/// The end-entity requirements Roles Anywhere documents.
pub fn check_leaf_requirements(report: &mut Report, leaf: &Certificate) {
    let mut problems = Vec::new();
    if leaf.is_ca() {
        problems.push("it is a CA certificate (basicConstraints CA:TRUE)");
    }
    if leaf.allows_digital_signature() != Some(true) {
        problems.push("keyUsage does not include digitalSignature");
    }
    if is_weak_signature_algorithm(leaf.signature_algorithm_oid()) {
        problems.push("it is signed with MD5 or SHA-1");
    }
    if leaf.subject().is_empty() {
        problems.push("its subject is empty");
    }
    if let KeyKind::Unsupported(_) = leaf.key_kind() {
        problems.push("its key type is not supported");
    }
    if problems.is_empty() {
        report.pass(
            "leaf requirements",
            "CA:FALSE, digitalSignature, SHA-256 or stronger, non-empty subject",
        );
    } else {
        report.fail(
            "leaf requirements",
            format!("the certificate cannot sign Roles Anywhere requests: {}", problems.join("; ")),
            "issue an end-entity certificate with keyUsage digitalSignature, CA:FALSE, SHA-256 (tessera ca issue)",
        );
    }
}

/// What to do about a CreateSession refusal, by the service's code and message.
pub fn create_session_fix(error: &ClientError) -> &'static str {
    let ClientError::Service {
        status,
        code,
        message,
        ..
    } = error
    else {
        return "see the message; run again with --debug for details";
    };
    match (code.as_str(), message.as_str()) {
        (_, m) if m.starts_with("Invalid signature") => {
            "the signature was rejected: check the system clock and that --private-key belongs to --certificate"
        }
        (_, m) if m.starts_with("Signature expired") => "synchronise the system clock (NTP)",
        (_, m) if m.starts_with("Untrusted") => {
            "the trust anchor does not hold the CA that issued this certificate, or intermediates are missing (--intermediates)"
        }
        (_, m) if m.starts_with("Certificate revoked") => "issue a new certificate; revoked ones cannot be reinstated",
        (_, m) if m.starts_with("Not authorized to set roleSessionName") => {
            "enable acceptRoleSessionName on the profile, or drop --role-session-name"
        }
        (_, m) if m.contains("disabled") => "enable the trust anchor and the profile",
        (_, m) if m.contains("MaxSessionDuration") => "lower --session-duration or raise the role's MaxSessionDuration",
        (_, m) if m.starts_with("Unable to assume role") => {
            "add the role to the profile's roleArns, and let its trust policy allow rolesanywhere.amazonaws.com sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity with conditions this certificate meets"
        }
        (c, _) if c == "ResourceNotFoundException" || *status == 404 => "check the ARNs and that they are in the endpoint's region",
        ("ValidationException", _) => "check --session-duration (900–43200) and --role-session-name",
        ("ThrottlingException", _) => "retry later; CreateSession is limited to about 10 requests per second per account",
        _ => "see the service's message",
    }
}
