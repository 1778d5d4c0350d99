//! Signing golden vectors, sign→verify round trips for every key type, tampering, and
//! "never panics" properties of the verifier.

mod common;

use proptest::prelude::*;
use tessera::identity::file::{FileIdentity, Passphrase};
use tessera::identity::key_ref::{IdentitySources, KeyRef};
use tessera::identity::{Digest, Signer};
use tessera::rolesanywhere::canonical::{canonical_request, credential_scope, string_to_sign};
use tessera::rolesanywhere::model::SessionParams;
use tessera::rolesanywhere::sign::{sign_create_session, SignedRequest};
use tessera::rolesanywhere::verify::{verify, ReceivedRequest, VerifyError};
use time::macros::datetime;
use time::OffsetDateTime;

const HOST: &str = "rolesanywhere.us-east-1.amazonaws.com";
/// Inside every fixture's validity period.
const AT: OffsetDateTime = datetime!(2027-01-01 00:00:00 UTC);

fn params() -> SessionParams {
    SessionParams::new(
        "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta",
        "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
        "arn:aws:iam::123456789012:role/app",
        3600,
        None,
    )
    .unwrap()
}

fn identity(cert: &str, key: &str, chain: Option<&str>) -> FileIdentity {
    let mut sources =
        IdentitySources::new(&common::fixture(cert), Some(&common::fixture(key))).unwrap();
    sources.intermediates = chain.map(|c| KeyRef::File(common::fixture(c)));
    FileIdentity::load(&sources, &Passphrase::PromptIfTerminal, AT).unwrap()
}

fn verify_signed(
    request: &SignedRequest,
) -> Result<
    tessera::rolesanywhere::verify::VerifiedRequest,
    tessera::rolesanywhere::verify::VerifyError,
> {
    let (path, query) = request.path_and_query.split_once('?').unwrap();
    verify(&ReceivedRequest {
        method: request.method,
        path,
        query,
        headers: &request.headers,
        body: &request.body,
    })
}

#[test]
fn worked_example_canonical_request_hashes_to_the_documented_value() {
    // The hashes were computed independently with Python's hashlib.
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), HOST.to_owned()),
        ("x-amz-date".to_owned(), "20270101T000000Z".to_owned()),
        ("x-amz-x509".to_owned(), "MIIBexample==".to_owned()),
    ];
    let query = tessera::rolesanywhere::canonical::canonical_query(&[
        (
            "trustAnchorArn",
            "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta",
        ),
        ("roleArn", "arn:aws:iam::123456789012:role/app"),
        (
            "profileArn",
            "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
        ),
    ]);
    let canonical = canonical_request(
        "POST",
        "/sessions",
        &query,
        &headers,
        "content-type;host;x-amz-date;x-amz-x509",
        br#"{"durationSeconds":3600}"#,
    );
    assert!(
        canonical.ends_with("\n1a15f67f6619aa540b13e9a4c37d149fb2c9bdea25d82b73a3878826694dfe27")
    );
    let to_sign = string_to_sign(
        "AWS4-X509-RSA-SHA256",
        "20270101T000000Z",
        &credential_scope("20270101", "us-east-1"),
        &canonical,
    );
    assert_eq!(
        to_sign,
        "AWS4-X509-RSA-SHA256\n20270101T000000Z\n20270101/us-east-1/rolesanywhere/aws4_request\nf30d7fceba3416f77382f7477fd7ca69bbe9d306658e444b81bc25e28b54603f"
    );
}

#[test]
fn fixed_rsa_key_and_time_give_a_fixed_signature() {
    let id = identity("leaf-rsa.pem", "leaf-rsa.key", Some("intermediate.pem"));
    let request = sign_create_session(&params(), HOST, "us-east-1", &id, AT).unwrap();
    assert_eq!(request.header("x-amz-date"), Some("20270101T000000Z"));
    assert_eq!(request.body, br#"{"durationSeconds":3600}"#);
    assert_eq!(
        request.path_and_query,
        "/sessions?profileArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Aprofile%2Fp&roleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fapp&trustAnchorArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Atrust-anchor%2Fta"
    );
    assert_eq!(
        request.header("authorization"),
        Some(GOLDEN_RSA_AUTHORIZATION)
    );
}

/// RSA PKCS#1 v1.5 is deterministic, so this value only changes if the fixtures are regenerated.
const GOLDEN_RSA_AUTHORIZATION: &str = "AWS4-X509-RSA-SHA256 Credential=4096/20270101/us-east-1/rolesanywhere/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain, Signature=65eb9f3f4a116ab2cee6d2eeb5a446e14cc7750d0fa9854f156fd8229788e49333851cf23d6c8373ae81be2b2fbe557882bd37ef1fdf404ea35a0e37ba52008bf0f751599bfc8b2048b5d0cf98d2b945ad644fd56082b9a6bd18b3b4524eaa70cd3cd919795a2856d2403ce4283e530fb1c0cf9b30d4773e73f58fd6279c44f67bac91e035b3e8387b68e0097620fb155008f3ec1d0d5d7efe8ec5881da1741e06af3b1b244da74d6369434f0b09be9c453807a4aa328ccd08dbcbdba1dd39f496c6d6548c0f8a7e607c5c127108281c6b82cf40b266f674b286e8f99dfb8a7259b7ea859a8c93e95fa5e089f70e0c50045959efd6f34e05cc89c25fc943a578";

#[test]
fn every_supported_key_type_round_trips_through_verify() {
    for (cert, key, chain, algorithm) in [
        (
            "leaf-rsa.pem",
            "leaf-rsa.key",
            Some("intermediate.pem"),
            "AWS4-X509-RSA-SHA256",
        ),
        (
            "leaf-rsa8192.pem",
            "leaf-rsa8192.key",
            None,
            "AWS4-X509-RSA-SHA256",
        ),
        (
            "leaf-p256.pem",
            "leaf-p256.sec1.key",
            Some("intermediate.pem"),
            "AWS4-X509-ECDSA-SHA256",
        ),
        (
            "leaf-p384.pem",
            "leaf-p384.key",
            None,
            "AWS4-X509-ECDSA-SHA256",
        ),
    ] {
        let id = identity(cert, key, chain);
        let mut p = params();
        p.role_session_name = Some("session-1".into());
        let request = sign_create_session(&p, HOST, "us-east-1", &id, AT).unwrap();
        let verified = verify_signed(&request).unwrap_or_else(|e| panic!("{cert}: {e}"));
        assert_eq!(verified.algorithm, algorithm);
        assert_eq!(
            verified.leaf.serial_decimal(),
            id.certificate().serial_decimal()
        );
        assert_eq!(verified.chain.len(), usize::from(chain.is_some()));
        assert_eq!(
            verified.session.role_session_name.as_deref(),
            Some("session-1")
        );
        assert_eq!(verified.signed_at, AT);
    }
}

#[test]
fn tampering_with_a_tessera_request_fails_verification() {
    let id = identity("leaf-p256.pem", "leaf-p256.key", Some("intermediate.pem"));
    let request = sign_create_session(&params(), HOST, "us-east-1", &id, AT).unwrap();
    verify_signed(&request).unwrap();
    let edit_header = |name: &str, value: &str| {
        let mut copy = request.clone();
        copy.headers
            .iter_mut()
            .filter(|(n, _)| n == name)
            .for_each(|(_, v)| *v = value.to_owned());
        copy
    };
    let bad = VerifyError::BadSignature;
    // Each tamper, and the check that must refuse it.
    let mut cases = vec![
        (
            "host",
            edit_header("host", "rolesanywhere.us-west-2.amazonaws.com"),
            bad.clone(),
        ),
        (
            "content-type",
            edit_header("content-type", "application/x-amz-json-1.0"),
            bad.clone(),
        ),
        // Well-formed and on the same day: only the signature can catch it.
        (
            "date",
            edit_header("x-amz-date", "20270101T000001Z"),
            bad.clone(),
        ),
        (
            "chain",
            edit_header("x-amz-x509-chain", request.header("x-amz-x509").unwrap()),
            bad.clone(),
        ),
    ];
    let auth = request.header("authorization").unwrap().to_owned();
    cases.push((
        "serial",
        edit_header(
            "authorization",
            &auth.replace("Credential=", "Credential=9"),
        ),
        VerifyError::SerialMismatch {
            credential: format!("9{}", id.certificate().serial_decimal()),
            certificate: id.certificate().serial_decimal().to_owned(),
        },
    ));
    cases.push((
        "scope date",
        edit_header("authorization", &auth.replace("/20270101/", "/20270102/")),
        VerifyError::ScopeDateMismatch {
            scope: "20270102".into(),
            date: "20270101T000000Z".into(),
        },
    ));
    let mut day = edit_header("authorization", &auth.replace("/20270101/", "/20270102/"));
    day.headers
        .iter_mut()
        .filter(|(n, _)| n == "x-amz-date")
        .for_each(|(_, v)| *v = "20270102T000000Z".into());
    cases.push(("scope and date, both another day", day, bad.clone()));
    cases.push((
        "region",
        edit_header("authorization", &auth.replace("/us-east-1/", "/us-west-2/")),
        bad.clone(),
    ));
    let mut body = request.clone();
    body.body = br#"{"durationSeconds":43200}"#.to_vec();
    cases.push(("body", body, bad.clone()));
    let mut query = request.clone();
    query.path_and_query = query.path_and_query.replace("role%2Fapp", "role%2Fadmin");
    cases.push(("query", query, bad));
    for (what, copy, expected) in cases {
        assert_eq!(
            verify_signed(&copy).err(),
            Some(expected),
            "tampered {what}"
        );
    }
}

#[test]
fn sign_string_signatures_verify_with_ring() {
    let id = identity("leaf-p384.pem", "leaf-p384.key", None);
    for (digest, algorithm) in [
        (Digest::Sha256, &ring::signature::ECDSA_P384_SHA256_ASN1),
        (Digest::Sha384, &ring::signature::ECDSA_P384_SHA384_ASN1),
    ] {
        let signature = id.sign(b"test string", digest).unwrap();
        ring::signature::UnparsedPublicKey::new(algorithm, id.certificate().public_key())
            .verify(b"test string", &signature)
            .unwrap();
    }
}

proptest! {
    #[test]
    fn verify_never_panics_on_arbitrary_requests(
        auth in ".{0,200}",
        date in "[0-9TZ]{0,20}",
        x509 in "[A-Za-z0-9+/=]{0,100}",
        query in ".{0,100}",
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let headers = vec![
            ("Authorization".to_owned(), auth),
            ("X-Amz-Date".to_owned(), date),
            ("X-Amz-X509".to_owned(), x509),
            ("Host".to_owned(), HOST.to_owned()),
        ];
        let _ = verify(&ReceivedRequest { method: "POST", path: "/sessions", query: &query, headers: &headers, body: &body });
    }

    #[test]
    fn verify_never_panics_on_mutated_valid_authorization(cut in 0usize..400, insert in ".{0,3}") {
        let id = identity("leaf-rsa.pem", "leaf-rsa.key", None);
        let request = sign_create_session(&params(), HOST, "us-east-1", &id, AT).unwrap();
        let mut auth = request.header("authorization").unwrap().to_owned();
        let at = auth.char_indices().map(|(i, _)| i).nth(cut % auth.chars().count()).unwrap_or(0);
        auth.insert_str(at, &insert);
        let mut copy = request.clone();
        copy.headers.iter_mut().filter(|(n, _)| n == "authorization").for_each(|(_, v)| *v = auth.clone());
        let _ = verify_signed(&copy);
    }
}
