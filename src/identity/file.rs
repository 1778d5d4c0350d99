//! Keys and certificates from files: PEM or DER certificates and chains; PKCS#1, SEC1, PKCS#8
//! and encrypted PKCS#8 keys; combined cert+key PEM files; PKCS#12 bundles.
//!
//! Loading checks everything that can be checked offline: the key matches the certificate, the
//! certificate is valid now and carries a key Roles Anywhere accepts, the chain is not too long.

use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use pkcs8::der::{Decode, Tagged};
use time::OffsetDateTime;

use super::cert::{rfc3339, Certificate, KeyKind};
use super::key::{KeyError, PrivateKey};
use super::{Digest, SignError, SignatureFamily, Signer};
use crate::secret::{SecretBytes, SecretString};

/// Largest certificate or key file read; real ones are a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most certificates `X-Amz-X509-Chain` may carry (a service limit).
pub const MAX_CHAIN_CERTIFICATES: usize = 5;
/// Most PBKDF2 iterations an encrypted key may ask for (OpenSSL writes 2,048; OWASP suggests
/// 600,000). A crafted file must not make tessera spin for hours.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most memory scrypt may need to decrypt a key (128 · r · N bytes).
pub const MAX_SCRYPT_BYTES: u64 = 256 * 1024 * 1024;
/// A certificate expiring sooner than this gets a warning at load.
pub const EXPIRY_WARNING_DAYS: i64 = 7;

/// What a file is used for; named in every error so the user knows which flag to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// `--certificate`.
    Certificate,
    /// `--private-key`.
    PrivateKey,
    /// `--intermediates`.
    Intermediates,
}

impl FileRole {
    fn noun(self) -> &'static str {
        match self {
            FileRole::Certificate => "certificate",
            FileRole::PrivateKey => "private key",
            FileRole::Intermediates => "intermediates",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            FileRole::Certificate => "--certificate",
            FileRole::PrivateKey => "--private-key",
            FileRole::Intermediates => "--intermediates",
        }
    }
}

/// Why a file identity could not be loaded. Every variant names the file and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The file does not exist.
    #[error("{} file {} does not exist; check the path given to {}", role.noun(), path.display(), role.flag())]
    NotFound {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
    },
    /// A directory was given.
    #[error("{} path {} is a directory; {} takes a file", role.noun(), path.display(), role.flag())]
    IsDirectory {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
    },
    /// Any other read failure (permissions, I/O).
    #[error("cannot read {} file {}", role.noun(), path.display())]
    Read {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is empty.
    #[error("{} file {} is empty; {} needs a PEM or DER file", role.noun(), path.display(), role.flag())]
    Empty {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
    },
    /// The file is implausibly large.
    #[error("{} file {} is {size} bytes, over the {MAX_FILE_BYTES}-byte limit; is it the right file?", role.noun(), path.display())]
    TooLarge {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The content is not PEM, DER or PKCS#12.
    #[error("{} file {} is not PEM, DER or PKCS#12 ({detail}); {} needs a certificate or key file", role.noun(), path.display(), role.flag())]
    Unrecognized {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
        /// What was seen.
        detail: String,
    },
    /// A PEM block is damaged.
    #[error("{} file {} has a malformed PEM block ({detail}); the file may be truncated or corrupted", role.noun(), path.display())]
    MalformedPem {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A certificate could not be parsed.
    #[error("{} file {} holds a certificate that cannot be parsed: {detail}", role.noun(), path.display())]
    BadCertificate {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
        /// The parser's complaint.
        detail: String,
    },
    /// The certificate file holds no certificate.
    #[error("{} file {} contains no certificate{}; pass the certificate file to {}", role.noun(), path.display(), found_instead(*has_key), role.flag())]
    NoCertificate {
        /// Which input.
        role: FileRole,
        /// The path given.
        path: PathBuf,
        /// Whether a private key was found instead.
        has_key: bool,
    },
    /// The key file holds no key.
    #[error("private key file {} contains no private key{}; pass the key file to --private-key", path.display(), if *has_certificate { " (it holds a certificate)" } else { "" })]
    NoPrivateKey {
        /// The path given.
        path: PathBuf,
        /// Whether a certificate was found instead.
        has_certificate: bool,
    },
    /// Neither a key file nor a key inside the certificate file.
    #[error("no private key: pass --private-key, or a certificate file that also holds the key (combined PEM or PKCS#12)")]
    MissingPrivateKey,
    /// A key or certificate in a PKCS#11 token could not be used.
    #[cfg(feature = "pkcs11")]
    #[error(transparent)]
    Pkcs11(#[from] super::pkcs11::Pkcs11Error),
    /// A key in the OS keyring could not be read.
    #[error(transparent)]
    Keyring(#[from] super::keyring::KeyringError),
    /// A key in a TPM could not be used.
    #[cfg(feature = "tpm")]
    #[error(transparent)]
    Tpm(#[from] super::tpm::TpmError),
    /// A TPM key given to a build without TPM support.
    #[error("{key} is a TPM key, but this tessera was built without the tpm feature; rebuild with --features tpm (needs libtss2-dev)")]
    TpmUnsupported {
        /// The key URI or file.
        key: String,
    },
    /// A `pkcs11:` URI given to a build without PKCS#11 support.
    #[error("{uri} is a PKCS#11 URI, but this tessera was built without the pkcs11 feature; rebuild with default features")]
    Pkcs11Unsupported {
        /// The URI.
        uri: String,
    },
    /// The key could not be used.
    #[error("private key {}: {source}", path.display())]
    Key {
        /// The path given.
        path: PathBuf,
        /// What is wrong with the key.
        #[source]
        source: KeyError,
    },
    /// The key is encrypted and no passphrase is available.
    #[error("private key {} is encrypted and no passphrase was given; pass --pkcs8-password or set TESSERA_KEY_PASSPHRASE", path.display())]
    PassphraseRequired {
        /// The path given.
        path: PathBuf,
    },
    /// The key's key-derivation parameters would take too long or too much memory.
    #[error("private key {} asks for {cost} to derive its key, over tessera's limit; re-encrypt it (openssl pkcs8 -topk8 -v2 aes-256-cbc)", path.display())]
    KdfTooCostly {
        /// The key file.
        path: PathBuf,
        /// The cost, in words.
        cost: String,
    },
    /// A PKCS#12 file's MAC would take too long to check.
    #[error("PKCS#12 file {} asks for {iterations} MAC iterations (limit {MAX_PBKDF2_ITERATIONS}); re-export it (openssl pkcs12 -export -iter 2048 -maciter)", path.display())]
    Pkcs12TooCostly {
        /// The file.
        path: PathBuf,
        /// The iterations it asks for.
        iterations: i32,
    },
    /// The passphrase did not decrypt the key.
    #[error("private key {} could not be decrypted: wrong passphrase, or an encryption scheme other than PBES2 (PBKDF2/scrypt with AES-CBC)", path.display())]
    WrongPassphrase {
        /// The path given.
        path: PathBuf,
    },
    /// Old OpenSSL `Proc-Type: 4,ENCRYPTED` PEM encryption.
    #[error("private key {0} uses legacy OpenSSL PEM encryption; convert it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc -in {0} -out key.p8.pem'", path.display())]
    LegacyPemEncryption {
        /// The path given.
        path: PathBuf,
    },
    /// The PKCS#12 password is wrong.
    #[error("PKCS#12 file {} could not be opened: wrong password (pass it with --pkcs8-password or TESSERA_KEY_PASSPHRASE)", path.display())]
    Pkcs12Password {
        /// The path given.
        path: PathBuf,
    },
    /// The PKCS#12 file is damaged or uses an unsupported scheme.
    #[error("PKCS#12 file {} could not be read ({detail})", path.display())]
    Pkcs12 {
        /// The path given.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The key does not belong to the certificate.
    #[error("private key {} does not match certificate {} (their public keys differ); pass the key that belongs to this certificate", key.display(), certificate.display())]
    KeyMismatch {
        /// The key path.
        key: PathBuf,
        /// The certificate path.
        certificate: PathBuf,
    },
    /// The certificate is past its NotAfter.
    #[error("certificate {} expired on {not_after} (valid {not_before} to {not_after}); renew or reissue it", path.display())]
    Expired {
        /// The path given.
        path: PathBuf,
        /// NotBefore, RFC 3339.
        not_before: String,
        /// NotAfter, RFC 3339.
        not_after: String,
    },
    /// The certificate is before its NotBefore.
    #[error("certificate {} is not valid until {not_before} (valid {not_before} to {not_after}); check the system clock or wait", path.display())]
    NotYetValid {
        /// The path given.
        path: PathBuf,
        /// NotBefore, RFC 3339.
        not_before: String,
        /// NotAfter, RFC 3339.
        not_after: String,
    },
    /// The certificate's key cannot be used with Roles Anywhere.
    #[error("certificate {} has a {kind} key; Roles Anywhere needs RSA (2048–8192 bits) or ECDSA P-256/P-384", path.display())]
    UnsupportedCertificateKey {
        /// The path given.
        path: PathBuf,
        /// What the key is.
        kind: KeyKind,
    },
    /// Too many chain certificates.
    #[error("the certificate chain has {count} certificates; Roles Anywhere accepts at most {MAX_CHAIN_CERTIFICATES} in X-Amz-X509-Chain")]
    ChainTooLong {
        /// How many there are.
        count: usize,
    },
}

fn found_instead(has_key: bool) -> &'static str {
    if has_key {
        " (it holds a private key)"
    } else {
        ""
    }
}

/// Where an encrypted key's passphrase comes from.
#[derive(Debug, Clone)]
pub enum Passphrase {
    /// Given on the command line or in the environment.
    Given(SecretString),
    /// Ask on the terminal, but only if stdin is a terminal (never block a pipeline).
    PromptIfTerminal,
    /// Stored in the OS keyring for the key file (`tessera key set-passphrase`).
    Keyring,
}

impl Passphrase {
    fn obtain(&self, path: &Path) -> Result<SecretString, IdentityError> {
        match self {
            Passphrase::Given(p) => Ok(p.clone()),
            Passphrase::Keyring => Ok(super::keyring::KeyStore::open()?.passphrase(path)?),
            Passphrase::PromptIfTerminal if io::stdin().is_terminal() => {
                rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
                    .map(SecretString::new)
                    .map_err(|_| IdentityError::PassphraseRequired {
                        path: path.to_owned(),
                    })
            }
            Passphrase::PromptIfTerminal => Err(IdentityError::PassphraseRequired {
                path: path.to_owned(),
            }),
        }
    }
}

/// The files an identity is loaded from.
#[derive(Debug, Clone)]
pub struct FileSources {
    /// The certificate (PEM/DER, full chain, combined with the key, or PKCS#12).
    pub certificate: PathBuf,
    /// The private key; `None` when the certificate file holds it.
    pub private_key: Option<PathBuf>,
    /// Extra intermediate certificates.
    pub intermediates: Option<PathBuf>,
    /// PKCS#11 module for `pkcs11:` certificate/key URIs.
    pub pkcs11_lib: Option<PathBuf>,
}

/// A certificate, its chain and its private key, all loaded from files.
#[derive(Debug)]
pub struct FileIdentity {
    leaf: Certificate,
    chain: Vec<Certificate>,
    key: PrivateKey,
}

impl Signer for FileIdentity {
    fn certificate(&self) -> &Certificate {
        &self.leaf
    }

    fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn family(&self) -> SignatureFamily {
        self.key.family()
    }

    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, SignError> {
        self.key.sign(message, digest)
    }
}

/// A key found in a file, not yet decoded.
enum KeyBlob {
    Pkcs8(SecretBytes),
    EncryptedPkcs8(Vec<u8>),
    Pkcs1(SecretBytes),
    Sec1(SecretBytes),
    LegacyEncryptedPem,
}

/// What a file contains.
#[derive(Default)]
struct Contents {
    certificates: Vec<Certificate>,
    keys: Vec<KeyBlob>,
}

impl FileIdentity {
    /// Loads and checks an identity. `now` is the time validity is judged at.
    pub fn load(
        sources: &FileSources,
        passphrase: &Passphrase,
        now: OffsetDateTime,
    ) -> Result<Self, IdentityError> {
        let cert_path = &sources.certificate;
        let cert_bytes = read_bounded(FileRole::Certificate, cert_path)?;
        let (mut certificates, mut key) = if looks_like_pkcs12(&cert_bytes) {
            let (certs, key) = open_pkcs12(cert_path, &cert_bytes, passphrase)?;
            (certs, Some((cert_path.clone(), key)))
        } else {
            let contents = classify(FileRole::Certificate, cert_path, &cert_bytes)?;
            if contents.certificates.is_empty() {
                return Err(IdentityError::NoCertificate {
                    role: FileRole::Certificate,
                    path: cert_path.clone(),
                    has_key: !contents.keys.is_empty(),
                });
            }
            let key = match contents.keys.into_iter().next() {
                Some(blob) if sources.private_key.is_none() => {
                    Some((cert_path.clone(), decode_key(cert_path, blob, passphrase)?))
                }
                _ => None,
            };
            (contents.certificates, key)
        };

        if let Some(key_path) = &sources.private_key {
            let key_bytes = read_bounded(FileRole::PrivateKey, key_path)?;
            let parsed = if looks_like_pkcs12(&key_bytes) {
                open_pkcs12(key_path, &key_bytes, passphrase)?.1
            } else {
                let contents = classify(FileRole::PrivateKey, key_path, &key_bytes)?;
                let blob = contents.keys.into_iter().next().ok_or_else(|| {
                    IdentityError::NoPrivateKey {
                        path: key_path.clone(),
                        has_certificate: !contents.certificates.is_empty(),
                    }
                })?;
                decode_key(key_path, blob, passphrase)?
            };
            key = Some((key_path.clone(), parsed));
        }
        let (key_path, key) = key.ok_or(IdentityError::MissingPrivateKey)?;
        warn_if_readable_by_others(&key_path);

        // The leaf is the certificate whose public key is the private key's; a PKCS#12 bag or a
        // full-chain PEM need not list it first.
        let public_key = key.public_key();
        let leaf_index = certificates
            .iter()
            .position(|c| c.public_key() == public_key.as_slice())
            .ok_or_else(|| IdentityError::KeyMismatch {
                key: key_path.clone(),
                certificate: cert_path.clone(),
            })?;
        let leaf = certificates.remove(leaf_index);
        let mut chain = certificates;
        if let Some(path) = &sources.intermediates {
            chain.extend(load_certificates(path)?);
        }
        if chain.len() > MAX_CHAIN_CERTIFICATES {
            return Err(IdentityError::ChainTooLong { count: chain.len() });
        }
        check_leaf(cert_path, &leaf, now)?;
        Ok(Self { leaf, chain, key })
    }
}

/// Reads a certificate file on its own (for `read-certificate-data`): the first certificate.
pub fn load_certificate(path: &Path) -> Result<Certificate, IdentityError> {
    let bytes = read_bounded(FileRole::Certificate, path)?;
    let contents = classify(FileRole::Certificate, path, &bytes)?;
    let has_key = !contents.keys.is_empty();
    contents
        .certificates
        .into_iter()
        .next()
        .ok_or_else(|| IdentityError::NoCertificate {
            role: FileRole::Certificate,
            path: path.to_owned(),
            has_key,
        })
}

/// Reads an entry imported into the OS keyring, as if it were the file.
fn read_keyring(role: FileRole, uri: &str) -> Result<Vec<u8>, IdentityError> {
    use super::keyring::{KeyStore, KeyringUri, Part};
    let uri = KeyringUri::parse(uri)?;
    let part = match role {
        FileRole::PrivateKey => Part::Key,
        FileRole::Certificate | FileRole::Intermediates => Part::Certificate,
    };
    Ok(KeyStore::open()?.read(&uri, part)?.to_vec())
}

/// Parses bytes the way `--certificate`/`--private-key` file contents are parsed (PEM, DER,
/// PKCS#1/SEC1/PKCS#8, encrypted PKCS#8, PKCS#12), without the filesystem: the certificates
/// found and the first key, if any. The fuzz targets drive the parsers through this.
pub fn parse_identity_bytes(
    bytes: &[u8],
    passphrase: &Passphrase,
) -> Result<(Vec<Certificate>, Option<PrivateKey>), IdentityError> {
    let origin = Path::new("input");
    if looks_like_pkcs12(bytes) {
        let (certificates, key) = open_pkcs12(origin, bytes, passphrase)?;
        return Ok((certificates, Some(key)));
    }
    let contents = classify(FileRole::Certificate, origin, bytes)?;
    let key = match contents.keys.into_iter().next() {
        Some(blob) => Some(decode_key(origin, blob, passphrase)?),
        None => None,
    };
    Ok((contents.certificates, key))
}

/// Reads an intermediates file: one or more certificates.
pub fn load_certificates(path: &Path) -> Result<Vec<Certificate>, IdentityError> {
    let bytes = read_bounded(FileRole::Intermediates, path)?;
    let contents = classify(FileRole::Intermediates, path, &bytes)?;
    if contents.certificates.is_empty() {
        return Err(IdentityError::NoCertificate {
            role: FileRole::Intermediates,
            path: path.to_owned(),
            has_key: !contents.keys.is_empty(),
        });
    }
    Ok(contents.certificates)
}

/// Reads a private key file on its own (for `sign-string`).
pub fn load_private_key(path: &Path, passphrase: &Passphrase) -> Result<PrivateKey, IdentityError> {
    let bytes = read_bounded(FileRole::PrivateKey, path)?;
    if looks_like_pkcs12(&bytes) {
        return Ok(open_pkcs12(path, &bytes, passphrase)?.1);
    }
    let contents = classify(FileRole::PrivateKey, path, &bytes)?;
    let blob = contents
        .keys
        .into_iter()
        .next()
        .ok_or_else(|| IdentityError::NoPrivateKey {
            path: path.to_owned(),
            has_certificate: !contents.certificates.is_empty(),
        })?;
    decode_key(path, blob, passphrase)
}

pub(crate) fn check_leaf(
    path: &Path,
    leaf: &Certificate,
    now: OffsetDateTime,
) -> Result<(), IdentityError> {
    if let KeyKind::Unsupported(_) = leaf.key_kind() {
        return Err(IdentityError::UnsupportedCertificateKey {
            path: path.to_owned(),
            kind: leaf.key_kind(),
        });
    }
    check_validity(path, leaf, now)?;
    let left = leaf.not_after() - now;
    if left < time::Duration::days(EXPIRY_WARNING_DAYS) {
        tracing::warn!(
            certificate = %path.display(),
            "certificate expires on {}, in {} hours; renew it soon",
            rfc3339(leaf.not_after()),
            left.whole_hours()
        );
    }
    Ok(())
}

/// Whether `leaf` (loaded from `path`) is within its validity period at `now`. A long-running
/// agent checks this before every signature, since a certificate can expire after loading.
pub(crate) fn check_validity(
    path: &Path,
    leaf: &Certificate,
    now: OffsetDateTime,
) -> Result<(), IdentityError> {
    let not_before = rfc3339(leaf.not_before());
    let not_after = rfc3339(leaf.not_after());
    if now > leaf.not_after() {
        return Err(IdentityError::Expired {
            path: path.to_owned(),
            not_before,
            not_after,
        });
    }
    if now < leaf.not_before() {
        return Err(IdentityError::NotYetValid {
            path: path.to_owned(),
            not_before,
            not_after,
        });
    }
    Ok(())
}

/// The bytes of one identity input (a file, or a `keyring:` entry), read with the same checks
/// and size cap as loading it; for cache keys.
pub fn read_input(role: FileRole, path: &Path) -> Result<Vec<u8>, IdentityError> {
    read_bounded(role, path)
}

fn read_bounded(role: FileRole, path: &Path) -> Result<Vec<u8>, IdentityError> {
    if let Some(uri) = path.to_str().filter(|p| super::keyring::is_keyring_uri(p)) {
        return read_keyring(role, uri);
    }
    let owned = || path.to_owned();
    let meta = fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => IdentityError::NotFound {
            role,
            path: owned(),
        },
        _ => IdentityError::Read {
            role,
            path: owned(),
            source,
        },
    })?;
    if meta.is_dir() {
        return Err(IdentityError::IsDirectory {
            role,
            path: owned(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(IdentityError::TooLarge {
            role,
            path: owned(),
            size: meta.len(),
        });
    }
    let bytes = fs::read(path).map_err(|source| IdentityError::Read {
        role,
        path: owned(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IdentityError::Empty {
            role,
            path: owned(),
        });
    }
    Ok(bytes)
}

/// Sorts a file's PEM blocks or DER object into certificates and keys.
fn classify(role: FileRole, path: &Path, bytes: &[u8]) -> Result<Contents, IdentityError> {
    if memchr_subslice(bytes, b"-----BEGIN ") {
        classify_pem(role, path, bytes)
    } else {
        classify_der(role, path, bytes)
    }
}

fn classify_pem(role: FileRole, path: &Path, bytes: &[u8]) -> Result<Contents, IdentityError> {
    let malformed = |detail: String| IdentityError::MalformedPem {
        role,
        path: path.to_owned(),
        detail,
    };
    let blocks = pem::parse_many(bytes).map_err(|e| malformed(e.to_string()))?;
    let begins = count_subslices(bytes, b"-----BEGIN ");
    if blocks.len() != begins {
        return Err(malformed(format!(
            "{begins} BEGIN line(s) but {} complete block(s)",
            blocks.len()
        )));
    }
    let mut contents = Contents::default();
    for block in blocks {
        let data = block.contents();
        match block.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                let cert =
                    Certificate::from_der(data).map_err(|e| IdentityError::BadCertificate {
                        role,
                        path: path.to_owned(),
                        detail: e.to_string(),
                    })?;
                contents.certificates.push(cert);
            }
            "PRIVATE KEY" => contents
                .keys
                .push(KeyBlob::Pkcs8(SecretBytes::new(data.to_vec()))),
            "ENCRYPTED PRIVATE KEY" => contents.keys.push(KeyBlob::EncryptedPkcs8(data.to_vec())),
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" if block.headers().get("Proc-Type").is_some() => {
                contents.keys.push(KeyBlob::LegacyEncryptedPem)
            }
            "RSA PRIVATE KEY" => contents
                .keys
                .push(KeyBlob::Pkcs1(SecretBytes::new(data.to_vec()))),
            "EC PRIVATE KEY" => contents
                .keys
                .push(KeyBlob::Sec1(SecretBytes::new(data.to_vec()))),
            // Curve parameters precede SEC1 keys in `openssl ecparam -genkey` output.
            "EC PARAMETERS" => {}
            other => {
                return Err(IdentityError::Unrecognized {
                    role,
                    path: path.to_owned(),
                    detail: format!("unexpected PEM block '{other}'"),
                })
            }
        }
    }
    Ok(contents)
}

fn classify_der(role: FileRole, path: &Path, bytes: &[u8]) -> Result<Contents, IdentityError> {
    let mut contents = Contents::default();
    if let Ok(cert) = Certificate::from_der(bytes) {
        contents.certificates.push(cert);
    } else if pkcs8::PrivateKeyInfoRef::from_der(bytes).is_ok() {
        contents
            .keys
            .push(KeyBlob::Pkcs8(SecretBytes::new(bytes.to_vec())));
    } else if pkcs8::EncryptedPrivateKeyInfoRef::from_der(bytes).is_ok() {
        contents.keys.push(KeyBlob::EncryptedPkcs8(bytes.to_vec()));
    } else if rsa::pkcs1::RsaPrivateKey::<pkcs8::der::asn1::UintRef<'_>>::from_der(bytes).is_ok() {
        contents
            .keys
            .push(KeyBlob::Pkcs1(SecretBytes::new(bytes.to_vec())));
    } else if sec1::EcPrivateKey::from_der(bytes).is_ok() {
        contents
            .keys
            .push(KeyBlob::Sec1(SecretBytes::new(bytes.to_vec())));
    } else {
        let detail = if bytes.first() == Some(&0x30) {
            "an ASN.1 structure that is not a certificate or key; truncated?".to_owned()
        } else {
            "no PEM header and not DER".to_owned()
        };
        return Err(IdentityError::Unrecognized {
            role,
            path: path.to_owned(),
            detail,
        });
    }
    Ok(contents)
}

fn decode_key(
    path: &Path,
    blob: KeyBlob,
    passphrase: &Passphrase,
) -> Result<PrivateKey, IdentityError> {
    let key_error = |source| IdentityError::Key {
        path: path.to_owned(),
        source,
    };
    match blob {
        KeyBlob::Pkcs8(der) => PrivateKey::from_pkcs8_der(der.expose_secret()).map_err(key_error),
        KeyBlob::Pkcs1(der) => PrivateKey::from_pkcs1_der(der.expose_secret()).map_err(key_error),
        KeyBlob::Sec1(der) => PrivateKey::from_sec1_der(der.expose_secret()).map_err(key_error),
        KeyBlob::LegacyEncryptedPem => Err(IdentityError::LegacyPemEncryption {
            path: path.to_owned(),
        }),
        KeyBlob::EncryptedPkcs8(der) => {
            let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|_| {
                key_error(KeyError::Malformed {
                    format: "encrypted PKCS#8",
                })
            })?;
            check_kdf_cost(path, &info.encryption_algorithm)?;
            let secret = passphrase.obtain(path)?;
            let document = info
                .decrypt(secret.expose_secret().as_bytes())
                .map_err(|_| IdentityError::WrongPassphrase {
                    path: path.to_owned(),
                })?;
            PrivateKey::from_pkcs8_der(document.as_bytes()).map_err(key_error)
        }
    }
}

/// Refuses key-derivation parameters that would take minutes or gigabytes.
fn check_kdf_cost(
    path: &Path,
    scheme: &pkcs8::pkcs5::EncryptionScheme,
) -> Result<(), IdentityError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let too_costly = |cost: String| IdentityError::KdfTooCostly {
        path: path.to_owned(),
        cost,
    };
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(pbkdf2) if pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(too_costly(format!(
                "{} PBKDF2 iterations (limit {MAX_PBKDF2_ITERATIONS})",
                pbkdf2.iteration_count
            )))
        }
        Kdf::Scrypt(scrypt) => {
            let bytes = 128u64
                .saturating_mul(u64::from(scrypt.block_size))
                .saturating_mul(scrypt.cost_parameter)
                .saturating_mul(u64::from(scrypt.parallelization.max(1)));
            if bytes > MAX_SCRYPT_BYTES {
                Err(too_costly(format!(
                    "{} MiB of scrypt memory (limit {} MiB)",
                    bytes / (1024 * 1024),
                    MAX_SCRYPT_BYTES / (1024 * 1024)
                )))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// A PKCS#12 PFX is a DER SEQUENCE whose first element is INTEGER 3; certificates and keys
/// never start that way, so this tells them apart without the password.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    match pkcs8::der::asn1::AnyRef::from_der(bytes) {
        Ok(outer) => {
            outer.tag() == pkcs8::der::Tag::Sequence
                && outer.value().starts_with(&[0x02, 0x01, 0x03])
        }
        Err(_) => false,
    }
}

/// Refuses a PFX whose MAC asks for more iterations than [`MAX_PBKDF2_ITERATIONS`], before
/// any password is tried: each attempt would spend them. A PFX that does not decode is left to
/// the full parser, which says what is wrong with it.
fn check_pkcs12_mac_cost(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    use pkcs8::der::Decode;
    let Ok(pfx) = pkcs12::pfx::Pfx::from_der(bytes) else {
        return Ok(());
    };
    match pfx.mac_data {
        Some(mac) if u32::try_from(mac.iterations).unwrap_or(u32::MAX) > MAX_PBKDF2_ITERATIONS => {
            Err(IdentityError::Pkcs12TooCostly {
                path: path.to_owned(),
                iterations: mac.iterations,
            })
        }
        _ => Ok(()),
    }
}

fn open_pkcs12(
    path: &Path,
    bytes: &[u8],
    passphrase: &Passphrase,
) -> Result<(Vec<Certificate>, PrivateKey), IdentityError> {
    use p12_keystore::error::Error as P12Error;
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};

    check_pkcs12_mac_cost(path, bytes)?;
    let open = |password: &str| KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict);
    let store = match open("") {
        Ok(store) => store,
        Err(P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_)) => {
            let secret = passphrase.obtain(path)?;
            open(secret.expose_secret()).map_err(|e| match e {
                P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
                    IdentityError::Pkcs12Password {
                        path: path.to_owned(),
                    }
                }
                other => IdentityError::Pkcs12 {
                    path: path.to_owned(),
                    detail: other.to_string(),
                },
            })?
        }
        Err(other) => {
            return Err(IdentityError::Pkcs12 {
                path: path.to_owned(),
                detail: other.to_string(),
            })
        }
    };
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| IdentityError::NoPrivateKey {
            path: path.to_owned(),
            has_certificate: true,
        })?;
    let key =
        PrivateKey::from_pkcs8_der(chain.key().as_der()).map_err(|source| IdentityError::Key {
            path: path.to_owned(),
            source,
        })?;
    let certificates = chain
        .certs()
        .iter()
        .map(|c| {
            Certificate::from_der(c.as_der()).map_err(|e| IdentityError::BadCertificate {
                role: FileRole::Certificate,
                path: path.to_owned(),
                detail: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((certificates, key))
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o044 != 0 {
            tracing::warn!(
                "private key {} is readable by group or others (mode {:o}); run 'chmod 600 {}'",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
}

fn memchr_subslice(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn count_subslices(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
