//! The per-sign-in secrets: the PKCE verifier and its S256 challenge (RFC 7636), `state`
//! (against CSRF on the redirect) and `nonce` (binding the ID token to this sign-in).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::secret::{random_bytes, RandomError, SecretString};

/// The secrets of one sign-in attempt.
#[derive(Debug)]
pub struct SignInSecrets {
    /// The PKCE code verifier (43 base64url characters from 32 random bytes).
    pub code_verifier: SecretString,
    /// `state`, echoed by the identity provider on the redirect.
    pub state: SecretString,
    /// `nonce`, echoed in the ID token.
    pub nonce: SecretString,
}

impl SignInSecrets {
    /// Fresh secrets from the OS random source.
    pub fn generate() -> Result<Self, RandomError> {
        let fresh = || {
            Ok::<_, RandomError>(SecretString::new(
                URL_SAFE_NO_PAD.encode(random_bytes::<32>()?),
            ))
        };
        Ok(Self {
            code_verifier: fresh()?,
            state: fresh()?,
            nonce: fresh()?,
        })
    }

    /// The S256 code challenge for the verifier.
    pub fn code_challenge(&self) -> String {
        challenge_for(self.code_verifier.expose_secret())
    }
}

/// `BASE64URL(SHA256(verifier))`.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_are_fresh_and_long_enough() {
        let a = SignInSecrets::generate().unwrap();
        let b = SignInSecrets::generate().unwrap();
        assert_eq!(a.code_verifier.expose_secret().len(), 43);
        assert_ne!(a.state.expose_secret(), b.state.expose_secret());
        assert_ne!(a.nonce.expose_secret(), a.state.expose_secret());
    }
}
