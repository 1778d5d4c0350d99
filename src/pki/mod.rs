//! A local certificate authority (rcgen): a root (and optional intermediate) that meet the
//! Roles Anywhere CA requirements, leaf issuance for workloads and servers, revocation and CRL.
//!
//! Layout of a CA directory (default `certs/local/`): `root.pem`/`root.key`, optionally
//! `intermediate.pem`/`intermediate.key`, issued certificates as `<name>.pem`/`<name>.key`,
//! `revoked.txt` (one `<hex serial> <RFC 3339 time>` per line) and `crl.pem`. Keys are 0600.

pub mod chain;
mod fields;
mod key_type;
pub mod login_leaf;
mod mldsa_ca;

use self::fields::{normalise_serial, parse_san, random_serial};
use self::key_type::generate_key;
pub use self::key_type::KeyType;

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::files::{self, write_new, write_secret, FileError};

/// Default directory of the local CA.
pub const DEFAULT_CA_DIR: &str = "certs/local";
/// Default lifetime of a CA certificate.
pub const DEFAULT_CA_DAYS: i64 = 3650;
/// Default lifetime of a leaf certificate.
pub const DEFAULT_LEAF_DAYS: i64 = 365;
/// How long a CRL is valid before it should be reissued.
const CRL_DAYS: i64 = 30;

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The public key to certify is unusable.
    #[error("the public key cannot be certified ({0}); pass an RSA or ECDSA P-256/P-384 SubjectPublicKeyInfo (PEM 'PUBLIC KEY' or DER)")]
    BadPublicKey(String),
    /// Reading or writing a file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// rcgen refused.
    #[error("certificate generation failed")]
    Generate(#[from] rcgen::Error),
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// A CA certificate file is not one PEM certificate.
    #[error("CA certificate {0} cannot be read")]
    BadCaFile(String),
    /// No CA in the directory.
    #[error("no CA in {}: run 'tessera ca init' first", dir.display())]
    NoCa {
        /// The directory.
        dir: PathBuf,
    },
    /// A subject alternative name is malformed.
    #[error("--san '{0}' is invalid; use dns:NAME, uri:URI, email:ADDRESS or ip:ADDRESS")]
    BadSan(String),
    /// A serial number is malformed.
    #[error("serial '{0}' is not a hex or decimal serial number")]
    BadSerial(String),
    /// The subject common name is empty or only spaces.
    #[error("--cn must not be empty; give the workload's name")]
    EmptyCommonName,
    /// A name that cannot be a file name.
    #[error("--name '{0}' must be letters, digits, '.', '_' or '-'")]
    BadName(String),
}

/// Options of `ca init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Common name of the root.
    pub common_name: String,
    /// Also create an intermediate under the root.
    pub intermediate: bool,
    /// Key type of the CA keys.
    pub key_type: KeyType,
    /// Lifetime in days.
    pub days: i64,
    /// Overwrite existing keys.
    pub force: bool,
}

/// What a leaf is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafPurpose {
    /// A workload identity (EKU clientAuth).
    Client,
    /// A TLS server (EKU serverAuth), e.g. for the local anchor.
    Server,
}

/// Options of `ca issue`.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// Subject common name.
    pub common_name: String,
    /// File name stem (defaults to the CN, sanitised).
    pub name: Option<String>,
    /// Subject alternative names as `dns:..`, `uri:..`, `email:..`, `ip:..`.
    pub sans: Vec<String>,
    /// Lifetime in days.
    pub days: i64,
    /// The subject key: generated here, or an existing public key (a key held in a token or
    /// TPM, or any key whose private half stays elsewhere).
    pub key: LeafKey,
    /// Client or server certificate.
    pub purpose: LeafPurpose,
    /// Overwrite an existing key.
    pub force: bool,
}

/// Whose key a leaf certificate certifies.
#[derive(Debug, Clone)]
pub enum LeafKey {
    /// Generate a key of this type and write it next to the certificate (0600).
    Generate(KeyType),
    /// Certify this public key (SubjectPublicKeyInfo, DER); no private key is written.
    Public(Vec<u8>),
}

/// Paths of an issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub certificate: PathBuf,
    /// The private key (PKCS#8 PEM, 0600), when it was generated here.
    pub private_key: Option<PathBuf>,
    /// The intermediate the leaf chains through, if any.
    pub chain: Option<PathBuf>,
    /// Serial number, hex.
    pub serial_hex: String,
}

/// A CA directory.
#[derive(Debug, Clone)]
pub struct LocalCa {
    dir: PathBuf,
}

impl LocalCa {
    /// A CA rooted at `dir` (which need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root certificate path.
    pub fn root_certificate(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// The intermediate certificate path (may not exist).
    pub fn intermediate_certificate(&self) -> PathBuf {
        self.dir.join("intermediate.pem")
    }

    /// The CRL path.
    pub fn crl_path(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }

    /// Whether `ca init` has run here.
    pub fn exists(&self) -> bool {
        self.root_certificate().is_file() && self.dir.join("root.key").is_file()
    }

    /// Creates the root (and intermediate) CA.
    pub fn init(&self, options: &InitOptions, now: OffsetDateTime) -> Result<(), PkiError> {
        if let Some(level) = options.key_type.mldsa() {
            mldsa_ca::init(&self.dir, options, level, now)?;
            if !options.intermediate {
                files::remove_if_exists(&self.intermediate_certificate())?;
                files::remove_if_exists(&self.dir.join("intermediate.key"))?;
            }
            files::remove_if_exists(&self.dir.join("revoked.txt"))?;
            return self.write_crl(now);
        }
        let root_key = generate_key(options.key_type)?;
        let mut root = ca_params(&options.common_name, now, options.days);
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_cert = root.self_signed(&root_key)?;
        write_secret(
            &self.dir.join("root.key"),
            root_key.serialize_pem().as_bytes(),
            options.force,
        )?;
        write_new(&self.root_certificate(), root_cert.pem().as_bytes(), true)?;
        let intermediate_path = self.intermediate_certificate();
        if options.intermediate {
            let key = generate_key(options.key_type)?;
            let mut params = ca_params(
                &format!("{} intermediate", options.common_name),
                now,
                options.days,
            );
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            let issuer = Issuer::new(root, root_key);
            let cert = params.signed_by(&key, &issuer)?;
            write_secret(
                &self.dir.join("intermediate.key"),
                key.serialize_pem().as_bytes(),
                options.force,
            )?;
            write_new(&intermediate_path, cert.pem().as_bytes(), true)?;
        } else {
            files::remove_if_exists(&intermediate_path)?;
            files::remove_if_exists(&self.dir.join("intermediate.key"))?;
        }
        files::remove_if_exists(&self.dir.join("revoked.txt"))?;
        self.write_crl(now)
    }

    /// The issuing CA: the intermediate when there is one, else the root. Returns the issuer
    /// and, for an intermediate, its certificate path (the chain to send).
    fn issuer(&self) -> Result<(Issuer<'static, KeyPair>, Option<PathBuf>), PkiError> {
        let (cert_path, key_path, chain) = self.issuer_paths()?;
        let key = KeyPair::from_pem(&files::read_text(&key_path)?)?;
        let issuer = Issuer::from_ca_cert_pem(&files::read_text(&cert_path)?, key)?;
        Ok((issuer, chain))
    }

    /// The issuing CA's certificate and key paths, and the chain to send (the intermediate).
    fn issuer_paths(&self) -> Result<(PathBuf, PathBuf, Option<PathBuf>), PkiError> {
        if !self.exists() {
            return Err(PkiError::NoCa {
                dir: self.dir.clone(),
            });
        }
        let intermediate = self.intermediate_certificate();
        Ok(if intermediate.is_file() {
            (
                intermediate.clone(),
                self.dir.join("intermediate.key"),
                Some(intermediate),
            )
        } else {
            (self.root_certificate(), self.dir.join("root.key"), None)
        })
    }

    /// Whether an ML-DSA key takes part in this issue (the CA's or the leaf's), so that
    /// [`mldsa_ca`] builds it instead of rcgen.
    fn involves_mldsa(&self, key: &LeafKey) -> Result<bool, PkiError> {
        let leaf = match key {
            LeafKey::Generate(key_type) => key_type.mldsa().is_some(),
            LeafKey::Public(spki) => mldsa_ca::is_mldsa_spki(spki),
        };
        Ok(leaf || mldsa_ca::is_mldsa_ca(&self.issuer_paths()?.0)?)
    }

    /// Issues a leaf certificate and writes it with its key.
    pub fn issue(&self, options: &IssueOptions, now: OffsetDateTime) -> Result<Issued, PkiError> {
        let stem = match &options.name {
            Some(name) => name.clone(),
            None => options
                .common_name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect(),
        };
        if options.common_name.trim().is_empty() {
            return Err(PkiError::EmptyCommonName);
        }
        if stem.is_empty()
            || stem.starts_with('.')
            || !stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(PkiError::BadName(stem));
        }
        if self.involves_mldsa(&options.key)? {
            return self.issue_with_mldsa(options, &stem, now);
        }
        let (issuer, chain) = self.issuer()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&options.common_name);
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(options.days);
        let serial = random_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match options.purpose {
            LeafPurpose::Client => ExtendedKeyUsagePurpose::ClientAuth,
            LeafPurpose::Server => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.subject_alt_names = options
            .sans
            .iter()
            .map(|s| parse_san(s))
            .collect::<Result<_, _>>()?;
        let certificate = self.dir.join(format!("{stem}.pem"));
        let (cert, private_key) = match &options.key {
            LeafKey::Generate(key_type) => {
                let key = generate_key(*key_type)?;
                let cert = params.signed_by(&key, &issuer)?;
                let path = self.dir.join(format!("{stem}.key"));
                write_secret(&path, key.serialize_pem().as_bytes(), options.force)?;
                (cert, Some(path))
            }
            LeafKey::Public(spki) => {
                let public = rcgen::SubjectPublicKeyInfo::from_der(spki)
                    .map_err(|e| PkiError::BadPublicKey(e.to_string()))?;
                (params.signed_by(&public, &issuer)?, None)
            }
        };
        write_new(&certificate, cert.pem().as_bytes(), true)?;
        Ok(Issued {
            certificate,
            private_key,
            chain,
            serial_hex: hex::encode(serial),
        })
    }

    fn issue_with_mldsa(
        &self,
        options: &IssueOptions,
        stem: &str,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let (cert_path, key_path, chain) = self.issuer_paths()?;
        let ca = mldsa_ca::CaFiles::load(&cert_path, &key_path)?;
        let sans = options
            .sans
            .iter()
            .map(|s| parse_san(s))
            .collect::<Result<_, _>>()?;
        let serial = random_serial();
        let validity = (
            now - Duration::minutes(5),
            now + Duration::days(options.days),
        );
        let client = options.purpose == LeafPurpose::Client;
        let leaf = mldsa_ca::issue(
            &ca,
            &options.common_name,
            serial,
            validity,
            client,
            sans,
            &options.key,
        )?;
        let certificate = self.dir.join(format!("{stem}.pem"));
        let private_key = match &leaf.private_key {
            Some(pem) => {
                let path = self.dir.join(format!("{stem}.key"));
                write_secret(&path, pem.as_bytes(), options.force)?;
                Some(path)
            }
            None => None,
        };
        write_new(&certificate, leaf.certificate.as_bytes(), true)?;
        Ok(Issued {
            certificate,
            private_key,
            chain,
            serial_hex: hex::encode(serial),
        })
    }

    /// Adds a serial (hex, or decimal with a `d:` prefix… accepted forms: `0a1b…` or decimal
    /// digits only when prefixed by `dec:`) to the revocation list and rewrites the CRL.
    pub fn revoke(&self, serial: &str, now: OffsetDateTime) -> Result<String, PkiError> {
        let hex_serial = normalise_serial(serial)?;
        let path = self.dir.join("revoked.txt");
        let mut text = if path.exists() {
            files::read_text(&path)?
        } else {
            String::new()
        };
        if !text
            .lines()
            .any(|l| l.split_whitespace().next() == Some(hex_serial.as_str()))
        {
            text.push_str(&format!(
                "{hex_serial} {}\n",
                crate::time_format::rfc3339(now)
            ));
            files::write_atomic(&path, text.as_bytes(), 0o644)?;
        }
        self.write_crl(now)?;
        Ok(hex_serial)
    }

    /// Rewrites `crl.pem`, signed by the issuing CA, listing every revoked serial.
    pub fn write_crl(&self, now: OffsetDateTime) -> Result<(), PkiError> {
        let (cert_path, key_path, _) = self.issuer_paths()?;
        if mldsa_ca::is_mldsa_ca(&cert_path)? {
            let ca = mldsa_ca::CaFiles::load(&cert_path, &key_path)?;
            let crl = mldsa_ca::crl(&ca, &self.revoked_serials()?, now, CRL_DAYS)?;
            return write_new(&self.crl_path(), crl.as_bytes(), true).map_err(Into::into);
        }
        let (issuer, _) = self.issuer()?;
        let revoked = self
            .revoked_serials()?
            .iter()
            .map(|bytes| RevokedCertParams {
                serial_number: SerialNumber::from_slice(bytes),
                revocation_time: now,
                reason_code: None,
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(CRL_DAYS),
            crl_number: SerialNumber::from_slice(&now.unix_timestamp().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&issuer)?;
        write_new(&self.crl_path(), crl.pem()?.as_bytes(), true)?;
        Ok(())
    }

    /// The serials in `revoked.txt`, as bytes.
    fn revoked_serials(&self) -> Result<Vec<Vec<u8>>, PkiError> {
        let path = self.dir.join("revoked.txt");
        let text = if path.exists() {
            files::read_text(&path)?
        } else {
            String::new()
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let serial = line.split_whitespace().next().unwrap_or_default();
                hex::decode(serial).map_err(|_| PkiError::BadSerial(serial.to_owned()))
            })
            .collect()
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "tessera local CA");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str, now: OffsetDateTime, days: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(common_name);
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(days);
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::Sha256;
    params
}
