//! Where an encrypted key's passphrase comes from, and obtaining it.

use std::io::{self, IsTerminal};
use std::path::Path;

use super::IdentityError;
use crate::secret::SecretString;

/// Where an encrypted key's passphrase comes from.
#[derive(Debug, Clone)]
pub enum Passphrase {
    /// Given on the command line or in the environment.
    Given(SecretString),
    /// Ask on the terminal, but only if stdin is a terminal (never block a pipeline).
    PromptIfTerminal,
    /// Stored in the OS keyring for the key file (`tessera key set-passphrase`).
    Keyring,
}

impl Passphrase {
    pub(super) fn obtain(&self, path: &Path) -> Result<SecretString, IdentityError> {
        match self {
            Passphrase::Given(p) => Ok(p.clone()),
            Passphrase::Keyring => {
                Ok(crate::identity::keyring::KeyStore::open()?.passphrase(path)?)
            }
            Passphrase::PromptIfTerminal if io::stdin().is_terminal() => {
                rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
                    .map(SecretString::new)
                    .map_err(|_| IdentityError::PassphraseRequired {
                        path: path.to_owned(),
                    })
            }
            Passphrase::PromptIfTerminal => Err(IdentityError::PassphraseRequired {
                path: path.to_owned(),
            }),
        }
    }
}
