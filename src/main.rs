//! `tessera`, the command users run: a small launcher. It answers a warm `credential-process`
//! itself and replaces itself with `tessera-full` for everything else ([`tessera::launcher`]).

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    tessera::cli::answer_warm().unwrap_or_else(tessera::launcher::exec_full)
}
