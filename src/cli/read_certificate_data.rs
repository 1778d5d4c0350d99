//! `tessera read-certificate-data`: what tessera sees in a certificate, as JSON.

use base64::Engine;
use clap::Args;
use serde::Serialize;

use crate::identity::file::load_certificate;
use crate::identity::key_ref::KeyRef;
use crate::identity::pkcs11_uri::Pkcs11Uri;
use crate::identity::KeyKind;
use crate::time_format::rfc3339;

/// Flags of `read-certificate-data`.
#[derive(Debug, Args)]
pub struct ReadCertificateDataArgs {
    /// Certificate file (PEM or DER); the first certificate is described. A `pkcs11:` URI
    /// instead lists the token's matching keys and certificates, each with its own URI.
    #[arg(long, env = "TESSERA_CERTIFICATE", value_name = "FILE|URI")]
    certificate: std::path::PathBuf,
    /// PKCS#11 module for a `pkcs11:` URI without module-path= (default: the p11-kit proxy).
    #[arg(long, env = "TESSERA_PKCS11_LIB", value_name = "FILE")]
    pkcs11_lib: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateData {
    key_type: &'static str,
    certificate_data: String,
    serial_number: String,
    supported_algorithms: Vec<&'static str>,
    subject: String,
    issuer: String,
    not_before: String,
    not_after: String,
    fingerprint_sha256: String,
}

pub(super) fn run(args: ReadCertificateDataArgs) -> anyhow::Result<()> {
    let certificate = KeyRef::parse(&args.certificate)?;
    if let KeyRef::Pkcs11(uri) = &certificate {
        return list_token_objects(uri, &args);
    }
    let cert = load_certificate(&certificate)?;
    let supported_algorithms = match cert.key_kind() {
        KeyKind::Rsa { .. } => vec!["SHA256WITHRSA", "SHA384WITHRSA", "SHA512WITHRSA"],
        KeyKind::EcP256 | KeyKind::EcP384 => {
            vec!["SHA256WITHECDSA", "SHA384WITHECDSA", "SHA512WITHECDSA"]
        }
        KeyKind::MlDsa(level) => vec![level.name()],
        KeyKind::Unsupported(_) => Vec::new(),
    };
    let data = CertificateData {
        key_type: cert.key_kind().family(),
        certificate_data: base64::engine::general_purpose::STANDARD.encode(cert.der()),
        serial_number: cert.serial_decimal().to_owned(),
        supported_algorithms,
        subject: cert.subject().to_owned(),
        issuer: cert.issuer().to_owned(),
        not_before: rfc3339(cert.not_before()),
        not_after: rfc3339(cert.not_after()),
        fingerprint_sha256: cert.fingerprint_sha256(),
    };
    outln!("{}", serde_json::to_string(&data)?)?;
    Ok(())
}

/// One JSON line per matching token object: `{"uri","type","label","id","subject"?}`.
#[cfg(feature = "pkcs11")]
fn list_token_objects(uri: &Pkcs11Uri, args: &ReadCertificateDataArgs) -> anyhow::Result<()> {
    let access = super::secret_args::key_access();
    let access = crate::identity::pkcs11::TokenAccess {
        module: args.pkcs11_lib.as_deref(),
        env_pin: access.pkcs11_pin.as_ref(),
    };
    let objects = crate::identity::pkcs11::list_objects(uri, access)?;
    anyhow::ensure!(
        !objects.is_empty(),
        "no keys or certificates on the token match {}",
        args.certificate.display()
    );
    for object in objects {
        outln!("{}", serde_json::to_string(&object)?)?;
    }
    Ok(())
}

#[cfg(not(feature = "pkcs11"))]
fn list_token_objects(uri: &Pkcs11Uri, _args: &ReadCertificateDataArgs) -> anyhow::Result<()> {
    anyhow::bail!("{uri} is a PKCS#11 URI, but this tessera was built without the pkcs11 feature")
}
