//! What can go wrong loading an identity file, and which input it was.

use std::io;
use std::path::PathBuf;

use super::{MAX_CHAIN_CERTIFICATES, MAX_FILE_BYTES, MAX_PBKDF2_ITERATIONS};
use crate::identity::cert::KeyKind;
use crate::identity::key::KeyError;

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
    Pkcs11(#[from] crate::identity::pkcs11::Pkcs11Error),
    /// A key in the OS keyring could not be read.
    #[error(transparent)]
    Keyring(#[from] crate::identity::keyring::KeyringError),
    /// A key in a TPM could not be used.
    #[cfg(feature = "tpm")]
    #[error(transparent)]
    Tpm(#[from] crate::identity::tpm::TpmError),
    /// A token or TPM reference where only a file or keyring entry can be read.
    #[error("{} {input} is not a file or a keyring: entry; {} takes a file (or keyring:NAME) here", role.noun(), role.flag())]
    NotReadable {
        /// Which input.
        role: FileRole,
        /// The reference as given.
        input: String,
    },
    /// A value that does not parse as the reference its prefix announces.
    #[error(transparent)]
    KeyRef(#[from] crate::identity::key_ref::KeyRefError),
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
    #[error("private key {}: {reason}", path.display())]
    Key {
        /// The path given.
        path: PathBuf,
        /// What is wrong with the key (in the message, so not also a source).
        reason: KeyError,
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
    #[error("private key {} does not match certificate {} ({difference}); pass the key that belongs to this certificate", key.display(), certificate.display())]
    KeyMismatch {
        /// The key path.
        key: PathBuf,
        /// The certificate path.
        certificate: PathBuf,
        /// How they differ: their key types, or their public keys.
        difference: String,
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
