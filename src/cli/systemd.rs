//! systemd `Type=notify` (sd_notify): READY once every profile holds credentials, RELOADING,
//! STOPPING. A no-op when not run by systemd.

use std::sync::Arc;

use crate::serve::ServedProfile;

/// Tells systemd (Type=notify) about a state change; a no-op when not run by systemd.
pub(super) fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!("cannot notify systemd: {error}");
    }
}

/// Waits until every profile holds credentials, then tells systemd the service is ready.
pub(super) async fn notify_when_ready(profiles: Vec<Arc<ServedProfile>>) {
    for profile in &profiles {
        let mut updates = profile.cache.subscribe();
        if updates.wait_for(|s| s.credentials.is_some()).await.is_err() {
            return;
        }
    }
    let status = format!("serving {} profile(s)", profiles.len());
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
}
