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
    assert_eq!(requests.len(), 3);
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
        let mut tampered: Vec<(&str, Captured)> = vec![
            ("host", request.with_header("host", |v| format!("{v}.evil"))),
            (
                "content-type",
                request.with_header("content-type", |_| "text/plain".into()),
            ),
            (
                "date",
                request.with_header("x-amz-date", |v| {
                    v.replace("T", "T0").chars().take(16).collect()
                }),
            ),
            (
                "date+scope",
                request.with_header("x-amz-date", |v| format!("{}9{}", &v[..7], &v[8..])),
            ),
            (
                "serial",
                request.with_header("authorization", |v| {
                    v.replacen("Credential=", "Credential=1", 1)
                }),
            ),
            (
                "signature",
                request.with_header("authorization", |v| {
                    let (head, sig) = v.rsplit_once("Signature=").unwrap();
                    let flipped = if sig.starts_with('0') { "1" } else { "0" };
                    format!("{head}Signature={flipped}{}", &sig[1..])
                }),
            ),
            (
                "certificate",
                request.with_header("x-amz-x509", |_| other_cert.clone()),
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
            ));
        }
        let mut body_changed = request.clone();
        let mut body = body_changed.body_bytes();
        let position = body.iter().position(|b| *b == b'3').unwrap();
        body[position] = b'4'; // durationSeconds 3600 -> 4600
        body_changed.body = base64::engine::general_purpose::STANDARD.encode(body);
        tampered.push(("body", body_changed));
        for (what, copy) in tampered {
            assert!(
                copy.verify().is_err(),
                "{}: tampered {what} still verifies",
                request.name
            );
        }
    }
}
