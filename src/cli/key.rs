//! `tessera key import|list|delete`: move a key (and its certificate) into the OS keyring, where
//! `--private-key keyring:<service>/<name>` finds it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::args::passphrase;
use crate::clock::{Clock, SystemClock};
use crate::identity::file::{FileIdentity, Passphrase};
use crate::identity::key_ref::{IdentitySources, KeyRef};
use crate::identity::keyring::{KeyStore, KeyringUri, DEFAULT_SERVICE};
use crate::identity::Signer;
use crate::secret::SecretString;

/// Flags of `key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

/// The `key` subcommands.
#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Store a key file (and its certificate) in the OS keyring; use it as keyring:SERVICE/NAME.
    /// The files are checked first (the key must match the certificate) and left in place.
    Import {
        /// Name to store it under.
        #[arg(long)]
        name: String,
        /// Keyring service.
        #[arg(long, default_value = DEFAULT_SERVICE)]
        service: String,
        /// The private key file (any format --private-key takes).
        #[arg(long, value_name = "FILE")]
        private_key: PathBuf,
        /// The certificate file (stored alongside, so keyring:SERVICE/NAME is a whole identity).
        #[arg(long, value_name = "FILE")]
        certificate: Option<PathBuf>,
        /// Passphrase of an encrypted key (it stays encrypted in the keyring).
        #[arg(long, env = "TESSERA_KEY_PASSPHRASE", hide_env_values = true)]
        pkcs8_password: Option<String>,
    },
    /// List the names imported under a service.
    List {
        /// Keyring service.
        #[arg(long, default_value = DEFAULT_SERVICE)]
        service: String,
    },
    /// Store an encrypted key file's passphrase in the OS keyring, for `--passphrase-from keyring`.
    /// The passphrase comes from TESSERA_KEY_PASSPHRASE or a prompt; it is checked against the file.
    SetPassphrase {
        /// The encrypted key file (PKCS#8 or PKCS#12).
        #[arg(long = "for", value_name = "FILE")]
        key_file: PathBuf,
    },
    /// Delete an imported key and certificate.
    Delete {
        /// The name.
        #[arg(long)]
        name: String,
        /// Keyring service.
        #[arg(long, default_value = DEFAULT_SERVICE)]
        service: String,
    },
}

fn read(path: &Path, what: &str) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))
}

pub(super) fn run(args: KeyArgs) -> anyhow::Result<()> {
    let store = KeyStore::open()?;
    match args.command {
        KeyCommand::Import {
            name,
            service,
            private_key,
            certificate,
            pkcs8_password,
        } => {
            let uri = KeyringUri::new(&service, &name)?;
            let password = passphrase(&pkcs8_password);
            import(
                &store,
                &uri,
                &private_key,
                certificate.as_deref(),
                &password,
            )
        }
        KeyCommand::List { service } => {
            for name in store.names(&service)? {
                let uri = KeyringUri::new(&service, &name)?;
                let parts = if store.has_certificate(&uri)? {
                    "key and certificate"
                } else {
                    "key"
                };
                outln!("{uri}\t{parts}")?;
            }
            Ok(())
        }
        KeyCommand::SetPassphrase { key_file } => set_passphrase(&store, &key_file),
        KeyCommand::Delete { name, service } => {
            let uri = KeyringUri::new(&service, &name)?;
            anyhow::ensure!(
                store.delete(&uri)?,
                "{uri} is not in the OS keyring; see `tessera key list --service {service}`"
            );
            outln!("deleted {uri}")?;
            Ok(())
        }
    }
}

/// `key import`: refuses what would not load later (the pair must load, and match, as files
/// now), then stores the file bytes.
fn import(
    store: &KeyStore,
    uri: &KeyringUri,
    private_key: &Path,
    certificate: Option<&Path>,
    password: &Passphrase,
) -> anyhow::Result<()> {
    if certificate.is_some() || looks_combined(private_key) {
        let sources = IdentitySources {
            certificate: KeyRef::File(certificate.unwrap_or(private_key).to_owned()),
            private_key: certificate.map(|_| KeyRef::File(private_key.to_owned())),
            intermediates: None,
            pkcs11_lib: None,
            access: Default::default(),
        };
        let identity = FileIdentity::load(&sources, password, SystemClock.now())?;
        tracing::debug!(
            serial = identity.certificate().serial_decimal(),
            "checked the pair"
        );
    } else {
        crate::identity::file::load_private_key(&KeyRef::File(private_key.to_owned()), password)?;
    }
    let key = read(private_key, "private key")?;
    let cert = certificate.map(|c| read(c, "certificate")).transpose()?;
    store.import(uri, &key, cert.as_deref().map(Vec::as_slice))?;
    outln!("imported {} into {uri}", private_key.display())?;
    outln!("use it with: --private-key {uri}")?;
    outln!(
        "the kernel keyring keeps it in memory only: it is gone after a reboot; keep {} (encrypted) to import again",
        private_key.display()
    )?;
    Ok(())
}

/// `key set-passphrase`: stores a passphrase only once it opens the file.
fn set_passphrase(store: &KeyStore, key_file: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        key_file.is_file(),
        "--for {}: no such file; give the encrypted key file the passphrase opens",
        key_file.display()
    );
    let passphrase = match std::env::var("TESSERA_KEY_PASSPHRASE") {
        Ok(value) => SecretString::new(value),
        Err(_) if std::io::stdin().is_terminal() => SecretString::new(
            rpassword::prompt_password(format!("Passphrase for {}: ", key_file.display()))
                .context("cannot read the passphrase")?,
        ),
        Err(_) => anyhow::bail!(
            "no passphrase: set TESSERA_KEY_PASSPHRASE or run on a terminal to be asked"
        ),
    };
    crate::identity::file::load_private_key(
        &KeyRef::File(key_file.to_owned()),
        &Passphrase::Given(passphrase.clone()),
    )?;
    store.set_passphrase(key_file, &passphrase)?;
    outln!(
        "stored the passphrase of {}; use --passphrase-from keyring",
        key_file.display()
    )?;
    Ok(())
}

/// Whether a key file also carries its certificate (combined PEM or PKCS#12).
fn looks_combined(path: &Path) -> bool {
    crate::identity::file::load_certificate(&KeyRef::File(path.to_owned())).is_ok()
}
