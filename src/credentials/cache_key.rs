//! What a credential cache entry is keyed on. Security: a cached answer is only ever given for
//! the exact inputs that produced it, so the key hashes the bytes of every identity input (the
//! certificate, the key, the intermediates), the key references, where a passphrase or PIN
//! comes from, and every request parameter. A secret itself is never hashed into a key (the
//! file name would let anyone who can list the directory test guesses); instead an identity
//! that is locked by a secret must be unlocked before a warm answer is given
//! ([`IdentityDigest::needs_unlock`]).

use crate::identity::file::{read_input, FileRole, IdentityError, Passphrase};
use crate::identity::key_ref::{IdentitySources, KeyRef};

/// Identifies one cached request: a SHA-256 over everything that changes the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// Hashes the parts, each length-prefixed so that no two lists of parts collide.
    pub fn new(parts: &[&[u8]]) -> Self {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in parts {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        Self(hex::encode(context.finish()))
    }

    /// The key as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of an identity's inputs, and whether a warm answer must unlock it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityDigest {
    /// SHA-256 (hex) over the inputs.
    pub digest: CacheKey,
    /// The key is behind a passphrase, PIN or password (encrypted file, PKCS#12, `pkcs11:`,
    /// TPM): its bytes alone do not show that the caller can use it.
    pub needs_unlock: bool,
}

/// Reads and digests every input of `sources`. Errors are those of loading the identity (a
/// missing file, a keyring entry that is not there), named by flag.
pub fn identity_digest(
    sources: &IdentitySources,
    passphrase: &Passphrase,
) -> Result<IdentityDigest, IdentityError> {
    let certificate = input(FileRole::Certificate, &sources.certificate)?;
    let key = match &sources.private_key {
        Some(path) => Some(input(FileRole::PrivateKey, path)?),
        None => None,
    };
    let intermediates = match &sources.intermediates {
        Some(path) => Some(input(FileRole::Intermediates, path)?),
        None => None,
    };
    // The key is in the certificate input when there is no --private-key.
    let key_input = key.as_ref().unwrap_or(&certificate);
    let needs_unlock = key_input.locked;
    let module = sources
        .pkcs11_lib
        .as_deref()
        .map(|p| p.as_os_str().as_encoded_bytes())
        .unwrap_or_default();
    let source = match passphrase {
        Passphrase::Given(_) => b"given".as_slice(),
        Passphrase::PromptIfTerminal => b"prompt",
        Passphrase::Keyring => b"keyring",
    };
    let digest = CacheKey::new(&[
        b"identity v3",
        &certificate.bytes,
        bytes_of(&key),
        bytes_of(&intermediates),
        &[u8::from(key.is_some()), u8::from(intermediates.is_some())],
        module,
        source,
    ]);
    Ok(IdentityDigest {
        digest,
        needs_unlock,
    })
}

/// One input: what is hashed for it, and whether it is a key behind a secret.
struct Input {
    bytes: Vec<u8>,
    locked: bool,
}

impl Drop for Input {
    fn drop(&mut self) {
        // Security: the bytes may be a private key.
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// An optional input's bytes, borrowed rather than copied: they may be a private key, and only
/// `Input` zeroizes them.
fn bytes_of(input: &Option<Input>) -> &[u8] {
    input.as_ref().map_or(&[], |i| i.bytes.as_slice())
}

fn input(role: FileRole, reference: &KeyRef) -> Result<Input, IdentityError> {
    let (bytes, locked) = match reference {
        // The URI names the object; a PIN inside it is not hashed, and the token checks it.
        KeyRef::Pkcs11(uri) => (format!("pkcs11:{}", uri.identity_text()).into_bytes(), true),
        KeyRef::TpmHandle(_) => (reference.to_string().into_bytes(), true),
        KeyRef::File(_) => {
            let bytes = read_input(role, reference)?;
            let locked = is_locked(&bytes);
            (bytes, locked)
        }
        KeyRef::Keyring(_) => {
            // A keyring entry is named as well as hashed: two names holding the same bytes are
            // two inputs to the user.
            let mut bytes = read_input(role, reference)?;
            let locked = is_locked(&bytes);
            bytes.extend_from_slice(reference.to_string().as_bytes());
            (bytes, locked)
        }
    };
    Ok(Input { bytes, locked })
}

/// Whether key material needs a secret before use: anything but a plain PEM file (DER may be
/// PKCS#12 or encrypted PKCS#8), an encrypted PEM (PKCS#8 or OpenSSL's legacy `Proc-Type`),
/// or a TSS2 (TPM) key.
fn is_locked(bytes: &[u8]) -> bool {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    !contains(b"-----BEGIN ") || contains(b"ENCRYPTED") || contains(b"TSS2 PRIVATE KEY")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn certs(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs/test")
            .join(name)
    }

    fn sources(cert: &str, key: Option<&str>) -> IdentitySources {
        IdentitySources::new(&certs(cert), key.map(certs).as_deref()).unwrap()
    }

    #[test]
    fn a_different_key_file_gives_a_different_digest() {
        let given = Passphrase::PromptIfTerminal;
        let right = identity_digest(&sources("leaf-rsa.pem", Some("leaf-rsa.key")), &given);
        let wrong = identity_digest(&sources("leaf-rsa.pem", Some("leaf-p256.key")), &given);
        let (right, wrong) = (right.unwrap(), wrong.unwrap());
        assert_ne!(right.digest, wrong.digest);
        assert!(!right.needs_unlock);
    }

    #[test]
    fn the_passphrase_source_counts_but_not_its_value() {
        let pair = sources("leaf-rsa.pem", Some("leaf-rsa.key"));
        let given = |p: &str| Passphrase::Given(crate::secret::SecretString::new(p.into()));
        let a = identity_digest(&pair, &given("one")).unwrap();
        let b = identity_digest(&pair, &given("two")).unwrap();
        let c = identity_digest(&pair, &Passphrase::Keyring).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn locked_inputs_are_recognised() {
        assert!(is_locked(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(is_locked(
            b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED"
        ));
        assert!(is_locked(b"\x30\x82\x01\x00 DER or PKCS#12"));
        assert!(is_locked(b"-----BEGIN TSS2 PRIVATE KEY-----"));
        assert!(!is_locked(b"-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn a_pin_in_a_pkcs11_uri_is_left_out_but_the_object_counts() {
        let token = |key: &str| {
            let sources = IdentitySources::new(&certs("leaf-rsa.pem"), Some(Path::new(key)));
            identity_digest(&sources.unwrap(), &Passphrase::PromptIfTerminal).unwrap()
        };
        let one = token("pkcs11:token=t;object=k?pin-value=1234");
        let two = token("pkcs11:token=t;object=k?pin-value=9999");
        let other = token("pkcs11:token=t;object=j?pin-value=1234");
        assert_eq!(one.digest, two.digest);
        assert_ne!(one.digest, other.digest);
        assert!(one.needs_unlock);
    }
}
