//! JSON Web Key Sets (RFC 7517): the keys, and a cache that fetches an issuer's set and
//! fetches it again, at most once per [`REFETCH_INTERVAL`], when a token names a key id it
//! does not hold (the issuer rotated its keys).

use std::sync::Mutex;
use std::time::Duration;

use http::Uri;
use serde::Deserialize;

use super::jws::{JwsError, Parsed};
use super::{HttpJsonError, OidcHttp};
use crate::clock::monotonic_now;

/// Least time between two fetches caused by unknown key ids, so a stream of forged tokens
/// cannot turn the verifier into a load generator against the issuer.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// One public key.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// `sig` for signing keys; keys marked `enc` are never used to verify.
    #[serde(default, rename = "use")]
    pub key_use: Option<String>,
    /// The algorithm the key is restricted to, if the issuer says.
    #[serde(default)]
    pub alg: Option<String>,
    /// RSA modulus.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default)]
    pub e: Option<String>,
    /// Curve name.
    #[serde(default)]
    pub crv: Option<String>,
    /// EC x or OKP public key.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y.
    #[serde(default)]
    pub y: Option<String>,
}

/// A key set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// Why a token's key could not be found or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The set was fetched again and still lacks the key.
    #[error("the token is signed by key '{kid}', which the issuer's key set at {jwks_uri} does not hold")]
    UnknownKey {
        /// The key id the token named (or `(none)`).
        kid: String,
        /// Where the set came from.
        jwks_uri: String,
    },
    /// The set could not be fetched.
    #[error(transparent)]
    Fetch(#[from] HttpJsonError),
    /// The signature did not verify.
    #[error(transparent)]
    Signature(#[from] JwsError),
}

impl JwkSet {
    /// The signing keys that could have signed `token`: the named `kid`, or every key when
    /// the token names none.
    fn candidates<'a>(&'a self, token: &'a Parsed) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys.iter().filter(move |key| {
            key.key_use.as_deref() != Some("enc")
                && key
                    .alg
                    .as_deref()
                    .is_none_or(|alg| alg == token.algorithm.name())
                && match &token.header.kid {
                    Some(kid) => key.kid.as_deref() == Some(kid),
                    None => true,
                }
        })
    }

    /// Verifies `token` with one of the set's keys; `None` when no key fits its `kid`.
    pub fn verify(&self, token: &Parsed) -> Option<Result<(), JwsError>> {
        let mut last = None;
        for key in self.candidates(token) {
            match token.verify_with(key) {
                Ok(()) => return Some(Ok(())),
                Err(e) => last = Some(Err(e)),
            }
        }
        last
    }
}

/// An issuer's key set, fetched on first use and again for an unknown key id.
#[derive(Debug)]
pub struct KeyCache {
    jwks_uri: Uri,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    set: Option<JwkSet>,
    last_fetch: Option<tokio::time::Instant>,
}

impl KeyCache {
    /// A cache for the set at `jwks_uri`; nothing is fetched yet.
    pub fn new(jwks_uri: Uri) -> Self {
        Self {
            jwks_uri,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// Verifies `token`'s signature, fetching the set when it is missing or lacks the key.
    pub async fn verify(&self, http: &OidcHttp, token: &Parsed) -> Result<(), KeyError> {
        let (cached, may_fetch) = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let may_fetch = state
                .last_fetch
                .is_none_or(|at| monotonic_now().duration_since(at) >= REFETCH_INTERVAL);
            (state.set.clone(), may_fetch)
        };
        if let Some(outcome) = cached.as_ref().and_then(|set| set.verify(token)) {
            return Ok(outcome?);
        }
        if !may_fetch && cached.is_some() {
            return Err(self.unknown(token));
        }
        let set: JwkSet = http.get_json(&self.jwks_uri).await?;
        let outcome = set.verify(token);
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.set = Some(set);
            state.last_fetch = Some(monotonic_now());
        }
        match outcome {
            Some(outcome) => Ok(outcome?),
            None => Err(self.unknown(token)),
        }
    }

    fn unknown(&self, token: &Parsed) -> KeyError {
        KeyError::UnknownKey {
            kid: token
                .header
                .kid
                .as_deref()
                .map(|k| crate::text::printable(k, 80))
                .unwrap_or_else(|| "(none)".into()),
            jwks_uri: self.jwks_uri.to_string(),
        }
    }
}
