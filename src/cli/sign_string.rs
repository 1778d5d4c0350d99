//! `tessera sign-string`: sign stdin with the private key (as `aws_signing_helper sign-string`).

use std::io::{Read, Write};

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::args::passphrase;
use crate::identity::file::load_private_key;
use crate::identity::Digest;

/// Largest input signed.
const MAX_INPUT_BYTES: u64 = 1024 * 1024;

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
    let key = load_private_key(&args.private_key, &passphrase(&args.pkcs8_password))?;
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut input)
        .context("cannot read the string to sign from stdin")?;
    anyhow::ensure!(
        input.len() as u64 <= MAX_INPUT_BYTES,
        "the input on stdin is over {MAX_INPUT_BYTES} bytes; sign-string signs short test strings"
    );
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
