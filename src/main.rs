//! The `tessera` binary: parse the command line and hand over to [`tessera::cli::run`].

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tessera::cli::run(tessera::cli::Cli::parse())
}
