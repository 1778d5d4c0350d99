//! Signatures per second by key source: a file key, and (when `bench/key_sources.py` has
//! provisioned them and set the variables) a SoftHSM2 token key and swtpm TPM keys.
//! `TESSERA_BENCH_<NAME>` = `certificate|private-key[|intermediates]`, for NAME in
//! PKCS11_P256, PKCS11_RSA, TPM_P256, TPM_RSA, with the key's password (if any) in
//! `TESSERA_BENCH_<NAME>_PASSWORD`; token PINs come from `TESSERA_PKCS11_PIN`. Run with `bench/key_sources.py` (or `cargo bench --bench key_sources`).

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use tessera::clock::{Clock, SystemClock};
use tessera::identity::file::Passphrase;
use tessera::identity::key_ref::{IdentitySources, KeyAccess, KeyRef};
use tessera::identity::{source, Digest};
use tessera::secret::SecretString;

fn sources(spec: &str) -> IdentitySources {
    let mut parts = spec.split('|');
    let parse = |part: &str| KeyRef::parse(Path::new(part)).expect("a valid key reference");
    IdentitySources {
        certificate: parse(parts.next().unwrap_or_default()),
        private_key: parts.next().map(parse),
        intermediates: parts.next().map(parse),
        pkcs11_lib: std::env::var_os("TESSERA_PKCS11_LIB").map(PathBuf::from),
        access: KeyAccess {
            pkcs11_pin: std::env::var("TESSERA_PKCS11_PIN")
                .ok()
                .map(SecretString::new),
            tpm_tcti: ["TESSERA_TPM_TCTI", "TPM2TOOLS_TCTI", "TCTI"]
                .into_iter()
                .find_map(|name| std::env::var(name).ok()),
        },
    }
}

fn signing(c: &mut Criterion) {
    let fixture = |name: &str| format!("{}/certs/test/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut cases = vec![
        (
            "file_p256".to_owned(),
            format!("{}|{}", fixture("leaf-p256.pem"), fixture("leaf-p256.key")),
            None,
        ),
        (
            "file_rsa2048".to_owned(),
            format!("{}|{}", fixture("leaf-rsa.pem"), fixture("leaf-rsa.key")),
            None,
        ),
    ];
    for name in ["PKCS11_P256", "PKCS11_RSA", "TPM_P256", "TPM_RSA"] {
        if let Ok(spec) = std::env::var(format!("TESSERA_BENCH_{name}")) {
            let password = std::env::var(format!("TESSERA_BENCH_{name}_PASSWORD")).ok();
            cases.push((name.to_ascii_lowercase(), spec, password));
        }
    }
    let mut group = c.benchmark_group("sign_by_key_source");
    group.sample_size(20);
    let message = b"AWS4-X509-ECDSA-SHA256\n20270101T000000Z\n20270101/us-east-1/rolesanywhere/aws4_request\n0123";
    for (name, spec, password) in cases {
        let passphrase = password.map_or(Passphrase::PromptIfTerminal, |p| {
            Passphrase::Given(SecretString::new(p))
        });
        let identity = source::load(&sources(&spec), &passphrase, SystemClock.now())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        group.bench_function(&name, |b| {
            b.iter(|| identity.sign(message, Digest::Sha256).expect("signs"))
        });
    }
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
