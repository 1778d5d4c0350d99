//! `tessera-full`, the whole command line: parse it and hand over to [`tessera::cli::run`]. Users
//! run `tessera`, the launcher beside it, which starts this binary for everything but a warm
//! `credential-process` ([`tessera::launcher`]).

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_tss_library();
    tessera::cli::run(tessera::cli::parse())
}

/// The TPM software stack logs every TPM error to stderr itself, ahead of tessera's one-line
/// error; silence it unless the user asked for its logs. Runs first, before any thread exists.
#[cfg(feature = "tpm")]
#[allow(clippy::disallowed_methods)]
fn quiet_tss_library() {
    if std::env::var_os("TSS2_LOG").is_none() {
        std::env::set_var("TSS2_LOG", "all+NONE");
    }
}

#[cfg(not(feature = "tpm"))]
fn quiet_tss_library() {}
