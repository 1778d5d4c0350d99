//! Requests signed by iam-rolesanywhere-session (an independent Python signer) pass
//! `rolesanywhere::verify`, and any tampering makes verification fail.

mod common;

use std::process::Command;

use base64::Engine;
use serde::Deserialize;
use tessera::rolesanywhere::verify::{verify, ReceivedRequest, VerifyError};

#[derive(Deserialize, Clone)]
struct Captured {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Captured {
    /// A header's value (names compared case-insensitively).
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    /// The serial in the Authorization credential.
    fn serial(&self) -> String {
        let auth = self.header("authorization");
        let start = auth.find("Credential=").unwrap() + "Credential=".len();
        auth[start..].split('/').next().unwrap().to_owned()
    }

    fn body_bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .unwrap()
    }

    fn verify(&self) -> Result<tessera::rolesanywhere::verify::VerifiedRequest, VerifyError> {
        let body = self.body_bytes();
        verify(&ReceivedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &body,
        })
    }

    fn with_header(&self, name: &str, edit: impl Fn(&str) -> String) -> Self {
        let mut copy = self.clone();
        for (n, v) in &mut copy.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = edit(v);
            }
        }
        copy
    }
}

fn captured_requests() -> Option<Vec<Captured>> {
    let python = common::python()?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/sign_with_iam_session.py");
    let out = Command::new(python)
        .arg(script)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "signer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("signer prints JSON"))
}

#[test]
fn requests_signed_by_iam_rolesanywhere_session_verify() {
    let Some(requests) = captured_requests() else {
        return;
    };
    assert_eq!(requests.len(), 4);
    // One request carries the ARNs in the query, percent-encoded by botocore: tessera's query
    // canonicalization is compared with an outside implementation's.
    assert!(requests
        .iter()
        .any(|r| r.query.contains("roleArn=arn%3Aaws%3Aiam")));
    for request in &requests {
        let verified = request
            .verify()
            .unwrap_or_else(|e| panic!("{}: {e}", request.name));
        assert_eq!(verified.region, "us-east-1", "{}", request.name);
        assert_eq!(
            verified.session.role_arn,
            "arn:aws:iam::123456789012:role/app"
        );
        assert_eq!(
            verified.session.trust_anchor_arn,
            "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta"
        );
        assert_eq!(
            verified.session.profile_arn,
            "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p"
        );
        assert_eq!(verified.session.duration_seconds, Some(3600));
        let expected_chain = if request.name.ends_with("no-chain") {
            0
        } else {
            1
        };
        assert_eq!(verified.chain.len(), expected_chain, "{}", request.name);
        assert!(verified.signed_headers.contains(&"x-amz-x509".to_owned()));
    }
}

#[test]
fn tampering_with_an_independently_signed_request_fails_verification() {
    let Some(requests) = captured_requests() else {
        return;
    };
    let other_cert = base64::engine::general_purpose::STANDARD.encode(
        pem::parse(std::fs::read(common::fixture("root.pem")).unwrap())
            .unwrap()
            .contents(),
    );
    for request in &requests {
        let scope_day = |v: &str| format!("{}9{}", &v[..7], &v[8..]);
        // Each tamper, and the check that must refuse it.
        let mut tampered: Vec<(&str, Captured, VerifyError)> = vec![
            (
                "host",
                request.with_header("host", |v| format!("{v}.evil")),
                VerifyError::BadSignature,
            ),
            (
                "content-type",
                request.with_header("content-type", |_| "text/plain".into()),
                VerifyError::BadSignature,
            ),
            (
                "date (well-formed, one second off)",
                request.with_header("x-amz-date", |v| {
                    let second = if v.as_bytes()[14] == b'0' { "1" } else { "0" };
                    format!("{}{second}Z", &v[..14])
                }),
                VerifyError::BadSignature,
            ),
            (
                "date and scope (another day in both)",
                request
                    .with_header("x-amz-date", scope_day)
                    .with_header("authorization", |v| {
                        let date = request.header("x-amz-date");
                        v.replace(
                            &format!("/{}/", &date[..8]),
                            &format!("/{}/", &scope_day(date)[..8]),
                        )
                    }),
                VerifyError::BadSignature,
            ),
            (
                "serial",
                request.with_header("authorization", |v| {
                    v.replacen("Credential=", "Credential=1", 1)
                }),
                VerifyError::SerialMismatch {
                    credential: format!("1{}", request.serial()),
                    certificate: request.serial(),
                },
            ),
            (
                "signature",
                request.with_header("authorization", |v| {
                    let (head, sig) = v.rsplit_once("Signature=").unwrap();
                    let flipped = if sig.starts_with('0') { "1" } else { "0" };
                    format!("{head}Signature={flipped}{}", &sig[1..])
                }),
                VerifyError::BadSignature,
            ),
        ];
        if request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-x509-chain"))
        {
            tampered.push((
                "chain",
                request.with_header("x-amz-x509-chain", |_| other_cert.clone()),
                VerifyError::BadSignature,
            ));
        }
        let mut body_changed = request.clone();
        let mut body = body_changed.body_bytes();
        let position = body.iter().position(|b| *b == b'3').unwrap();
        body[position] = b'4'; // durationSeconds 3600 -> 4600
        body_changed.body = base64::engine::general_purpose::STANDARD.encode(body);
        tampered.push(("body", body_changed, VerifyError::BadSignature));
        if !request.query.is_empty() {
            let mut query_changed = request.clone();
            query_changed.query = request.query.replace("role%2Fapp", "role%2Fadmin");
            tampered.push(("query", query_changed, VerifyError::BadSignature));
        }
        for (what, copy, expected) in tampered {
            assert_eq!(
                copy.verify().err(),
                Some(expected),
                "{}: tampered {what}",
                request.name
            );
        }
        // Another certificate in X-Amz-X509 is refused before the signature: its serial is
        // not the credential's.
        let swapped = request.with_header("x-amz-x509", |_| other_cert.clone());
        assert!(
            matches!(swapped.verify(), Err(VerifyError::SerialMismatch { .. })),
            "{}: a swapped certificate",
            request.name
        );
    }
}
