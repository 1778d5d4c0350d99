//! Secret-holding newtypes: zeroized on drop, redacted in `Debug`, never `Display`.
//!
//! Security: the only way to read a secret is an explicit `expose_*` call at an output boundary
//! (the credential_process JSON, an HTTP header being sent), so a stray `{:?}` or log line
//! cannot leak one.

use std::fmt;

use zeroize::Zeroizing;

/// A secret text value (a passphrase, a secret access key, a session token).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a value; the caller's copy is moved in and will be zeroized on drop.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself, for the one place that must send or print it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// Secret bytes (private key material, decrypted key files).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps key material; it is zeroized when the last owner drops it.
    pub fn new(value: Vec<u8>) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The bytes themselves, for the parser or signer that needs them.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "** redacted {} bytes **", self.0.len())
    }
}

/// A secret read from JSON (a token in an identity provider's answer).
impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

/// Compares secrets without an early exit, so timing does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The OS random source failed (no entropy available); nothing secret can be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| RandomError)?;
    Ok(bytes)
}

/// A 256-bit random token, hex-encoded (ECS tokens, one-off exec tokens).
pub fn random_token() -> Result<SecretString, RandomError> {
    Ok(SecretString::new(hex::encode(random_bytes::<32>()?)))
}

/// Whether a `TESSERA_*` environment variable may carry a secret: a passphrase, PIN, token,
/// password or AWS secret, or a key/certificate reference (a `pkcs11:` URI may hold
/// `pin-value=`). `exec` keeps all of them from its child.
pub fn is_secret_env(name: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "PASSPHRASE",
        "PIN",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PRIVATE_KEY",
        "CERTIFICATE",
    ];
    name.strip_prefix("TESSERA_")
        .is_some_and(|rest| MARKERS.iter().any(|marker| rest.contains(marker)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bearing_tessera_variables_are_recognised() {
        for name in [
            "TESSERA_KEY_PASSPHRASE",
            "TESSERA_PKCS11_PIN",
            "TESSERA_PROXY_TOKEN",
            "TESSERA_ANCHOR_STS_SECRET_ACCESS_KEY",
            "TESSERA_PRIVATE_KEY",
            "TESSERA_CERTIFICATE",
        ] {
            assert!(is_secret_env(name), "{name}");
        }
        for name in ["TESSERA_PROFILE", "TESSERA_REGION", "AWS_REGION", "PIN"] {
            assert!(!is_secret_env(name), "{name}");
        }
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token-longer"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let s = SecretString::new("hunter2-very-secret".to_owned());
        let b = SecretBytes::new(b"private key bytes".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{b:?}").contains("private"));
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
    }
}
