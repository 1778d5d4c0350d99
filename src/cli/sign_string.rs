//! `tessera sign-string`: sign the official helper's fixed test string with the private key,
//! so a key can be checked the same way with either tool.

use std::io::Write;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::args::passphrase;
use crate::identity::file::load_private_key;
use crate::identity::Digest;

/// The fixed text at the start of the signed string.
const TEST_STRING: &[u8] = b"AWS Roles Anywhere Credential Helper Signing Test";
/// Version of the test-string layout, appended as decimal text.
const TEST_STRING_VERSION: &[u8] = b"1";

/// `TEST_STRING || "1" || SHA-256("IAM RA" || public key)`, the public key being the PKCS#1
/// RSAPublicKey DER or the uncompressed EC point, as `aws_signing_helper sign-string` signs.
pub(crate) fn fixed_string_to_sign(public_key: &[u8]) -> Vec<u8> {
    let mut suffix_input = b"IAM RA".to_vec();
    suffix_input.extend_from_slice(public_key);
    let mut message = [TEST_STRING, TEST_STRING_VERSION].concat();
    message.extend_from_slice(&Digest::Sha256.hash(&suffix_input));
    message
}

/// Output encodings.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum SignatureFormat {
    /// A JSON string of lowercase hex.
    Json,
    /// Lowercase hex.
    Text,
    /// Raw signature bytes.
    Bin,
}

/// Digest names as the official helper spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
pub(super) enum DigestName {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Flags of `sign-string`.
#[derive(Debug, Args)]
pub struct SignStringArgs {
    /// Private key file.
    #[arg(long, env = "TESSERA_PRIVATE_KEY", value_name = "FILE")]
    private_key: std::path::PathBuf,
    /// Passphrase of an encrypted key.
    #[arg(
        long,
        env = "TESSERA_KEY_PASSPHRASE",
        hide_env_values = true,
        value_name = "PASSPHRASE"
    )]
    pkcs8_password: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json", env = "TESSERA_FORMAT")]
    format: SignatureFormat,
    /// Digest to sign with.
    #[arg(long, value_enum, default_value = "SHA256", env = "TESSERA_DIGEST")]
    digest: DigestName,
}

pub(super) fn run(args: SignStringArgs) -> anyhow::Result<()> {
    let key_ref = crate::identity::key_ref::KeyRef::parse(&args.private_key)?;
    let key = load_private_key(&key_ref, &passphrase(&args.pkcs8_password))?;
    let input = fixed_string_to_sign(&key.public_key());
    let digest = match args.digest {
        DigestName::Sha256 => Digest::Sha256,
        DigestName::Sha384 => Digest::Sha384,
        DigestName::Sha512 => Digest::Sha512,
    };
    let signature = key.sign(&input, digest)?;
    let output = match args.format {
        SignatureFormat::Text => hex::encode(&signature).into_bytes(),
        SignatureFormat::Json => serde_json::to_vec(&hex::encode(&signature))?,
        SignatureFormat::Bin => signature,
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&output)
        .and_then(|()| stdout.flush())
        .context("cannot write the signature to stdout")
}
