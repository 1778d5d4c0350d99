use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::json;

use super::*;
use crate::oidc::jwks::{Jwk, JwkSet};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwk(kty: &str, kid: &str) -> Jwk {
    Jwk {
        kty: kty.into(),
        kid: Some(kid.into()),
        key_use: Some("sig".into()),
        alg: None,
        n: None,
        e: None,
        crv: None,
        x: None,
        y: None,
    }
}

fn es256() -> (EcdsaKeyPair, Jwk) {
    let rng = SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let mut key = jwk("EC", "ec-1");
    key.crv = Some("P-256".into());
    key.x = Some(b64(&point[1..33]));
    key.y = Some(b64(&point[33..]));
    (pair, key)
}

fn rsa() -> (RsaKeyPair, Jwk) {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/certs/test/leaf-rsa.key"
    ))
    .unwrap();
    let der = pem::parse(pem).unwrap();
    let pair = RsaKeyPair::from_pkcs8(der.contents())
        .or_else(|_| RsaKeyPair::from_der(der.contents()))
        .unwrap();
    let mut key = jwk("RSA", "rsa-1");
    let public = pair.public();
    let components: ring::rsa::PublicKeyComponents<Vec<u8>> = public.into();
    key.n = Some(b64(&components.n));
    key.e = Some(b64(&components.e));
    (pair, key)
}

fn token(
    alg: &str,
    kid: &str,
    payload: &serde_json::Value,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    encode(&json!({"alg": alg, "kid": kid}), payload, |input| {
        Ok::<_, ()>(sign(input))
    })
    .unwrap()
}

fn es256_token(pair: &EcdsaKeyPair, payload: &serde_json::Value) -> String {
    token("ES256", "ec-1", payload, |input| {
        pair.sign(&SystemRandom::new(), input)
            .unwrap()
            .as_ref()
            .to_vec()
    })
}

#[test]
fn es256_rs256_ps256_and_eddsa_verify_and_reject_a_changed_payload() {
    let claims = json!({"sub": "alice"});
    let (ec, ec_key) = es256();
    let (rsa, rsa_key) = rsa();
    let rsa_sign = |padding: &'static dyn ring::signature::RsaEncoding| {
        let rsa = &rsa;
        move |input: &[u8]| {
            let mut out = vec![0; rsa.public().modulus_len()];
            rsa.sign(padding, &SystemRandom::new(), input, &mut out)
                .unwrap();
            out
        }
    };
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
    let mut ed_key = jwk("OKP", "ed-1");
    ed_key.crv = Some("Ed25519".into());
    ed_key.x = Some(b64(ed.public_key().as_ref()));
    let cases = [
        (es256_token(&ec, &claims), ec_key.clone()),
        (
            token(
                "RS256",
                "rsa-1",
                &claims,
                rsa_sign(&ring::signature::RSA_PKCS1_SHA256),
            ),
            rsa_key.clone(),
        ),
        (
            token(
                "PS256",
                "rsa-1",
                &claims,
                rsa_sign(&ring::signature::RSA_PSS_SHA256),
            ),
            rsa_key.clone(),
        ),
        (
            token("EdDSA", "ed-1", &claims, |i| ed.sign(i).as_ref().to_vec()),
            ed_key,
        ),
    ];
    for (jws, key) in cases {
        let parsed = parse(&jws).unwrap();
        assert_eq!(parsed.verify_with(&key), Ok(()), "{}", parsed.header.alg);
        let mut parts: Vec<&str> = jws.split('.').collect();
        let other = b64(br#"{"sub":"mallory"}"#);
        parts[1] = &other;
        let tampered = parse(&parts.join(".")).unwrap();
        assert_eq!(tampered.verify_with(&key), Err(JwsError::BadSignature));
    }
}

#[test]
fn none_and_hmac_are_refused_before_any_key_is_used() {
    let body = b64(br#"{"sub":"alice"}"#);
    for alg in ["none", "HS256", "HS384", "HS512", "RS1", ""] {
        let header = b64(json!({"alg": alg}).to_string().as_bytes());
        let forged = format!("{header}.{body}.{}", b64(b"sig"));
        assert!(
            matches!(parse(&forged), Err(JwsError::AlgorithmNotAllowed(_))),
            "{alg}"
        );
    }
}

#[test]
fn a_key_of_another_type_or_curve_cannot_verify() {
    let (ec, mut ec_key) = es256();
    let (_, rsa_key) = rsa();
    let parsed = parse(&es256_token(&ec, &json!({"sub": "a"}))).unwrap();
    assert!(matches!(
        parsed.verify_with(&rsa_key),
        Err(JwsError::KeyMismatch { .. })
    ));
    ec_key.crv = Some("P-384".into());
    assert!(matches!(
        parsed.verify_with(&ec_key),
        Err(JwsError::KeyMismatch { .. })
    ));
}

#[test]
fn malformed_tokens_are_named_as_such() {
    for bad in [
        "",
        "a.b",
        "a.b.c.d",
        "!!.e30.e30",
        &"a".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        assert!(
            matches!(parse(bad), Err(JwsError::Malformed | JwsError::BadHeader)),
            "{bad:.20}"
        );
    }
    let header = b64(br#"{"alg":"ES256"}"#);
    let array = format!("{header}.{}.{}", b64(b"[1]"), b64(b"s"));
    assert_eq!(parse(&array).unwrap_err(), JwsError::BadPayload);
}

#[test]
fn a_set_picks_the_key_by_kid_and_skips_encryption_keys() {
    let (ec, key) = es256();
    let parsed = parse(&es256_token(&ec, &json!({"sub": "a"}))).unwrap();
    let mut enc = key.clone();
    enc.key_use = Some("enc".into());
    assert!(JwkSet { keys: vec![enc] }.verify(&parsed).is_none());
    let mut other = key.clone();
    other.kid = Some("ec-2".into());
    assert!(JwkSet { keys: vec![other] }.verify(&parsed).is_none());
    assert_eq!(JwkSet { keys: vec![key] }.verify(&parsed), Some(Ok(())));
}
