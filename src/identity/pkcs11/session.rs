//! Sessions: the PIN, logging in, opening a session, and the reconnecting signing connection.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::ffi::RawSign;
use super::module::{find_token, load_module, module_path, Token};
use super::objects::{find_objects, one_object};
use super::{digest_info, Pkcs11Error};
use crate::identity::pkcs11_uri::Pkcs11Uri;
use crate::identity::{Digest, SignatureFamily};
use crate::secret::SecretString;

pub(super) fn token_error(operation: &'static str, token: &str, error: &CkError) -> Pkcs11Error {
    Pkcs11Error::Token {
        operation,
        token: token.to_owned(),
        reason: error.to_string(),
    }
}

/// The PIN: the URI's value or file, then `env_pin` (`TESSERA_PKCS11_PIN`, read by the CLI),
/// then a terminal prompt.
pub(super) fn obtain_pin(
    uri: &Pkcs11Uri,
    token: &str,
    env_pin: Option<&SecretString>,
) -> Result<SecretString, Pkcs11Error> {
    if let Some(pin) = &uri.pin_value {
        return Ok(pin.clone());
    }
    if let Some(path) = &uri.pin_source {
        let text = std::fs::read_to_string(path).map_err(|e| Pkcs11Error::PinFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        return Ok(SecretString::new(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    if let Some(pin) = env_pin {
        return Ok(pin.clone());
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("PIN for token '{token}': "))
            .map(SecretString::new)
            .map_err(|_| Pkcs11Error::PinRequired {
                token: token.to_owned(),
            });
    }
    Err(Pkcs11Error::PinRequired {
        token: token.to_owned(),
    })
}

pub(super) fn login(
    session: &Session,
    user: UserType,
    pin: &SecretString,
    token: &str,
) -> Result<(), Pkcs11Error> {
    match session.login(user, Some(&AuthPin::new(pin.expose_secret().into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(
            rv @ (RvError::PinIncorrect
            | RvError::PinLocked
            | RvError::PinInvalid
            | RvError::PinLenRange),
            _,
        )) => Err(Pkcs11Error::BadPin {
            token: token.to_owned(),
            reason: format!("{rv:?}"),
        }),
        Err(error) => Err(token_error("C_Login", token, &error)),
    }
}

/// Opens a session (not logged in) on the token a URI names.
pub(super) fn open_session(
    uri: &Pkcs11Uri,
    module_flag: Option<&Path>,
) -> Result<(Token, Session), Pkcs11Error> {
    let context = load_module(&module_path(uri, module_flag)?)?;
    let token = find_token(&context, uri)?;
    let session = context
        .open_ro_session(token.slot)
        .map_err(|e| token_error("C_OpenSession", &token.label, &e))?;
    Ok((token, session))
}

/// The open session and what signing needs, behind the identity's mutex.
#[derive(Debug)]
pub(super) struct Connection {
    context: Pkcs11,
    module: PathBuf,
    pub(super) token: Token,
    uri: Pkcs11Uri,
    pin: Option<SecretString>,
    env_pin: Option<SecretString>,
    pub(super) session: Session,
    pub(super) key: ObjectHandle,
    always_authenticate: bool,
    rsa_sha256: bool,
    raw_sign: Option<RawSign>,
}

impl Connection {
    /// Opens a session on the token the URI names, logs in (obtaining the PIN, with `env_pin`
    /// as the fallback, only when none is known yet) and finds the one private key.
    pub(super) fn connect(
        context: Pkcs11,
        module: PathBuf,
        uri: Pkcs11Uri,
        pin: Option<SecretString>,
        env_pin: Option<&SecretString>,
    ) -> Result<Self, Pkcs11Error> {
        let token = find_token(&context, &uri)?;
        let session = context
            .open_ro_session(token.slot)
            .map_err(|e| token_error("C_OpenSession", &token.label, &e))?;
        let pin = match (pin, token.login_required) {
            (Some(pin), true) => Some(pin),
            (None, true) => Some(obtain_pin(&uri, &token.label, env_pin)?),
            (_, false) => None,
        };
        if let Some(pin) = &pin {
            login(&session, UserType::User, pin, &token.label)?;
        }
        let found = find_objects(&session, &uri, ObjectClass::PRIVATE_KEY)
            .map_err(|e| token_error("C_FindObjects", &token.label, &e))?;
        let key = one_object(found, "private key", &token, &uri)?;
        let always_authenticate = matches!(
            session
                .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
                .as_deref(),
            Ok([Attribute::AlwaysAuthenticate(true)])
        );
        // Asked for by name: listing every mechanism makes cryptoki log each unknown one.
        let rsa_sha256 = context
            .get_mechanism_info(token.slot, MechanismType::SHA256_RSA_PKCS)
            .is_ok();
        Ok(Self {
            context,
            module,
            token,
            uri,
            pin,
            env_pin: env_pin.cloned(),
            session,
            key,
            always_authenticate,
            rsa_sha256,
            raw_sign: None,
        })
    }

    /// Replaces a lost session with a new one (same PIN, same URI).
    pub(super) fn reconnect(&mut self) -> Result<(), Pkcs11Error> {
        *self = Self::connect(
            self.context.clone(),
            self.module.clone(),
            self.uri.clone(),
            self.pin.clone(),
            self.env_pin.as_ref(),
        )?;
        Ok(())
    }

    pub(super) fn sign_once(
        &mut self,
        family: SignatureFamily,
        message: &[u8],
        digest: Digest,
    ) -> Result<Vec<u8>, CkError> {
        let (mechanism, data) = match (family, digest) {
            (SignatureFamily::Rsa, Digest::Sha256) if self.rsa_sha256 => {
                (Mechanism::Sha256RsaPkcs, message.to_vec())
            }
            (SignatureFamily::Rsa, _) => (
                Mechanism::RsaPkcs,
                digest_info(digest, &digest.hash(message)),
            ),
            (SignatureFamily::Ecdsa, _) => (Mechanism::Ecdsa, digest.hash(message)),
            // Never opened: a token's key is RSA or EC (checked when it is loaded).
            (SignatureFamily::MlDsa, _) => {
                return Err(CkError::Pkcs11(
                    RvError::MechanismInvalid,
                    cryptoki::context::Function::Sign,
                ))
            }
        };
        let session = &self.session;
        if !self.always_authenticate {
            return session.sign(&mechanism, self.key, &data);
        }
        session.sign_init(&mechanism, self.key)?;
        if let Some(pin) = &self.pin {
            session.login(
                UserType::ContextSpecific,
                Some(&AuthPin::new(pin.expose_secret().into())),
            )?;
        }
        if self.raw_sign.is_none() {
            self.raw_sign = RawSign::load(&self.module).ok();
        }
        let raw = self.raw_sign.as_ref().ok_or(CkError::Pkcs11(
            RvError::FunctionNotSupported,
            cryptoki::context::Function::Sign,
        ))?;
        raw.sign(session.handle(), &data).map_err(|_| {
            CkError::Pkcs11(RvError::FunctionFailed, cryptoki::context::Function::Sign)
        })
    }
}

/// Whether an error means the session is gone (token removed or reinserted, module restarted).
pub(super) fn session_lost(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError
                | RvError::UserNotLoggedIn,
            _
        )
    )
}
