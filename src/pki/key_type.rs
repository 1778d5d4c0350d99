//! The key types the local CA generates, and generating the rcgen ones.

use std::fmt;
use std::str::FromStr;

use rcgen::KeyPair;

use super::PkiError;

/// Key algorithms the CA can generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// RSA 2048 with SHA-256.
    Rsa2048,
    /// RSA 3072 with SHA-256.
    Rsa3072,
    /// RSA 4096 with SHA-256.
    Rsa4096,
    /// ECDSA P-256 with SHA-256.
    #[default]
    P256,
    /// ECDSA P-384 with SHA-384.
    P384,
    /// ML-DSA-44 (FIPS 204).
    MlDsa44,
    /// ML-DSA-65.
    MlDsa65,
    /// ML-DSA-87.
    MlDsa87,
}

impl KeyType {
    /// The ML-DSA level, for an ML-DSA key type.
    pub fn mldsa(self) -> Option<crate::identity::mldsa::MlDsaLevel> {
        use crate::identity::mldsa::MlDsaLevel;
        match self {
            Self::MlDsa44 => Some(MlDsaLevel::Ml44),
            Self::MlDsa65 => Some(MlDsaLevel::Ml65),
            Self::MlDsa87 => Some(MlDsaLevel::Ml87),
            _ => None,
        }
    }
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rsa2048" => Ok(Self::Rsa2048),
            "rsa3072" => Ok(Self::Rsa3072),
            "rsa4096" => Ok(Self::Rsa4096),
            "p256" => Ok(Self::P256),
            "p384" => Ok(Self::P384),
            "ml-dsa-44" => Ok(Self::MlDsa44),
            "ml-dsa-65" => Ok(Self::MlDsa65),
            "ml-dsa-87" => Ok(Self::MlDsa87),
            other => Err(format!(
                "unknown key type '{other}'; use rsa2048, rsa3072, rsa4096, p256, p384, ml-dsa-44, ml-dsa-65 or ml-dsa-87"
            )),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
            Self::Rsa4096 => "rsa4096",
            Self::P256 => "p256",
            Self::P384 => "p384",
            Self::MlDsa44 => "ml-dsa-44",
            Self::MlDsa65 => "ml-dsa-65",
            Self::MlDsa87 => "ml-dsa-87",
        })
    }
}

/// A new key of `key_type` for rcgen (RSA or ECDSA; ML-DSA keys are made by `mldsa_ca`).
pub(super) fn generate_key(key_type: KeyType) -> Result<KeyPair, PkiError> {
    let failed = |e: &dyn fmt::Display| PkiError::KeyGeneration(e.to_string());
    match key_type {
        KeyType::P256 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| failed(&e))
        }
        KeyType::P384 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(|e| failed(&e))
        }
        KeyType::MlDsa44 | KeyType::MlDsa65 | KeyType::MlDsa87 => Err(PkiError::KeyGeneration(
            "rcgen cannot make ML-DSA keys; mldsa_ca does".into(),
        )),
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            // ring cannot generate RSA keys; the `rsa` crate does, and ring signs with them.
            use rsa::pkcs8::EncodePrivateKey;
            let bits = match key_type {
                KeyType::Rsa2048 => 2048,
                KeyType::Rsa3072 => 3072,
                _ => 4096,
            };
            let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
            let key = rsa::PrivateKey::new(&mut rng, bits).map_err(|e| failed(&e))?;
            let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
            let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| failed(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_type_reads_back_from_its_name_and_only_ml_dsa_has_a_level() {
        use crate::identity::mldsa::MlDsaLevel;
        for (name, level) in [
            ("rsa2048", None),
            ("rsa3072", None),
            ("rsa4096", None),
            ("p256", None),
            ("p384", None),
            ("ml-dsa-44", Some(MlDsaLevel::Ml44)),
            ("ml-dsa-65", Some(MlDsaLevel::Ml65)),
            ("ml-dsa-87", Some(MlDsaLevel::Ml87)),
        ] {
            let key_type: KeyType = name.parse().unwrap();
            assert_eq!(key_type.to_string(), name);
            assert_eq!(key_type.mldsa(), level);
        }
        let error = "mldsa65".parse::<KeyType>().unwrap_err();
        assert!(error.contains("ml-dsa-65"), "{error}");
        assert!(generate_key(KeyType::MlDsa65).is_err());
    }
}
