//! Picks up `keygate keys rotate-signing-key` run against the same data dir:
//! the signing-keys file is read every two seconds and, when it changed and
//! parses, replaces the keys in `App`.

use std::path::PathBuf;
use std::time::Duration;

use crate::state::app::AppState;
use crate::state::secrets;
use crate::tasks::handle::Stop;

const EVERY: Duration = Duration::from_secs(2);

pub async fn watch(app: AppState, data_dir: PathBuf, stop: Stop) {
    let path = data_dir.join(secrets::SIGNING_KEYS_FILE);
    let mut last = std::fs::read_to_string(&path).unwrap_or_default();
    while !stop.sleep(EVERY).await {
        let Ok(now) = std::fs::read_to_string(&path) else {
            continue;
        };
        if now != last {
            match secrets::parse_signing_keys(&now) {
                Ok(keys) => {
                    tracing::info!(kid = keys.current_kid(), "signing keys reloaded");
                    app.set_signing_keys(keys);
                }
                Err(e) => {
                    tracing::error!(error = %e, "signing-keys file is invalid; keeping the old keys")
                }
            }
            last = now;
        }
    }
}
