//! `tessera ca`: a local CA for trying tessera, for CI, and for the local anchor's TLS.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::pki::{self, InitOptions, IssueOptions, KeyType, LeafKey, LeafPurpose, LocalCa};

/// Flags of `ca`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// CA directory.
    #[arg(long, global = true, env = "TESSERA_CA_DIR", default_value = pki::DEFAULT_CA_DIR)]
    dir: PathBuf,
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Create a root CA (and with --intermediate an intermediate) that Roles Anywhere accepts.
    Init {
        /// Common name of the root.
        #[arg(long, default_value = "tessera local root")]
        cn: String,
        /// Also create an intermediate CA that issues the leaves.
        #[arg(long)]
        intermediate: bool,
        /// Key type: rsa2048, rsa3072, rsa4096, p256, p384, ml-dsa-44, ml-dsa-65, ml-dsa-87.
        #[arg(long, default_value_t = KeyType::P256)]
        key_type: KeyType,
        /// Validity in days (1 to 36525).
        #[arg(long, default_value_t = pki::DEFAULT_CA_DAYS, value_parser = clap::value_parser!(i64).range(1..=36525))]
        days: i64,
        /// Overwrite existing CA keys.
        #[arg(long)]
        force: bool,
    },
    /// Issue a leaf certificate (clientAuth; --server for serverAuth) and its key (0600).
    Issue {
        /// Subject common name.
        #[arg(long)]
        cn: String,
        /// File name stem for NAME.pem / NAME.key (default: the CN).
        #[arg(long)]
        name: Option<String>,
        /// Subject alternative name: dns:NAME, uri:URI, email:ADDRESS or ip:ADDRESS (repeatable).
        #[arg(long)]
        san: Vec<String>,
        /// Validity in days (1 to 36525).
        #[arg(long, default_value_t = pki::DEFAULT_LEAF_DAYS, value_parser = clap::value_parser!(i64).range(1..=36525))]
        days: i64,
        /// Key type: rsa2048, rsa3072, rsa4096, p256, p384, ml-dsa-44, ml-dsa-65, ml-dsa-87.
        #[arg(long, default_value_t = KeyType::P256, conflicts_with = "public_key")]
        key_type: KeyType,
        /// Certify this public key (PEM 'PUBLIC KEY' or DER) instead of generating a key: for a
        /// key held in a PKCS#11 token or a TPM (pkcs11-tool --read-object, tpm2_readpublic -f pem).
        #[arg(long, value_name = "FILE")]
        public_key: Option<std::path::PathBuf>,
        /// Issue a TLS server certificate instead of a client one.
        #[arg(long)]
        server: bool,
        /// Overwrite an existing key of the same name.
        #[arg(long)]
        force: bool,
    },
    /// Revoke a certificate by serial number (hex) and rewrite the CRL.
    Revoke {
        /// Serial number in hex (as `read-certificate-data` shows in decimal: convert, or use hex from openssl).
        serial: String,
    },
    /// Rewrite the CRL (crl.pem) from the revocation list.
    Crl,
}

pub(super) fn run(args: CaArgs) -> anyhow::Result<()> {
    let ca = LocalCa::new(&args.dir);
    let now = SystemClock.now();
    match args.command {
        CaCommand::Init {
            cn,
            intermediate,
            key_type,
            days,
            force,
        } => {
            ca.init(
                &InitOptions {
                    common_name: cn,
                    intermediate,
                    key_type,
                    days,
                    force,
                },
                now,
            )?;
            outln!("CA created in {}", ca.dir().display())?;
            outln!("root certificate: {}", ca.root_certificate().display())?;
            if intermediate {
                outln!(
                    "intermediate certificate: {}",
                    ca.intermediate_certificate().display()
                )?;
            }
        }
        CaCommand::Issue {
            cn,
            name,
            san,
            days,
            key_type,
            public_key,
            server,
            force,
        } => {
            let key = match public_key {
                Some(path) => LeafKey::Public(read_public_key(&path)?),
                None => LeafKey::Generate(key_type),
            };
            let purpose = if server {
                LeafPurpose::Server
            } else {
                LeafPurpose::Client
            };
            let options = IssueOptions {
                common_name: cn,
                name,
                sans: san,
                days,
                key,
                purpose,
                force,
            };
            print_issued(&ca.issue(&options, now)?)?;
        }
        CaCommand::Revoke { serial } => {
            let serial = ca.revoke(&serial, now)?;
            outln!(
                "revoked {serial}; CRL written to {}",
                ca.crl_path().display()
            )?;
        }
        CaCommand::Crl => {
            ca.write_crl(now)?;
            outln!("CRL written to {}", ca.crl_path().display())?;
        }
    }
    Ok(())
}

/// A SubjectPublicKeyInfo from a PEM ('PUBLIC KEY') or DER file.
fn read_public_key(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the public key file {}", path.display()))?;
    match pem::parse(&bytes) {
        Ok(block) if block.tag() == "PUBLIC KEY" => Ok(block.into_contents()),
        Ok(block) => anyhow::bail!(
            "{} holds a '{}' PEM block; --public-key takes a 'PUBLIC KEY' (SubjectPublicKeyInfo)",
            path.display(),
            block.tag()
        ),
        Err(_) => Ok(bytes),
    }
}

/// Where `ca issue` wrote the certificate (and key and chain), and its serial.
fn print_issued(issued: &crate::pki::Issued) -> anyhow::Result<()> {
    outln!("certificate: {}", issued.certificate.display())?;
    if let Some(private_key) = &issued.private_key {
        outln!("private key: {}", private_key.display())?;
    }
    if let Some(chain) = &issued.chain {
        outln!("intermediates: {}", chain.display())?;
    }
    outln!("serial: {}", issued.serial_hex)
}
