//! The local CA's certificates and CRLs that an ML-DSA key takes part in, as subject or as
//! issuer. rcgen names ML-DSA only when built on aws-lc-rs, so these go through [`build`]
//! (x509-cert, signed by tessera's own keys); everything else stays with rcgen.

mod build;

use std::path::Path;

use time::{Duration, OffsetDateTime};

use self::build::{CaSigner, Role, Spec};
use super::{random_serial, InitOptions, LeafKey, PkiError};
use crate::files::{write_new, write_secret};
use crate::identity::key_ref::KeyRef;
use crate::identity::mldsa::MlDsaLevel;
use crate::identity::{Certificate, KeyKind};

/// A CA certificate (DER) and the signer of its key.
pub(super) struct CaFiles {
    certificate: Vec<u8>,
    signer: CaSigner,
}

impl CaFiles {
    /// Reads a CA's certificate and PKCS#8 key with the identity loaders every key goes through.
    pub(super) fn load(certificate: &Path, key: &Path) -> Result<Self, PkiError> {
        let parsed = ca_certificate(certificate)?;
        let key = crate::identity::file::load_private_key(
            &KeyRef::File(key.to_owned()),
            &crate::identity::file::Passphrase::PromptIfTerminal,
        )
        .map_err(|e| PkiError::BadCaFile(e.to_string()))?;
        if key.public_key() != parsed.public_key() {
            return Err(PkiError::BadCaFile(
                "the CA key does not match its certificate".into(),
            ));
        }
        let certificate = parsed.der().to_vec();
        let spki = spki_of_certificate(&certificate)?;
        Ok(Self {
            certificate,
            signer: CaSigner::new(key, spki)?,
        })
    }
}

/// Whether the CA certificate at `path` holds an ML-DSA key.
pub(super) fn is_mldsa_ca(path: &Path) -> Result<bool, PkiError> {
    Ok(matches!(
        ca_certificate(path)?.key_kind(),
        KeyKind::MlDsa(_)
    ))
}

fn ca_certificate(path: &Path) -> Result<Certificate, PkiError> {
    crate::identity::file::load_certificate(&KeyRef::File(path.to_owned()))
        .map_err(|e| PkiError::BadCaFile(e.to_string()))
}

/// Whether a subject public key (SubjectPublicKeyInfo DER) is ML-DSA.
pub(super) fn is_mldsa_spki(spki: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).is_ok_and(|(_, spki)| {
        MlDsaLevel::from_oid(&spki.algorithm.algorithm.to_id_string()).is_some()
    })
}

fn spki_of_certificate(der: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert.tbs_certificate.subject_pki.raw.to_vec())
        .map_err(|e| PkiError::BadCaFile(e.to_string()))
}

fn pem(der: &[u8]) -> Result<String, PkiError> {
    pkcs8::der::pem::encode_string("CERTIFICATE", pkcs8::der::pem::LineEnding::LF, der)
        .map_err(build::der_error)
}

fn spec(common_name: &str, now: OffsetDateTime, days: i64, role: Role) -> Spec {
    Spec {
        common_name: common_name.to_owned(),
        serial: random_serial(),
        not_before: now - Duration::minutes(5),
        not_after: now + Duration::days(days),
        role,
    }
}

/// `ca init` for an ML-DSA root (and intermediate) in `dir`.
pub(super) fn init(
    dir: &Path,
    options: &InitOptions,
    level: MlDsaLevel,
    now: OffsetDateTime,
) -> Result<(), PkiError> {
    let (root_pem, root_key) = build::generate(level)?;
    let root_spki = CaSigner::spki_of(&root_key)?;
    let root_signer = CaSigner::new(root_key, root_spki.clone())?;
    let root_spec = spec(&options.common_name, now, options.days, Role::Root);
    let root = build::certificate(&root_spec, &root_spki, &root_signer, None)?;
    write_secret(&dir.join("root.key"), root_pem.as_bytes(), options.force)?;
    write_new(&dir.join("root.pem"), pem(&root)?.as_bytes(), true)?;
    if options.intermediate {
        let (key_pem, key) = build::generate(level)?;
        let spki = CaSigner::spki_of(&key)?;
        let name = format!("{} intermediate", options.common_name);
        let spec = spec(&name, now, options.days, Role::Intermediate);
        let cert = build::certificate(&spec, &spki, &root_signer, Some(&root))?;
        write_secret(
            &dir.join("intermediate.key"),
            key_pem.as_bytes(),
            options.force,
        )?;
        write_new(&dir.join("intermediate.pem"), pem(&cert)?.as_bytes(), true)?;
    }
    Ok(())
}

/// A leaf `ca issue` makes here: the certificate PEM and, for a generated key, its PKCS#8 PEM.
pub(super) struct Leaf {
    /// The certificate.
    pub certificate: String,
    /// The generated key, if one was.
    pub private_key: Option<zeroize::Zeroizing<String>>,
}

/// Issues a leaf for `key` (`client`: clientAuth, else serverAuth) signed by `ca`.
pub(super) fn issue(
    ca: &CaFiles,
    common_name: &str,
    serial: [u8; 16],
    validity: (OffsetDateTime, OffsetDateTime),
    client: bool,
    sans: Vec<rcgen::SanType>,
    key: &LeafKey,
) -> Result<Leaf, PkiError> {
    let (spki, private_key) = match key {
        LeafKey::Generate(key_type) => match key_type.mldsa() {
            Some(level) => {
                let (pem, key) = build::generate(level)?;
                (CaSigner::spki_of(&key)?, Some(pem))
            }
            None => {
                use rcgen::PublicKeyData;
                let key = super::generate_key(*key_type)?;
                let pem = zeroize::Zeroizing::new(key.serialize_pem());
                (key.subject_public_key_info(), Some(pem))
            }
        },
        LeafKey::Public(spki) => (spki.clone(), None),
    };
    let spec = Spec {
        common_name: common_name.to_owned(),
        serial,
        not_before: validity.0,
        not_after: validity.1,
        role: Role::Leaf { client, sans },
    };
    let der = build::certificate(&spec, &spki, &ca.signer, Some(&ca.certificate))?;
    Ok(Leaf {
        certificate: pem(&der)?,
        private_key,
    })
}

/// The CRL of `revoked` serials, signed by `ca`, as PEM.
pub(super) fn crl(
    ca: &CaFiles,
    revoked: &[Vec<u8>],
    now: OffsetDateTime,
    days: i64,
) -> Result<String, PkiError> {
    build::crl(
        &ca.certificate,
        &ca.signer,
        revoked,
        now - Duration::minutes(5),
        now + Duration::days(days),
    )
}
