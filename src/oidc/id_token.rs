//! ID-token checks (OpenID Connect Core §3.1.3.7): after the signature, `iss`, `aud`, `azp`,
//! `exp`, `iat` and `nonce`, with a small leeway for clock skew. Used by `tessera login` on the
//! token it received and by the anchor's enrolment CA on the token it is shown.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::jwks::{KeyCache, KeyError};
use super::jws::{self, JwsError, Parsed};
use super::OidcHttp;

/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;
/// Tokens claiming to be issued further in the future than this are refused.
const MAX_FUTURE_IAT_SECONDS: i64 = LEEWAY_SECONDS;

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The issuer, exactly as discovered.
    pub issuer: &'a str,
    /// Client ids, any of which may be the audience.
    pub audiences: &'a [String],
    /// The nonce the client sent, when it sent one.
    pub nonce: Option<&'a str>,
    /// The time of the check.
    pub now: OffsetDateTime,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Structure or algorithm.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// Key lookup or signature.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A required claim is missing or has the wrong type.
    #[error("the ID token has no valid '{0}' claim")]
    MissingClaim(&'static str),
    /// `iss` is another issuer's.
    #[error("the ID token was issued by '{found}', not by the configured issuer '{expected}'")]
    WrongIssuer {
        /// The configured issuer.
        expected: String,
        /// The token's.
        found: String,
    },
    /// `aud` does not name this client.
    #[error("the ID token is for audience {found}, not for client {expected}")]
    WrongAudience {
        /// The accepted client ids.
        expected: String,
        /// The token's audiences.
        found: String,
    },
    /// `azp` names another client.
    #[error("the ID token's authorized party '{0}' is not this client")]
    WrongAuthorizedParty(String),
    /// `exp` has passed.
    #[error("the ID token expired at {0}; sign in again")]
    Expired(String),
    /// `iat` is in the future.
    #[error("the ID token claims to be issued at {0}, in the future; check this machine's clock")]
    IssuedInFuture(String),
    /// `nonce` is missing or differs (a replayed or injected token).
    #[error(
        "the ID token's nonce does not match the sign-in request (a replayed or injected token)"
    )]
    WrongNonce,
}

/// A verified token's claims.
#[derive(Debug, Clone)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A string claim.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// A claim as a list of strings: an array's strings, or a single string.
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A numeric date claim, as seconds since the epoch.
    pub fn seconds(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }

    /// `sub`.
    pub fn subject(&self) -> &str {
        self.string("sub").unwrap_or_default()
    }

    /// `exp`, as a time.
    pub fn expiry(&self) -> Option<OffsetDateTime> {
        self.seconds("exp")
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
    }
}

/// Verifies `token`: the signature with the issuer's keys, then every claim rule.
pub async fn verify(
    http: &OidcHttp,
    keys: &KeyCache,
    token: &str,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    let parsed = jws::parse(token)?;
    keys.verify(http, &parsed).await?;
    check_claims(&parsed, expect)
}

/// The claim rules alone, for a token whose signature has been checked.
pub fn check_claims(parsed: &Parsed, expect: &Expectations<'_>) -> Result<Claims, TokenError> {
    let claims = Claims(parsed.payload.clone());
    let issuer = claims
        .string("iss")
        .ok_or(TokenError::MissingClaim("iss"))?;
    if issuer != expect.issuer {
        return Err(TokenError::WrongIssuer {
            expected: expect.issuer.to_owned(),
            found: crate::text::printable(issuer, 200),
        });
    }
    claims
        .string("sub")
        .ok_or(TokenError::MissingClaim("sub"))?;
    check_audience(&claims, expect.audiences)?;
    let now = expect.now.unix_timestamp();
    let exp = claims
        .seconds("exp")
        .ok_or(TokenError::MissingClaim("exp"))?;
    if now > exp + LEEWAY_SECONDS {
        return Err(TokenError::Expired(rfc3339(exp)));
    }
    let iat = claims
        .seconds("iat")
        .ok_or(TokenError::MissingClaim("iat"))?;
    if iat > now + MAX_FUTURE_IAT_SECONDS {
        return Err(TokenError::IssuedInFuture(rfc3339(iat)));
    }
    if let Some(nonce) = expect.nonce {
        let found = claims.string("nonce").unwrap_or_default();
        if !crate::secret::constant_time_eq(found.as_bytes(), nonce.as_bytes()) {
            return Err(TokenError::WrongNonce);
        }
    }
    Ok(claims)
}

fn check_audience(claims: &Claims, accepted: &[String]) -> Result<(), TokenError> {
    let audiences = claims.strings("aud");
    if audiences.is_empty() {
        return Err(TokenError::MissingClaim("aud"));
    }
    let Some(ours) = audiences.iter().find(|a| accepted.contains(a)) else {
        return Err(TokenError::WrongAudience {
            expected: accepted.join(", "),
            found: crate::text::printable(&audiences.join(", "), 200),
        });
    };
    // Core §3.1.3.7 (4)–(5): with several audiences, azp must be present and be this client;
    // when present at all it must be this client.
    match claims.string("azp") {
        Some(azp) if azp != ours => Err(TokenError::WrongAuthorizedParty(crate::text::printable(
            azp, 200,
        ))),
        None if audiences.len() > 1 => Err(TokenError::MissingClaim("azp")),
        _ => Ok(()),
    }
}

fn rfc3339(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(crate::time_format::rfc3339)
        .unwrap_or_else(|_| seconds.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(claims: serde_json::Value) -> Parsed {
        let token = jws::encode(&json!({"alg": "ES256"}), &claims, |_| {
            Ok::<_, ()>(vec![0; 64])
        })
        .unwrap();
        jws::parse(&token).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({"iss": "https://idp", "sub": "alice", "aud": "tessera", "exp": 2_000_000_100i64, "iat": 2_000_000_000i64, "nonce": "n-1"})
    }

    fn check(claims: serde_json::Value, nonce: Option<&str>) -> Result<Claims, TokenError> {
        let audiences = ["tessera".to_owned()];
        let expect = Expectations {
            issuer: "https://idp",
            audiences: &audiences,
            nonce,
            now: OffsetDateTime::from_unix_timestamp(2_000_000_050).unwrap(),
        };
        check_claims(&parsed(claims), &expect)
    }

    fn with(
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> serde_json::Value {
        let mut claims = good();
        change(claims.as_object_mut().unwrap());
        claims
    }

    #[test]
    fn a_good_token_passes_and_each_rule_names_its_claim() {
        assert_eq!(check(good(), Some("n-1")).unwrap().subject(), "alice");
        let cases: Vec<(serde_json::Value, Option<&str>, &str)> = vec![
            (
                with(|c| {
                    c.insert("iss".into(), json!("https://other"));
                }),
                None,
                "issued by 'https://other'",
            ),
            (
                with(|c| {
                    c.insert("aud".into(), json!("someone"));
                }),
                None,
                "for audience someone, not for client tessera",
            ),
            (
                with(|c| {
                    c.insert("aud".into(), json!(["tessera", "x"]));
                }),
                None,
                "no valid 'azp'",
            ),
            (
                with(|c| {
                    c.insert("azp".into(), json!("x"));
                }),
                None,
                "authorized party 'x'",
            ),
            (
                with(|c| {
                    c.insert("exp".into(), json!(2_000_000_050i64 - LEEWAY_SECONDS - 1));
                }),
                None,
                "expired at",
            ),
            (
                with(|c| {
                    c.insert("iat".into(), json!(2_000_000_050i64 + LEEWAY_SECONDS + 1));
                }),
                None,
                "in the future",
            ),
            (good(), Some("n-2"), "nonce does not match"),
            (
                with(|c| {
                    c.remove("nonce");
                }),
                Some("n-1"),
                "nonce does not match",
            ),
            (
                with(|c| {
                    c.remove("sub");
                }),
                None,
                "no valid 'sub'",
            ),
            (
                with(|c| {
                    c.remove("exp");
                }),
                None,
                "no valid 'exp'",
            ),
        ];
        for (claims, nonce, expected) in cases {
            let error = check(claims, nonce).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} should say {expected}");
        }
    }

    #[test]
    fn several_audiences_pass_with_this_client_as_the_authorized_party() {
        let claims = with(|c| {
            c.insert("aud".into(), json!(["x", "tessera"]));
            c.insert("azp".into(), json!("tessera"));
        });
        assert!(check(claims, None).is_ok());
    }
}
