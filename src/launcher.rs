//! The two binaries of an install. `tessera`, the command users run, is a small launcher
//! (`src/main.rs`): it answers a warm `credential-process` itself
//! ([`crate::cli::answer_warm`]), and replaces itself with `tessera-full`, the whole command
//! line (`src/bin/tessera-full.rs`), for everything else. The AWS CLI and every SDK start
//! `credential_process` once per command, and most of a warm run's time was the dynamic
//! loader's and the kernel's work on the full 12.8 MB binary (BENCHMARKS.md, issue 20's sixth
//! pass). Both always sit in one directory.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The file name of the full binary, beside the launcher.
pub const FULL_BINARY: &str = "tessera-full";
/// The file name of the launcher.
pub const LAUNCHER: &str = "tessera";

/// Replaces this process (same PID, arguments and environment) with the full binary beside
/// it. Returns only when that cannot be done, after printing why.
pub fn exec_full() -> ExitCode {
    let full = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(FULL_BINARY),
        Err(error) => {
            eprintln!("tessera: cannot find this program's own path ({error}), so cannot start {FULL_BINARY}");
            return ExitCode::FAILURE;
        }
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from(LAUNCHER));
    let error = std::process::Command::new(&full)
        .arg0(arg0)
        .args(args)
        .exec();
    eprintln!(
        "tessera: cannot start {}: {error}; the tessera and {FULL_BINARY} binaries are installed side by side, so reinstall tessera",
        full.display()
    );
    ExitCode::FAILURE
}

/// The program to name in commands written for later (a `credential_process` line): the
/// launcher beside this binary when there is one, so that those commands start fast; else
/// this binary.
pub fn command_path() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(launcher_beside(&exe).unwrap_or(exe))
}

/// The launcher in the same directory as the full binary `exe`, if `exe` is one and it exists.
fn launcher_beside(exe: &Path) -> Option<PathBuf> {
    let is_full = exe.file_name().is_some_and(|name| name == FULL_BINARY);
    let launcher = exe.with_file_name(LAUNCHER);
    (is_full && launcher.is_file()).then_some(launcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_launcher_beside_the_full_binary() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join(FULL_BINARY);
        std::fs::write(&full, b"").unwrap();
        assert_eq!(launcher_beside(&full), None, "no launcher there yet");
        std::fs::write(dir.path().join(LAUNCHER), b"").unwrap();
        assert_eq!(launcher_beside(&full), Some(dir.path().join(LAUNCHER)));
        // Any other binary (a copy, an older single-binary build) names itself.
        assert_eq!(launcher_beside(&dir.path().join("tessera-copy")), None);
    }
}
