//! The one PKCS#11 call cryptoki cannot make for us: `C_Sign` after a context-specific login.
//! A key with `CKA_ALWAYS_AUTHENTICATE` needs `C_SignInit`, `C_Login(CKU_CONTEXT_SPECIFIC)`,
//! then `C_Sign`; cryptoki's `sign` runs `C_SignInit` and `C_Sign` back to back. The module is
//! opened a second time here (the loader returns the same, already initialised library) to get
//! its `C_Sign`. This is the crate's only unsafe code.
#![allow(unsafe_code)]

use std::path::Path;

use cryptoki_sys::{
    CK_C_GetFunctionList, CK_C_Sign, CKR_OK, CK_FUNCTION_LIST, CK_RV, CK_SESSION_HANDLE, CK_ULONG,
};

/// Largest signature produced (RSA-8192 is 1,024 bytes).
const MAX_SIGNATURE: usize = 2048;

/// `C_Sign` of a loaded module.
pub(super) struct RawSign {
    // Keeps the module mapped while `sign` may be called.
    _library: libloading::Library,
    sign: CK_C_Sign,
}

impl std::fmt::Debug for RawSign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawSign")
    }
}

/// Why the raw `C_Sign` path cannot be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum FfiError {
    /// The module could not be opened again, or lacks a symbol.
    #[error("{0}")]
    Library(#[from] libloading::Error),
    /// A function the module does not provide.
    #[error("the module has no {0}")]
    Missing(&'static str),
    /// A call that failed, with its CK_RV.
    #[error("{0} failed (0x{1:x})")]
    Call(&'static str, CK_RV),
}

impl RawSign {
    /// Finds `C_Sign` in the module at `path` (already loaded and initialised by cryptoki).
    pub(super) fn load(path: &Path) -> Result<Self, FfiError> {
        // SAFETY: the module is a PKCS#11 library that cryptoki has already loaded and
        // initialised from the same path; loading it again runs no new initialisers.
        let library = unsafe { libloading::Library::new(path) }?;
        // SAFETY: C_GetFunctionList has this signature in every PKCS#11 module.
        let get_function_list =
            unsafe { library.get::<CK_C_GetFunctionList>(b"C_GetFunctionList\0") }?;
        let get_function_list =
            (*get_function_list).ok_or(FfiError::Missing("C_GetFunctionList"))?;
        let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: `list` is a valid out-pointer; the module fills it with a static table.
        let rv = unsafe { get_function_list(&mut list) };
        if rv != CKR_OK || list.is_null() {
            return Err(FfiError::Call("C_GetFunctionList", rv));
        }
        // SAFETY: `list` points at the module's function table, valid while it stays loaded.
        let sign = unsafe { (*list).C_Sign };
        Ok(Self {
            _library: library,
            sign,
        })
    }

    /// `C_Sign` on a session whose signing operation was initialised (and authorised).
    pub(super) fn sign(
        &self,
        session: CK_SESSION_HANDLE,
        data: &[u8],
    ) -> Result<Vec<u8>, FfiError> {
        let sign = self.sign.ok_or(FfiError::Missing("C_Sign"))?;
        let mut input = data.to_vec();
        let mut signature = vec![0u8; MAX_SIGNATURE];
        let mut length = MAX_SIGNATURE as CK_ULONG;
        // SAFETY: the buffers are valid for the lengths passed; the module writes at most
        // `length` bytes and updates it.
        let rv = unsafe {
            sign(
                session,
                input.as_mut_ptr(),
                input.len() as CK_ULONG,
                signature.as_mut_ptr(),
                &mut length,
            )
        };
        if rv != CKR_OK {
            return Err(FfiError::Call("C_Sign", rv));
        }
        // A length that does not fit is past MAX_SIGNATURE anyway.
        signature.truncate(
            usize::try_from(length)
                .unwrap_or(MAX_SIGNATURE)
                .min(MAX_SIGNATURE),
        );
        Ok(signature)
    }
}
