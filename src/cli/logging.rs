//! Diagnostics to stderr through `tracing`. Warnings raised while a command runs are held
//! back until it ends, so that on failure the first stderr line is the error itself (botocore
//! shows a failing credential_process's stderr verbatim).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

mod lazy;

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for services.
    Json,
}

/// Log lines buffered until [`DeferredLog::flush`].
#[derive(Clone, Debug, Default)]
pub struct DeferredLog {
    // A sync mutex: never held across an await, only for the duration of one write.
    lines: Arc<Mutex<Vec<u8>>>,
}

impl DeferredLog {
    /// Writes everything buffered so far to stderr.
    pub fn flush(&self) {
        if let Ok(mut lines) = self.lines.lock() {
            let mut stderr = io::stderr().lock();
            // Nothing useful can be done if stderr itself is gone.
            let _ = stderr.write_all(&lines);
            let _ = stderr.flush();
            lines.clear();
        }
    }
}

/// A writer that appends to the deferred buffer.
#[derive(Debug)]
pub struct DeferredWriter(Arc<Mutex<Vec<u8>>>);

impl Write for DeferredWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Ok(mut lines) = self.0.lock() {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for DeferredLog {
    type Writer = DeferredWriter;

    fn make_writer(&'a self) -> Self::Writer {
        DeferredWriter(self.lines.clone())
    }
}

/// How a command logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A one-shot command: warnings are held back until it ends (never for long).
    OneShot,
    /// A long-running server: lines go straight to stderr, at info level by default.
    Service,
}

/// Installs the global subscriber. With `debug`, or for a service, lines go straight to stderr;
/// otherwise warnings and errors are deferred, and the subscriber is only built once something
/// is logged ([`lazy`]). `TESSERA_LOG` (an env-filter) overrides the level.
pub fn init(debug: bool, format: LogFormat, mode: Mode) -> DeferredLog {
    let deferred = DeferredLog::default();
    // The token and TPM libraries log each failure they return; tessera reports it itself.
    let default_level = match (debug, mode) {
        (true, _) => "tessera=debug,warn,cryptoki=off,tss_esapi=off",
        (false, Mode::Service) => "tessera=info,warn,cryptoki=off,tss_esapi=off",
        (false, Mode::OneShot) => "warn,cryptoki=off,tss_esapi=off",
    };
    let direct = debug || mode == Mode::Service;
    let writer = deferred.clone();
    let build = move || subscriber(default_level, format, direct, &writer);
    let result = if direct || std::env::var_os("TESSERA_LOG").is_some() {
        build().try_init()
    } else {
        lazy::Lazy::new(LevelFilter::WARN, Box::new(build)).try_init()
    };
    // A subscriber may already be set (tests); logging then goes there.
    drop(result);
    deferred
}

/// The formatting subscriber: `default_level` unless `TESSERA_LOG` says otherwise, to stderr
/// when `direct`, else to the deferred buffer.
fn subscriber(
    default_level: &str,
    format: LogFormat,
    direct: bool,
    deferred: &DeferredLog,
) -> lazy::Inner {
    let filter =
        EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_ansi(false);
    match (format, direct) {
        (LogFormat::Json, true) => Box::new(builder.json().with_writer(io::stderr).finish()),
        (LogFormat::Json, false) => Box::new(builder.json().with_writer(deferred.clone()).finish()),
        (LogFormat::Text, true) => Box::new(builder.with_writer(io::stderr).finish()),
        (LogFormat::Text, false) => Box::new(builder.with_writer(deferred.clone()).finish()),
    }
}
