//! The command line: argument structs (clap derive) and the wiring from a parsed command to
//! the library. Only this module parses flags or reads `TESSERA_*` variables.

/// Prints one line to stdout, returning an error (never panicking, unlike `println!`) when
/// stdout is closed or full, e.g. `tessera read-certificate-data … | head -c 10`.
macro_rules! outln {
    () => {
        $crate::cli::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))
    };
}

mod anchor;
mod args;
mod audit;
mod browser;
mod ca;
mod console;
mod credential_process;
mod docs;
mod doctor;
mod doctor_tags;
mod exec;
mod health;
mod key;
mod local_anchor;
pub mod logging;
mod login;
mod proxy;
mod quickstart;
mod read_certificate_data;
mod secret_args;
mod serve;
mod sign_string;
mod status;
mod systemd;
mod update;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use self::logging::LogFormat;

/// tessera: X.509 identity in, temporary AWS credentials out (IAM Roles Anywhere).
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, max_term_width = 100)]
pub struct Cli {
    /// The flags every subcommand takes.
    #[command(flatten)]
    pub globals: GlobalArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Print debug output to stderr (never secrets).
    #[arg(long, global = true, env = "TESSERA_DEBUG")]
    pub debug: bool,

    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TESSERA_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// The command line of `tessera credential-process …` alone. The AWS CLI and every SDK run
/// it once per process, and building clap's whole command tree cost more than the rest of a
/// warm run; this tree holds just the one subcommand, so it parses (and prints help and
/// errors) exactly as [`Cli`] does for it.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, max_term_width = 100)]
struct CredentialProcessCli {
    #[command(flatten)]
    globals: GlobalArgs,
    #[command(subcommand)]
    command: CredentialProcessOnly,
}

/// The one subcommand of [`CredentialProcessCli`].
#[derive(Debug, Subcommand)]
enum CredentialProcessOnly {
    /// Print credentials in the credential_process JSON format (for ~/.aws/config).
    CredentialProcess(credential_process::CredentialProcessArgs),
}

/// Parses this process's command line; exits with clap's message on a bad one.
pub fn parse() -> Cli {
    if invoked_as_credential_process() {
        let CredentialProcessCli {
            globals,
            command: CredentialProcessOnly::CredentialProcess(args),
        } = CredentialProcessCli::parse();
        return Cli {
            globals,
            command: Command::CredentialProcess(args),
        };
    }
    Cli::parse()
}

/// Whether this process's command line starts with `credential-process`.
fn invoked_as_credential_process() -> bool {
    std::env::args_os()
        .nth(1)
        .is_some_and(|first| first == "credential-process")
}

/// The launcher's run (`src/main.rs`, [`crate::launcher`]): `tessera credential-process …`
/// answered from the agent or the cache when that is all it takes. `None` when the full binary
/// must run: another command, `--debug`, a command line clap refuses (the full binary prints
/// the same message), or nothing fresh to hand out.
pub fn answer_warm() -> Option<ExitCode> {
    if !invoked_as_credential_process() {
        return None;
    }
    let CredentialProcessCli {
        globals,
        command: CredentialProcessOnly::CredentialProcess(args),
    } = CredentialProcessCli::try_parse().ok()?;
    if globals.debug {
        return None;
    }
    // Warnings held back here are dropped if the full binary takes over: it raises them again.
    let log = logging::init(false, globals.log_format, logging::Mode::OneShot);
    let result = credential_process::answer_warm(&args)?;
    Some(finish(result.map(|()| ExitCode::SUCCESS), &log))
}

/// The subcommands.
// Parsed once per process, so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print credentials in the credential_process JSON format (for ~/.aws/config).
    CredentialProcess(credential_process::CredentialProcessArgs),
    /// Serve credentials for one or many profiles on IMDSv2- and ECS-compatible endpoints.
    Serve(serve::ServeArgs),
    /// A SigV4 signing reverse proxy for tools that cannot sign.
    Proxy(proxy::ProxyArgs),
    /// Run a command with a profile's credentials (environment, or a private ECS endpoint).
    Exec(exec::ExecArgs),
    /// Keep a profile in the shared credentials file (~/.aws/credentials) fresh.
    Update(update::UpdateArgs),
    /// Sign the official helper's fixed test string with the private key (diagnostic).
    SignString(sign_string::SignStringArgs),
    /// Print facts about a certificate as JSON (diagnostic).
    ReadCertificateData(read_certificate_data::ReadCertificateDataArgs),
    /// Run the local trust anchor (Roles Anywhere CreateSession + STS GetCallerIdentity).
    Anchor(anchor::AnchorArgs),
    /// Open the AWS console with a profile's credentials (federation sign-in), or print its URL.
    Console(console::ConsoleArgs),
    /// Sign in at the identity provider and get a short-lived certificate for a profile.
    Login(login::LoginArgs),
    /// Remove what `login` stored for a profile: key, certificate, cache entry, config lines.
    Logout(login::LogoutArgs),
    /// Try everything on this machine: local CA, demo certificate, local anchor, credentials.
    Quickstart(quickstart::QuickstartArgs),
    /// Check a certificate/key/ARN/endpoint setup and print a checklist with fixes.
    Doctor(doctor::DoctorArgs),
    /// Local certificate authority: init, issue, revoke, crl.
    Ca(ca::CaArgs),
    /// Keys in the OS keyring: import, list, delete (use them as --private-key keyring:NAME).
    Key(key::KeyArgs),
    /// Print serve's audit log: who got which role, and who was refused.
    Audit(audit::AuditArgs),
    /// Print serve's status (its admin listener's /status.json) in the terminal.
    Status(status::StatusArgs),
    /// Check a health URL (an admin listener's /healthz); exit 0 only on a 2xx answer.
    Health(health::HealthArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Write man pages for tessera and each subcommand into a directory.
    Man(docs::ManArgs),
    /// Print the version.
    Version,
}

/// Runs the parsed command; prints a one-line error and returns exit code 1 on failure.
pub fn run(cli: Cli) -> ExitCode {
    let mode = match cli.command {
        Command::Anchor(_) | Command::Quickstart(_) | Command::Serve(_) | Command::Proxy(_) => {
            logging::Mode::Service
        }
        Command::Update(ref update) if !update.is_once() => logging::Mode::Service,
        _ => logging::Mode::OneShot,
    };
    let log = logging::init(cli.globals.debug, cli.globals.log_format, mode);
    let success = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        Command::CredentialProcess(args) => success(credential_process::run(args)),
        Command::SignString(args) => success(sign_string::run(args)),
        Command::ReadCertificateData(args) => success(read_certificate_data::run(args)),
        Command::Ca(args) => success(ca::run(args)),
        Command::Key(args) => success(key::run(args)),
        Command::Serve(args) => success(serve::run(args)),
        Command::Update(args) => success(update::run(args)),
        Command::Proxy(args) => success(proxy::run(args)),
        // The child's exit code becomes tessera's.
        Command::Exec(args) => exec::run(args),
        Command::Doctor(args) => success(doctor::run(args)),
        Command::Anchor(args) => success(anchor::run(args)),
        Command::Quickstart(args) => success(quickstart::run(args)),
        Command::Login(args) => success(login::run(args)),
        Command::Console(args) => success(console::run(args)),
        Command::Logout(args) => success(login::logout(args)),
        Command::Health(args) => success(health::run(args)),
        Command::Audit(args) => success(audit::run(args)),
        Command::Status(args) => success(status::run(args)),
        Command::Completions(args) => success(docs::completions(&args)),
        Command::Man(args) => success(docs::man(&args)),
        Command::Version => success(outln!("tessera {}", env!("CARGO_PKG_VERSION"))),
    };
    finish(result, &log)
}

/// A command's exit code; on failure, after its one-line error. Deferred warnings follow.
fn finish(result: anyhow::Result<ExitCode>, log: &logging::DeferredLog) -> ExitCode {
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            // The first stderr line is the reason; deferred warnings follow it.
            eprintln!("tessera: {}", one_line(&error));
            ExitCode::FAILURE
        }
    };
    log.flush();
    code
}

/// The body of [`outln!`].
pub(crate) fn write_line(line: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .map_err(|error| anyhow::anyhow!("cannot write to stdout: {error}"))
}

/// The error and its causes on one line (`outer: cause: root cause`).
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace(['\n', '\r'], " ")
}

/// Raises this process's open-file soft limit to its hard limit, so a listener can hold
/// [`crate::server::MAX_CONNECTIONS`] connections (the usual soft limit is 1024 descriptors in
/// all). Only the listening commands call it: `exec` would pass a raised limit to its child.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!("open-file limit: {limit}"),
        Err(error) => tracing::warn!("cannot raise the open-file limit: {error}"),
    }
}

/// The runtime for long-running servers: one worker per CPU this process may run on. With one
/// CPU (a pinned process, a one-core container) that is a current-thread runtime: a work-stealing
/// scheduler with a single worker only adds its own bookkeeping to every request.
fn server_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut builder = match cpus {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    Ok(builder.enable_all().build()?)
}

/// A current-thread runtime: commands make a handful of requests, and it starts fastest.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
