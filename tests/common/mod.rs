//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::process::{Command, Output};

/// Account used in every test ARN.
pub const ACCOUNT: &str = "123456789012";

/// A file under certs/test.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs/test")
        .join(name)
}

/// The trust anchor / profile / role flags for us-east-1.
pub fn arn_flags() -> Vec<String> {
    vec![
        "--trust-anchor-arn".into(),
        format!("arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:trust-anchor/ta"),
        "--profile-arn".into(),
        format!("arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:profile/p"),
        "--role-arn".into(),
        format!("arn:aws:iam::{ACCOUNT}:role/app"),
    ]
}

/// Runs the tessera binary with a clean `TESSERA_*` environment and no stdin.
pub fn tessera(args: &[String]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TESSERA_") || key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("TESSERA_CACHE", "none")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the tessera binary runs")
}

/// The Python interpreter of the test virtualenv, or `None` (outside CI) when it is absent.
/// In CI (`CI` set) a missing interpreter fails the test: a missing peer is not a pass.
pub fn python() -> Option<PathBuf> {
    let path = std::env::var_os("TESSERA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "interop peer missing: {} does not exist; run tests/run to install the test virtualenv",
        path.display()
    );
    eprintln!(
        "SKIPPED (not in CI): no test virtualenv at {}; run tests/run",
        path.display()
    );
    None
}
