//! A subscriber that builds the real one only when something is logged. A one-shot command that
//! logs nothing (a warm `credential-process` above all) then skips setting up the filter and
//! the formatter, which cost more than the rest of the launcher's run after clap.

use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The real subscriber.
pub(super) type Inner = Box<dyn Subscriber + Send + Sync>;

/// Forwards to the subscriber `build` makes at the first event or span. Before that, it lets
/// through everything at `max` or more severe, and the built subscriber's filter decides.
pub(super) struct Lazy {
    max: LevelFilter,
    build: Box<dyn Fn() -> Inner + Send + Sync>,
    inner: OnceLock<Inner>,
}

impl Lazy {
    /// A subscriber for events at `max` or more severe, built by `build` when first needed.
    pub(super) fn new(max: LevelFilter, build: Box<dyn Fn() -> Inner + Send + Sync>) -> Self {
        Self {
            max,
            build,
            inner: OnceLock::new(),
        }
    }

    fn inner(&self) -> &Inner {
        self.inner.get_or_init(|| (self.build)())
    }
}

impl Subscriber for Lazy {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // "Sometimes": every event is asked about, so the built filter has the last word.
        match self.enabled(metadata) {
            true => Interest::sometimes(),
            false => Interest::never(),
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        match self.inner.get() {
            Some(inner) => inner.enabled(metadata),
            None => *metadata.level() <= self.max,
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner().new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner().record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner().record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        let inner = self.inner();
        if inner.enabled(event.metadata()) && inner.event_enabled(event) {
            inner.event(event);
        }
    }

    fn enter(&self, span: &Id) {
        self.inner().enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner().exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner().clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner().try_close(id)
    }
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy")
            .field("max", &self.max)
            .field("built", &self.inner.get().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn the_subscriber_is_built_at_the_first_event_it_lets_through() {
        let builds = Arc::new(AtomicUsize::new(0));
        let log = crate::cli::logging::DeferredLog::default();
        let (counter, writer) = (builds.clone(), log.clone());
        let lazy = Lazy::new(
            LevelFilter::WARN,
            Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Box::new(
                    tracing_subscriber::fmt()
                        .with_env_filter("warn,quiet=off")
                        .with_writer(writer.clone())
                        .without_time()
                        .with_target(false)
                        .with_ansi(false)
                        .finish(),
                )
            }),
        );
        tracing::subscriber::with_default(lazy, || {
            tracing::info!("below the level");
            tracing::debug!("below the level too");
            assert_eq!(
                builds.load(Ordering::SeqCst),
                0,
                "nothing logged, nothing built"
            );
            tracing::warn!(target: "quiet", "filtered out by the built filter");
            tracing::warn!(path = "/x", "first warning");
            tracing::error!("an error");
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        let lines = log.lines.lock().unwrap().clone();
        assert_eq!(
            String::from_utf8(lines).unwrap(),
            " WARN first warning path=\"/x\"\nERROR an error\n"
        );
    }
}
