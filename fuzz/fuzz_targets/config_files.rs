//! Config files: profiles (config.toml) and the local anchor's TOML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::anchor::config::AnchorConfig;
use tessera::config::{ConfigFile, ResolvedProfile};
use tessera::identity::file::Passphrase;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(file) = toml::from_str::<ConfigFile>(text) {
        for (name, settings) in file.profiles {
            let _ = ResolvedProfile::resolve(settings, Some(&name), Passphrase::PromptIfTerminal);
        }
    }
    let _ = toml::from_str::<AnchorConfig>(text);
});
