//! Bad input: every row gets one clear stderr line naming the input, exit code 1, nothing on
//! stdout, and never a panic.

mod common;

use std::fs;

use common::{arn_flags, fixture, tessera};

/// Runs `credential-process` with identity flags plus the ARN flags and asserts the failure.
fn assert_rejected(identity: &[&str], extra: &[&str], expected: &str) {
    let mut args: Vec<String> = vec!["credential-process".into()];
    args.extend(identity.iter().map(|s| s.to_string()));
    args.extend(arn_flags());
    args.extend([
        "--endpoint".into(),
        "http://127.0.0.1:9".into(),
        "--timeout".into(),
        "5".into(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    assert_output(&args, expected);
}

fn assert_output(args: &[String], expected: &str) {
    let out = tessera(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout must be empty, got {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("tessera: "),
        "first line is the error: {stderr}"
    );
    assert!(
        first.contains(expected),
        "expected {expected:?} in the first stderr line, got: {first}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("tessera: "))
            .count(),
        1,
        "{stderr}"
    );
}

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

fn temp_file(content: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), content).unwrap();
    file
}

#[test]
fn missing_certificate_file() {
    assert_rejected(&["--certificate", "/nonexistent/leaf.pem", "--private-key", &path("leaf-rsa.key")], &[],
        "certificate file /nonexistent/leaf.pem does not exist; check the path given to --certificate");
}

#[test]
fn missing_key_file() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.pem"),
            "--private-key",
            "/nonexistent/key.pem",
        ],
        &[],
        "private key file /nonexistent/key.pem does not exist",
    );
}

#[test]
fn directory_instead_of_file() {
    let dir = fixture("").display().to_string();
    assert_rejected(
        &[
            "--certificate",
            &dir,
            "--private-key",
            &path("leaf-rsa.key"),
        ],
        &[],
        "is a directory; --certificate takes a file",
    );
}

#[test]
fn empty_file() {
    let empty = temp_file(b"");
    assert_rejected(
        &[
            "--certificate",
            &empty.path().display().to_string(),
            "--private-key",
            &path("leaf-rsa.key"),
        ],
        &[],
        "is empty",
    );
}

#[test]
fn garbage_file() {
    let garbage = temp_file(b"this is not a certificate\x00\x01\x02");
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.pem"),
            "--private-key",
            &garbage.path().display().to_string(),
        ],
        &[],
        "is not PEM, DER or PKCS#12",
    );
}

/// Cuts a certificate fixture to `keep` of its bytes and expects `expected`.
fn assert_truncated_certificate_rejected(name: &str, keep: fn(usize) -> usize, expected: &str) {
    let full = fs::read(fixture(name)).unwrap();
    let truncated = temp_file(&full[..keep(full.len())]);
    let certificate = truncated.path().display().to_string();
    assert_rejected(
        &[
            "--certificate",
            &certificate,
            "--private-key",
            &path("leaf-rsa.key"),
        ],
        &[],
        expected,
    );
}

#[test]
fn truncated_pem() {
    assert_truncated_certificate_rejected("leaf-rsa.pem", |n| n / 2, "malformed PEM block");
}

#[test]
fn truncated_der() {
    assert_truncated_certificate_rejected("leaf-rsa.der", |n| n - 40, "is not PEM, DER or PKCS#12");
}

#[test]
fn der_certificate_given_as_the_key() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.pem"),
            "--private-key",
            &path("leaf-rsa.der"),
        ],
        &[],
        "contains no private key (it holds a certificate)",
    );
}

#[test]
fn pem_key_given_as_the_certificate() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.key"),
            "--private-key",
            &path("leaf-rsa.key"),
        ],
        &[],
        "contains no certificate (it holds a private key)",
    );
}

#[test]
fn key_that_does_not_match_the_certificate() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.pem"),
            "--private-key",
            &path("leaf-p256.key"),
        ],
        &[],
        "does not match certificate",
    );
}

#[test]
fn expired_certificate() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-expired.pem"),
            "--private-key",
            &path("leaf-expired.key"),
        ],
        &[],
        "expired on 2021-01-01T00:00:00Z (valid 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z)",
    );
}

#[test]
fn not_yet_valid_certificate() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-future.pem"),
            "--private-key",
            &path("leaf-future.key"),
        ],
        &[],
        "is not valid until 2099-01-01T00:00:00Z",
    );
}

#[test]
fn encrypted_key_without_a_passphrase() {
    assert_rejected(&["--certificate", &path("leaf-rsa.pem"), "--private-key", &path("leaf-rsa.aes256.key")], &[],
        "is encrypted and no passphrase was given; pass --pkcs8-password or set TESSERA_KEY_PASSPHRASE");
}

#[test]
fn encrypted_key_with_the_wrong_passphrase() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.pem"),
            "--private-key",
            &path("leaf-rsa.aes256.key"),
            "--pkcs8-password",
            "wrong",
        ],
        &[],
        "could not be decrypted: wrong passphrase",
    );
}

#[test]
fn legacy_encrypted_pem_key() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.pem"),
            "--private-key",
            &path("leaf-rsa.legacy-encrypted.key"),
        ],
        &[],
        "uses legacy OpenSSL PEM encryption; convert it with 'openssl pkcs8 -topk8",
    );
}

#[test]
fn pkcs12_with_the_wrong_password() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa.p12"),
            "--pkcs8-password",
            "wrong",
        ],
        &[],
        "could not be opened: wrong password",
    );
}

#[test]
fn pkcs12_needing_a_password_without_one() {
    assert_rejected(
        &["--certificate", &path("leaf-rsa.p12")],
        &[],
        "is encrypted and no passphrase was given",
    );
}

#[test]
fn unsupported_key_type_ed25519() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-ed25519.pem"),
            "--private-key",
            &path("leaf-ed25519.key"),
        ],
        &[],
        "Ed25519 keys are not supported; use RSA (2048–8192 bits) or ECDSA P-256/P-384",
    );
}

#[test]
fn unsupported_key_type_p521() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-p521.pem"),
            "--private-key",
            &path("leaf-p521.key"),
        ],
        &[],
        "ECDSA P-521 keys are not supported",
    );
}

#[test]
fn unsupported_rsa_size() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-rsa1024.pem"),
            "--private-key",
            &path("leaf-rsa1024.key"),
        ],
        &[],
        "RSA keys of 1024 bits are not supported; use 2048–8192 bits",
    );
}

fn good_identity() -> Vec<String> {
    vec![
        "--certificate".into(),
        path("leaf-p256.pem"),
        "--private-key".into(),
        path("leaf-p256.key"),
    ]
}

fn run_with_arns(anchor: &str, profile: &str, role: &str, extra: &[&str], expected: &str) {
    let mut args: Vec<String> = vec!["credential-process".into()];
    args.extend(good_identity());
    args.extend([
        "--trust-anchor-arn".into(),
        anchor.into(),
        "--profile-arn".into(),
        profile.into(),
        "--role-arn".into(),
        role.into(),
    ]);
    if !extra.contains(&"--endpoint") {
        args.extend(["--endpoint".into(), "http://127.0.0.1:9".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    assert_output(&args, expected);
}

const ANCHOR: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta";
const PROFILE: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p";
const ROLE: &str = "arn:aws:iam::123456789012:role/app";

#[test]
fn malformed_trust_anchor_arn() {
    run_with_arns(
        "trust-anchor/ta",
        PROFILE,
        ROLE,
        &[],
        "--trust-anchor-arn 'trust-anchor/ta' is not a valid trust anchor ARN",
    );
}

#[test]
fn malformed_profile_arn() {
    run_with_arns(
        ANCHOR,
        "arn:aws:rolesanywhere:us-east-1:1234:profile/p",
        ROLE,
        &[],
        "--profile-arn",
    );
}

#[test]
fn malformed_role_arn() {
    run_with_arns(
        ANCHOR,
        PROFILE,
        "arn:aws:iam::123456789012:user/bob",
        &[],
        "--role-arn 'arn:aws:iam::123456789012:user/bob' is not a valid IAM role ARN",
    );
}

#[test]
fn anchor_and_profile_region_mismatch() {
    run_with_arns(
        ANCHOR,
        "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/p",
        ROLE,
        &[],
        "trust anchor ARN region us-east-1 differs from profile ARN region eu-west-1",
    );
}

#[test]
fn region_flag_contradicting_the_anchor() {
    run_with_arns(
        ANCHOR,
        PROFILE,
        ROLE,
        &["--region", "eu-west-1"],
        "--region eu-west-1 differs from the trust anchor ARN's region us-east-1",
    );
}

#[test]
fn session_duration_too_short() {
    run_with_arns(
        ANCHOR,
        PROFILE,
        ROLE,
        &["--session-duration", "899"],
        "--session-duration 899 is outside 900–43200 seconds",
    );
}

#[test]
fn session_duration_too_long() {
    run_with_arns(
        ANCHOR,
        PROFILE,
        ROLE,
        &["--session-duration", "43201"],
        "--session-duration 43201 is outside 900–43200 seconds",
    );
}

#[test]
fn unreachable_endpoint() {
    // Port 9 (discard) on loopback has no listener: connection refused, retried, then reported.
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-p256.pem"),
            "--private-key",
            &path("leaf-p256.key"),
        ],
        &[],
        "cannot reach Roles Anywhere endpoint http://127.0.0.1:9",
    );
}

#[test]
fn invalid_endpoint_url() {
    run_with_arns(
        ANCHOR,
        PROFILE,
        ROLE,
        &["--endpoint", "ftp://example.com"],
        "endpoint 'ftp://example.com' is not a valid URL",
    );
}

#[test]
fn sign_string_with_a_missing_key() {
    assert_output(
        &[
            "sign-string".into(),
            "--private-key".into(),
            "/nonexistent.key".into(),
        ],
        "private key file /nonexistent.key does not exist",
    );
}

#[test]
fn read_certificate_data_of_a_key_file() {
    assert_output(
        &[
            "read-certificate-data".into(),
            "--certificate".into(),
            path("leaf-rsa.key"),
        ],
        "contains no certificate",
    );
}

/// A full or closed stdout (`tessera … > /dev/full`, `… | head -c1`) is an error line and exit 1
/// for every command that prints, never a panic.
#[test]
fn a_full_stdout_is_an_error_not_a_panic() {
    let ca = tempfile::tempdir().unwrap();
    let ca_dir = ca.path().join("ca").display().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec!["version".into()],
        vec![
            "read-certificate-data".into(),
            "--certificate".into(),
            path("leaf-rsa.pem"),
        ],
        vec!["completions".into(), "bash".into()],
        vec!["ca".into(), "--dir".into(), ca_dir, "init".into()],
        vec![
            "sign-string".into(),
            "--private-key".into(),
            path("leaf-p256.key"),
        ],
    ];
    for args in cases {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .stdin(std::process::Stdio::null())
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("tessera: cannot write") && stderr.contains("No space left"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn ca_issue_for_a_public_key_that_is_not_one() {
    let ca = tempfile::tempdir().unwrap();
    let dir = ca.path().display().to_string();
    assert_eq!(
        tessera(&["ca".into(), "--dir".into(), dir.clone(), "init".into()])
            .status
            .code(),
        Some(0)
    );
    for (file, expected) in [
        (path("leaf-rsa.pem"), "holds a 'CERTIFICATE' PEM block"),
        (path("gen.sh"), "the public key cannot be certified"),
    ] {
        assert_output(
            &[
                "ca".into(),
                "--dir".into(),
                dir.clone(),
                "issue".into(),
                "--cn".into(),
                "x".into(),
                "--public-key".into(),
                file,
            ],
            expected,
        );
    }
}

#[test]
fn an_encrypted_key_with_a_crafted_kdf_cost_is_refused_before_decrypting() {
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-p256.pem"),
            "--private-key",
            &path("leaf-p256.costly-pbkdf2.key"),
            "--pkcs8-password",
            "test-passphrase",
        ],
        &[],
        "asks for 10000001 PBKDF2 iterations (limit 10000000)",
    );
}

/// Oversize inputs are refused by size before any parsing: a 50 MB "certificate" and a
/// 10,000-certificate chain.
#[test]
fn oversize_certificate_and_chain_files() {
    let big = tempfile::NamedTempFile::new().unwrap();
    big.as_file().set_len(50 * 1024 * 1024).unwrap();
    assert_rejected(
        &[
            "--certificate",
            &big.path().display().to_string(),
            "--private-key",
            &path("leaf-p256.key"),
        ],
        &[],
        "is 52428800 bytes, over the 1048576-byte limit",
    );
    let one = fs::read_to_string(fixture("intermediate.pem")).unwrap();
    let chain = temp_file(one.repeat(10_000).as_bytes());
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-p256.pem"),
            "--private-key",
            &path("leaf-p256.key"),
            "--intermediates",
            &chain.path().display().to_string(),
        ],
        &[],
        "over the 1048576-byte limit",
    );
    // Under the size limit but over the chain limit Roles Anywhere accepts.
    let six = temp_file(one.repeat(6).as_bytes());
    assert_rejected(
        &[
            "--certificate",
            &path("leaf-p256.pem"),
            "--private-key",
            &path("leaf-p256.key"),
            "--intermediates",
            &six.path().display().to_string(),
        ],
        &[],
        "the certificate chain has 6 certificates; Roles Anywhere accepts at most 5",
    );
}
