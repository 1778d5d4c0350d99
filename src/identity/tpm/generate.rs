//! New keys in a TPM, for `tessera login --key tpm:handle:0x81…`: an ECDSA P-256 signing key
//! created under the standard storage primary and made persistent at the handle, the signing
//! of its CSR, and its eviction on logout. The private key never leaves the TPM.

use std::str::FromStr;
use std::sync::Mutex;

use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::handles::{ObjectHandle, PersistentTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::dynamic_handles::Persistent;
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::{Hierarchy, Provision};
use tss_esapi::structures::{
    EccPoint, EccScheme, HashScheme, KeyDerivationFunctionScheme, Public, PublicBuilder,
    PublicEccParametersBuilder,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::Context;

use super::{storage_primary_template, TpmError, DEFAULT_TCTI};

/// A P-256 key just made persistent in the TPM.
#[derive(Debug)]
pub struct TpmKey {
    context: Mutex<Context>,
    handle: u32,
    point: Vec<u8>,
}

fn open(tcti: Option<&str>) -> Result<Context, TpmError> {
    let tcti = tcti.unwrap_or(DEFAULT_TCTI).to_owned();
    let unreachable = |reason: String| TpmError::Unreachable {
        tcti: tcti.clone(),
        reason,
    };
    let name = TctiNameConf::from_str(&tcti).map_err(|e| unreachable(e.to_string()))?;
    Context::new(name).map_err(|e| unreachable(e.to_string()))
}

fn failed(operation: &'static str, handle: u32) -> impl Fn(tss_esapi::Error) -> TpmError {
    move |error| TpmError::Tpm {
        operation,
        key: format!("tpm:handle:{handle:#010x}"),
        reason: error.to_string(),
    }
}

fn signing_template() -> Result<Public, tss_esapi::Error> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_sign_encrypt(true)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new()
                .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
                .with_curve(EccCurve::NistP256)
                .with_is_signing_key(true)
                .with_is_decryption_key(false)
                .with_restricted(false)
                .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

fn persistent(handle: u32) -> Result<PersistentTpmHandle, TpmError> {
    PersistentTpmHandle::new(handle).map_err(failed("handle", handle))
}

/// Creates the key and makes it persistent at `handle`; refuses a handle already in use.
pub fn generate_p256(handle: u32, tcti: Option<&str>) -> Result<TpmKey, TpmError> {
    let mut context = open(tcti)?;
    let target = persistent(handle)?;
    if context
        .execute_without_session(|ctx| ctx.tr_from_tpm_public(TpmHandle::Persistent(target)))
        .is_ok()
    {
        return Err(TpmError::Tpm {
            operation: "EvictControl",
            key: format!("tpm:handle:{handle:#010x}"),
            reason:
                "a key is already at that handle; run 'tessera logout' or choose another handle"
                    .into(),
        });
    }
    let template = storage_primary_template().map_err(failed("CreatePrimary", handle))?;
    let primary = context
        .execute_with_nullauth_session(|ctx| {
            ctx.create_primary(Hierarchy::Owner, template, None, None, None, None)
        })
        .map_err(failed("CreatePrimary", handle))?
        .key_handle;
    let created = signing_template().and_then(|template| {
        context.execute_with_nullauth_session(|ctx| {
            ctx.create(primary, template, None, None, None, None)
        })
    });
    let outcome = created.and_then(|created| {
        let loaded = context.execute_with_nullauth_session(|ctx| {
            ctx.load(
                primary,
                created.out_private.clone(),
                created.out_public.clone(),
            )
        })?;
        let persisted = context.execute_with_nullauth_session(|ctx| {
            ctx.evict_control(
                Provision::Owner,
                ObjectHandle::from(loaded),
                Persistent::Persistent(target),
            )
        });
        let _ = context.flush_context(ObjectHandle::from(loaded));
        persisted.map(|_| created.out_public)
    });
    let _ = context.flush_context(ObjectHandle::from(primary));
    let public = outcome.map_err(failed("Create", handle))?;
    let point = match public {
        Public::Ecc { unique, .. } => uncompressed(unique.x().value(), unique.y().value()),
        _ => None,
    }
    .ok_or_else(|| TpmError::Tpm {
        operation: "Create",
        key: format!("tpm:handle:{handle:#010x}"),
        reason: "the new key's public point is not a P-256 point".into(),
    })?;
    Ok(TpmKey {
        context: Mutex::new(context),
        handle,
        point,
    })
}

fn uncompressed(x: &[u8], y: &[u8]) -> Option<Vec<u8>> {
    if x.len() > 32 || y.len() > 32 {
        return None;
    }
    let mut point = vec![0u8; 65];
    point[0] = 0x04;
    point[33 - x.len()..33].copy_from_slice(x);
    point[65 - y.len()..].copy_from_slice(y);
    Some(point)
}

impl TpmKey {
    /// The public key: the uncompressed P-256 point.
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// An ECDSA P-256 SHA-256 signature of `message`, ASN.1 DER.
    pub fn sign_p256_sha256(&self, message: &[u8]) -> Result<Vec<u8>, TpmError> {
        let mut context = self
            .context
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hash = crate::identity::Digest::Sha256.hash(message);
        let target = TpmHandle::Persistent(persistent(self.handle)?);
        let mut object = context
            .execute_without_session(|ctx| ctx.tr_from_tpm_public(target))
            .map_err(failed("ReadPublic", self.handle))?;
        let signature = super::sign_with(&mut context, object.into(), &hash, None);
        let _ = context.tr_close(&mut object);
        super::signature_bytes(
            &format!("tpm:handle:{:#010x}", self.handle),
            signature.map_err(failed("Sign", self.handle))?,
        )
    }
}

/// Evicts the persistent key at `handle` (logout); false when there was none.
pub fn delete_key(handle: u32, tcti: Option<&str>) -> Result<bool, TpmError> {
    let mut context = open(tcti)?;
    let target = persistent(handle)?;
    let Ok(object) = context
        .execute_without_session(|ctx| ctx.tr_from_tpm_public(TpmHandle::Persistent(target)))
    else {
        return Ok(false);
    };
    context
        .execute_with_nullauth_session(|ctx| {
            ctx.evict_control(Provision::Owner, object, Persistent::Persistent(target))
        })
        .map_err(failed("EvictControl", handle))?;
    Ok(true)
}
