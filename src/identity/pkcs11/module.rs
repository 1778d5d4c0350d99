//! Loading a PKCS#11 module (once per process) and finding the token a URI names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;

use super::session::token_error;
use super::Pkcs11Error;
use crate::identity::pkcs11_uri::Pkcs11Uri;

/// Where the p11-kit proxy (which fronts every module p11-kit knows) usually lives.
const P11_KIT_PROXY: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
];

/// Modules are initialised once per process (a second C_Initialize fails).
pub(super) fn load_module(path: &Path) -> Result<Pkcs11, Pkcs11Error> {
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
pub(super) struct Token {
    pub(super) slot: Slot,
    pub(super) label: String,
    pub(super) serial: String,
    pub(super) login_required: bool,
}

pub(super) fn find_token(context: &Pkcs11, uri: &Pkcs11Uri) -> Result<Token, Pkcs11Error> {
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
