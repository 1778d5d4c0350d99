//! Short-lived certificates for people, issued by the anchor's enrolment CA: the subject and
//! URI SANs come from a verified ID token (never from the request), the key from a CSR whose
//! signature proved possession, or from the certificate being renewed.
//!
//! The end of the login a certificate belongs to travels in its serial number, which the CA
//! signs: `0x4C`, then the login deadline as 4 big-endian bytes of Unix seconds, then 11
//! random bytes. A renewal reads it back from the presented certificate, so renewals stop at
//! the configured maximum login lifetime without the CA keeping any state.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::{LocalCa, PkiError};
use crate::files;

/// How far NotBefore is set back, for clients whose clocks run a little behind.
pub const NOT_BEFORE_SKEW_SECONDS: i64 = 30;

/// The first byte of a login certificate's serial.
const LOGIN_SERIAL_MARKER: u8 = 0x4C;

/// What a login certificate says.
#[derive(Debug, Clone)]
pub struct LoginLeaf {
    /// The common name (the person's email by default).
    pub common_name: String,
    /// Organizational units (the person's groups by default), in order.
    pub organizational_units: Vec<String>,
    /// URI SANs (`iss#sub` by default), in order.
    pub uri_sans: Vec<String>,
    /// NotAfter.
    pub not_after: OffsetDateTime,
    /// When the login ends: no renewal past it.
    pub login_deadline: OffsetDateTime,
}

/// An issued login certificate, in the shapes step-ca answers with.
#[derive(Debug, Clone)]
pub struct SignedLeaf {
    /// The certificate (PEM).
    pub certificate: String,
    /// The issuing CA's certificate (PEM).
    pub issuer: String,
    /// The certificate, then the intermediate when the CA has one (PEM each).
    pub chain: Vec<String>,
}

impl LocalCa {
    /// Issues a login certificate for `public_key` (the CSR's or the renewed certificate's).
    pub fn issue_login_leaf(
        &self,
        public_key: &impl PublicKeyData,
        leaf: &LoginLeaf,
        now: OffsetDateTime,
    ) -> Result<SignedLeaf, PkiError> {
        if leaf.common_name.trim().is_empty() {
            return Err(PkiError::EmptyCommonName);
        }
        let (issuer, intermediate) = self.issuer()?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, leaf.common_name.as_str());
        for unit in &leaf.organizational_units {
            name.push(DnType::OrganizationalUnitName, unit.as_str());
        }
        params.distinguished_name = name;
        // A small allowance for clock skew: renewal is planned from NotBefore, so a large
        // back-dating would make a short certificate look older than it is.
        params.not_before = now - Duration::seconds(NOT_BEFORE_SKEW_SECONDS);
        params.not_after = leaf.not_after.min(leaf.login_deadline);
        params.serial_number = Some(SerialNumber::from_slice(&login_serial(leaf.login_deadline)));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.subject_alt_names = leaf
            .uri_sans
            .iter()
            .map(|uri| {
                uri.clone()
                    .try_into()
                    .map(SanType::URI)
                    .map_err(|_| PkiError::BadSan(format!("uri:{uri}")))
            })
            .collect::<Result<_, _>>()?;
        let certificate = params.signed_by(public_key, &issuer)?.pem();
        let issuer_path = intermediate
            .clone()
            .unwrap_or_else(|| self.root_certificate());
        let issuer_pem = files::read_text(&issuer_path)?;
        let mut chain = vec![certificate.clone()];
        if intermediate.is_some() {
            chain.push(issuer_pem.clone());
        }
        Ok(SignedLeaf {
            certificate,
            issuer: issuer_pem,
            chain,
        })
    }
}

impl LocalCa {
    /// The CA's certificates for checking what it issued: the root (DER), and the
    /// intermediate (parsed) when there is one.
    pub fn issuing_chain(
        &self,
    ) -> Result<(Vec<Vec<u8>>, Vec<crate::identity::Certificate>), PkiError> {
        let der = |path: &std::path::Path| -> Result<Vec<u8>, PkiError> {
            let text = files::read_text(path)?;
            pem::parse(text)
                .map(|block| block.into_contents())
                .map_err(|e| PkiError::BadCaFile(format!("{}: {e}", path.display())))
        };
        let root = der(&self.root_certificate())?;
        let intermediate = self.intermediate_certificate();
        let intermediates = if intermediate.is_file() {
            let bytes = der(&intermediate)?;
            vec![crate::identity::Certificate::from_der(&bytes)
                .map_err(|e| PkiError::BadCaFile(format!("{}: {e}", intermediate.display())))?]
        } else {
            Vec::new()
        };
        Ok((vec![root], intermediates))
    }
}

/// A serial carrying `deadline` (see the module documentation).
fn login_serial(deadline: OffsetDateTime) -> [u8; 16] {
    let mut serial: [u8; 16] = fastrand::u128(..).to_be_bytes();
    serial[0] = LOGIN_SERIAL_MARKER;
    let seconds = u32::try_from(deadline.unix_timestamp().max(0)).unwrap_or(u32::MAX);
    serial[1..5].copy_from_slice(&seconds.to_be_bytes());
    serial
}

/// The login deadline a login certificate's serial carries; `None` for other serials.
pub fn login_deadline(serial: &[u8]) -> Option<OffsetDateTime> {
    if serial.len() != 16 || serial[0] != LOGIN_SERIAL_MARKER {
        return None;
    }
    let seconds = u32::from_be_bytes(serial[1..5].try_into().ok()?);
    OffsetDateTime::from_unix_timestamp(i64::from(seconds)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_round_trips_through_the_serial() {
        let deadline = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let a = login_serial(deadline);
        let b = login_serial(deadline);
        assert_eq!(login_deadline(&a), Some(deadline));
        assert_ne!(a, b, "11 random bytes differ");
        assert_eq!(login_deadline(&[0x10; 16]), None);
        assert_eq!(login_deadline(&a[..15]), None);
    }
}
