//! Keys held in a PKCS#11 token (smart card, YubiKey, HSM, SoftHSM), named by RFC 7512 URIs.
//!
//! The module is loaded at run time (`module-path=` in the URI, `--pkcs11-lib`, else the
//! p11-kit proxy). One session per identity is opened, logged in and reused for every signature;
//! if the token goes away (removed, session closed) the next signature reopens it and retries once.
//! RSA signs with `CKM_SHA256_RSA_PKCS` (or hashes in software and signs a DigestInfo with
//! `CKM_RSA_PKCS` when the token lacks it); ECDSA hashes in software, signs with `CKM_ECDSA` and
//! DER-encodes r‖s. Keys with `CKA_ALWAYS_AUTHENTICATE` log in again for each signature.

mod ffi;
pub mod uri;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use self::ffi::RawSign;
use self::uri::Pkcs11Uri;
use super::{Certificate, Digest, KeyKind, SignError, SignatureFamily, Signer};
use crate::secret::SecretString;

/// Where the p11-kit proxy (which fronts every module p11-kit knows) usually lives.
const P11_KIT_PROXY: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
];

/// Environment variable holding the token PIN (when the URI has none).
pub const PIN_ENV: &str = "TESSERA_PKCS11_PIN";

/// What went wrong with a token, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    /// The URI does not parse.
    #[error("PKCS#11 URI {uri}: {reason}")]
    BadUri {
        /// The URI as given (PIN removed).
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// No module to load.
    #[error("no PKCS#11 module: pass --pkcs11-lib (e.g. /usr/lib/softhsm/libsofthsm2.so) or add module-path= to the URI")]
    NoModule,
    /// The module failed to load or initialise.
    #[error("cannot load PKCS#11 module {}: {reason}", path.display())]
    Module {
        /// The module path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No token matched the URI.
    #[error("no PKCS#11 token matches {uri} (tokens present: {present}); check token=/serial=/slot-id= or insert the token")]
    NoToken {
        /// The URI.
        uri: String,
        /// Labels of the tokens that are there.
        present: String,
    },
    /// More than one token matched.
    #[error("{count} PKCS#11 tokens match {uri}; add token= or serial= to choose one")]
    AmbiguousToken {
        /// The URI.
        uri: String,
        /// How many matched.
        count: usize,
    },
    /// No object matched.
    #[error("no {what} on token '{token}' matches {uri}; list the token's objects with `tessera read-certificate-data --certificate 'pkcs11:token={token}'`")]
    NoObject {
        /// "private key" or "certificate".
        what: &'static str,
        /// The token label.
        token: String,
        /// The URI.
        uri: String,
    },
    /// More than one object matched.
    #[error("{count} {what}s on token '{token}' match {uri}; add object= or id= to choose one")]
    AmbiguousObject {
        /// "private key" or "certificate".
        what: &'static str,
        /// How many matched.
        count: usize,
        /// The token label.
        token: String,
        /// The URI.
        uri: String,
    },
    /// The PIN was refused.
    #[error("the PIN for token '{token}' was refused ({reason}); check pin-value/pin-source or {PIN_ENV}")]
    BadPin {
        /// The token label.
        token: String,
        /// The token's answer.
        reason: String,
    },
    /// A PIN is needed and none was given.
    #[error("token '{token}' needs a PIN: add pin-source=file:/path to the URI, set {PIN_ENV}, or run on a terminal to be asked")]
    PinRequired {
        /// The token label.
        token: String,
    },
    /// The PIN file could not be read.
    #[error("cannot read the PIN file {}: {reason}", path.display())]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The token's key cannot sign Roles Anywhere requests.
    #[error("the key on token '{token}' is {kind}; Roles Anywhere needs RSA or ECDSA P-256/P-384")]
    UnsupportedKey {
        /// The token label.
        token: String,
        /// The key type.
        kind: String,
    },
    /// The key does not belong to the certificate.
    #[error("the private key {uri} does not match the certificate (a test signature did not verify); point --certificate at this key's certificate")]
    KeyMismatch {
        /// The key URI.
        uri: String,
    },
    /// The certificate object holds something unparseable.
    #[error("certificate {uri} on the token cannot be parsed: {reason}")]
    BadCertificate {
        /// The URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// Another PKCS#11 failure.
    #[error("PKCS#11 {operation} failed on token '{token}': {reason}")]
    Token {
        /// What was being done.
        operation: &'static str,
        /// The token label.
        token: String,
        /// The module's answer.
        reason: String,
    },
}

/// Parses a key or certificate URI.
pub fn parse_uri(uri: &str) -> Result<Pkcs11Uri, Pkcs11Error> {
    Pkcs11Uri::parse(uri).map_err(|reason| Pkcs11Error::BadUri {
        uri: Pkcs11Uri::redacted(uri),
        reason,
    })
}

/// Modules are initialised once per process (a second C_Initialize fails).
fn load_module(path: &Path) -> Result<Pkcs11, Pkcs11Error> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(context) = loaded.get(path) {
        return Ok(context.clone());
    }
    let failed = |reason: String| Pkcs11Error::Module {
        path: path.to_owned(),
        reason,
    };
    if !path.exists() {
        return Err(failed("no such file".into()));
    }
    let context = Pkcs11::new(path).map_err(|e| failed(e.to_string()))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(error) => return Err(failed(error.to_string())),
    }
    loaded.insert(path.to_owned(), context.clone());
    Ok(context)
}

/// The module to load: the URI's `module-path`, then `--pkcs11-lib`, then the p11-kit proxy.
pub fn module_path(uri: &Pkcs11Uri, flag: Option<&Path>) -> Result<PathBuf, Pkcs11Error> {
    uri.module_path
        .clone()
        .or_else(|| flag.map(Path::to_owned))
        .or_else(|| P11_KIT_PROXY.iter().map(PathBuf::from).find(|p| p.exists()))
        .ok_or(Pkcs11Error::NoModule)
}

/// A token slot that matched a URI, with its label for messages.
#[derive(Debug, Clone)]
struct Token {
    slot: Slot,
    label: String,
    serial: String,
    login_required: bool,
}

fn find_token(context: &Pkcs11, uri: &Pkcs11Uri) -> Result<Token, Pkcs11Error> {
    let slots = context
        .get_slots_with_token()
        .map_err(|e| token_error("C_GetSlotList", "?", &e))?;
    let mut present = Vec::new();
    let mut matches = Vec::new();
    for slot in slots {
        let Ok(info) = context.get_token_info(slot) else {
            continue;
        };
        let label = info.label().trim().to_owned();
        if !label.is_empty() {
            present.push(label.clone());
        }
        let fits = uri.token.as_deref().is_none_or(|t| t == label)
            && uri
                .serial
                .as_deref()
                .is_none_or(|s| s == info.serial_number().trim())
            && uri
                .manufacturer
                .as_deref()
                .is_none_or(|m| m == info.manufacturer_id().trim())
            && uri
                .model
                .as_deref()
                .is_none_or(|m| m == info.model().trim())
            && uri.slot_id.is_none_or(|id| id == slot.id());
        if fits {
            matches.push(Token {
                slot,
                label,
                serial: info.serial_number().trim().to_owned(),
                login_required: info.login_required(),
            });
        }
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(Pkcs11Error::NoToken {
            uri: uri.to_string(),
            present: if present.is_empty() {
                "none".into()
            } else {
                present.join(", ")
            },
        }),
        count => Err(Pkcs11Error::AmbiguousToken {
            uri: uri.to_string(),
            count,
        }),
    }
}

fn token_error(operation: &'static str, token: &str, error: &CkError) -> Pkcs11Error {
    Pkcs11Error::Token {
        operation,
        token: token.to_owned(),
        reason: error.to_string(),
    }
}

/// The PIN: the URI's value or file, then `TESSERA_PKCS11_PIN`, then a terminal prompt.
fn obtain_pin(uri: &Pkcs11Uri, token: &str) -> Result<SecretString, Pkcs11Error> {
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
    if let Ok(pin) = std::env::var(PIN_ENV) {
        return Ok(SecretString::new(pin));
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

fn login(
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

/// Objects of `class` matching the URI's id/label.
fn find_objects(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Vec<ObjectHandle>, CkError> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    session.find_objects(&template)
}

fn one_object(
    found: Vec<ObjectHandle>,
    what: &'static str,
    token: &Token,
    uri: &Pkcs11Uri,
) -> Result<ObjectHandle, Pkcs11Error> {
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Pkcs11Error::NoObject {
            what,
            token: token.label.clone(),
            uri: uri.to_string(),
        }),
        many => Err(Pkcs11Error::AmbiguousObject {
            what,
            count: many.len(),
            token: token.label.clone(),
            uri: uri.to_string(),
        }),
    }
}

/// A certificate object's DER value and its CKA_ID/label.
fn certificate_value(
    session: &Session,
    handle: ObjectHandle,
) -> Result<(Vec<u8>, Vec<u8>, String), CkError> {
    let attributes = session.get_attributes(
        handle,
        &[
            AttributeType::Value,
            AttributeType::Id,
            AttributeType::Label,
        ],
    )?;
    let (mut der, mut id, mut label) = (Vec::new(), Vec::new(), String::new());
    for attribute in attributes {
        match attribute {
            Attribute::Value(v) => der = v,
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
            _ => {}
        }
    }
    Ok((der, id, label))
}

/// Opens a session (not logged in) on the token a URI names.
fn open_session(
    uri_text: &str,
    module_flag: Option<&Path>,
) -> Result<(Pkcs11Uri, Token, Session), Pkcs11Error> {
    let uri = parse_uri(uri_text)?;
    let context = load_module(&module_path(&uri, module_flag)?)?;
    let token = find_token(&context, &uri)?;
    let session = context
        .open_ro_session(token.slot)
        .map_err(|e| token_error("C_OpenSession", &token.label, &e))?;
    Ok((uri, token, session))
}

/// Loads the certificate a URI names (no login needed: certificates are public objects).
pub fn load_certificate(
    uri_text: &str,
    module_flag: Option<&Path>,
) -> Result<Certificate, Pkcs11Error> {
    let (uri, token, session) = open_session(uri_text, module_flag)?;
    token_certificate(&session, &token, &uri)
}

fn token_certificate(
    session: &Session,
    token: &Token,
    uri: &Pkcs11Uri,
) -> Result<Certificate, Pkcs11Error> {
    let found = find_objects(session, uri, ObjectClass::CERTIFICATE)
        .map_err(|e| token_error("C_FindObjects", &token.label, &e))?;
    let handle = one_object(found, "certificate", token, uri)?;
    let (der, _, _) = certificate_value(session, handle)
        .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?;
    Certificate::from_der(&der).map_err(|e| Pkcs11Error::BadCertificate {
        uri: uri.to_string(),
        reason: e.to_string(),
    })
}

/// Certificates on the token that issue `leaf` (directly or through each other), leaf excluded.
fn token_chain(
    session: &Session,
    token: &Token,
    leaf: &Certificate,
) -> Result<Vec<Certificate>, Pkcs11Error> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ])
        .map_err(|e| token_error("C_FindObjects", &token.label, &e))?;
    let mut pool = Vec::new();
    for handle in handles {
        let (der, _, _) = certificate_value(session, handle)
            .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?;
        if let Ok(cert) = Certificate::from_der(&der) {
            if cert.der() != leaf.der() {
                pool.push(cert);
            }
        }
    }
    let mut chain: Vec<Certificate> = Vec::new();
    let mut current = leaf.clone();
    // Follow issuers while one in the pool really signed the current certificate.
    while let Some(position) = pool
        .iter()
        .position(|c| c.is_ca() && current.is_signed_by(c))
    {
        let issuer = pool.swap_remove(position);
        if issuer.subject() == issuer.issuer() {
            break; // A root: the trust anchor holds it, it is not sent.
        }
        current = issuer.clone();
        chain.push(issuer);
    }
    Ok(chain)
}

/// The open session and what signing needs, behind the identity's mutex.
#[derive(Debug)]
struct Connection {
    context: Pkcs11,
    module: PathBuf,
    token: Token,
    uri: Pkcs11Uri,
    pin: Option<SecretString>,
    session: Session,
    key: ObjectHandle,
    always_authenticate: bool,
    rsa_sha256: bool,
    raw_sign: Option<RawSign>,
}

impl Connection {
    /// Opens a session on the token the URI names, logs in (asking for the PIN only when
    /// none is known yet) and finds the one private key.
    fn connect(
        context: Pkcs11,
        module: PathBuf,
        uri: Pkcs11Uri,
        pin: Option<SecretString>,
    ) -> Result<Self, Pkcs11Error> {
        let token = find_token(&context, &uri)?;
        let session = context
            .open_ro_session(token.slot)
            .map_err(|e| token_error("C_OpenSession", &token.label, &e))?;
        let pin = match (pin, token.login_required) {
            (Some(pin), true) => Some(pin),
            (None, true) => Some(obtain_pin(&uri, &token.label)?),
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
            session,
            key,
            always_authenticate,
            rsa_sha256,
            raw_sign: None,
        })
    }

    /// Replaces a lost session with a new one (same PIN, same URI).
    fn reconnect(&mut self) -> Result<(), Pkcs11Error> {
        *self = Self::connect(
            self.context.clone(),
            self.module.clone(),
            self.uri.clone(),
            self.pin.clone(),
        )?;
        Ok(())
    }

    fn sign_once(
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
fn session_lost(error: &CkError) -> bool {
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

/// A DigestInfo for `CKM_RSA_PKCS`, which pads but does not hash.
fn digest_info(digest: Digest, hash: &[u8]) -> Vec<u8> {
    [super::key::digest_info_prefix(digest), hash].concat()
}

/// A certificate whose private key stays in a PKCS#11 token.
#[derive(Debug)]
pub struct Pkcs11Identity {
    leaf: Certificate,
    chain: Vec<Certificate>,
    family: SignatureFamily,
    description: String,
    connection: Mutex<Connection>,
}

impl Pkcs11Identity {
    /// Opens the token holding `key_uri`. The certificate comes from `certificate` (already
    /// loaded from a file or another URI) or, when `None`, from the token object with the key's
    /// id or label; `intermediates` come from a file, else from token certificates that issue
    /// the leaf. The key is checked against the certificate with a test signature.
    pub fn open(
        key_uri: &str,
        module_flag: Option<&Path>,
        certificate: Option<Certificate>,
        intermediates: Option<Vec<Certificate>>,
    ) -> Result<Self, Pkcs11Error> {
        let uri = parse_uri(key_uri)?;
        let module = module_path(&uri, module_flag)?;
        let context = load_module(&module)?;
        let connection = Connection::connect(context, module, uri.clone(), None)?;
        let session = &connection.session;
        let key_type = session
            .get_attributes(connection.key, &[AttributeType::KeyType])
            .map_err(|e| token_error("C_GetAttributeValue", &connection.token.label, &e))?;
        let family = match key_type.as_slice() {
            [Attribute::KeyType(KeyType::RSA)] => SignatureFamily::Rsa,
            [Attribute::KeyType(KeyType::EC)] => SignatureFamily::Ecdsa,
            other => {
                return Err(Pkcs11Error::UnsupportedKey {
                    token: connection.token.label.clone(),
                    kind: format!("{other:?}"),
                })
            }
        };
        let leaf = match certificate {
            Some(leaf) => leaf,
            None => token_certificate(session, &connection.token, &uri)?,
        };
        if let KeyKind::Unsupported(kind) = leaf.key_kind() {
            return Err(Pkcs11Error::UnsupportedKey {
                token: connection.token.label.clone(),
                kind: kind.to_owned(),
            });
        }
        let chain = match intermediates {
            Some(chain) => chain,
            None => token_chain(session, &connection.token, &leaf)?,
        };
        let description = format!("PKCS#11 {uri}");
        let identity = Self {
            leaf,
            chain,
            family,
            description,
            connection: Mutex::new(connection),
        };
        let probe = b"tessera: does this token key belong to the certificate?";
        let signature = identity
            .sign(probe, Digest::Sha256)
            .map_err(|e| Pkcs11Error::Token {
                operation: "C_Sign",
                token: uri.token.clone().unwrap_or_default(),
                reason: e.to_string(),
            })?;
        if !identity
            .leaf
            .verifies_request_signature(family, probe, &signature)
        {
            return Err(Pkcs11Error::KeyMismatch {
                uri: uri.to_string(),
            });
        }
        Ok(identity)
    }
}

impl Signer for Pkcs11Identity {
    fn certificate(&self) -> &Certificate {
        &self.leaf
    }

    fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn family(&self) -> SignatureFamily {
        self.family
    }

    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, SignError> {
        let failed = |reason: String| SignError::Failed {
            key: self.description.clone(),
            reason,
        };
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let raw = match connection.sign_once(self.family, message, digest) {
            Ok(signature) => signature,
            Err(error) if session_lost(&error) => {
                tracing::warn!(token = %connection.token.label, "PKCS#11 session lost ({error}); reopening");
                connection.reconnect().map_err(|e| failed(e.to_string()))?;
                connection
                    .sign_once(self.family, message, digest)
                    .map_err(|e| failed(e.to_string()))?
            }
            Err(error) => return Err(failed(error.to_string())),
        };
        match self.family {
            SignatureFamily::Rsa => Ok(raw),
            SignatureFamily::Ecdsa => super::key::ecdsa_der_from_raw(&raw).ok_or_else(|| {
                failed(format!(
                    "the token returned a {}-byte ECDSA signature",
                    raw.len()
                ))
            }),
        }
    }
}

/// One object on a token, for `read-certificate-data` listings.
#[derive(Debug, serde::Serialize)]
pub struct TokenObject {
    /// A URI selecting exactly this object.
    pub uri: String,
    /// `private`, `cert` or `public`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID, hex.
    pub id: String,
    /// For certificates: the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Lists the keys and certificates matching a URI (no login: private keys show only if public).
pub fn list_objects(
    uri_text: &str,
    module_flag: Option<&Path>,
) -> Result<Vec<TokenObject>, Pkcs11Error> {
    let (uri, token, session) = open_session(uri_text, module_flag)?;
    if token.login_required
        && (uri.pin_value.is_some()
            || uri.pin_source.is_some()
            || std::env::var_os(PIN_ENV).is_some())
    {
        login(
            &session,
            UserType::User,
            &obtain_pin(&uri, &token.label)?,
            &token.label,
        )?;
    }
    let mut objects = Vec::new();
    for (class, kind) in [
        (ObjectClass::PRIVATE_KEY, "private"),
        (ObjectClass::CERTIFICATE, "cert"),
        (ObjectClass::PUBLIC_KEY, "public"),
    ] {
        let found = find_objects(&session, &uri, class)
            .map_err(|e| token_error("C_FindObjects", &token.label, &e))?;
        for handle in found {
            let (value, id, label) = if class == ObjectClass::CERTIFICATE {
                certificate_value(&session, handle)
                    .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?
            } else {
                let attributes = session
                    .get_attributes(handle, &[AttributeType::Id, AttributeType::Label])
                    .map_err(|e| token_error("C_GetAttributeValue", &token.label, &e))?;
                let mut id = Vec::new();
                let mut label = String::new();
                for attribute in attributes {
                    match attribute {
                        Attribute::Id(v) => id = v,
                        Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
                        _ => {}
                    }
                }
                (Vec::new(), id, label)
            };
            objects.push(TokenObject {
                uri: uri.object_uri(&token.label, &token.serial, &label, &id, kind),
                kind,
                label,
                id: hex::encode(&id),
                subject: Certificate::from_der(&value)
                    .ok()
                    .map(|c| c.subject().to_owned()),
            });
        }
    }
    Ok(objects)
}
