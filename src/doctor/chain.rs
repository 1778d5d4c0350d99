//! doctor's chain checks: the trust anchor's CA certificates, the CRLs, and the path from the
//! leaf (with the intermediates it sends) to the CA.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::Report;
use crate::identity::{Certificate, Signer};
use crate::pki::chain::{verify_chain, ChainError};

/// Checks the trust anchor's CA certificates and the chain from the leaf to them.
pub fn check_chain(
    report: &mut Report,
    identity: &dyn Signer,
    ca_files: &[PathBuf],
    crl_files: &[PathBuf],
    now: OffsetDateTime,
) {
    if ca_files.is_empty() {
        report.skip(
            "chain to trust anchor",
            "pass --trust-anchor-ca to check it",
        );
        return;
    }
    let Some(cas) = trust_anchor_cas(report, ca_files) else {
        return;
    };
    let Some(crls) = read_crls(report, crl_files) else {
        return;
    };
    let ders: Vec<Vec<u8>> = cas.iter().map(|c| c.der().to_vec()).collect();
    // An expired leaf is reported by the validity check; judge the rest of the chain at a
    // time the leaf was valid, so this line says something new.
    let leaf = identity.certificate();
    let at = if leaf.is_valid_at(now) {
        now
    } else {
        leaf.not_before()
    };
    match verify_chain(leaf, identity.chain(), &ders, &crls, at) {
        Ok(()) => report.pass(
            "chain to trust anchor",
            format!(
                "{} intermediate(s) sent; path to the CA verifies{}",
                identity.chain().len(),
                if crls.is_empty() { "" } else { "; not revoked" }
            ),
        ),
        Err(ChainError::Revoked) => report.fail(
            "revocation",
            ChainError::Revoked.to_string(),
            "issue a new certificate; revoked ones cannot be reinstated",
        ),
        Err(error @ ChainError::Expired(_)) => report.fail(
            "chain to trust anchor",
            error.to_string(),
            "renew the expired intermediate or CA certificate and reissue the leaf",
        ),
        Err(error) => report.fail(
            "chain to trust anchor",
            error.to_string(),
            "pass the missing intermediates with --intermediates, or use the trust anchor whose CA issued this certificate",
        ),
    }
}

/// The trust anchor's CA certificates: one or two, each a CA; `None` after a failed check.
fn trust_anchor_cas(report: &mut Report, ca_files: &[PathBuf]) -> Option<Vec<Certificate>> {
    let cas = match read_cas(ca_files) {
        Ok(cas) if !cas.is_empty() && cas.len() <= 2 => cas,
        Ok(cas) => {
            report.fail(
                "trust anchor CA",
                format!(
                    "{} CA certificates found; a trust anchor holds 1 or 2",
                    cas.len()
                ),
                "pass the PEM of the CA the trust anchor was created with",
            );
            return None;
        }
        Err(problem) => {
            report.fail(
                "trust anchor CA",
                problem.to_string(),
                "pass a PEM file with the trust anchor's CA certificate",
            );
            return None;
        }
    };
    let bad: Vec<String> = cas
        .iter()
        .filter(|c| !c.is_ca())
        .map(|c| c.subject().to_owned())
        .collect();
    if !bad.is_empty() {
        report.fail(
            "trust anchor CA",
            format!("not CA certificates: {}", bad.join("; ")),
            "a trust anchor needs CA:TRUE certificates with keyCertSign",
        );
        return None;
    }
    let subjects: Vec<&str> = cas.iter().map(Certificate::subject).collect();
    report.pass("trust anchor CA", subjects.join("; "));
    Some(cas)
}

/// The CRLs (PEM or DER) as DER; `None` after a failed check.
fn read_crls(report: &mut Report, crl_files: &[PathBuf]) -> Option<Vec<Vec<u8>>> {
    let mut crls = Vec::new();
    for path in crl_files {
        match std::fs::read(path) {
            Ok(bytes) => crls.push(
                pem::parse(&bytes)
                    .map(|b| b.contents().to_vec())
                    .unwrap_or(bytes),
            ),
            Err(e) => {
                report.fail(
                    "CRL",
                    format!("cannot read {}: {e}", path.display()),
                    "pass the CRL file imported into the trust anchor",
                );
                return None;
            }
        }
    }
    Some(crls)
}

/// A `--trust-anchor-ca` file that cannot be used.
#[derive(Debug, thiserror::Error)]
enum CaFileError {
    /// It cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// It is not PEM, or holds a certificate that does not parse.
    #[error("{}: {detail}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Reads CA certificates (PEM) from files.
fn read_cas(paths: &[PathBuf]) -> Result<Vec<Certificate>, CaFileError> {
    let mut out = Vec::new();
    for path in paths {
        let malformed = |detail: String| CaFileError::Malformed {
            path: path.clone(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|error| CaFileError::Read {
            path: path.clone(),
            error,
        })?;
        let blocks = pem::parse_many(&bytes).map_err(|e| malformed(e.to_string()))?;
        for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
            out.push(
                Certificate::from_der(block.contents()).map_err(|e| malformed(e.to_string()))?,
            );
        }
    }
    Ok(out)
}
