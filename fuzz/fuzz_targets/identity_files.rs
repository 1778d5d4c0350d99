//! Certificate and key files: PEM, DER, PKCS#1/SEC1/PKCS#8, encrypted PKCS#8, PKCS#12.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::identity::file::{parse_identity_bytes, Passphrase};
use tessera::secret::SecretString;

fuzz_target!(|data: &[u8]| {
    // With a passphrase, so encrypted keys and PKCS#12 are opened too.
    let _ = parse_identity_bytes(data, &Passphrase::Given(SecretString::new("test-passphrase".into())));
});
