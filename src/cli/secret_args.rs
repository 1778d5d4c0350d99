//! Secrets given on the command line. Security: argv is readable by every local user (`ps`,
//! `/proc/PID/cmdline`), so each secret flag has a `…-file` twin (a 0600 file, or a mounted
//! Secret) and an environment variable, and a secret that did come from argv earns one warning
//! per flag.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;

use crate::aws_credentials::Credentials;
use crate::identity::key_ref::KeyAccess;
use crate::secret::SecretString;

/// Flags already warned about in this process.
// A sync mutex: held only to look up and insert a name.
static WARNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Warns, once per flag, that a secret came from the command line.
fn warn_once(flag: &'static str, advice: &str) {
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !warned.contains(&flag) {
        warned.push(flag);
        tracing::warn!("{flag} on the command line can be read by every local user (ps); {advice}");
    }
}

/// Whether `value` came from argv rather than from the environment variable `env` (clap fills
/// the field from either).
fn from_argv(env: &str, value: &str) -> bool {
    std::env::var_os(env).is_none_or(|v| v != value)
}

/// The secret of a flag pair: the `--FLAG` value (from argv or `env`) or the content of
/// `--FLAG-file` (one trailing newline removed).
pub(super) fn secret_flag(
    flag: &'static str,
    env: &str,
    value: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<Option<SecretString>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map(SecretString::new)
            .with_context(|| format!("{flag}-file: cannot read {}", path.display()))?;
        let trimmed = text.expose_secret().trim_end_matches(['\n', '\r']);
        anyhow::ensure!(
            !trimmed.is_empty(),
            "{flag}-file: {} is empty",
            path.display()
        );
        return Ok(Some(SecretString::new(trimmed.to_owned())));
    }
    Ok(value.map(|value| {
        if from_argv(env, value) {
            warn_once(flag, &format!("use {flag}-file FILE or {env} instead"));
        }
        SecretString::new(value.to_owned())
    }))
}

/// Warns when a `pkcs11:` URI given on the command line holds its PIN (`pin-value=`).
pub(super) fn warn_if_pin_in_argv(flag: &'static str, env: &str, value: Option<&Path>) {
    let Some(text) = value.and_then(Path::to_str) else {
        return;
    };
    if text.starts_with("pkcs11:") && text.contains("pin-value=") && from_argv(env, text) {
        warn_once(
            flag,
            "a pin-value= in it is exposed; use pin-source=file:PATH or TESSERA_PKCS11_PIN",
        );
    }
}

/// Key-store settings from the environment: the token PIN (`TESSERA_PKCS11_PIN`, for
/// `pkcs11:` URIs without one) and the TPM's TCTI (`TESSERA_TPM_TCTI`, `TPM2TOOLS_TCTI`,
/// `TCTI`).
pub(super) fn key_access() -> KeyAccess {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    KeyAccess {
        pkcs11_pin: var(crate::identity::pkcs11_uri::PIN_ENV).map(SecretString::new),
        tpm_tcti: ["TESSERA_TPM_TCTI", "TPM2TOOLS_TCTI", "TCTI"]
            .into_iter()
            .find_map(var),
    }
}

/// `--credentials env`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
pub(super) fn env_credentials() -> anyhow::Result<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let key =
        var("AWS_ACCESS_KEY_ID").context("--credentials env: AWS_ACCESS_KEY_ID is not set")?;
    let secret = var("AWS_SECRET_ACCESS_KEY")
        .context("--credentials env: AWS_SECRET_ACCESS_KEY is not set")?;
    let token = var("AWS_SESSION_TOKEN").unwrap_or_default();
    // Long-term keys do not expire; the far future stands for "no expiry".
    let expiration = time::macros::datetime!(9999-01-01 00:00:00 UTC);
    Ok(Credentials::new(
        key,
        SecretString::new(secret),
        SecretString::new(token),
        expiration,
    ))
}
